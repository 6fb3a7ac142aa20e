"""Integration tests: a real Datasette, datasette-llm and this plugin's
``llm_filter_models``, with FakeModels from datasette_llm.testing and the echo model."""

import sqlite3

import pytest

from datasette_llm import LLM, ModelNotAllowedError
from datasette_llm.testing import FakeModel, fake_models

PLUGIN = "datasette-llm-example-model-filter"
FAKES = ["cheap", "mid", "expensive"]


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "data.db"
    conn = sqlite3.connect(path)
    conn.execute("create table llm_user_models (actor_id text, model_id text)")
    conn.executemany(
        "insert into llm_user_models values (?, ?)",
        [("alice", "mid"), ("alice", "expensive"), ("42", "cheap")],
    )
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def models():
    with fake_models(*[FakeModel(model_id) for model_id in FAKES]) as models:
        yield models


@pytest.fixture
def make_datasette(datasette_llm_config, db_path):
    async def make(plugin_config, llm_config=None, files=None):
        return await datasette_llm_config(
            llm_config or {},
            plugins={PLUGIN: plugin_config} if plugin_config is not None else {},
            files=files or [str(db_path)],
        )

    return make


async def listed(ds, actor=None, purpose=None):
    return [
        m.model_id
        for m in await LLM(ds).models(actor=actor, purpose=purpose)
        if m.model_id in FAKES + ["echo"]
    ]


async def test_anonymous_actors_get_the_cheap_list(make_datasette, models):
    ds = await make_datasette({"anonymous_models": ["cheap", "echo"]})
    assert await listed(ds) == ["echo", "cheap"]
    assert await listed(ds, purpose="anything") == ["echo", "cheap"]
    with pytest.raises(ModelNotAllowedError) as info:
        await LLM(ds).model("expensive")
    assert info.value.rule == f"hook:{PLUGIN}"


async def test_signed_in_actors_get_their_allowlist(make_datasette, models):
    ds = await make_datasette({"anonymous_models": ["cheap"]})
    assert await listed(ds, actor={"id": "alice"}) == ["mid", "expensive"]
    # Integer actor IDs match the text column
    assert await listed(ds, actor={"id": 42}) == ["cheap"]
    # No rows: no models
    assert await listed(ds, actor={"id": "bob"}) == []
    model = await LLM(ds).model("expensive", actor={"id": "alice"})
    assert await (await model.prompt("hi")).text() == "hi"
    with pytest.raises(ModelNotAllowedError):
        await LLM(ds).model("cheap", actor={"id": "alice"})


async def test_works_with_the_echo_model(make_datasette):
    ds = await make_datasette({"anonymous_models": ["echo"]}, {"default_model": "echo"})
    model = await LLM(ds).model()
    assert '"prompt": "hello"' in await (await model.prompt("hello")).text()
    with pytest.raises(ModelNotAllowedError):
        await LLM(ds).model(actor={"id": "bob"})


async def test_cannot_add_models_the_configuration_refuses(make_datasette, models):
    ds = await make_datasette(
        {"anonymous_models": ["cheap", "expensive"]}, {"blocked_models": ["expensive"]}
    )
    assert await listed(ds) == ["cheap"]
    assert await listed(ds, actor={"id": "alice"}) == ["mid"]


async def test_does_nothing_until_configured(make_datasette, models):
    ds = await make_datasette(None)
    assert await listed(ds) == ["echo"] + FAKES
    assert await listed(ds, actor={"id": "bob"}) == ["echo"] + FAKES


async def test_custom_database_and_table(make_datasette, models, tmp_path, db_path):
    other = tmp_path / "prefs.db"
    conn = sqlite3.connect(other)
    conn.execute("create table allowed (actor_id text, model_id text)")
    conn.execute("insert into allowed values ('bob', 'mid')")
    conn.commit()
    conn.close()
    ds = await make_datasette(
        {"database": "prefs", "table": "allowed"}, files=[str(db_path), str(other)]
    )
    assert await listed(ds, actor={"id": "bob"}) == ["mid"]
    assert await listed(ds, actor={"id": "alice"}) == []


async def test_creates_the_table_at_startup(make_datasette, models, tmp_path):
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    ds = await make_datasette({}, files=[str(empty)])
    assert await ds.get_database("empty").table_exists("llm_user_models")
    await ds.get_database("empty").execute_write(
        "insert into llm_user_models values ('carol', 'cheap')"
    )
    assert await listed(ds, actor={"id": "carol"}) == ["cheap"]
    # Anonymous: no anonymous_models configured, so nothing
    assert await listed(ds) == []


async def test_missing_database_means_no_models_for_signed_in_actors(make_datasette, models):
    ds = await make_datasette({"database": "not-attached", "anonymous_models": ["cheap"]})
    assert await listed(ds, actor={"id": "alice"}) == []
    assert await listed(ds) == ["cheap"]


async def test_invalid_config_stops_startup(make_datasette):
    with pytest.raises(ValueError, match="anonymous_models must be a list of model IDs"):
        await make_datasette({"anonymous_models": "cheap"})
