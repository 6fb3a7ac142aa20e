"""/-/llm and /-/llm.json: purposes, defaults and where they came from, models, keys and
config problems, for any actor; what they show is what plugins get."""

import json
import re

import pytest
from cryptography.fernet import Fernet
from datasette import hookimpl

from datasette_llm import LLM, ModelNotFoundError, Purpose
from datasette_llm import _assignments
from datasette_llm.testing import FakeModel
from llm_admin_support import grant, signed_in, started

ROOT = "plugins.datasette-llm"
MODELS = [
    FakeModel("snap-open"),
    FakeModel("snap-blocked"),
    FakeModel("snap-keyed", needs_key="acme"),
    FakeModel("snap-nokey", needs_key="nokeyco"),
    FakeModel("snap-llmkey", needs_key="llmco"),
    FakeModel("snap-envkey", needs_key="envco", key_env_var="ENVCO_KEY"),
    FakeModel("snap-hooked"),
    FakeModel("snap-other"),
]
CONFIG = {
    "default_model": "snap-open",
    "blocked_models": ["snap-blocked"],
    "purposes": {
        "summaries": {
            "model": {"model": "snap-keyed", "key": "SUMMARIES_KEY"},
            "models": ["snap-keyed", "snap-open", "snap-hooked", "snap-nokey"],
        },
        "extract": {"blocked_models": ["snap-other"]},
        "sumaries": {"model": "snap-open"},  # a typo: no plugin registers it
    },
}
# Every key the tests set starts with "sk-": none may appear on the page or in its JSON
ENV_KEY = "sk-env-acme-4b1d0c"
STORED_KEY = "sk-stored-summaries-77aa31"
LLM_KEYS_JSON_KEY = "sk-keysjson-llmco-5e5e"
LLM_ENV_KEY = "sk-llmenv-envco-9f9f"


class Purposes:
    @hookimpl
    def register_llm_purposes(self):
        return [
            Purpose("summaries", "Summarises rows"),
            Purpose("extract", "Pulls fields out of text"),
        ]


class AliceFilter:
    """alice may not use snap-hooked."""

    @hookimpl
    def llm_filter_models(self, models, actor):
        if actor and actor.get("id") == "alice":
            return [m for m in models if m.model_id != "snap-hooked"]
        return None


class AliceDefault:
    """alice's default for extract is snap-other (which extract blocks)."""

    @hookimpl
    def llm_default_model(self, purpose, actor):
        if actor and actor.get("id") == "alice" and purpose == "extract":
            return "snap-other"
        return None


@pytest.fixture
async def scenario(register_plugin, monkeypatch, llm_user_dir):
    register_plugin(Purposes(), "snap-purposes")
    register_plugin(AliceFilter(), "snap-filter")
    register_plugin(AliceDefault(), "snap-defaults")
    monkeypatch.setenv("DATASETTE_SECRETS_ACME_API_KEY", ENV_KEY)
    monkeypatch.setenv("ENVCO_KEY", LLM_ENV_KEY)
    (llm_user_dir / "keys.json").write_text(json.dumps({"llmco": LLM_KEYS_JSON_KEY}))
    encryption_key = Fernet.generate_key().decode()
    ds = await started(
        CONFIG, plugins={"datasette-secrets": {"encryption-key": encryption_key}}
    )
    from datasette_secrets import get_database

    await get_database(ds).execute_write(
        "insert into datasette_secrets (name, version, encrypted, encryption_key_name) "
        "values (?, 1, ?, 'default')",
        ("SUMMARIES_KEY", Fernet(encryption_key.encode()).encrypt(STORED_KEY.encode())),
    )
    await _assignments.assign(ds, None, "extract", "snap-hooked", "root")
    return ds


