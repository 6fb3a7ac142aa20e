"""Integration tests: a real Datasette, datasette-llm and this plugin, with FakeModels
from datasette_llm.testing and the echo model."""

import html
import re
import sqlite3

import pytest

from datasette_llm import get_purposes
from datasette_llm.testing import FakeModel, fake_models
from datasette_llm_example_sql_assistant import extract_sql

PATH = "/-/sql-assistant"
QUESTION = "How many articles are there?"
ANSWER = "Here you go:\n```sql\nselect count(*) from articles\n```"


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "news.db"
    conn = sqlite3.connect(path)
    conn.execute("create table articles (id integer primary key, title text)")
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def make_datasette(datasette_llm_config, db_path):
    async def make(llm_config, **kwargs):
        return await datasette_llm_config(llm_config, files=[str(db_path)], **kwargs)

    return make


@pytest.fixture
def writers():
    with fake_models(
        FakeModel("writer", responses=[ANSWER]), FakeModel("other-writer", responses=[ANSWER])
    ) as models:
        yield models


def cookies_for(ds, actor_id):
    return {"ds_actor": ds.sign({"a": {"id": actor_id}}, "actor")} if actor_id else {}


async def ask(ds, data, actor_id=None):
    """POST the form as a browser would, CSRF token included (any Datasette version)."""
    cookies = cookies_for(ds, actor_id)
    page = await ds.client.get(PATH, cookies=cookies)
    token = re.search(r'name="csrftoken" value="([^"]*)"', page.text).group(1)
    if "ds_csrftoken" in page.cookies:
        cookies["ds_csrftoken"] = page.cookies["ds_csrftoken"]
    return await ds.client.post(PATH, data={**data, "csrftoken": token}, cookies=cookies)


def picker(page_html):
    select = re.search(r'<select name="model">(.*?)</select>', page_html, re.DOTALL).group(1)
    return re.findall(r'<option value="([^"]*)"', select)


async def test_registers_the_purpose(make_datasette):
    ds = await make_datasette({"default_model": "echo"})
    assert "sql-assistant" in [p.name for p in get_purposes(ds)]


async def test_model_picker_lists_the_models_for_the_purpose(make_datasette, writers):
    ds = await make_datasette(
        {
            "default_model": "echo",
            "purposes": {"sql-assistant": {"model": "writer", "models": ["other-writer"]}},
        }
    )
    page = await ds.client.get(PATH)
    assert page.status_code == 200
    # The purpose's default first, then its allowlist: echo is not allowed for it
    assert picker(page.text) == ["writer", "other-writer"]
    assert "<option selected>news</option>" in page.text


async def test_writes_sql_from_the_schema(make_datasette, writers):
    writer, _ = writers
    ds = await make_datasette({"purposes": {"sql-assistant": {"model": "writer"}}})
    response = await ask(ds, {"database": "news", "question": QUESTION}, "alice")
    assert response.status_code == 200
    assert '<pre class="sql-assistant-sql">select count(*) from articles</pre>' in response.text
    assert "SQL written by writer" in response.text
    run_link = html.unescape(
        re.search(r'<a href="([^"]+)">Run this query</a>', response.text).group(1)
    )
    assert run_link.startswith("/news") and "sql=select+count" in run_link
    (prompt,) = writer.prompts
    assert prompt.prompt == QUESTION
    assert "CREATE TABLE articles (id integer primary key, title text);" in prompt.system.replace(
        "create table", "CREATE TABLE"
    )


async def test_the_picked_model_is_used(make_datasette, writers):
    writer, other = writers
    ds = await make_datasette(
        {"purposes": {"sql-assistant": {"model": "writer", "models": ["other-writer"]}}}
    )
    response = await ask(ds, {"database": "news", "question": QUESTION, "model": "other-writer"})
    assert response.status_code == 200
    assert "SQL written by other-writer" in response.text
    assert (writer.prompts, other.prompt_texts) == ([], [QUESTION])


async def test_works_with_the_echo_model(make_datasette):
    ds = await make_datasette({"default_model": "echo"})
    response = await ask(ds, {"database": "news", "question": QUESTION})
    assert response.status_code == 200
    assert "SQL written by echo" in response.text
    # echo answers with the prompt it received, as JSON
    assert f'"prompt": "{QUESTION}"' in html.unescape(response.text)


async def test_model_not_allowed_for_the_purpose_is_a_403(make_datasette, writers):
    ds = await make_datasette(
        {"default_model": "echo", "purposes": {"sql-assistant": {"models": ["writer"]}}}
    )
    response = await ask(ds, {"database": "news", "question": QUESTION, "model": "echo"})
    assert response.status_code == 403
    assert "You may not use that model for SQL assistance: Model &#39;echo&#39; is not allowed" in (
        response.text
    )


async def test_unknown_model_is_a_400(make_datasette):
    ds = await make_datasette({"default_model": "echo"})
    response = await ask(ds, {"database": "news", "question": QUESTION, "model": "no-such-model"})
    assert response.status_code == 400
    assert (
        "No model available for SQL assistance: Unknown model &#39;no-such-model&#39;"
        in response.text
    )


async def test_no_default_model_is_a_400(make_datasette):
    ds = await make_datasette({})
    response = await ask(ds, {"database": "news", "question": QUESTION})
    assert response.status_code == 400
    assert "No model available for SQL assistance: No model_id given" in response.text


async def test_empty_question_is_a_400(make_datasette):
    ds = await make_datasette({"default_model": "echo"})
    response = await ask(ds, {"database": "news", "question": "  "})
    assert response.status_code == 400
    assert "Ask a question first" in response.text


async def test_needs_execute_sql_permission(make_datasette):
    ds = await make_datasette(
        {"default_model": "echo"}, permissions={"execute-sql": {"id": "alice"}}
    )
    assert (await ds.client.get(PATH)).status_code == 403
    assert (
        await ds.client.post(PATH, data={"database": "news", "question": "x"})
    ).status_code == 403
    assert (await ds.client.get(PATH, cookies=cookies_for(ds, "alice"))).status_code == 200


async def test_other_databases_are_refused(make_datasette):
    ds = await make_datasette({"default_model": "echo"})
    response = await ask(ds, {"database": "secret", "question": QUESTION})
    assert response.status_code == 403
    assert "You may not run SQL against database &#39;secret&#39;" in response.text


async def test_cross_site_post_is_refused(make_datasette, writers):
    writer, _ = writers
    ds = await make_datasette({"purposes": {"sql-assistant": {"model": "writer"}}})
    response = await ds.client.post(
        PATH,
        data={"database": "news", "question": QUESTION},
        cookies=cookies_for(ds, "alice"),
        headers={"sec-fetch-site": "cross-site", "origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert writer.prompts == []


async def test_menu_link(make_datasette):
    ds = await make_datasette({"default_model": "echo"})
    assert 'href="/-/sql-assistant"' in (await ds.client.get("/")).text


async def test_custom_system_prompt(datasette_llm_config, db_path, writers):
    writer, _ = writers
    ds = await datasette_llm_config(
        {"default_model": "writer"},
        plugins={"datasette-llm-example-sql-assistant": {"system_prompt": "Tables: {schema}"}},
        files=[str(db_path)],
    )
    await ask(ds, {"database": "news", "question": QUESTION})
    assert writer.prompts[0].system.startswith("Tables: CREATE TABLE articles")


def test_extract_sql():
    assert extract_sql(ANSWER) == "select count(*) from articles"
    assert extract_sql("```\nselect 1\n```") == "select 1"
    assert extract_sql("  select 2  ") == "select 2"
