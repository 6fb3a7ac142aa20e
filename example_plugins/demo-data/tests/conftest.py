"""The demo's configuration (demo/datasette.yaml at the root of the datasette-llm
repository), loaded into a Datasette for these tests on any Datasette version."""

import pathlib
import re

import pytest
import yaml

DEMO_CONFIG = pathlib.Path(__file__).resolve().parents[3] / "demo" / "datasette.yaml"


@pytest.fixture(autouse=True)
def no_demo_model_delay(monkeypatch):
    monkeypatch.setenv("DEMO_MODELS_DELAY", "0")


@pytest.fixture
def demo_config():
    return yaml.safe_load(DEMO_CONFIG.read_text())


@pytest.fixture
def demo_datasette(datasette_llm_config, demo_config):
    """Factory: the demo's Datasette (in-process); ``changes`` edits plugin configs."""

    async def make(**changes):
        plugins = {**demo_config["plugins"], **changes}
        llm_config = plugins.pop("datasette-llm")
        return await datasette_llm_config(
            llm_config, plugins=plugins, permissions=demo_config["permissions"]
        )

    return make


def cookies_for(ds, actor_id):
    return {"ds_actor": ds.sign({"a": {"id": actor_id}}, "actor")} if actor_id else {}


async def post_form(ds, path, data, actor_id=None, cookies=None):
    """POST as a browser would on every Datasette version, CSRF token included."""
    cookies = {**cookies_for(ds, actor_id), **(cookies or {})}
    page = await ds.client.get(path, cookies=cookies)
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrftoken" value="([^"]*)"', page.text).group(1)
    if "ds_csrftoken" in page.cookies:
        cookies["ds_csrftoken"] = page.cookies["ds_csrftoken"]
    return await ds.client.post(path, data={**data, "csrftoken": token}, cookies=cookies)
