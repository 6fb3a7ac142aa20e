"""/-/llm in a real browser (Debian's chromium through Playwright) against a real
`datasette serve`: sign in as root, assign a model to a purpose, see it become the
default, send a test prompt and watch the answer stream in."""

import pytest

CONFIG = """
plugins:
  datasette-llm:
    default_model: demo-summarise
    purposes:
      sql-assistant:
        model: demo-sql
        models: [demo-sql, demo-summarise]
      nothing-here:
        models: []
"""
PROMPT = (
    "Streaming answers arrive in the page one word at a time while the model is still "
    "writing the rest of them. This second sentence is left out."
)
ANSWER = PROMPT.split(". ")[0] + "."


async def shoot(page, tmp_path, name):
    await page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


@pytest.mark.browser
async def test_assign_try_it_and_clear(browser_page, datasette_server, tmp_path):
    config = tmp_path / "datasette.yaml"
    config.write_text(CONFIG)
    # A pause between words long enough to see the answer arrive
    server = datasette_server("-c", config, "--root", env={"DEMO_MODELS_DELAY": "0.25"})
    page = browser_page
    await page.context.add_cookies([server.actor_cookie({"id": "root"})])
    await page.goto(server.url + "/")
    await page.click("details.nav-menu > summary")
    await page.click("text=LLM models")
    assert page.url == server.url + "/-/llm"
    section = page.locator("section#purpose-sql-assistant")
    default = section.locator(".llm-default-model")
    assert await default.inner_text() == "demo-sql"
    await shoot(page, tmp_path, "llm-page")

    # Assign demo-summarise to sql-assistant
    await section.locator("select[name=model]").select_option("demo-summarise")
    await section.locator("input[type=submit][value=Assign]").click()
    await page.wait_for_load_state()
    assert "demo-summarise is now assigned to purpose 'sql-assistant'" in (
        await page.locator(".message-info").inner_text()
    )
    section = page.locator("section#purpose-sql-assistant")
    assert await section.locator(".llm-default-model").inner_text() == "demo-summarise"
    assert (await section.locator(".llm-default-source").inner_text()).startswith(
        "from the assignment on /-/llm by root at "
    )
    await shoot(page, tmp_path, "llm-assigned")

    # Try it: the answer streams in while the model is still writing
    await section.locator("input[name=prompt]").fill(PROMPT)
    await section.locator("form.llm-try input[type=submit]").click()
    answer = section.locator(".llm-answer")
    text = answer.locator(".llm-answer-text")
    await page.wait_for_function(
        "el => el.textContent.split(' ').length >= 3",
        arg=await text.element_handle(), timeout=10000,
    )
    partial = await text.inner_text()
    assert await answer.get_attribute("data-state") == "streaming"
    assert partial and ANSWER.startswith(partial.strip()) and partial.strip() != ANSWER
    assert await answer.locator(".llm-answer-model").inner_text() == "demo-summarise"
    await shoot(page, tmp_path, "llm-try-streaming")
    await page.wait_for_selector(
        "section#purpose-sql-assistant .llm-answer[data-state=done]", timeout=20000
    )
    assert (await text.inner_text()).strip() == ANSWER
    assert "tokens in" in await answer.locator(".llm-answer-usage").inner_text()
    await shoot(page, tmp_path, "llm-try-done")

    # Clear the assignment: back to the configured model
    await section.locator("input[name=clear]").click()
    await page.wait_for_load_state()
    section = page.locator("section#purpose-sql-assistant")
    assert await section.locator(".llm-default-model").inner_text() == "demo-sql"

    # A purpose with no model: the box says why, no stream
    section = page.locator("section#purpose-nothing-here")
    await section.locator("input[name=prompt]").fill("hello")
    await section.locator("form.llm-try input[type=submit]").click()
    error = section.locator(".llm-answer-error")
    await error.wait_for(state="visible", timeout=10000)
    assert (await error.inner_text()).startswith(
        "No model for purpose 'nothing-here': No usable default model for purpose "
        "'nothing-here': 'demo-summarise' from plugins.datasette-llm.default_model is refused"
    )
    assert await section.locator(".llm-answer-head").is_hidden()  # no model answered
    assert "No model can be assigned" in await section.locator(".llm-assign-none").inner_text()
    await shoot(page, tmp_path, "llm-try-error")
