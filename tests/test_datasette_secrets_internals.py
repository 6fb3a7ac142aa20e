"""A listing reads datasette-secrets' values in one query (datasette_llm._datasette_secrets_internals):
its answer for every name must be the one ``get_secret()`` gives, and it must step
aside whenever it cannot know that."""

import asyncio
import os
from unittest import mock

import pytest
from cryptography.fernet import Fernet, InvalidToken
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import datasette_secrets
from datasette_llm import LLM, ModelNotAllowedError
from datasette_llm import _datasette_secrets_internals
from datasette_llm._datasette_secrets_internals import NOT_READ, Snapshot, usable
from datasette_llm.testing import FakeModel, fake_models, fake_secrets

NAMES = ["PROVA_API_KEY", "PROVB_API_KEY", "PROVC_API_KEY", "CUSTOM_KEY"]
MODELS = [
    FakeModel("a-1", needs_key="prova"),
    FakeModel("a-2", needs_key="prova"),
    FakeModel("b-1", needs_key="provb"),
    FakeModel("c-1", needs_key="provc"),
    FakeModel("free", needs_key=None),
]
CONFIG = {"purposes": {"p": {"models": [{"model": "c-1", "key": "CUSTOM_KEY"}, "a-1", "free"]}}}

# What get_secret() raises for a stored secret it cannot decrypt: a foreign key, a NULL
UNREADABLE = (InvalidToken, TypeError)

# What one name holds: its environment variable, and its stored versions, oldest first
stored_values = st.one_of(
    st.sampled_from(["sk-one", "sk-two", ""]).map(lambda v: ("value", v)),
    st.just(("foreign", "sk-other-key")),  # encrypted under another encryption key
    st.just(("null", None)),
)
name_states = st.fixed_dictionaries(
    {
        "env": st.sampled_from([None, "", "sk-env"]),
        "versions": st.lists(stored_values, max_size=3),
    }
)
states = st.fixed_dictionaries(
    {
        "names": st.fixed_dictionaries({name: name_states for name in NAMES}),
        "configured": st.booleans(),  # datasette-secrets has an encryption key
        "table": st.booleans(),  # its table exists
    }
)


async def secrets_datasette(state):
    from datasette_test import Datasette

    encryption_key = Fernet.generate_key().decode()
    plugins = {"datasette-llm": CONFIG}
    if state["configured"]:
        plugins["datasette-secrets"] = {"encryption-key": encryption_key}
    ds = Datasette(memory=True, plugin_config=plugins)
    await ds.invoke_startup()
    db = datasette_secrets.get_database(ds)
    if not state["table"]:
        await db.execute_write("drop table if exists datasette_secrets")
        return ds
    await db.execute_write(datasette_secrets.SCHEMA)
    own, foreign = Fernet(encryption_key.encode()), Fernet(Fernet.generate_key())
    for name, name_state in state["names"].items():
        for version, (kind, value) in enumerate(name_state["versions"], start=1):
            if kind == "value":
                encrypted = own.encrypt(value.encode())
            elif kind == "foreign":
                encrypted = foreign.encrypt(value.encode())
            else:
                encrypted = None
            await db.execute_write(
                "insert into datasette_secrets (name, version, encrypted, encryption_key_name)"
                " values (?, ?, ?, 'default')",
                (name, version, encrypted),
            )
    return ds


def environment(state) -> dict:
    return {
        f"DATASETTE_SECRETS_{name}": name_state["env"]
        for name, name_state in state["names"].items()
        if name_state["env"] is not None
    }


async def outcome(awaitable_or_call):
    try:
        result = awaitable_or_call()
        if asyncio.iscoroutine(result):
            result = await result
        return ("value", result)
    except Exception as exc:  # compared by type: the same failure, or not
        return ("raises", type(exc))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=states)
def test_every_answer_is_the_one_get_secret_gives(state):
    async def check():
        with fake_models(*MODELS), mock.patch.dict(os.environ, environment(state)):
            ds = await secrets_datasette(state)
            snapshot = await Snapshot.read(datasette_secrets, ds, NAMES)
            for name in NAMES:
                ours = await outcome(lambda: snapshot.value(name))
                theirs = await outcome(lambda: datasette_secrets.get_secret(ds, name))
                assert ours == theirs, (name, state)

    asyncio.run(check())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=states)
def test_listing_and_handing_out_agree_with_keys_in_the_database(state):
    # models() reads through the snapshot, model() through get_secret(): model() hands
    # out exactly what models() lists, and both fail alike on an unreadable one
    async def check():
        with fake_models(*MODELS), mock.patch.dict(os.environ, environment(state)):
            ds = await secrets_datasette(state)
            llm_ = LLM(ds)
            for purpose in (None, "p"):
                listed = await outcome(lambda: llm_.models(purpose=purpose))
                if listed[0] == "raises":
                    assert listed[1] in UNREADABLE, (listed, state)
                    continue
                listed_ids = {m.model_id for m in listed[1]}
                for model in MODELS:
                    handed = await outcome(lambda: llm_.model(model.model_id, purpose=purpose))
                    if handed[0] == "raises":
                        assert handed[1] in (ModelNotAllowedError, *UNREADABLE), handed
                    assert (handed[0] == "value") == (model.model_id in listed_ids), (
                        model.model_id, purpose, listed_ids, state,
                    )

    asyncio.run(check())


