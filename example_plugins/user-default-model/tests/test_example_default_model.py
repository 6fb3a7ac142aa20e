"""Integration tests: a real Datasette, datasette-llm and this plugin's
``llm_default_model`` and ``/-/llm-preference`` page, with FakeModels and echo."""

import re
import sqlite3

import pytest

from datasette_llm import LLM
from datasette_llm.testing import FakeModel, fake_models

PLUGIN = "datasette-llm-example-default-model"
PAGE = "/-/llm-preference"


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "data.db"
    sqlite3.connect(path).close()
    return path


@pytest.fixture
def models():
    with fake_models(FakeModel("house"), FakeModel("fancy"), FakeModel("retired")) as models:
        yield models


@pytest.fixture
def make_datasette(datasette_llm_config, db_path):
    async def make(llm_config=None, plugin_config=None, configured=True):
        return await datasette_llm_config(
            llm_config or {"default_model": "house", "blocked_models": ["retired"]},
            plugins={PLUGIN: plugin_config or {}} if configured else {},
            files=[str(db_path)],
        )

    return make


def prefer(db_path, actor_id, model_id):
    conn = sqlite3.connect(db_path)
    conn.execute("insert or replace into llm_user_prefs values (?, ?)", [actor_id, model_id])
    conn.commit()
    conn.close()


def stored(db_path):
    conn = sqlite3.connect(db_path)
    try:
        return dict(conn.execute("select actor_id, model_id from llm_user_prefs"))
    finally:
        conn.close()


def cookies_for(ds, actor_id):
    return {"ds_actor": ds.sign({"a": {"id": actor_id}}, "actor")} if actor_id else {}


async def post_form(ds, data, actor_id):
    """POST as a browser would on every Datasette version, CSRF token included."""
    cookies = cookies_for(ds, actor_id)
    page = await ds.client.get(PAGE, cookies=cookies)
    token = re.search(r'name="csrftoken" value="([^"]*)"', page.text).group(1)
    if "ds_csrftoken" in page.cookies:
        cookies["ds_csrftoken"] = page.cookies["ds_csrftoken"]
    return await ds.client.post(PAGE, data={**data, "csrftoken": token}, cookies=cookies)


def effective(page_html):
    return re.search(r'<strong class="effective-model">([^<]*)</strong>', page_html).group(1)


async def test_an_actors_preference_is_their_default(make_datasette, models, db_path):
    ds = await make_datasette()
    prefer(db_path, "alice", "fancy")
    assert (await LLM(ds).model(actor={"id": "alice"})).model_id == "fancy"
    assert (await LLM(ds).model(actor={"id": "bob"})).model_id == "house"
    assert (await LLM(ds).model()).model_id == "house"
    # An explicit model ID still wins over any default
    assert (await LLM(ds).model("house", actor={"id": "alice"})).model_id == "house"


async def test_preference_beats_the_purpose_default(make_datasette, models, db_path):
    ds = await make_datasette({"purposes": {"summaries": {"model": "house"}}})
    prefer(db_path, "alice", "fancy")
    assert (await LLM(ds).model(purpose="summaries", actor={"id": "alice"})).model_id == "fancy"
    async with LLM(ds).group(purpose="summaries", actor={"id": "alice"}) as model:
        assert model.model_id == "fancy"


async def test_a_preference_policy_refuses_falls_back(make_datasette, models, db_path, caplog):
    ds = await make_datasette()
    prefer(db_path, "alice", "retired")
    assert (await LLM(ds).model(actor={"id": "alice"})).model_id == "house"
    assert "'retired' from the llm_default_model hook of datasette-llm-example-default-model" in (
        caplog.text
    )


async def test_does_nothing_until_configured(make_datasette, models, db_path):
    ds = await make_datasette(configured=False)
    assert not await ds.get_database("data").table_exists("llm_user_prefs")
    assert (await LLM(ds).model(actor={"id": "alice"})).model_id == "house"
    response = await ds.client.get(PAGE, cookies=cookies_for(ds, "alice"))
    assert response.status_code == 404


