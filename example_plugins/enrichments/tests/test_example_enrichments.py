"""Integration tests: a real Datasette, datasette-llm and this plugin, with the echo
model or a FakeModel from datasette_llm.testing. The fixtures ``datasette_llm_config``
and ``hook_recorder`` come from datasette-llm's pytest plugin."""

import re
import sqlite3

import pytest

from datasette_llm import get_purposes
from datasette_llm.testing import FakeModel, fake_models
from datasette_llm_example_enrichments import summarise_rows

PLUGIN = "datasette-llm-example-enrichments"
ARTICLES = [(1, "First", "A long first article"), (2, "Second", "A long second article")]


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "news.db"
    conn = sqlite3.connect(path)
    conn.execute("create table articles (id integer primary key, title text, body text)")
    conn.executemany("insert into articles values (?, ?, ?)", ARTICLES)
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def make_datasette(datasette_llm_config, db_path):
    async def make(llm_config=None, plugin_config=None):
        return await datasette_llm_config(
            llm_config if llm_config is not None else {"default_model": "echo"},
            plugins={PLUGIN: plugin_config or {}},
            files=[str(db_path)],
        )

    return make


def summaries(db_path):
    conn = sqlite3.connect(db_path)
    try:
        return dict(conn.execute("select id, summary from articles order by id").fetchall())
    finally:
        conn.close()


def columns(db_path):
    conn = sqlite3.connect(db_path)
    try:
        return [row[1] for row in conn.execute("pragma table_info(articles)")]
    finally:
        conn.close()


def cookies_for(ds, actor_id):
    return {"ds_actor": ds.sign({"a": {"id": actor_id}}, "actor")} if actor_id else {}


async def post_form(ds, path, data, actor_id=None):
    """POST as a browser would on every Datasette version: the CSRF token from the
    form page goes in both the cookie and the form."""
    cookies = cookies_for(ds, actor_id)
    page = await ds.client.get(path, cookies=cookies)
    token = re.search(r'name="csrftoken" value="([^"]*)"', page.text).group(1)
    if "ds_csrftoken" in page.cookies:
        cookies["ds_csrftoken"] = page.cookies["ds_csrftoken"]
    return await ds.client.post(path, data={**data, "csrftoken": token}, cookies=cookies)


async def test_registers_the_enrichments_purpose(make_datasette):
    ds = await make_datasette()
    purposes = {p.name: p for p in get_purposes(ds)}
    assert "Summarise the rows" in purposes["enrichments"].description


async def test_summarise_rows_uses_one_group_for_the_enrichments_purpose(
    make_datasette, db_path, hook_recorder
):
    fake = FakeModel("summariser", responses=["Summary one", "Summary two"])
    with fake_models(fake):
        ds = await make_datasette(
            {"default_model": "echo", "purposes": {"enrichments": {"model": "summariser"}}}
        )
        count = await summarise_rows(ds, "news", "articles", "body", actor={"id": "alice"})
    assert count == 2
    assert summaries(db_path) == {1: "Summary one", 2: "Summary two"}
    assert fake.prompt_texts == [
        "Summarise this in one sentence:\n\nA long first article",
        "Summarise this in one sentence:\n\nA long second article",
    ]
    (exit_call,) = hook_recorder.called("llm_group_exit")
    group = exit_call["group"]
    assert (group.purpose, group.actor, group.model_id) == (
        "enrichments",
        {"id": "alice"},
        "summariser",
    )
    assert group.prompt_count == 2
    hook_recorder.assert_called("llm_prompt_context", times=2, purpose="enrichments")


async def test_only_rows_without_a_summary_and_batch_size(make_datasette, db_path):
    with fake_models(FakeModel("summariser", responses=["new"])) as fake:
        ds = await make_datasette(
            {"default_model": "summariser"},
            {"prompt": "Title-less: {text}", "batch_size": 1},
        )
        assert await summarise_rows(ds, "news", "articles", "body") == 1
        assert await summarise_rows(ds, "news", "articles", "body") == 1
        assert await summarise_rows(ds, "news", "articles", "body") == 0
    assert fake.prompt_texts == [
        "Title-less: A long first article",
        "Title-less: A long second article",
    ]
    assert summaries(db_path) == {1: "new", 2: "new"}


