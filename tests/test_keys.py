"""API keys: resolution order, fall-through, datasette-secrets registration, llm fallback."""

import json

import pytest
from cryptography.fernet import Fernet

from datasette_llm import LLM
from datasette_llm.testing import FakeModel, fake_models, fake_secrets


@pytest.fixture
def keyed():
    with fake_models(FakeModel("keyed", needs_key="acme", key_env_var="ACME_KEY")) as model:
        yield model


CONFIG = {
    "default_model": {"model": "keyed", "key": "DEFAULT_KEY"},
    "purposes": {
        "p": {"model": {"model": "keyed", "key": "PURPOSE_KEY"}},
        "listed": {"models": [{"model": "keyed", "key": "LISTED_KEY"}, "echo"]},
    },
}
ALL_SECRETS = {
    "PURPOSE_KEY": "sk-purpose",
    "LISTED_KEY": "sk-listed",
    "DEFAULT_KEY": "sk-default",
    "ACME_API_KEY": "sk-provider",
}


async def key_used(datasette, keyed, **kwargs):
    model = await LLM(datasette).model(**kwargs)
    await (await model.prompt("hi")).text()
    return keyed.keys[-1]


@pytest.mark.parametrize(
    "unset, purpose, expected",
    [
        ((), "p", "sk-purpose"),
        ((), "listed", "sk-listed"),
        ((), None, "sk-default"),
        (("PURPOSE_KEY",), "p", "sk-default"),
        (("PURPOSE_KEY", "DEFAULT_KEY"), "p", "sk-provider"),
        (("DEFAULT_KEY",), None, "sk-provider"),
        ((), "other", "sk-default"),
    ],
)
async def test_resolution_order(datasette_llm_config, keyed, unset, purpose, expected):
    ds = await datasette_llm_config(CONFIG)
    secrets = {name: (None if name in unset else value) for name, value in ALL_SECRETS.items()}
    with fake_secrets(secrets):
        assert await key_used(ds, keyed, purpose=purpose) == expected


async def test_falls_through_to_llm_keys_json(datasette_llm_config, keyed, llm_user_dir):
    (llm_user_dir / "keys.json").write_text(json.dumps({"acme": "sk-from-keys-json"}))
    ds = await datasette_llm_config(CONFIG)
    with fake_secrets({name: None for name in ALL_SECRETS}):
        assert await key_used(ds, keyed, purpose="p") == "sk-from-keys-json"


async def test_falls_through_to_llm_env_var(datasette_llm_config, keyed, monkeypatch):
    monkeypatch.setenv("ACME_KEY", "sk-from-env")
    ds = await datasette_llm_config({})
    assert await key_used(ds, keyed, model_id="keyed") == "sk-from-env"


async def test_llm_get_key_is_looked_up_at_call_time(datasette_llm_config, keyed, monkeypatch):
    calls = []

    def fake_get_key(**kwargs):
        calls.append(kwargs)
        return "sk-patched"

    monkeypatch.setattr("llm.get_key", fake_get_key)
    ds = await datasette_llm_config({})
    assert await key_used(ds, keyed, model_id="keyed") == "sk-patched"
    # our call (llm makes its own afterwards, when the model runs)
    assert calls[0] == {"alias": "acme", "env": "ACME_KEY"}


async def test_datasette_secrets_env_var(datasette_llm_config, keyed, monkeypatch):
    monkeypatch.setenv("DATASETTE_SECRETS_ACME_API_KEY", "sk-secrets-env")
    ds = await datasette_llm_config({})
    assert await key_used(ds, keyed, model_id="keyed") == "sk-secrets-env"


async def test_custom_key_via_datasette_secrets_env_var(datasette_llm_config, keyed, monkeypatch):
    monkeypatch.setenv("DATASETTE_SECRETS_QUERY_ASSISTANT_KEY", "sk-qa")
    ds = await datasette_llm_config(
        {"purposes": {"query-assistant": {"model": {"model": "keyed", "key": "QUERY_ASSISTANT_KEY"}}}}
    )
    assert await key_used(ds, keyed, purpose="query-assistant") == "sk-qa"


