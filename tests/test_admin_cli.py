"""`datasette llm status`: the purposes/models/keys table without a server, from the
files `datasette serve` is given (datasette.yaml on 1.0 alphas, metadata on 0.65)."""

import asyncio
import json
import sqlite3

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from datasette import hookimpl
from datasette.cli import cli

from datasette_llm import Purpose
from datasette_llm.testing import FakeModel
from llm_admin_support import DATASETTE_1, signed_in, started

ROOT = "plugins.datasette-llm"
MODELS = [FakeModel("cli-a"), FakeModel("cli-b"), FakeModel("cli-keyed", needs_key="acme")]
CONFIG = {
    "default_model": "cli-a",
    "blocked_models": ["cli-b"],
    "purposes": {"summaries": {"model": "cli-keyed"}},
}
ENV_KEY = "sk-cli-env-31337"
STORED_KEY = "sk-cli-stored-42424"


def config_file(tmp_path, plugins: dict) -> list:
    """The options that hand `plugins` to Datasette: -c on 1.0 alphas, -m on 0.65."""
    path = tmp_path / ("datasette.json" if DATASETTE_1 else "metadata.json")
    path.write_text(json.dumps({"plugins": plugins}))
    return ["-c" if DATASETTE_1 else "-m", str(path)]


def status(*args):
    return CliRunner().invoke(cli, ["llm", "status", *map(str, args)], catch_exceptions=False)


class Registers:
    @hookimpl
    def register_llm_purposes(self):
        return [Purpose("summaries", "Summarises rows")]


class AliceFilter:
    @hookimpl
    def llm_filter_models(self, models, actor):
        if actor and actor.get("id") == "alice":
            return [m for m in models if m.model_id != "cli-a"]
        return None


@pytest.mark.llm_models(*MODELS)
def test_the_text(tmp_path, register_plugin, monkeypatch):
    register_plugin(Registers(), "cli-purposes")
    monkeypatch.setenv("DATASETTE_SECRETS_ACME_API_KEY", ENV_KEY)
    result = status(*config_file(tmp_path, {"datasette-llm": {**CONFIG, "purposes": {
        **CONFIG["purposes"], "sumaries": {"model": "cli-a"},
    }}}))
    assert result.exit_code == 0, result.output
    output = result.output
    assert output.startswith("As actor: (anonymous)\n\nConfig problems (1)\n")
    assert f"- {ROOT}.purposes.sumaries: no installed plugin registers the purpose" in output
    assert (
        "  summaries  registered by cli-purposes\n"
        "    Summarises rows\n"
        f"    default: cli-keyed  (from {ROOT}.purposes.summaries.model)\n"
    ) in output
    assert "  sumaries  NOT REGISTERED by any installed plugin\n" in output
    assert f"    default: cli-a  (from {ROOT}.default_model)\n" in output
    assert f"    - excluded by {ROOT}.blocked_models: cli-b\n" in output
    assert (
        "  cli-keyed, provider acme; key ACME_API_KEY: datasette-secrets environment variable\n"
    ) in output
    assert "  cli-a; no key needed\n" in output
    assert "  ACME_API_KEY (provider acme): datasette-secrets environment variable\n" in output
    assert output.rstrip().endswith(
        "Assignments are stored in the internal database (temporary: lost when Datasette stops)"
    )
    assert "sk-" not in output


@pytest.mark.llm_models(*MODELS)
async def test_the_json_is_what_the_page_serves(tmp_path, register_plugin):
    register_plugin(Registers(), "cli-purposes")
    args = config_file(tmp_path, {"datasette-llm": CONFIG})
    result = await asyncio.to_thread(status, *args, "--json")
    assert result.exit_code == 0, result.output
    ds = await started(CONFIG)
    served = (await ds.client.get("/-/llm.json", cookies=signed_in(ds, "root"))).json()
    assert json.loads(result.output) == served


