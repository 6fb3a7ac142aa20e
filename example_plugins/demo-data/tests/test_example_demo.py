"""The demo (demo/datasette.yaml) shows every example plugin working on the demo
models, with no API keys: the SQL assistant, per-user models and defaults side by side
for the demo personas, and datasette-secrets with the keyed demo model."""

import asyncio
import html
import json
import re
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import DEMO_CONFIG, cookies_for, post_form
from datasette.version import __version__ as datasette_version

from datasette_llm import LLM, ModelNotAllowedError
from datasette_llm.testing import FakeModel, fake_models
from datasette_llm_example_demo_data import GUIDE

DATASETTE_1 = datasette_version.startswith("1.")
ANONYMOUS = None
ALICE, BOB, ROOT = {"id": "alice"}, {"id": "bob"}, {"id": "root"}


async def model_ids(ds, actor, purpose=None):
    return [m.model_id for m in await LLM(ds).models(actor=actor, purpose=purpose)]


async def test_the_demo_database(demo_datasette):
    ds = await demo_datasette()
    articles = await ds.client.get("/demo/articles.json?_shape=array")
    assert [row["id"] for row in articles.json()] == [1, 2, 3]


@pytest.mark.parametrize(
    "actor, listed, for_sql",
    [
        (ANONYMOUS, ["demo-summarise", "demo-sql"], ["demo-sql"]),
        (ALICE, ["demo-sql", "demo-summarise"], ["demo-sql"]),
        (BOB, ["demo-summarise", "echo"], []),
        (ROOT, ["demo-summarise", "echo", "demo-sql"], ["demo-sql"]),
        ({"id": "stranger"}, [], []),
    ],
)
async def test_each_actor_gets_exactly_their_models(demo_datasette, actor, listed, for_sql):
    ds = await demo_datasette()
    assert await model_ids(ds, actor) == listed
    assert await model_ids(ds, actor, "sql-assistant") == for_sql
    # Asking by name agrees with the listing
    for model_id in ("demo-sql", "demo-summarise", "echo", "demo-keyed"):
        if model_id in listed:
            assert (await LLM(ds).model(model_id, actor=actor)).model_id == model_id
        else:
            with pytest.raises(ModelNotAllowedError):
                await LLM(ds).model(model_id, actor=actor)


async def test_a_personas_preference_changes_model_for_that_persona_only(demo_datasette):
    ds = await demo_datasette()

    async def defaults():
        return [
            (await LLM(ds).model(actor=actor)).model_id for actor in (ANONYMOUS, ALICE, BOB, ROOT)
        ]

    # alice prefers demo-sql; bob's stored demo-sql is not his to use, so it is ignored
    assert await defaults() == ["demo-sql" if i == 1 else "demo-summarise" for i in range(4)]
    response = await post_form(ds, "/-/llm-preference", {"model_id": "demo-summarise"}, "alice")
    assert response.status_code == 302
    assert await defaults() == ["demo-summarise"] * 4
    response = await post_form(ds, "/-/llm-preference", {"model_id": "echo"}, "root")
    assert await defaults() == ["demo-summarise"] * 3 + ["echo"]


async def test_bobs_page_says_his_preference_is_ignored(demo_datasette):
    ds = await demo_datasette()
    page = await ds.client.get("/-/llm-preference", cookies=cookies_for(ds, "bob"))
    assert (
        "Your saved default,\n  demo-sql, is no longer available to you, so it is ignored."
        in page.text
    )
    options = re.findall(r'<option value="([^"]*)"', page.text)
    assert options == ["", "demo-summarise", "echo"]
    page = await ds.client.get("/-/llm-preference", cookies=cookies_for(ds, "alice"))
    assert "ignored-preference" not in page.text
    assert re.findall(r'<option value="([^"]*)"', page.text) == ["", "demo-sql", "demo-summarise"]


async def test_the_default_model_page_is_in_the_menu(demo_datasette):
    ds = await demo_datasette()
    assert (
        'href="/-/llm-preference"'
        in (await ds.client.get("/", cookies=cookies_for(ds, "alice"))).text
    )


async def test_the_sql_assistant_writes_sql_that_runs(demo_datasette):
    ds = await demo_datasette()
    response = await post_form(
        ds, "/-/sql-assistant", {"database": "demo", "question": "How many articles are there?"}
    )
    assert response.status_code == 200
    assert 'Answer from <span class="sql-assistant-model">demo-sql</span>' in response.text
    link = html.unescape(
        re.search(r'class="sql-assistant-run" href="([^"]*)"', response.text).group(1)
    )
    json_link = link.replace("/-/query?", "/-/query.json?").replace("/demo?", "/demo.json?")
    assert (await ds.client.get(json_link + "&_shape=array")).json() == [{"count(*)": 3}]


