"""The demo in a real browser (headless Chromium: datasette-llm's ``browser_page`` fixture)
against a real ``datasette -c demo/datasette.yaml`` server. Screenshots are saved
under each test's tmp_path."""

import pytest
import yaml
from conftest import DEMO_CONFIG
from datasette.version import __version__ as datasette_version

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not datasette_version.startswith("1."),
        reason="datasette -c takes a datasette.yaml from 1.0",
    ),
]
QUESTION = "How many articles are there?"


async def screenshot(page, tmp_path, name):
    await page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


async def option_values(page, select):
    return await page.eval_on_selector_all(
        f"{select} option", "options => options.map(o => o.value)"
    )


async def sign_in_as(page, server, persona):
    await page.goto(server.url + "/-/demo-personas")
    await page.click(f"input[value='Sign in as {persona}']")
    await page.wait_for_selector(f".signed-in-as:text-is('{persona}')")


async def test_the_answer_streams_in_and_its_query_runs(datasette_server, browser_page, tmp_path):
    # A slower stream than the demo's, so the test sees it mid-answer
    server = datasette_server("-c", DEMO_CONFIG, env={"DEMO_MODELS_DELAY": "0.2"})
    page = browser_page
    await page.goto(server.url + "/-/sql-assistant")
    await page.fill("#question", QUESTION)
    await page.click("input[value='Write SQL']")
    # Text arrives while the answer is still being written
    await page.wait_for_function("""() => {
            const answer = document.querySelector('.sql-assistant-answer');
            return answer.dataset.state === 'streaming'
                && answer.querySelector('.sql-assistant-text').textContent.length > 0;
        }""")
    partial = await page.text_content(".sql-assistant-text")
    assert await page.is_hidden(".sql-assistant-query")
    await screenshot(page, tmp_path, "1-assistant-streaming")
    await page.wait_for_selector(".sql-assistant-answer[data-state=done]")
    full = await page.text_content(".sql-assistant-text")
    assert full.startswith(partial) and len(full) > len(partial)
    assert await page.text_content(".sql-assistant-model") == "demo-sql"
    assert await page.text_content(".sql-assistant-sql") == "select count(*) from articles"
    await screenshot(page, tmp_path, "2-assistant-done")
    await page.click("a.sql-assistant-run")
    await page.wait_for_selector("table.rows-and-columns")
    assert await page.input_value("textarea#sql-editor") == "select count(*) from articles"
    assert (await page.text_content("table.rows-and-columns td")).strip() == "3"
    await screenshot(page, tmp_path, "3-query-page")
    assert "Traceback" not in server.log()


async def test_the_form_answers_without_javascript(datasette_server, browser_page, tmp_path):
    server = datasette_server("-c", DEMO_CONFIG)
    context = await browser_page.context.browser.new_context(java_script_enabled=False)
    try:
        page = await context.new_page()
        await page.goto(server.url + "/-/sql-assistant")
        await page.fill("#question", "top 2 articles by title")
        await page.click("input[value='Write SQL']")
        await page.wait_for_selector(".sql-assistant-answer[data-state=done]")
        assert await page.text_content(".sql-assistant-sql") == (
            "select * from articles order by title desc limit 2"
        )
        await screenshot(page, tmp_path, "4-assistant-without-javascript")
    finally:
        await context.close()


async def test_each_persona_sees_their_own_model_pickers(datasette_server, browser_page, tmp_path):
    server = datasette_server("-c", DEMO_CONFIG)
    page = browser_page
    pickers = {}
    for persona in ("alice", "bob"):
        await sign_in_as(page, server, persona)
        await screenshot(page, tmp_path, f"5-personas-as-{persona}")
        await page.goto(server.url + "/-/llm-preference")
        preference_picker = await option_values(page, "select[name=model_id]")
        ignored = await page.query_selector(".ignored-preference")
        await screenshot(page, tmp_path, f"6-preference-{persona}")
        await page.goto(server.url + "/-/sql-assistant")
        sql_picker = await option_values(page, "select[name=model]")
        await screenshot(page, tmp_path, f"7-assistant-{persona}")
        pickers[persona] = (preference_picker, sql_picker, ignored is not None)
    assert pickers == {
        "alice": (["", "demo-sql", "demo-summarise"], ["demo-sql"], False),
        # bob's stored default (demo-sql) is not his to use: his page says it is ignored
        "bob": (["", "demo-summarise", "echo"], [""], True),
    }
    assert await page.is_visible("text=No model is available to you for SQL assistance.")
    # The default-model page is in Datasette's menu
    await page.click("details.nav-menu summary")
    assert await page.is_visible("nav a[href='/-/llm-preference']")
    await screenshot(page, tmp_path, "8-menu-as-bob")


async def test_root_sets_the_demo_key_and_the_keyed_model_appears(
    datasette_server, browser_page, tmp_path
):
    server = datasette_server("-c", DEMO_CONFIG)
    page = browser_page
    await page.context.add_cookies([server.actor_cookie({"id": "root"})])
    response = await page.goto(server.url + "/-/secrets")
    assert response.status == 200
    await screenshot(page, tmp_path, "9-secrets")
    await page.click("a:text-is('DEMO_API_KEY')")
    await page.fill("textarea[name=secret]", "any text will do")
    await page.click("input[value='Add secret']")
    await page.wait_for_url("**/-/secrets")
    await page.goto(server.url + "/-/sql-assistant")
    assert await option_values(page, "select[name=model]") == ["demo-sql", "demo-keyed"]
    await page.goto(server.url + "/-/demo-personas")
    may_use_for_sql = await page.eval_on_selector_all(
        "tr:has(th:text-is('May use for SQL assistance')) td",
        "cells => cells.map(c => c.textContent)",
    )
    # anonymous, alice, bob, root: the keyed model for those the per-user filter allows
    assert may_use_for_sql == [
        "demo-sql",
        "demo-sql, demo-keyed",
        "nothing",
        "demo-sql, demo-keyed",
    ]
    await screenshot(page, tmp_path, "10-personas-after-the-key-is-set")


async def test_long_answers_wrap(datasette_server, browser_page, demo_config, tmp_path):
    # echo answers with its whole prompt as JSON: the schema is one very long line
    demo_config["plugins"]["datasette-llm"]["purposes"]["sql-assistant"] = {"model": "echo"}
    config_path = tmp_path / "echo-assistant.yaml"
    config_path.write_text(yaml.safe_dump(demo_config))
    server = datasette_server("-c", config_path)
    page = browser_page
    await page.context.add_cookies([server.actor_cookie({"id": "root"})])
    await page.goto(server.url + "/-/sql-assistant")
    await page.fill("#question", QUESTION)
    await page.click("input[value='Write SQL']")
    await page.wait_for_selector(".sql-assistant-answer[data-state=error]")
    assert (
        await page.text_content(".sql-assistant-error") == "The answer holds no SQL query to open."
    )
    assert "CREATE TABLE articles" in await page.text_content(".sql-assistant-text")
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1]
    await screenshot(page, tmp_path, "11-long-answer-wraps")