def ours(data: dict) -> dict:
    """The JSON restricted to this test's models, purposes and keys (the suite's
    environment installs more), with timestamps replaced: the same in every tox env."""
    purposes = {"summaries", "extract", "sumaries"}
    keys = {"ACME_API_KEY", "NOKEYCO_API_KEY", "LLMCO_API_KEY", "ENVCO_API_KEY", "SUMMARIES_KEY"}

    def models(names):
        return [name for name in names if name.startswith("snap-")]

    def purpose(record):
        return {
            **record,
            "allowed": models(record["allowed"]),
            "assignable": models(record["assignable"]),
            "excluded": [e for e in record["excluded"] if e["model"].startswith("snap-")],
        }

    data = {
        **data,
        "purposes": [purpose(p) for p in data["purposes"] if p["name"] in purposes],
        "without_purpose": purpose(data["without_purpose"]),
        "models": [m for m in data["models"] if m["model"].startswith("snap-")],
        "keys": [k for k in data["keys"] if k["secret"] in keys],
    }
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", "<timestamp>", json.dumps(data))
    return json.loads(text)


@pytest.mark.llm_models(*MODELS, assert_all_used=False)
@pytest.mark.parametrize("actor", [None, "alice"])
async def test_the_json(scenario, snapshot, actor):
    ds = scenario
    path = "/-/llm.json" + (f"?actor={actor}" if actor else "")
    response = await ds.client.get(path, cookies=signed_in(ds, "root"))
    assert response.status_code == 200
    assert ours(response.json()) == snapshot


@pytest.mark.llm_models(*MODELS, assert_all_used=False)
@pytest.mark.parametrize("actor", [None, "alice", "bob"])
async def test_what_the_page_shows_is_what_plugins_get(scenario, actor):
    ds = scenario
    path = "/-/llm.json" + (f"?actor={actor}" if actor else "")
    data = (await ds.client.get(path, cookies=signed_in(ds, "root"))).json()
    as_actor = {"id": actor} if actor else None
    llm = LLM(ds)
    for purpose in [*data["purposes"], data["without_purpose"]]:
        name = purpose["name"]
        listed = [m.model_id for m in await llm.models(actor=as_actor, purpose=name)]
        assert purpose["allowed"] == listed, name
        try:
            default = (await llm.model(purpose=name, actor=as_actor)).model_id
        except ModelNotFoundError:
            default = None
        assert (purpose["default"] or {}).get("model") == default, name


@pytest.mark.llm_models(*MODELS, assert_all_used=False)
async def test_the_page(scenario):
    ds = scenario
    response = await ds.client.get("/-/llm", cookies=signed_in(ds, "root"))
    assert response.status_code == 200
    html = response.text
    # Registered purposes: name, description, plugin, default and where it came from
    assert "registered by snap-purposes" in html
    assert "Summarises rows" in html
    assert "from the assignment on /-/llm by root at " in html
    assert f"from {ROOT}.purposes.summaries.model" in html
    assert f"from {ROOT}.default_model" in html
    # Excluded models with their rule
    assert f"<code>{ROOT}.blocked_models</code>: it is in the global blocklist" in html
    assert f"<code>{ROOT}.require_keys</code>: no API key is configured for it" in html
    assert f"<code>{ROOT}.purposes.summaries.models</code>: it is not in the allowlist" in html
    # The typo, flagged where it is shown and in the config problems
    assert "no installed plugin registers this purpose (a typo in the config?)" in html
    assert f"{ROOT}.purposes.sumaries: no installed plugin registers the purpose" in html
    assert "did you mean &#39;summaries&#39;?" in html
    # Where each key comes from, never the key
    for source in (
        "datasette-secrets environment variable",
        "datasette-secrets database",
        "llm keys.json",
        "llm environment variable ENVCO_KEY",
    ):
        assert source in html
    assert "sk-" not in html
    # The encryption key is set and root may manage secrets (0.65: nobody has by default)
    assert 'href="/-/secrets"' in html


@pytest.mark.llm_models(*MODELS, assert_all_used=False)
async def test_as_actor_shows_the_hooks_at_work(scenario):
    ds = scenario
    root = signed_in(ds, "root")
    html = (await ds.client.get("/-/llm?actor=alice", cookies=root)).text
    assert '<code>{"id": "alice"}</code>' in html
    assert "<code>hook:snap-filter</code>: the llm_filter_models hook of snap-filter" in html
    assert "skipped snap-other from the llm_default_model hook of snap-defaults" in html
    assert 'value="alice"' in html  # the field keeps the actor
    anonymous = (await ds.client.get("/-/llm", cookies=root)).text
    assert "hook:snap-filter" not in anonymous