async def test_the_sql_assistants_prompt_leaves_out_the_policy_tables(demo_datasette):
    with fake_models(FakeModel("demo-sql", responses=["```sql\nselect 1\n```"])) as model:
        ds = await demo_datasette()
        await post_form(ds, "/-/sql-assistant", {"database": "demo", "question": "Which tables?"})
    (prompt,) = model.prompts
    assert "CREATE TABLE articles" in prompt.system.replace("create table", "CREATE TABLE")
    for left_out in ("llm_user_models", "llm_user_prefs", "datasette_secrets"):
        assert left_out not in prompt.system


async def test_bob_is_told_no_model_is_available_for_sql(demo_datasette):
    ds = await demo_datasette()
    page = await ds.client.get("/-/sql-assistant", cookies=cookies_for(ds, "bob"))
    assert "No model is available to you for SQL assistance." in page.text
    response = await post_form(
        ds, "/-/sql-assistant", {"database": "demo", "question": "How many articles?"}, "bob"
    )
    assert response.status_code == 403
    assert "No model is available to you for SQL assistance." in response.text
    assert "plugins.datasette-llm" not in response.text


async def test_root_enriches_the_articles_others_may_not(demo_datasette):
    ds = await demo_datasette()
    ds.root_enabled = True  # as --root does: root has every permission
    # Anonymous visitors and the personas have no update-row permission
    for actor_id in (None, "alice", "bob"):
        page = await ds.client.get("/demo/articles", cookies=cookies_for(ds, actor_id))
        assert "enrich-with-llm" not in page.text
    table = await ds.client.get("/demo/articles", cookies=cookies_for(ds, "root"))
    assert "/demo/articles/-/enrich-with-llm" in table.text
    form = await ds.client.get("/demo/articles/-/enrich-with-llm", cookies=cookies_for(ds, "root"))
    assert 'The model that will run: <strong id="model-that-runs">demo-summarise</strong>' in (
        form.text
    )
    fields = {
        "template": "Summarise this in one sentence: {body}",
        "output_column": "summary",
        "model": "demo-summarise",
        "rows": "all",
    }
    response = await post_form(ds, "/demo/articles/-/enrich-with-llm", fields, "root")
    assert response.status_code == 302
    for _ in range(2000):
        job = (
            await ds.client.get(
                response.headers["location"] + ".json", cookies=cookies_for(ds, "root")
            )
        ).json()
        if job["status"] not in ("pending", "running"):
            break
        await asyncio.sleep(0.005)
    assert (job["status"], job["done"]) == ("finished", 3)
    rows = (await ds.client.get("/demo/articles.json?_shape=array")).json()
    assert rows[0]["summary"] == (
        "After a decade away, brown pelicans have been seen nesting on the islands of the "
        "bay again, which volunteers credit to cleaner water."
    )


async def test_secrets_answer_root_and_the_keyed_model_appears_once_set(demo_datasette):
    ds = await demo_datasette()
    page = await ds.client.get("/-/secrets", cookies=cookies_for(ds, "root"))
    assert page.status_code == 200
    assert "DEMO_API_KEY" in page.text
    assert (await ds.client.get("/-/secrets")).status_code == 403
    assert (await ds.client.get("/-/secrets", cookies=cookies_for(ds, "alice"))).status_code == 403
    assert "demo-keyed" not in await model_ids(ds, ROOT)

    response = await post_form(ds, "/-/secrets/DEMO_API_KEY", {"secret": "anything"}, "root")
    assert response.status_code == 302
    # require_keys at work: the keyed model is offered once its key exists, to whoever
    # the per-user filter allows it
    assert "demo-keyed" in await model_ids(ds, ROOT)
    assert "demo-keyed" in await model_ids(ds, ALICE, "sql-assistant")
    assert "demo-keyed" not in await model_ids(ds, BOB)
    model = await LLM(ds).model("demo-keyed", actor=ALICE)
    assert await (await model.prompt("Keys work. Really.")).text() == "Keys work."


async def test_the_personas_page_signs_in_personas_only(demo_datasette):
    ds = await demo_datasette()
    page = await ds.client.get("/-/demo-personas")
    assert page.status_code == 200
    assert re.findall(r'value="Sign in as (\w+)"', page.text) == ["alice", "bob"]
    response = await post_form(ds, "/-/demo-personas", {"persona": "alice"})
    assert response.status_code == 302
    actor = await ds.client.get("/-/actor.json", cookies={"ds_actor": response.cookies["ds_actor"]})
    assert actor.json()["actor"] == {"id": "alice"}
    for not_a_persona in ("root", "mallory"):
        response = await post_form(ds, "/-/demo-personas", {"persona": not_a_persona})
        assert response.status_code == 302
        assert "ds_actor" not in response.cookies


