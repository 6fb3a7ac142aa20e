"""The enrichment, as a user does it, in a real browser against ``datasette serve``.

Uses datasette-llm's pytest fixtures ``browser_page`` (headless Chromium, Playwright)
and ``datasette_server``. Screenshots are saved in the test's tmp_path.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

ROWS = 30


@pytest.fixture
def news(tmp_path):
    path = tmp_path / "news.db"
    conn = sqlite3.connect(path)
    conn.execute("create table articles (id integer primary key, title text, body text)")
    conn.executemany(
        "insert into articles values (?, ?, ?)",
        [
            (i, f"Article {i}", f"Article {i} is about topic {i}. It says more after that.")
            for i in range(1, ROWS + 1)
        ],
    )
    conn.commit()
    conn.close()
    config = tmp_path / "datasette.json"
    config.write_text(
        json.dumps(
            {
                "plugins": {
                    "datasette-llm": {"purposes": {"enrichments": {"model": "demo-summarise"}}},
                    "datasette-llm-example-enrichments": {"concurrency": 2},
                }
            }
        )
    )
    return path, config


@pytest.mark.browser
async def test_enrich_a_filtered_table_from_its_actions_menu(
    browser_page, datasette_server, news, tmp_path
):
    db_path, config = news
    # demo-summarise answers with the text's first sentence, a word every 50 ms
    server = datasette_server(db_path, "-c", config, "--root", env={"DEMO_MODELS_DELAY": "0.05"})
    page = browser_page
    await page.context.add_cookies([server.actor_cookie({"id": "root"})])

    # A filtered view of the table: its filters travel with the table action
    await page.goto(f"{server.url}/news/articles?id__lte=20&_sort_desc=id")
    await page.click("details.actions-menu-links summary")
    await page.screenshot(path=tmp_path / "1-table-actions.png")
    await page.click("text=Enrich with an LLM")

    await page.wait_for_selector("form.llm-enrich")
    assert await page.text_content("#model-that-runs") == "demo-summarise"
    rows_choice = " ".join((await page.text_content("fieldset")).split())
    assert "The rows of the view you came from, where id ≤ 20: 20 rows" in rows_choice
    assert "Every row of articles: 30 rows" in rows_choice
    await page.fill("#template", "Summarise this in one sentence: {body}")
    await page.fill("#output_column", "summary")
    await page.screenshot(path=tmp_path / "2-form.png", full_page=True)
    await page.click("input[type=submit][value='Start the enrichment']")

    # The job page: the bar fills up while we watch (the page polls the job's JSON),
    # then the page says it finished
    await page.wait_for_function(
        """() => {
            const shown = document.getElementById("job-percent");
            return shown && !["0%", "100%"].includes(shown.textContent);
        }"""
    )
    await page.screenshot(path=tmp_path / "3-job-running.png", full_page=True)
    await page.wait_for_selector("text=Finished: 20 rows done")
    assert "Finished: 20 rows done" in await page.text_content("#job-state")
    assert await page.text_content("#job-percent") == "100%"
    assert await page.get_attribute("#job-bar", "aria-valuenow") == "100"
    assert await page.text_content("#job-done") == "20"
    assert await page.text_content("#job-failed") == "0"
    assert await page.text_content("#job-remaining") == "0"
    await page.screenshot(path=tmp_path / "4-job-finished.png", full_page=True)

    # The values are in the table
    await page.click("text=See them in articles")
    await page.wait_for_selector("table.rows-and-columns")
    assert await page.text_content("td.col-summary >> nth=0") == "Article 1 is about topic 1."
    await page.screenshot(path=tmp_path / "5-table-with-values.png", full_page=True)
    conn = sqlite3.connect(db_path)
    filled = conn.execute("select count(*) from articles where summary is not null").fetchone()
    conn.close()
    assert filled == (20,)
