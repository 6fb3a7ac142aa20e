"""The demo models, through llm itself (sync and async) and through datasette-llm."""

import asyncio
import sqlite3
import time

import llm
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datasette_llm import LLM, ModelNotAllowedError
from datasette_llm.testing import fake_secrets
from datasette_llm_example_demo_models import (
    DEFAULT_DELAY,
    DELAY_VARIABLE,
    MODEL_IDS,
    chunk_delay,
    chunks_of,
    estimate_tokens,
    first_sentence,
    write_query,
)

SCHEMA = """
CREATE TABLE authors (id integer primary key, name text);
CREATE TABLE articles (
    id integer primary key,
    title text,
    author_id integer references authors(id),
    score integer,
    published_date text
);
CREATE TABLE categories (id integer primary key, name text);
CREATE TABLE user_roles (user_id integer, role text);
CREATE TABLE "order" ("select" text, "group" integer);
CREATE VIEW top_articles AS select * from articles where score > 3;
"""
ARTICLE = (
    "After a decade away, brown pelicans have been seen nesting on the islands of the bay "
    "again. Volunteers credit cleaner water."
)


@pytest.fixture(autouse=True)
def no_delay(monkeypatch):
    monkeypatch.setenv(DELAY_VARIABLE, "0")


@pytest.fixture
def schema_db():
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    conn.execute("insert into articles (id, title, score) values (1, 'a', 5), (2, 'b', 2)")
    yield conn
    conn.close()


def test_registered_with_llm():
    for model_id in MODEL_IDS:
        assert llm.get_model(model_id).model_id == model_id
        assert llm.get_async_model(model_id).model_id == model_id
    assert llm.get_async_model("demo-keyed").needs_key == "demo"
    assert llm.get_async_model("demo-sql").needs_key is None
    assert llm.get_async_model("demo-summarise").needs_key is None


@pytest.mark.parametrize(
    "question, sql",
    [
        ("How many articles are there?", "select count(*) from articles"),
        ("What is the number of authors?", "select count(*) from authors"),
        (
            "How many articles where score = 5?",
            "select count(*) from articles where score = 5",
        ),
        (
            "Show articles where title is 'Pelicans'",
            "select * from articles where title = 'Pelicans'",
        ),
        (
            "Count the articles whose author id is 3",
            "select count(*) from articles where author_id = 3",
        ),
        ("top 3 articles by score", "select * from articles order by score desc limit 3"),
        ("The 2 lowest score articles", "select * from articles order by score limit 2"),
        (
            "articles with the latest published date",
            "select * from articles order by published_date desc",
        ),
        ("List every category", "select * from categories"),
        ("Which user roles exist?", "select * from user_roles"),
        ("What is in top articles?", "select * from top_articles"),
        (
            "How many orders where select = 'x'",
            'select count(*) from "order" where "select" = \'x\'',
        ),
    ],
)
def test_writes_sql_for_the_table_the_question_names(schema_db, question, sql):
    query = write_query(question, SCHEMA)
    assert query.sql == sql
    schema_db.execute(query.sql).fetchall()  # and it runs on the database


def test_says_what_the_query_does():
    assert write_query("top 3 articles by score", SCHEMA).explanation == (
        "This lists the first 3 rows of articles, ordered by score, highest first."
    )
    assert write_query("how many articles where score = 5", SCHEMA).explanation == (
        "This counts the rows of articles where score is 5."
    )


def test_a_question_naming_no_table_uses_the_first():
    query = write_query("What is going on?", SCHEMA)
    assert query.sql == "select * from authors"
    assert query.explanation.startswith(
        "Your question names none of the tables (authors, articles, categories, user_roles, "
        "order, top_articles), so I used authors."
    )


def test_without_a_schema_it_lists_the_tables():
    query = write_query("How many articles?", "no schema here")
    assert query.sql == "select name from sqlite_master where type = 'table' order by name"
    assert "no database schema" in query.explanation


def test_statements_without_semicolons_end_at_a_blank_line():
    query = write_query("how many pelicans", "CREATE TABLE pelicans (id int)\n\nHow many?")
    assert query.sql == "select count(*) from pelicans"


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=st.text(max_size=80))
def test_any_question_gets_a_select_that_runs(schema_db, question):
    query = write_query(question, SCHEMA)
    assert query.sql.startswith("select ")
    schema_db.execute(query.sql).fetchall()


@settings(max_examples=100, deadline=None)
@given(
    table=st.text(st.characters(codec="ascii", exclude_characters="\x00"), min_size=1, max_size=12),
    column=st.text(
        st.characters(codec="ascii", exclude_characters="\x00"), min_size=1, max_size=12
    ),
    value=st.text(st.characters(codec="ascii", exclude_characters="\x00"), max_size=8),
)
def test_odd_names_are_quoted(table, column, value):
    def quoted(name):
        return '"' + name.replace('"', '""') + '"'

    schema = f"CREATE TABLE {quoted(table)} ({quoted(column)} text);"
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(schema)
        counted = write_query(f"how many {table} where {column} = {value}", schema)
        assert counted.sql.startswith("select count(*) from ")
        conn.execute(counted.sql).fetchall()
        conn.execute(write_query(f"top 2 {table} by {column}", schema).sql).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "text, summary",
    [
        (
            ARTICLE,
            "After a decade away, brown pelicans have been seen nesting on the islands of the bay again.",
        ),
        ("Summarise this in one sentence:\n\n" + ARTICLE, ARTICLE.split(" Volunteers")[0]),
        ("  Short   text   without a full stop  ", "Short text without a full stop"),
        ("Is it? Yes.", "Is it?"),
        ("", "There is nothing to summarise."),
        ("Summarise:   ", "There is nothing to summarise."),
    ],
)
def test_summaries_are_the_first_sentence(text, summary):
    assert first_sentence(text) == summary


