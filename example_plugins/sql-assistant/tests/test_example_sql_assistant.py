"""Integration tests: a real Datasette, datasette-llm and this plugin, with FakeModels
from datasette_llm.testing, the demo models and the echo model."""

import html
import json
import logging
import re
import sqlite3

import pytest
from datasette.version import __version__ as datasette_version

from datasette_llm import get_purposes
from datasette_llm.testing import FakeModel, fake_models
from datasette_llm_example_sql_assistant import Config, extract_sql

PATH = "/-/sql-assistant"
STREAM = "/-/sql-assistant/stream"
QUESTION = "How many articles are there?"
ANSWER = "Here you go:\n```sql\nselect count(*) from articles\n```"
DATASETTE_1 = datasette_version.startswith("1.")


@pytest.fixture(autouse=True)
def no_demo_model_delay(monkeypatch):
    monkeypatch.setenv("DEMO_MODELS_DELAY", "0")


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "news.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        create table authors (id integer primary key, name text not null);
        create table articles (
            id integer primary key autoincrement,
            title text,
            author_id integer references authors(id)
        );
        create view article_titles as select title from articles;
        create virtual table articles_fts using fts5(title, content=articles);
        create table _enrichment_jobs (id integer primary key, status text);
        create table llm_user_models (actor_id text, model_id text);
        insert into authors (id, name) values (1, 'Ann');
        insert into articles (title, author_id) values
            ('Pelicans return', 1), ('Library hours', 1), ('Cycle lane', 1);
        """)
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def make_datasette(datasette_llm_config, db_path):
    async def make(llm_config, plugin_config=None, **kwargs):
        plugins = {"datasette-llm-example-sql-assistant": plugin_config} if plugin_config else {}
        return await datasette_llm_config(
            llm_config, plugins=plugins, files=[str(db_path)], **kwargs
        )

    return make


@pytest.fixture
def writers():
    with fake_models(
        FakeModel("writer", responses=[ANSWER]), FakeModel("other-writer", responses=[ANSWER])
    ) as models:
        yield models


def cookies_for(ds, actor_id):
    return {"ds_actor": ds.sign({"a": {"id": actor_id}}, "actor")} if actor_id else {}


async def form_post(ds, path, data, actor_id=None):
    """POST the form as a browser would, CSRF token included (any Datasette version)."""
    cookies = cookies_for(ds, actor_id)
    page = await ds.client.get(PATH, cookies=cookies)
    token = re.search(r'name="csrftoken" value="([^"]*)"', page.text).group(1)
    if "ds_csrftoken" in page.cookies:
        cookies["ds_csrftoken"] = page.cookies["ds_csrftoken"]
    return await ds.client.post(path, data={**data, "csrftoken": token}, cookies=cookies)


async def ask(ds, data, actor_id=None):
    return await form_post(ds, PATH, data, actor_id)


async def ask_streaming(ds, data, actor_id=None):
    """POST to the stream; return the response and its events as (name, data) pairs."""
    response = await form_post(ds, STREAM, data, actor_id)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in response.text.split("\n\n"):
        if block:
            name, data_line = block.split("\n")
            events.append(
                (name.removeprefix("event: "), json.loads(data_line.removeprefix("data: ")))
            )
    return response, events


def picker(page_html):
    select = re.search(r'<select name="model">(.*?)</select>', page_html, re.DOTALL).group(1)
    return re.findall(r'<option value="([^"]*)"', select)


def shown(page_html, css_class):
    """The text of the element with this class, or None if it is hidden."""
    match = re.search(
        rf'<(\w+) class="[^"]*\b{css_class}\b[^"]*"([^>]*)>(.*?)</\1>', page_html, re.DOTALL
    )
    if match is None or " hidden" in match.group(2):
        return None
    return html.unescape(match.group(3)).strip()


def run_link(page_html):
    return html.unescape(re.search(r'class="sql-assistant-run" href="([^"]*)"', page_html).group(1))


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
    assert shown(page.text, "sql-assistant-answer") is None


async def test_the_database_can_be_chosen_by_url(
    make_datasette, tmp_path, datasette_llm_config, db_path
):
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    ds = await datasette_llm_config({"default_model": "echo"}, files=[str(db_path), str(other)])
    page = await ds.client.get(PATH + "?database=other")
    assert "<option selected>other</option>" in page.text


async def test_prompt_carries_the_schema_and_the_question(make_datasette, writers, snapshot):
    writer, _ = writers
    ds = await make_datasette(
        {"purposes": {"sql-assistant": {"model": "writer"}}},
        {"exclude_tables": ["llm_user_models"]},
    )
    response = await ask(ds, {"database": "news", "question": QUESTION}, "alice")
    assert response.status_code == 200
    (prompt,) = writer.prompts
    assert {"system": prompt.system, "prompt": prompt.prompt} == snapshot
    # Datasette's, plugins' and SQLite's own tables are left out; no row data
    for left_out in (
        "articles_fts",
        "_enrichment_jobs",
        "llm_user_models",
        "sqlite_sequence",
        "Pelicans",
    ):
        assert left_out not in prompt.system
    for kept in ("CREATE TABLE authors", "references authors(id)", "create view article_titles"):
        assert kept.lower() in prompt.system.lower()


async def test_the_page_shows_the_answer_and_links_to_the_query(make_datasette, writers):
    ds = await make_datasette({"purposes": {"sql-assistant": {"model": "writer"}}})
    response = await ask(ds, {"database": "news", "question": QUESTION}, "alice")
    assert response.status_code == 200
    assert shown(response.text, "sql-assistant-model") == "writer"
    assert shown(response.text, "sql-assistant-text") == ANSWER
    assert shown(response.text, "sql-assistant-sql") == "select count(*) from articles"
    link = run_link(response.text)
    assert link.startswith("/news") and "sql=select+count" in link
    assert shown(response.text, "sql-assistant-error") is None


async def test_the_extracted_sql_runs_on_the_query_page(make_datasette):
    ds = await make_datasette({"purposes": {"sql-assistant": {"model": "demo-sql"}}})
    response = await ask(ds, {"database": "news", "question": QUESTION})
    assert shown(response.text, "sql-assistant-sql") == "select count(*) from articles"
    query_page = await ds.client.get(run_link(response.text))
    assert query_page.status_code == 200
    json_url = (
        run_link(response.text)
        .replace("/-/query?", "/-/query.json?")
        .replace("/news?", "/news.json?")
    )
    result = await ds.client.get(json_url + "&_shape=array")
    assert result.json() == [{"count(*)": 3}]


async def test_the_answer_streams_in_chunks(make_datasette):
    chunks = ["Counting", " the articles:\n", "```sql\nselect count(*)", " from articles\n```"]
    with fake_models(FakeModel("streamer", chunks=[chunks])):
        ds = await make_datasette({"purposes": {"sql-assistant": {"model": "streamer"}}})
        response, events = await ask_streaming(ds, {"database": "news", "question": QUESTION})
    assert response.status_code == 200
    # Never cached (Datasette 0.65 makes it "private, no-store" for a visitor with cookies)
    assert response.headers["cache-control"] in ("no-cache", "private, no-store")
    assert events == [
        ("model", {"model": "streamer"}),
        *[("chunk", {"text": chunk}) for chunk in chunks],
        ("done", {"sql": "select count(*) from articles", "run_url": events[-1][1]["run_url"]}),
    ]
    assert "sql=select+count" in events[-1][1]["run_url"]


async def test_the_demo_model_streams_word_by_word(make_datasette):
    ds = await make_datasette({"purposes": {"sql-assistant": {"model": "demo-sql"}}})
    _, events = await ask_streaming(ds, {"database": "news", "question": QUESTION})
    chunks = [data["text"] for name, data in events if name == "chunk"]
    assert len(chunks) > 5
    assert "".join(chunks).endswith("```sql\nselect count(*) from articles\n```")
    assert events[-1] == (
        "done",
        {"sql": "select count(*) from articles", "run_url": events[-1][1]["run_url"]},
    )


async def test_works_with_the_echo_model(make_datasette):
    ds = await make_datasette({"default_model": "echo"})
    response = await ask(ds, {"database": "news", "question": QUESTION})
    assert response.status_code == 200
    assert shown(response.text, "sql-assistant-model") == "echo"
    # echo answers with the prompt it received, as JSON: there is no SQL in it
    assert f'"prompt": "{QUESTION}"' in shown(response.text, "sql-assistant-text")
    assert shown(response.text, "sql-assistant-error") == "The answer holds no SQL query to open."
    assert shown(response.text, "sql-assistant-query") is None


async def test_a_refused_model_is_a_short_message(make_datasette, writers, caplog):
    ds = await make_datasette(
        {"default_model": "echo", "purposes": {"sql-assistant": {"models": ["writer"]}}}
    )
    response = await ask(ds, {"database": "news", "question": QUESTION, "model": "echo"})
    assert response.status_code == 403
    assert shown(response.text, "sql-assistant-error") == (
        "The model 'echo' is not available to you for SQL assistance."
    )
    # The operator's config paths are for the log only
    assert "plugins.datasette-llm" not in response.text
    assert "plugins.datasette-llm.purposes.sql-assistant.models" in caplog.text
    _, events = await ask_streaming(ds, {"database": "news", "question": QUESTION, "model": "echo"})
    assert events == [
        ("error", {"message": "The model 'echo' is not available to you for SQL assistance."})
    ]


async def test_an_unknown_model_is_a_400(make_datasette):
    ds = await make_datasette({"default_model": "echo"})
    response = await ask(ds, {"database": "news", "question": QUESTION, "model": "no-such-model"})
    assert response.status_code == 400
    assert shown(response.text, "sql-assistant-error") == (
        "The model 'no-such-model' is not available to you for SQL assistance."
    )


async def test_no_model_for_the_visitor(make_datasette, writers):
    ds = await make_datasette({"models": [], "purposes": {"sql-assistant": {"models": []}}})
    page = await ds.client.get(PATH)
    assert picker(page.text) == [""]
    assert "No model is available to you for SQL assistance." in page.text
    response = await ask(ds, {"database": "news", "question": QUESTION})
    assert response.status_code == 400
    assert (
        shown(response.text, "sql-assistant-error")
        == "No model is available to you for SQL assistance."
    )
    assert "No model_id given" not in response.text


async def test_a_provider_failure_is_a_message_and_a_log_entry(make_datasette, caplog):
    failing = FakeModel("flaky", error=ConnectionError("upstream host unreachable"))
    with fake_models(failing):
        ds = await make_datasette({"purposes": {"sql-assistant": {"model": "flaky"}}})
        response = await ask(ds, {"database": "news", "question": QUESTION})
        assert response.status_code == 502
        assert shown(response.text, "sql-assistant-error") == (
            "The model flaky could not answer. Please try again later."
        )
        assert "upstream host unreachable" not in response.text
        assert "upstream host unreachable" in caplog.text
        _, events = await ask_streaming(ds, {"database": "news", "question": QUESTION})
    assert events == [
        ("model", {"model": "flaky"}),
        ("error", {"message": "The model flaky could not answer. Please try again later."}),
    ]


async def test_a_missing_key_is_a_provider_failure(make_datasette, caplog):
    with fake_models(FakeModel("paid", needs_key="acme")):
        ds = await make_datasette(
            {"require_keys": False, "purposes": {"sql-assistant": {"model": "paid"}}}
        )
        with caplog.at_level(logging.ERROR):
            response = await ask(ds, {"database": "news", "question": QUESTION})
    assert response.status_code == 502
    assert "The model paid could not answer" in response.text
    assert "sql-assistant: model paid failed" in caplog.text


async def test_empty_question_is_a_400(make_datasette):
    ds = await make_datasette({"default_model": "echo"})
    response = await ask(ds, {"database": "news", "question": "  "})
    assert response.status_code == 400
    assert shown(response.text, "sql-assistant-error") == "Ask a question first"


async def test_needs_execute_sql_permission(make_datasette):
    ds = await make_datasette(
        {"default_model": "echo"}, permissions={"execute-sql": {"id": "alice"}}
    )
    assert (await ds.client.get(PATH)).status_code == 403
    assert (
        await ds.client.post(PATH, data={"database": "news", "question": "x"})
    ).status_code == 403
    refused = await ds.client.post(STREAM, data={"database": "news", "question": "x"})
    assert refused.status_code == 403
    assert (await ds.client.get(PATH, cookies=cookies_for(ds, "alice"))).status_code == 200


async def test_other_databases_are_refused(make_datasette):
    ds = await make_datasette({"default_model": "echo"})
    response = await ask(ds, {"database": "secret", "question": QUESTION})
    assert response.status_code == 403
    assert (
        shown(response.text, "sql-assistant-error")
        == "You may not run SQL against database 'secret'"
    )


async def test_cross_site_posts_are_refused(make_datasette, writers):
    writer, _ = writers
    ds = await make_datasette({"purposes": {"sql-assistant": {"model": "writer"}}})
    for path in (PATH, STREAM):
        response = await ds.client.post(
            path,
            data={"database": "news", "question": QUESTION},
            cookies=cookies_for(ds, "alice"),
            headers={"sec-fetch-site": "cross-site", "origin": "https://evil.example"},
        )
        assert response.status_code == 403
    assert writer.prompts == []


async def test_the_stream_takes_only_posts(make_datasette):
    ds = await make_datasette({"default_model": "echo"})
    assert (await ds.client.get(STREAM)).status_code == 405


async def test_menu_link(make_datasette):
    ds = await make_datasette({"default_model": "echo"})
    assert 'href="/-/sql-assistant"' in (await ds.client.get("/")).text


async def test_custom_system_prompt(make_datasette, writers):
    writer, _ = writers
    ds = await make_datasette({"default_model": "writer"}, {"system_prompt": "Tables: {schema}"})
    await ask(ds, {"database": "news", "question": QUESTION})
    assert writer.prompts[0].system.startswith("Tables: CREATE TABLE")


async def test_the_schema_is_capped(make_datasette, writers, db_path):
    conn = sqlite3.connect(db_path)
    for number in range(30):
        conn.execute(f"create table extra_{number:02} (id integer primary key, value text)")
    conn.commit()
    conn.close()
    writer, _ = writers
    ds = await make_datasette({"default_model": "writer"}, {"schema_max_chars": 400})
    await ask(ds, {"database": "news", "question": QUESTION})
    schema = writer.prompts[0].system.split("The database schema:\n\n")[1]
    assert len(schema) < 400 + 80
    assert re.search(r"-- \d+ more table\(s\) left out to keep this schema short$", schema)


async def test_row_data_only_when_the_operator_enables_it(make_datasette, writers):
    writer, _ = writers
    ds = await make_datasette({"default_model": "writer"}, {"example_rows": 2})
    await ask(ds, {"database": "news", "question": QUESTION})
    system = writer.prompts[0].system
    assert '-- {"id": 1, "title": "Pelicans return", "author_id": 1}' in system
    assert "Cycle lane" not in system  # two rows only


@pytest.mark.skipif(not DATASETTE_1, reason="table permissions in config need Datasette 1.0")
async def test_tables_the_actor_may_not_view_are_left_out(db_path, writers):
    from datasette_test import Datasette

    writer, _ = writers
    # (datasette_llm_config takes no Datasette config of its own: build it here)
    ds = Datasette(
        [str(db_path)],
        plugin_config={"datasette-llm": {"default_model": "writer"}},
        config={"databases": {"news": {"tables": {"authors": {"allow": {"id": "root"}}}}}},
    )
    await ds.invoke_startup()
    await ask(ds, {"database": "news", "question": QUESTION})
    await ask(ds, {"database": "news", "question": QUESTION}, "root")
    anonymous, root = writer.prompts
    assert "CREATE TABLE authors" not in anonymous.system
    assert "CREATE TABLE authors" in root.system


@pytest.mark.parametrize(
    "config, message",
    [
        (
            {"system_prompt": "no placeholder"},
            "system_prompt: must be a string containing {schema}",
        ),
        (
            {"schema_max_chars": 10},
            "schema_max_chars: expected a whole number of 200 or more, got 10",
        ),
        ({"example_rows": "all"}, "example_rows: expected a whole number of 0 or more, got 'all'"),
        ({"exclude_tables": "x"}, "exclude_tables: expected a list of table names, got 'x'"),
        ({"exclude_table": ["x"]}, "exclude_table: unknown option, expected one of: system_prompt"),
    ],
)
def test_config_mistakes_name_the_key(config, message):
    with pytest.raises(ValueError) as info:
        Config(config)
    assert str(info.value).startswith("plugins.datasette-llm-example-sql-assistant." + message)


def test_extract_sql():
    assert extract_sql(ANSWER) == "select count(*) from articles"
    assert extract_sql("```\nselect 1\n```") == "select 1"
    assert extract_sql("  select 2  ") == "select 2"
    assert extract_sql("With pleasure: no SQL here") is None
    assert extract_sql("```sql\n```") is None