@pytest.mark.llm_models(*MODELS, assert_all_used=False)
async def test_keys_appear_nowhere(scenario):
    ds = scenario
    root = signed_in(ds, "root")
    for path in ("/-/llm", "/-/llm.json", "/-/llm?actor=alice", "/-/llm.json?actor=alice"):
        text = (await ds.client.get(path, cookies=root)).text
        for key in (ENV_KEY, STORED_KEY, LLM_KEYS_JSON_KEY, LLM_ENV_KEY):
            assert key not in text and key[:8] not in text, path


@pytest.mark.llm_models(FakeModel("m"), FakeModel("m2"))
async def test_aliases(llm_user_dir):
    import llm

    llm.set_alias("short-m", "m")
    llm.set_alias("m2", "m")  # an alias another model's ID takes: it means that model
    ds = await started({})
    data = (await ds.client.get("/-/llm.json", cookies=signed_in(ds, "root"))).json()
    aliases = {m["model"]: m["aliases"] for m in data["models"] if m["model"] in ("m", "m2")}
    assert aliases == {"m": ["short-m"], "m2": []}


@pytest.mark.llm_models(FakeModel("m"))
async def test_secrets_page_advice():
    root_ds = await started({})
    html = (await root_ds.client.get("/-/llm", cookies=signed_in(root_ds, "root"))).text
    assert "give datasette-secrets an\n  <code>encryption-key</code>" in html
    ds = await started(
        {}, plugins={"datasette-secrets": {"encryption-key": Fernet.generate_key().decode()}},
        **grant({"llm-admin": {"id": "alice"}}),
    )
    html = (await ds.client.get("/-/llm", cookies=signed_in(ds, "alice"))).text
    assert "by actors with datasette-secrets' <code>manage-secrets</code> permission" in html


@pytest.mark.llm_models(FakeModel("m"))
async def test_config_problems_are_listed():
    ds = await started({"models": ["m", "nope"], "purposes": {"x": {"model": "m"}}})
    html = (await ds.client.get("/-/llm", cookies=signed_in(ds, "root"))).text
    assert "Config problems (2)" in html
    assert (
        f"{ROOT}.models[1]: model &#39;nope&#39; is not provided by any installed llm plugin"
    ) in html


@pytest.mark.llm_models(FakeModel("m"))
async def test_a_broken_hook_is_a_message_not_a_500(register_plugin):
    class Broken:
        @hookimpl
        def llm_filter_models(self):
            return 3

    register_plugin(Broken(), "snap-broken")
    ds = await started({"default_model": "m"})
    response = await ds.client.get("/-/llm", cookies=signed_in(ds, "root"))
    assert response.status_code == 200
    assert "snap-broken: llm_filter_models() returned int, expected a list" in response.text


@pytest.mark.llm_models(FakeModel("m"))
async def test_where_assignments_are_kept(tmp_path):
    import sqlite3

    ds = await started({})
    data = (await ds.client.get("/-/llm.json", cookies=signed_in(ds, "root"))).json()
    assert data["assignments_database"] == {"name": None, "persistent": False}
    html = (await ds.client.get("/-/llm", cookies=signed_in(ds, "root"))).text
    assert "which is temporary here" in html
    path = tmp_path / "llm_admin.db"
    sqlite3.connect(path).close()
    ds = await started({"assignments_database": "llm_admin"}, files=[str(path)])
    data = (await ds.client.get("/-/llm.json", cookies=signed_in(ds, "root"))).json()
    assert data["assignments_database"] == {"name": "llm_admin", "persistent": True}


@pytest.mark.llm_models(FakeModel("m"))
async def test_a_broken_purposes_hook_is_a_config_problem(register_plugin):
    class Broken:
        @hookimpl
        def register_llm_purposes(self):
            return "summaries"

    register_plugin(Broken(), "snap-broken-purposes")
    ds = await started({"purposes": {"p": {"model": "m"}}})
    data = (await ds.client.get("/-/llm.json", cookies=signed_in(ds, "root"))).json()
    assert data["config_problems"] == [
        "snap-broken-purposes: register_llm_purposes() returned str, expected a list"
    ]
    assert [p["name"] for p in data["purposes"]] == ["p"]