async def test_two_models_same_provider_different_keys(datasette_llm_config):
    a = FakeModel("acme-big", needs_key="acme")
    b = FakeModel("acme-small", needs_key="acme")
    with fake_models(a, b):
        ds = await datasette_llm_config(
            {
                "purposes": {
                    "enrichments": {
                        "models": [
                            {"model": "acme-big", "key": "BIG_KEY"},
                            {"model": "acme-small", "key": "SMALL_KEY"},
                        ]
                    }
                }
            }
        )
        with fake_secrets({"BIG_KEY": "sk-big", "SMALL_KEY": "sk-small"}):
            for model_obj, expected in ((a, "sk-big"), (b, "sk-small")):
                model = await LLM(ds).model(model_obj.model_id, purpose="enrichments")
                await (await model.prompt("x")).text()
                assert model_obj.keys == [expected]


async def test_actor_id_is_passed_to_datasette_secrets(datasette_llm_config, keyed):
    ds = await datasette_llm_config({})
    with fake_secrets({"ACME_API_KEY": lambda actor_id: f"sk-{actor_id}"}) as secrets:
        assert await key_used(ds, keyed, model_id="keyed", actor={"id": "alice"}) == "sk-alice"
        assert ("ACME_API_KEY", "alice") in secrets.lookups


async def test_encrypted_database_secret_records_actor(datasette_llm_config, keyed):
    encryption_key = Fernet.generate_key().decode()
    ds = await datasette_llm_config(
        {}, plugins={"datasette-secrets": {"encryption-key": encryption_key}}
    )
    from datasette_secrets import get_database

    db = get_database(ds)
    encrypted = Fernet(encryption_key.encode()).encrypt(b"sk-from-db")
    await db.execute_write(
        "insert into datasette_secrets (name, version, encrypted, encryption_key_name) "
        "values (?, 1, ?, 'default')",
        ("ACME_API_KEY", encrypted),
    )
    assert await key_used(ds, keyed, model_id="keyed", actor={"id": "bob"}) == "sk-from-db"
    row = (await db.execute("select last_used_by from datasette_secrets")).first()
    assert row["last_used_by"] == "bob"


async def test_provider_and_custom_secrets_are_registered(datasette_llm_config, keyed):
    from datasette_secrets import get_secrets

    ds = await datasette_llm_config(
        {
            "default_model": {"model": "keyed", "key": "CUSTOM_OPENAI_KEY"},
            "purposes": {"e": {"models": [{"model": "echo", "key": "ENRICH_KEY"}]}},
        }
    )
    names = [secret.name for secret in await get_secrets(ds)]
    assert "ACME_API_KEY" in names
    assert "CUSTOM_OPENAI_KEY" in names
    assert "ENRICH_KEY" in names
    assert "ECHO-NEEDS-KEY_API_KEY" in names  # llm-echo's echo-needs-key provider


async def test_get_key_for_model_and_model_has_key(datasette_llm_config, keyed):
    ds = await datasette_llm_config(CONFIG)
    llm = LLM(ds)
    echo = next(m for m in await llm.models() if m.model_id == "echo")
    assert await llm.get_key_for_model(echo) is None
    assert await llm.model_has_key(echo) is True
    assert await llm.model_has_key(keyed) is False
    with fake_secrets({"PURPOSE_KEY": "sk-purpose", "DEFAULT_KEY": "sk-default"}):
        assert await llm.get_key_for_model(keyed, purpose="p") == "sk-purpose"
        assert await llm.get_key_for_model(keyed) == "sk-default"
        assert await llm.model_has_key(keyed, actor={"id": "x"}) is True
        wrapped = await llm.model("keyed", purpose="p")
        assert await llm.get_key_for_model(wrapped, purpose="p") == "sk-purpose"


async def test_caller_key_wins_over_resolved_key(datasette_llm_config, keyed):
    ds = await datasette_llm_config({})
    with fake_secrets({"ACME_API_KEY": "sk-provider"}):
        model = await LLM(ds).model("keyed")
        await (await model.prompt("x", key="sk-explicit")).text()
    assert keyed.keys == ["sk-explicit"]


async def test_echo_needs_key_with_secret(datasette_llm_config, monkeypatch):
    monkeypatch.setenv("DATASETTE_SECRETS_ECHO-NEEDS-KEY_API_KEY", "sk-echo")
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("echo-needs-key")
    text = await (await model.prompt("hi")).text()
    assert "hi" in text
