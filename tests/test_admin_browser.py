"""/-/llm in a real browser (Debian's chromium through Playwright) against a real
`datasette serve`: sign in as root, assign a model to a purpose, see it become the
default, send a test prompt and watch the answer stream in."""

import shutil
from pathlib import Path

import pytest

SCREENSHOTS = Path("/work/wt/screenshots/13")
CONFIG = """
plugins:
  datasette-llm:
    default_model: demo-summarise
    purposes:
      sql-assistant:
        model: demo-sql
        models: [demo-sql, demo-summarise]
"""
PROMPT = (
    "Streaming answers arrive in the page one word at a time while the model is still "
    "writing the rest of them. This second sentence is left out."
)
ANSWER = PROMPT.split(". ")[0] + "."


async def shoot(page, tmp_path, name):
    path = tmp_path / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    if SCREENSHOTS.parent.is_dir():  # the lead looks at them there
        SCREENSHOTS.mkdir(exist_ok=True)
        shutil.copy(path, SCREENSHOTS / path.name)


@pytest.mark.browser
async def test_assign_then_try_it(browser_page, datasette_server, tmp_path):
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


@pytest.mark.browser
async def test_a_failure_is_shown_in_the_box(browser_page, datasette_server, tmp_path):
    config = tmp_path / "datasette.yaml"
    config.write_text("plugins:\n  datasette-llm:\n    purposes:\n      nothing-here: {}\n")
    server = datasette_server("-c", config, "--root")
    page = browser_page
    await page.context.add_cookies([server.actor_cookie({"id": "root"})])
    await page.goto(server.url + "/-/llm")
    section = page.locator("section#purpose-nothing-here")
    await section.locator("input[name=prompt]").fill("hello")
    await section.locator("form.llm-try input[type=submit]").click()
    error = section.locator(".llm-answer-error")
    await error.wait_for(state="visible", timeout=10000)
    assert (await error.inner_text()).startswith(
        "No model for purpose 'nothing-here': No model_id given and no default model"
    )
    await shoot(page, tmp_path, "llm-try-error")