async def test_unknown_column(make_datasette):
    ds = await make_datasette()
    with pytest.raises(ValueError, match="no column 'nope'"):
        await summarise_rows(ds, "news", "articles", "nope")


async def test_root_runs_it_from_the_page_with_the_echo_model(make_datasette, db_path):
    ds = await make_datasette()
    form = await ds.client.get("/news/articles/-/summarise", cookies=cookies_for(ds, "root"))
    assert form.status_code == 200
    assert "<option selected>id</option>" in form.text and "<option>body</option>" in form.text
    response = await post_form(ds, "/news/articles/-/summarise", {"column": "body"}, "root")
    assert response.status_code == 302
    assert response.headers["location"] == "/news/articles"
    written = summaries(db_path)
    # echo answers with the prompt it received, as JSON
    assert '"prompt": "Summarise this in one sentence:\\n\\nA long first article"' in written[1]
    assert "A long second article" in written[2]


async def test_table_actions_link_only_for_allowed_actors(make_datasette):
    ds = await make_datasette()
    as_root = await ds.client.get("/news/articles", cookies=cookies_for(ds, "root"))
    assert "/news/articles/-/summarise" in as_root.text
    anonymous = await ds.client.get("/news/articles")
    assert "/news/articles/-/summarise" not in anonymous.text


async def test_anonymous_is_refused_by_default(make_datasette, db_path):
    ds = await make_datasette()
    assert (await ds.client.get("/news/articles/-/summarise")).status_code == 403
    response = await ds.client.post("/news/articles/-/summarise", data={"column": "body"})
    assert response.status_code == 403
    assert "summary" not in columns(db_path)


async def test_allow_block_in_config(make_datasette):
    ds = await make_datasette(plugin_config={"allow": {"id": "alice"}})
    path = "/news/articles/-/summarise"
    assert (await ds.client.get(path, cookies=cookies_for(ds, "alice"))).status_code == 200
    assert (await ds.client.get(path, cookies=cookies_for(ds, "root"))).status_code == 403


async def test_no_model_configured_is_a_clear_400(make_datasette, db_path):
    ds = await make_datasette({})
    response = await post_form(ds, "/news/articles/-/summarise", {"column": "body"}, "root")
    assert response.status_code == 400
    assert (
        "No model available for enrichments: No model_id given and no default model"
        in response.text
    )


async def test_refused_model_is_a_clear_403(make_datasette, db_path):
    ds = await make_datasette({"default_model": "echo", "blocked_models": ["echo"]})
    response = await post_form(ds, "/news/articles/-/summarise", {"column": "body"}, "root")
    assert response.status_code == 403
    assert "No model you may use for enrichments" in response.text


async def test_bad_column_from_the_form_is_a_400(make_datasette):
    ds = await make_datasette()
    response = await post_form(ds, "/news/articles/-/summarise", {"column": "nope"}, "root")
    assert response.status_code == 400
    assert "Table &#39;articles&#39; has no column &#39;nope&#39;" in response.text


async def test_missing_table_is_a_404(make_datasette):
    ds = await make_datasette()
    response = await ds.client.get("/news/nope/-/summarise", cookies=cookies_for(ds, "root"))
    assert response.status_code == 404


async def test_cross_site_post_is_refused(make_datasette, db_path):
    ds = await make_datasette()
    # A forged form post: the victim's cookie, no CSRF token, a cross-site browser header
    response = await ds.client.post(
        "/news/articles/-/summarise",
        data={"column": "body"},
        cookies=cookies_for(ds, "root"),
        headers={"sec-fetch-site": "cross-site", "origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert "summary" not in columns(db_path)


async def test_invalid_config_stops_startup(make_datasette):
    with pytest.raises(ValueError, match="prompt must be a string containing"):
        await make_datasette(plugin_config={"prompt": "no placeholder"})