def test_names_not_read_are_left_to_get_secret():
    snapshot = Snapshot({"READ_KEY": None}, None)
    assert snapshot.value("READ_KEY") is None
    assert snapshot.value("OTHER_KEY") is NOT_READ


# Stepping aside


def test_only_datasette_secrets_own_get_secret_of_a_verified_release_is_read_around(
    monkeypatch,
):
    release = _datasette_secrets_internals.installed_release()
    assert release in _datasette_secrets_internals.VERIFIED_RELEASES, (
        f"datasette-secrets {release} is installed: listings fall back to one get_secret() "
        "per key. Read its get_secret(); if Snapshot.value() still matches it, add the "
        "release to VERIFIED_RELEASES in datasette_llm/_datasette_secrets_internals.py"
    )
    assert usable(datasette_secrets)
    original = datasette_secrets.get_secret

    import functools

    @functools.wraps(original)
    async def audited(*args, **kwargs):
        return await original(*args, **kwargs)

    for replacement in (audited, lambda *args: None):
        monkeypatch.setattr(datasette_secrets, "get_secret", replacement)
        assert not usable(datasette_secrets)
    monkeypatch.setattr(datasette_secrets, "get_secret", original)
    monkeypatch.setattr(_datasette_secrets_internals, "_release", "0.4")
    assert not usable(datasette_secrets)


@pytest.mark.llm_models(*MODELS)
async def test_an_unverified_release_is_asked_through_get_secret(
    datasette_llm_config, monkeypatch
):
    monkeypatch.setattr(_datasette_secrets_internals, "_release", "0.4")
    calls = []
    original = datasette_secrets.get_secret

    async def counting_get_secret(datasette, name, actor_id=None):
        calls.append(name)
        return await original(datasette, name, actor_id)

    monkeypatch.setattr(datasette_secrets, "get_secret", counting_get_secret)
    monkeypatch.setenv("DATASETTE_SECRETS_PROVB_API_KEY", "sk-env")
    ds = await datasette_llm_config({})
    listed = {m.model_id for m in await LLM(ds).models()}
    assert {"b-1", "free"} <= listed and "a-1" not in listed
    assert {"PROVA_API_KEY", "PROVB_API_KEY", "PROVC_API_KEY"} <= set(calls)


@pytest.mark.llm_models(*MODELS)
async def test_fake_secrets_still_sees_every_listing_look_up(datasette_llm_config):
    ds = await datasette_llm_config({})
    with fake_secrets({"PROVA_API_KEY": "sk-a"}) as secrets:
        listed = {m.model_id for m in await LLM(ds).models()}
    assert "a-1" in listed and "b-1" not in listed
    assert {"PROVA_API_KEY", "PROVB_API_KEY", "PROVC_API_KEY"} <= {n for n, _ in secrets.lookups}


@pytest.mark.llm_models(*MODELS)
async def test_without_our_register_secrets_datasette_secrets_knows_none_of_our_names(
    datasette_llm_config, monkeypatch
):
    from datasette.plugins import pm

    monkeypatch.setenv("DATASETTE_SECRETS_PROVA_API_KEY", "sk-env")
    ds = await datasette_llm_config({})
    assert "a-1" in {m.model_id for m in await LLM(ds).models()}
    plugin = pm.get_plugin("datasette-llm")
    pm.unregister(plugin)
    try:
        # get_secret() answers None for a name no plugin registers: so does the listing
        assert await datasette_secrets.get_secret(ds, "PROVA_API_KEY") is None
        assert "a-1" not in {m.model_id for m in await LLM(ds).models()}
        with pytest.raises(ModelNotAllowedError):
            await LLM(ds).model("a-1")
    finally:
        pm.register(plugin, name="datasette-llm")


# model(): a key from the environment is read there; one from the database through
# get_secret(), which records its use


@pytest.mark.llm_models(*MODELS)
async def test_model_reads_an_environment_key_without_asking_datasette_secrets(
    datasette_llm_config, monkeypatch, secrets_list_walks
):
    monkeypatch.setenv("DATASETTE_SECRETS_PROVA_API_KEY", "sk-env-a")
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("a-1", actor={"id": "alice"})
    assert await LLM(ds).get_key_for_model(model) == "sk-env-a"
    assert secrets_list_walks == []
    # The answer get_secret() gives
    assert await datasette_secrets.get_secret(ds, "PROVA_API_KEY") == "sk-env-a"
    assert len(secrets_list_walks) == 1


@pytest.mark.llm_models(*MODELS)
async def test_model_asks_get_secret_when_the_environment_has_no_key(
    datasette_llm_config, monkeypatch, secrets_list_walks
):
    monkeypatch.setenv("DATASETTE_SECRETS_PROVA_API_KEY", "")  # empty: not a key
    ds = await datasette_llm_config({})
    with pytest.raises(ModelNotAllowedError):
        await LLM(ds).model("a-1")
    assert len(secrets_list_walks) == 1