async def test_page_needs_a_signed_in_actor(make_datasette, models):
    ds = await make_datasette()
    assert (await ds.client.get(PAGE)).status_code == 403
    assert (await ds.client.post(PAGE, data={"model_id": "fancy"})).status_code == 403


async def test_page_lists_the_actors_models(make_datasette, models, db_path):
    ds = await make_datasette()
    prefer(db_path, "alice", "fancy")
    page = await ds.client.get(PAGE, cookies=cookies_for(ds, "alice"))
    assert page.status_code == 200
    options = re.findall(r'<option value="([^"]*)"( selected)?>', page.text)
    ids = [value for value, _ in options]
    assert ids[0] == "" and {"house", "fancy", "echo"} <= set(ids) and "retired" not in ids
    assert ("fancy", " selected") in options
    assert effective(page.text) == "fancy"


async def test_setting_and_clearing_a_preference(make_datasette, models, db_path):
    ds = await make_datasette()
    response = await post_form(ds, {"model_id": "fancy"}, "alice")
    assert response.status_code == 302
    assert response.headers["location"] == PAGE
    assert stored(db_path) == {"alice": "fancy"}
    assert (await LLM(ds).model(actor={"id": "alice"})).model_id == "fancy"
    page = await ds.client.get(PAGE, cookies=cookies_for(ds, "alice"))
    assert effective(page.text) == "fancy"
    response = await post_form(ds, {"model_id": ""}, "alice")
    assert response.status_code == 302
    assert stored(db_path) == {}
    assert (await LLM(ds).model(actor={"id": "alice"})).model_id == "house"


async def test_unavailable_model_is_a_400(make_datasette, models, db_path):
    ds = await make_datasette()
    response = await post_form(ds, {"model_id": "retired"}, "alice")
    assert response.status_code == 400
    assert "Model &#39;retired&#39; is not available to you" in response.text
    assert stored(db_path) == {}


async def test_cross_site_post_is_refused(make_datasette, models, db_path):
    ds = await make_datasette()
    response = await ds.client.post(
        PAGE,
        data={"model_id": "fancy"},
        cookies=cookies_for(ds, "alice"),
        headers={"sec-fetch-site": "cross-site", "origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert stored(db_path) == {}


async def test_with_the_echo_model(make_datasette, db_path):
    ds = await make_datasette({"default_model": "echo"})
    assert (await post_form(ds, {"model_id": "echo"}, "alice")).status_code == 302
    model = await LLM(ds).model(actor={"id": "alice"})
    assert model.model_id == "echo"
    assert '"prompt": "hi"' in await (await model.prompt("hi")).text()


async def test_custom_table_created_at_startup(make_datasette, models, db_path):
    ds = await make_datasette(plugin_config={"table": "prefs"})
    assert await ds.get_database("data").table_exists("prefs")
    assert (await post_form(ds, {"model_id": "fancy"}, "bob")).status_code == 302
    assert (await LLM(ds).model(actor={"id": "bob"})).model_id == "fancy"


async def test_a_preference_no_longer_allowed_is_ignored_and_the_page_says_so(
    make_datasette, models, db_path
):
    ds = await make_datasette()
    prefer(db_path, "alice", "retired")  # blocked by the configuration
    page = await ds.client.get(PAGE, cookies=cookies_for(ds, "alice"))
    assert page.status_code == 200
    assert (
        "Your saved default,\n  retired, is no longer available to you, so it is ignored."
        in page.text
    )
    assert effective(page.text) == "house"
    assert 'value="retired"' not in page.text
    # An allowed preference gets no such message
    prefer(db_path, "alice", "fancy")
    page = await ds.client.get(PAGE, cookies=cookies_for(ds, "alice"))
    assert "ignored-preference" not in page.text


async def test_the_page_is_in_the_menu_for_signed_in_actors(make_datasette, models):
    ds = await make_datasette()
    link = f'href="{PAGE}"'
    assert link in (await ds.client.get("/", cookies=cookies_for(ds, "alice"))).text
    assert link not in (await ds.client.get("/")).text
    unconfigured = await make_datasette(configured=False)
    assert (
        link
        not in (await unconfigured.client.get("/", cookies=cookies_for(unconfigured, "alice"))).text
    )