@pytest.mark.llm_models(*MODELS)
def test_as_an_actor(tmp_path, register_plugin):
    register_plugin(AliceFilter(), "cli-filter")
    args = config_file(tmp_path, {"datasette-llm": CONFIG})
    result = status(*args, "--actor", "alice", "--json")
    data = json.loads(result.output)
    assert data["actor"] == {"id": "alice"}
    assert {"model": "cli-a", "rule": "hook:cli-filter",
            "reason": "the llm_filter_models hook of cli-filter excluded it"} in (
        data["without_purpose"]["excluded"]
    )
    assert status(*args, "--actor", "alice").output.startswith("As actor: alice\n")


@pytest.mark.llm_models(*MODELS)
def test_an_invalid_config_exits_with_its_path(tmp_path):
    result = status(*config_file(tmp_path, {"datasette-llm": {"blocked_model": ["cli-b"]}}))
    assert result.exit_code == 1
    assert result.output == (
        f"Error: ConfigError: {ROOT}.blocked_model: unknown key (did you mean "
        "'blocked_models'?), expected one of: default_model, purposes, models, "
        "blocked_models, require_keys, assignments_database\n"
    )


@pytest.mark.llm_models(*MODELS)
def test_keys_from_the_environment_and_the_secrets_database_never_appear(tmp_path, monkeypatch):
    monkeypatch.setenv("DATASETTE_SECRETS_ACME_API_KEY", ENV_KEY)
    encryption_key = Fernet.generate_key().decode()
    secrets_db = tmp_path / "secrets.db"
    conn = sqlite3.connect(secrets_db)
    conn.execute(
        "create table datasette_secrets (id integer primary key, name text not null, note "
        "text, version integer not null default 1, encrypted blob, encryption_key_name text "
        "not null, created_at text, created_by text, updated_at text, updated_by text, "
        "deleted_at text, deleted_by text, last_used_at text, last_used_by text)"
    )
    conn.execute(
        "insert into datasette_secrets (name, version, encrypted, encryption_key_name) "
        "values ('SUMMARIES_KEY', 1, ?, 'default')",
        [Fernet(encryption_key.encode()).encrypt(STORED_KEY.encode())],
    )
    conn.commit()
    conn.close()
    config = {**CONFIG, "purposes": {
        "summaries": {"model": {"model": "cli-keyed", "key": "SUMMARIES_KEY"}},
    }}
    args = [secrets_db, *config_file(tmp_path, {
        "datasette-llm": config,
        "datasette-secrets": {"encryption-key": encryption_key, "database": "secrets"},
    })]
    text, as_json = status(*args), status(*args, "--json")
    assert "  SUMMARIES_KEY (used by plugins.datasette-llm.purposes.summaries.model): " \
        "datasette-secrets database\n" in text.output
    for output in (text.output, as_json.output):
        assert ENV_KEY not in output and STORED_KEY not in output
        assert "sk-" not in output


@pytest.mark.skipif(not DATASETTE_1, reason="--internal is a Datasette 1.0 option")
@pytest.mark.llm_models(*MODELS)
async def test_assignments_in_the_internal_database(tmp_path):
    internal = tmp_path / "internal.db"
    ds = await started(CONFIG, internal=str(internal))
    await ds.client.post(
        "/-/llm/assign", json={"purpose": "summaries", "model": "cli-a"},
        cookies=signed_in(ds, "root"),
    )
    args = [*config_file(tmp_path, {"datasette-llm": CONFIG}), "--internal", internal, "--json"]
    result = await asyncio.to_thread(status, *args)
    purpose = next(p for p in json.loads(result.output)["purposes"] if p["name"] == "summaries")
    assert purpose["assignment"]["model"] == "cli-a"
    assert purpose["default"]["source"].startswith("the assignment on /-/llm by root at ")


@pytest.mark.skipif(DATASETTE_1, reason="Datasette 0.65 keeps plugin config in metadata")
def test_on_0_65_the_config_is_in_metadata(tmp_path):
    path = tmp_path / "datasette.json"
    path.write_text("{}")
    result = status("-c", path)
    assert result.exit_code == 2
    assert "Datasette 0.65 reads plugin configuration from metadata: use -m metadata.yaml" in (
        result.output
    )
