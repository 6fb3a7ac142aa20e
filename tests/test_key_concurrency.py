"""A configured key that could not be read never falls through to another key.

datasette-secrets' ``get_secret()`` answers ``None`` both for an unset secret and for one
it could not read (on Datasette 0.65 its in-memory ``_internal`` table is often locked
under concurrent use). Taking that ``None`` as "unset" would hand the next key of the
chain (the provider's) to a prompt the operator configured another key for.
"""

import asyncio
import random

import pytest
from cryptography.fernet import Fernet

from datasette_llm import LLM, KeyUnavailableError
from datasette_llm.testing import FakeModel, fake_models

CONFIG = {
    "purposes": {
        "p": {"model": {"model": "keyed", "key": "PURPOSE_P_KEY"}},
        "q": {"models": [{"model": "keyed", "key": "PURPOSE_Q_KEY"}]},
    }
}
STORED = {"PURPOSE_P_KEY": "sk-p", "PURPOSE_Q_KEY": "sk-q", "ACME_API_KEY": "sk-provider"}
EXPECTED = {"p": "sk-p", "q": "sk-q", None: "sk-provider"}


@pytest.fixture
def keyed():
    with fake_models(FakeModel("keyed", needs_key="acme")) as model:
        yield model


async def datasette_with_stored_keys(datasette_llm_config, stored=STORED):
    encryption_key = Fernet.generate_key().decode()
    ds = await datasette_llm_config(
        CONFIG, plugins={"datasette-secrets": {"encryption-key": encryption_key}}
    )
    from datasette_secrets import get_database

    db = get_database(ds)
    fernet = Fernet(encryption_key.encode())
    for name, value in stored.items():
        await db.execute_write(
            "insert into datasette_secrets (name, version, encrypted, encryption_key_name) "
            "values (?, 1, ?, 'default')",
            (name, fernet.encrypt(value.encode())),
        )
    return ds


async def test_300_concurrent_prompts_with_stored_keys_never_use_another_key(
    datasette_llm_config, keyed
):
    ds = await datasette_with_stored_keys(datasette_llm_config)
    llm_ = LLM(ds)
    rng = random.Random(300)
    purposes = [rng.choice(["p", "q", None]) for _ in range(300)]

    # Every key read at once, as 300 simultaneous requests would (on Datasette 0.65 this
    # locks datasette-secrets' in-memory table several times per run)
    models = await asyncio.gather(
        *(
            llm_.model("keyed", purpose=purpose, actor={"id": f"user-{index % 30}"})
            for index, purpose in enumerate(purposes)
        ),
        return_exceptions=True,
    )
    failures = [m for m in models if isinstance(m, BaseException)]
    assert failures == []
    responses = await asyncio.gather(
        *(
            model.prompt(f"{index}|{purpose}")
            for index, (model, purpose) in enumerate(zip(models, purposes))
        )
    )
    await asyncio.gather(*(response.text() for response in responses))
    used = {}
    for received, key in zip(keyed.prompts, keyed.keys):
        index, purpose = received.prompt.split("|")
        used[int(index)] = (purpose, key)
    mix_ups = [
        (i, purpose, key)
        for i, (purpose, key) in used.items()
        if key != EXPECTED[None if purpose == "None" else purpose]
    ]
    assert len(used) == 300
    assert mix_ups == []


async def test_a_stored_key_datasette_secrets_could_not_read_is_not_replaced(
    datasette_llm_config, keyed, monkeypatch
):
    """get_secret() answers None for PURPOSE_P_KEY although it is stored (what a locked
    table makes it do): no prompt runs on the provider's key instead."""
    import datasette_secrets

    from datasette_llm import _keys

    ds = await datasette_with_stored_keys(datasette_llm_config)
    original = datasette_secrets.get_secret
    attempts = []

    async def get_secret(datasette, name, actor_id=None):
        if name == "PURPOSE_P_KEY":
            attempts.append(name)
            return None
        return await original(datasette, name, actor_id)

    monkeypatch.setattr(datasette_secrets, "get_secret", get_secret)
    # the one-query path is used only with datasette-secrets' own get_secret: keep it on
    monkeypatch.setattr(_keys.stored, "usable", lambda module: True)
    monkeypatch.setattr(_keys, "READ_ATTEMPTS", 3)
    with pytest.raises(KeyUnavailableError) as info:
        await LLM(ds).model("keyed", purpose="p")
    assert info.value.secret_names == ("PURPOSE_P_KEY",)
    assert str(info.value).startswith("datasette-secrets secret 'PURPOSE_P_KEY' could not be read")
    assert "refusing to fall back to another key" in str(info.value)
    assert "sk-" not in str(info.value)
    assert attempts == ["PURPOSE_P_KEY"] * 3
    assert keyed.prompts == []


async def test_a_read_that_succeeds_on_retry_gives_the_configured_key(
    datasette_llm_config, keyed, monkeypatch
):
    import datasette_secrets

    from datasette_llm import _keys

    ds = await datasette_with_stored_keys(datasette_llm_config)
    original = datasette_secrets.get_secret
    failures_left = [2]

    async def get_secret(datasette, name, actor_id=None):
        if name == "PURPOSE_P_KEY" and failures_left[0]:
            failures_left[0] -= 1
            return None
        return await original(datasette, name, actor_id)

    monkeypatch.setattr(datasette_secrets, "get_secret", get_secret)
    monkeypatch.setattr(_keys.stored, "usable", lambda module: True)
    model = await LLM(ds).model("keyed", purpose="p")
    await (await model.prompt("hi")).text()
    assert keyed.keys == ["sk-p"]


async def test_a_locked_table_during_a_listing_is_read_again_then_refused(
    datasette_llm_config, keyed, monkeypatch
):
    from datasette.utils import sqlite3
    from datasette_secrets import get_database

    from datasette_llm import _keys

    ds = await datasette_with_stored_keys(datasette_llm_config)
    db = get_database(ds)
    original = db.execute
    locked_for = [2]

    async def execute(sql, *args, **kwargs):
        if "from datasette_secrets" in sql and locked_for[0]:
            locked_for[0] -= 1
            raise sqlite3.OperationalError("database table is locked")
        return await original(sql, *args, **kwargs)

    monkeypatch.setattr(db, "execute", execute)
    listed = [m.model_id for m in await LLM(ds).models(purpose="p")]
    assert "keyed" in listed  # read on the third attempt
    locked_for[0] = 100
    monkeypatch.setattr(_keys, "READ_ATTEMPTS", 2)
    with pytest.raises(KeyUnavailableError, match="database table is locked"):
        await LLM(ds).models(purpose="p")


async def test_an_unset_secret_still_falls_through(datasette_llm_config, keyed):
    ds = await datasette_with_stored_keys(
        datasette_llm_config, {"ACME_API_KEY": "sk-provider"}  # no purpose keys stored
    )
    model = await LLM(ds).model("keyed", purpose="p")
    await (await model.prompt("hi")).text()
    assert keyed.keys == ["sk-provider"]