async def test_the_personas_page_shows_what_each_actor_gets(demo_datasette):
    ds = await demo_datasette()
    page = await ds.client.get("/-/demo-personas")
    rows = {
        cells[0]: cells[1:]
        for cells in (
            [
                html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
                for cell in re.findall(r"<t[hd]>(.*?)</t[hd]>", row, re.DOTALL)
            ]
            for row in re.findall(r"<tr>(.*?)</tr>", page.text, re.DOTALL)
        )
    }
    assert rows[""] == ["anonymous", "alice", "bob", "root"]
    assert rows["May use"] == [
        "demo-summarise, demo-sql",
        "demo-sql, demo-summarise",
        "demo-summarise, echo",
        "demo-summarise, echo, demo-sql",
    ]
    assert rows["Stored preference"] == [
        "none",
        "demo-sql",
        "demo-sql (not allowed: ignored)",
        "none",
    ]
    assert rows["Gets by default"] == [
        "demo-summarise",
        "demo-sql",
        "demo-summarise",
        "demo-summarise",
    ]


async def test_the_personas_page_exists_only_in_the_demo(demo_datasette, datasette_llm_config):
    without_personas = await demo_datasette(
        **{"datasette-llm-example-demo-data": {"database": "demo"}}
    )
    assert (await without_personas.client.get("/-/demo-personas")).status_code == 404
    assert 'href="/-/demo-personas"' not in (await without_personas.client.get("/")).text
    unconfigured = await datasette_llm_config({"default_model": "echo"})
    assert (await unconfigured.client.get("/-/demo-personas")).status_code == 404
    # No POST either: no one becomes a persona outside the demo
    response = await unconfigured.client.post("/-/demo-personas", data={"persona": "alice"})
    assert "ds_actor" not in response.cookies


@pytest.mark.parametrize(
    "config, message",
    [
        ({"personas": {"root": {}}}, "personas.root: root cannot be a persona"),
        (
            {"personas": {"alice": {"models": "demo-sql"}}},
            "personas.alice.models: expected a list of model IDs",
        ),
        ({"personas": {"alice": {"default": "x"}}}, "personas.alice.default: unknown option"),
        ({"guide": "yes"}, "guide: expected true or false, got 'yes'"),
        ({"persona": {}}, "persona: unknown option, expected one of: database, personas, guide"),
    ],
)
async def test_config_mistakes_stop_startup(datasette_llm_config, config, message):
    with pytest.raises(ValueError) as info:
        await datasette_llm_config({}, plugins={"datasette-llm-example-demo-data": config})
    assert str(info.value).startswith("plugins.datasette-llm-example-demo-data." + message)


@pytest.mark.skipif(not DATASETTE_1, reason="datasette -c takes a datasette.yaml from 1.0")
def test_the_demo_command_starts():
    result = subprocess.run(
        [sys.executable, "-m", "datasette", "-c", str(DEMO_CONFIG), "--get", "/-/plugins.json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    names = {plugin["name"] for plugin in json.loads(result.stdout)}
    assert {
        "datasette-llm",
        "datasette-secrets",
        "datasette-llm-example-demo-data",
        "datasette-llm-example-enrichments",
        "datasette-llm-example-sql-assistant",
        "datasette-llm-example-model-filter",
        "datasette-llm-example-default-model",
    } <= names


@pytest.mark.skipif(not DATASETTE_1, reason="datasette -c takes a datasette.yaml from 1.0")
def test_the_demo_prints_what_to_try_after_the_login_url(datasette_server):
    server = datasette_server("-c", DEMO_CONFIG, "--root")
    deadline = time.monotonic() + 20
    while "what to try" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = server.log()
    login = log.index("/-/auth-token?token=")
    guide = log.index(GUIDE.strip().splitlines()[0])
    assert login < guide
    for path in (
        "/-/sql-assistant",
        "/-/demo-personas",
        "/-/llm-preference",
        "/-/secrets",
        "/-/llm",
    ):
        assert path in log[guide:]
    # Printed once the server is up: everything it names answers
    for path in ("/-/sql-assistant", "/-/demo-personas", "/demo/articles"):
        with urllib.request.urlopen(server.url + path) as response:
            assert response.status == 200
