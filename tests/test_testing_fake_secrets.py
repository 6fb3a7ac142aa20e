"""datasette_llm.testing.fake_secrets: datasette-secrets values for a block."""

import datasette_secrets
import pytest

from datasette_llm import LLM
from datasette_llm.testing import FakeModel, fake_models, fake_secrets


async def secret_names(datasette):
    return [secret.name for secret in await datasette_secrets.get_secrets(datasette)]


async def test_values_are_returned_by_get_secret(datasette_llm_config):
    ds = await datasette_llm_config({})
    with fake_secrets({"OPENAI_API_KEY": "sk-test", "CUSTOM_KEY": "custom"}):
        assert await datasette_secrets.get_secret(ds, "OPENAI_API_KEY") == "sk-test"
        assert await datasette_secrets.get_secret(ds, "CUSTOM_KEY", "alice") == "custom"


async def test_names_are_registered_secrets_only_inside_the_block(datasette_llm_config):
    ds = await datasette_llm_config({})
    assert "MY_PLUGIN_KEY" not in await secret_names(ds)
    with fake_secrets({"MY_PLUGIN_KEY": "value"}):
        assert "MY_PLUGIN_KEY" in await secret_names(ds)
    assert "MY_PLUGIN_KEY" not in await secret_names(ds)


async def test_datasette_llm_uses_the_fake_provider_key(datasette_llm_config):
    fake = FakeModel("keyed", needs_key="fakeprovider")
    with fake_models(fake), fake_secrets({"FAKEPROVIDER_API_KEY": "sk-fake"}):
        ds = await datasette_llm_config({"default_model": "keyed"})
        assert [m.model_id for m in await LLM(ds).models() if m.model_id == "keyed"] == ["keyed"]
        model = await LLM(ds).model()
        await (await model.prompt("x")).text()
    assert fake.keys == ["sk-fake"]


async def test_none_means_unset_even_when_the_environment_has_it(datasette_llm_config, monkeypatch):
    monkeypatch.setenv("DATASETTE_SECRETS_EXAMPLE_SECRET", "from-env")
    ds = await datasette_llm_config({})
    assert await datasette_secrets.get_secret(ds, "EXAMPLE_SECRET") == "from-env"
    with fake_secrets({"EXAMPLE_SECRET": None}):
        assert await datasette_secrets.get_secret(ds, "EXAMPLE_SECRET") is None


async def test_other_names_resolve_as_usual(datasette_llm_config, monkeypatch):
    monkeypatch.setenv("DATASETTE_SECRETS_EXAMPLE_SECRET", "real")
    ds = await datasette_llm_config({})
    with fake_secrets({"FAKED": "x"}) as secrets:
        assert await datasette_secrets.get_secret(ds, "EXAMPLE_SECRET") == "real"
        assert await datasette_secrets.get_secret(ds, "NOT_REGISTERED_ANYWHERE") is None
    assert secrets.lookups == [("EXAMPLE_SECRET", None), ("NOT_REGISTERED_ANYWHERE", None)]


async def test_per_actor_values(datasette_llm_config):
    fake = FakeModel("keyed", needs_key="fakeprovider")

    async def async_value(actor_id):
        return "async-key" if actor_id == "bob" else None

    keys = {"FAKEPROVIDER_API_KEY": lambda actor_id: f"key-for-{actor_id}" if actor_id else None}
    with fake_models(fake), fake_secrets(keys):
        ds = await datasette_llm_config({"default_model": "keyed"})
        model = await LLM(ds).model(actor={"id": "alice"})
        await (await model.prompt("x")).text()
        assert fake.keys == ["key-for-alice"]
        # Anonymous: the callable returns None, so the model has no key and is refused
        assert await LLM(ds).model_has_key(fake) is False
        with fake_secrets({"FAKEPROVIDER_API_KEY": async_value}):
            assert await LLM(ds).get_key_for_model(fake, actor={"id": "bob"}) == "async-key"
            assert await LLM(ds).get_key_for_model(fake, actor={"id": "carol"}) is None


async def test_everything_is_restored_afterwards(datasette_llm_config):
    original = datasette_secrets.get_secret
    ds = await datasette_llm_config({})
    names_before = await secret_names(ds)
    with fake_secrets({"A_KEY": "a"}):
        assert datasette_secrets.get_secret is not original
        with fake_secrets({"B_KEY": "b"}):
            assert await datasette_secrets.get_secret(ds, "A_KEY") == "a"
            assert await datasette_secrets.get_secret(ds, "B_KEY") == "b"
        assert await datasette_secrets.get_secret(ds, "B_KEY") is None
    assert datasette_secrets.get_secret is original
    assert await secret_names(ds) == names_before
    assert await datasette_secrets.get_secret(ds, "A_KEY") is None


async def test_restored_when_the_block_raises(datasette_llm_config):
    original = datasette_secrets.get_secret
    with pytest.raises(KeyError):
        with fake_secrets({"A_KEY": "a"}):
            raise KeyError("boom")
    assert datasette_secrets.get_secret is original


def test_repr_names_the_secrets_but_never_the_values():
    secrets = fake_secrets({"B_KEY": "sk-secret-value", "A_KEY": None})
    assert repr(secrets) == "<fake_secrets ['A_KEY', 'B_KEY']>"
    assert "sk-secret" not in repr(secrets)


def test_argument_checks():
    with pytest.raises(TypeError, match="must be a string, None or a callable"):
        fake_secrets({"KEY": 123})
    with pytest.raises(TypeError, match="names must be strings"):
        fake_secrets({"": "x"})


def test_cannot_be_entered_twice():
    secrets = fake_secrets({"KEY": "x"})
    with secrets:
        with pytest.raises(RuntimeError, match="already active"):
            secrets.__enter__()