def test_long_sentences_are_cut_at_a_word():
    summary = first_sentence("word " * 100 + "end.")
    assert summary.endswith("word…") and len(summary) <= 201


def test_chunks_join_to_the_text():
    text = "  This counts\n\nthe rows.\n```sql\nselect 1\n```"
    assert "".join(chunks_of(text)) == text
    assert chunks_of("a b") == ["a ", "b"]


async def test_async_models_stream_chunk_by_chunk():
    model = llm.get_async_model("demo-sql")
    response = model.prompt("How many articles?", system=SCHEMA)
    chunks = [chunk async for chunk in response]
    assert len(chunks) > 5
    text = await response.text()
    assert "".join(chunks) == text
    assert text.endswith("```sql\nselect count(*) from articles\n```")


def test_sync_models_stream_chunk_by_chunk():
    response = llm.get_model("demo-summarise").prompt(ARTICLE)
    chunks = list(response)
    assert len(chunks) > 5
    assert "".join(chunks) == first_sentence(ARTICLE)


async def test_usage_is_estimated_in_tokens():
    response = llm.get_async_model("demo-summarise").prompt(ARTICLE, system="Be brief")
    text = await response.text()
    usage = await response.usage()
    assert usage.input == estimate_tokens(ARTICLE) + estimate_tokens("Be brief")
    assert usage.output == estimate_tokens(text) > 0


def test_the_delay_comes_from_the_option_then_the_environment(monkeypatch):
    assert chunk_delay(0.5) == 0.5
    monkeypatch.setenv(DELAY_VARIABLE, "0.2")
    assert chunk_delay(None) == 0.2
    assert chunk_delay(0) == 0
    monkeypatch.delenv(DELAY_VARIABLE)
    assert chunk_delay(None) == DEFAULT_DELAY


@pytest.mark.parametrize("raw", ["soon", "-1", "nan", "inf"])
def test_a_bad_delay_variable_is_named(monkeypatch, raw):
    monkeypatch.setenv(DELAY_VARIABLE, raw)
    with pytest.raises(
        ValueError, match=f"DEMO_MODELS_DELAY must be a number of seconds .*{raw!r}"
    ):
        chunk_delay(None)


async def test_the_async_models_pause_between_chunks(monkeypatch):
    pauses = []
    real_sleep = asyncio.sleep

    async def recording_sleep(seconds):
        pauses.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    response = llm.get_async_model("demo-summarise").prompt("One two three.", chunk_delay=0.25)
    await response.text()
    assert pauses == [0.25, 0.25]
    pauses.clear()
    # Not streaming: no pauses worth the name
    await llm.get_async_model("demo-summarise").prompt("One two three.", stream=False).text()
    assert pauses == [0, 0]


def test_the_sync_models_pause_between_chunks(monkeypatch):
    pauses = []
    monkeypatch.setattr(time, "sleep", pauses.append)
    llm.get_model("demo-summarise").prompt("One two three.", chunk_delay=0.25).text()
    assert pauses == [0.25, 0.25]


def test_a_negative_delay_option_is_refused():
    with pytest.raises(Exception, match="chunk_delay"):
        llm.get_model("demo-sql").prompt("hi", chunk_delay=-1).text()


def test_the_keyed_model_needs_a_key():
    with pytest.raises(llm.NeedsKeyException, match="DEMO_API_KEY"):
        llm.get_model("demo-keyed").prompt("Hello there. More.").text()
    text = llm.get_model("demo-keyed").prompt("Hello there. More.", key="demo-secret").text()
    assert text == "Hello there."


async def test_the_keyed_model_writes_sql_when_given_a_schema():
    response = llm.get_async_model("demo-keyed").prompt(
        "How many authors?", system=SCHEMA, key="demo-secret"
    )
    text = await response.text()
    assert "select count(*) from authors" in text and "demo-secret" not in text


async def test_datasette_llm_offers_the_keyed_model_once_its_key_is_set(datasette_llm_config):
    ds = await datasette_llm_config({"require_keys": True})
    listed = {m.model_id for m in await LLM(ds).models()}
    assert {"demo-sql", "demo-summarise"} <= listed and "demo-keyed" not in listed
    with pytest.raises(ModelNotAllowedError):
        await LLM(ds).model("demo-keyed")
    with fake_secrets({"DEMO_API_KEY": "demo-secret"}):
        assert "demo-keyed" in {m.model_id for m in await LLM(ds).models()}
        model = await LLM(ds).model("demo-keyed", actor={"id": "root"})
        assert await (await model.prompt("Keys work. Really.")).text() == "Keys work."


async def test_datasette_llm_registers_the_demo_api_key_secret(datasette_llm_config):
    from datasette_secrets import get_secrets

    ds = await datasette_llm_config({})
    assert "DEMO_API_KEY" in {secret.name for secret in await get_secrets(ds)}


@pytest.mark.parametrize("keyword", ["NOTHING", "nulls", "Returning", "temp", "do"])
def test_tables_named_after_any_sqlite_keyword_are_quoted(keyword):
    schema = f'CREATE TABLE "{keyword}" (n integer);'
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(schema)
        conn.execute(write_query(f"how many {keyword}", schema).sql).fetchall()
    finally:
        conn.close()
