"""The demo (demo/datasette.yaml at the root of the datasette-llm repository) shows all
four example plugins working on the echo model, with no API keys."""

import asyncio
import html
import json
import pathlib
import re
import subprocess
import sys

import pytest
import yaml
from datasette.version import __version__ as datasette_version

from datasette_llm import LLM

DEMO_CONFIG = pathlib.Path(__file__).resolve().parents[3] / "demo" / "datasette.yaml"


@pytest.fixture
def demo_plugins():
    return yaml.safe_load(DEMO_CONFIG.read_text())["plugins"]


def cookies_for(ds, actor_id):
    return {"ds_actor": ds.sign({"a": {"id": actor_id}}, "actor")} if actor_id else {}


async def post_form(ds, path, data, actor_id=None):
    """POST as a browser would on every Datasette version, CSRF token included."""
    cookies = cookies_for(ds, actor_id)
    page = await ds.client.get(path, cookies=cookies)
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrftoken" value="([^"]*)"', page.text).group(1)
    if "ds_csrftoken" in page.cookies:
        cookies["ds_csrftoken"] = page.cookies["ds_csrftoken"]
    return await ds.client.post(path, data={**data, "csrftoken": token}, cookies=cookies)


async def test_the_demo_shows_all_four_plugins(datasette_llm_config, demo_plugins):
    llm_config = demo_plugins.pop("datasette-llm")
    ds = await datasette_llm_config(llm_config, plugins=demo_plugins)
    root = {"id": "root"}

    # The demo database, created at startup
    articles = await ds.client.get("/demo/articles.json?_shape=array")
    assert [row["id"] for row in articles.json()] == [1, 2, 3]

    # user-model-filter: anonymous visitors get echo; root what its rows allow (echo)
    assert [m.model_id for m in await LLM(ds).models()] == ["echo"]
    assert [m.model_id for m in await LLM(ds).models(actor=root)] == ["echo"]
    assert await LLM(ds).models(actor={"id": "stranger"}) == []

    # sql-assistant: the demo database is offered first
    page = await ds.client.get("/-/sql-assistant")
    assert "<option selected>demo</option>" in page.text
    response = await post_form(
        ds, "/-/sql-assistant", {"database": "demo", "question": "How many articles?"}
    )
    assert response.status_code == 200
    assert "SQL written by echo" in response.text
    assert "CREATE TABLE articles".lower() in html.unescape(response.text).lower()

    # enrichments: root (who has every permission with --root) starts a job from the
    # table's actions; anonymous visitors may not alter the demo's tables
    ds.root_enabled = True
    assert "enrich-with-llm" not in (await ds.client.get("/demo/articles")).text
    table = await ds.client.get("/demo/articles", cookies=cookies_for(ds, "root"))
    assert "/demo/articles/-/enrich-with-llm" in table.text
    fields = {"template": "Summarise this in one sentence: {body}", "output_column": "summary",
              "model": "echo", "rows": "all"}
    response = await post_form(ds, "/demo/articles/-/enrich-with-llm", fields, "root")
    assert response.status_code == 302
    for _ in range(2000):
        job = (await ds.client.get(response.headers["location"] + ".json",
                                   cookies=cookies_for(ds, "root"))).json()
        if job["status"] not in ("pending", "running"):
            break
        await asyncio.sleep(0.005)
    assert (job["status"], job["done"]) == ("finished", 3)
    rows = (await ds.client.get("/demo/articles.json?_shape=array")).json()
    assert all("Summarise this in one sentence" in row["summary"] for row in rows)

    # user-default-model: root sets a preference on /-/llm-preference
    response = await post_form(ds, "/-/llm-preference", {"model_id": "echo"}, "root")
    assert response.status_code == 302
    prefs = await ds.get_database("demo").execute("select * from llm_user_prefs")
    assert [dict(row) for row in prefs.rows] == [{"actor_id": "root", "model_id": "echo"}]
    assert (await LLM(ds).model(actor=root)).model_id == "echo"


@pytest.mark.skipif(
    not datasette_version.startswith("1."), reason="datasette -c takes a datasette.yaml from 1.0"
)
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
        "datasette-llm-example-demo-data",
        "datasette-llm-example-enrichments",
        "datasette-llm-example-sql-assistant",
        "datasette-llm-example-model-filter",
        "datasette-llm-example-default-model",
    } <= names
