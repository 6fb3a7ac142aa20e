"""Config validation: every invalid value is rejected with its full path."""

import logging

import pytest

from datasette_llm import ConfigError, LLM
from datasette_llm._config import parse_config
from datasette_llm.testing import FakeModel, fake_models


@pytest.mark.parametrize(
    "config, path, fragment",
    [
        ({"blocked_model": ["x"]}, "plugins.datasette-llm.blocked_model", "did you mean 'blocked_models'"),
        ({"models": "gpt-5.4"}, "plugins.datasette-llm.models", "expected a list, got the string"),
        ({"blocked_models": [1]}, "plugins.datasette-llm.blocked_models[0]", "expected a model ID string"),
        ({"models": [{"model": "a", "key": "K"}]}, "plugins.datasette-llm.models[0]", "custom keys are only supported"),
        ({"require_keys": "yes"}, "plugins.datasette-llm.require_keys", "expected true or false"),
        ({"default_model": 5}, "plugins.datasette-llm.default_model", "expected a model ID or {model, key, options}"),
        ({"default_model": {"key": "K"}}, "plugins.datasette-llm.default_model", "'model' must be a model ID string"),
        ({"default_model": {"model": "a", "key": 3}}, "plugins.datasette-llm.default_model.key", "secret"),
        ({"default_model": {"model": "a", "keys": "K"}}, "plugins.datasette-llm.default_model.keys", "unknown key"),
        ({"default_model": {"model": "a", "options": [1]}}, "plugins.datasette-llm.default_model.options", "expected a mapping"),
        ({"purposes": ["enrichments"]}, "plugins.datasette-llm.purposes", "expected a mapping"),
        ({"purposes": {"e": {"modle": "a"}}}, "plugins.datasette-llm.purposes.e.modle", "did you mean 'model'"),
        ({"purposes": {"e": {"models": "a"}}}, "plugins.datasette-llm.purposes.e.models", "expected a list"),
        (
            {"purposes": {"enrichments": {"models": ["a", "b", 3]}}},
            "plugins.datasette-llm.purposes.enrichments.models[2]",
            "expected a model ID or {model, key, options}",
        ),
        ({"purposes": {2024: {"model": "a"}}}, "plugins.datasette-llm.purposes.2024", "quote the name"),
        ({"purposes": {True: {"model": "a"}}}, "plugins.datasette-llm.purposes.True", "the boolean true"),
        ({"purposes": {None: {"model": "a"}}}, "plugins.datasette-llm.purposes.None", "must be strings"),
        ({"purposes": {" e": {"model": "a"}}}, "plugins.datasette-llm.purposes.' e'", "whitespace"),
        ({"purposes": {"": {"model": "a"}}}, "plugins.datasette-llm.purposes.''", "non-empty"),
        (
            {"default_model": {"model": "a", "options": {"system": "Be terse"}}},
            "plugins.datasette-llm.default_model.options.system",
            "argument of prompt(), not a model option",
        ),
        (
            {"purposes": {"e": {"models": [{"model": "a", "options": {"stream": False}}]}}},
            "plugins.datasette-llm.purposes.e.models[0].options.stream",
            "argument of prompt()",
        ),
        ({"purposes": {"e": {"blocked_models": [None]}}}, "plugins.datasette-llm.purposes.e.blocked_models[0]", "got nothing"),
        ("gpt-5.4", "plugins.datasette-llm", "expected a mapping"),
    ],
)
def test_invalid_config_names_the_path(config, path, fragment):
    with pytest.raises(ConfigError) as info:
        parse_config(config)
    assert info.value.path == path
    message = str(info.value)
    assert message.startswith(path + ": ")
    assert fragment in message


def test_the_spec_examples_are_valid():
    parse_config(
        {
            "default_model": "gpt-5.4-mini",
            "purposes": {
                "enrichments": {"model": "gpt-5.4-nano"},
                "sql-assistant": {"model": "gpt-5.4", "models": ["gpt-5.4", "gpt-5.4-mini"]},
                "extract": {"model": "claude-sonnet-4.6", "blocked_models": ["gpt-5.4-pro"]},
                "chat": {"model": "claude-sonnet-4.6"},
            },
            "models": ["gpt-5.4", "gpt-5.4-mini", "gpt-5.4-nano", "claude-sonnet-4.6"],
            "blocked_models": ["gpt-5.4-pro"],
            "require_keys": True,
        }
    )
    config = parse_config(
        {
            "default_model": {"model": "gpt-5.4-mini", "key": "CUSTOM_OPENAI_KEY"},
            "purposes": {
                "query-assistant": {"model": {"model": "gpt-5.4-mini", "key": "QUERY_ASSISTANT_KEY"}},
                "enrichments": {
                    "model": {"model": "gpt-5.4-nano", "key": "ENRICHMENTS_NANO_KEY"},
                    "models": [
                        {"model": "gpt-5.4", "key": "ENRICHMENTS_GPT5_KEY"},
                        {"model": "gpt-5.4-mini", "key": "ENRICHMENTS_MINI_KEY"},
                        "claude-sonnet-4.6",
                    ],
                },
            },
        }
    )
    assert config.key_names() == [
        "CUSTOM_OPENAI_KEY",
        "QUERY_ASSISTANT_KEY",
        "ENRICHMENTS_NANO_KEY",
        "ENRICHMENTS_GPT5_KEY",
        "ENRICHMENTS_MINI_KEY",
    ]


def test_empty_and_missing_config():
    assert parse_config(None).require_keys is True
    assert parse_config({}).models is None
    assert parse_config({"purposes": {"p": None}}).purposes["p"].models is None


async def test_invalid_config_fails_datasette_startup(datasette_llm_config):
    with pytest.raises(ConfigError) as info:
        await datasette_llm_config({"models": "echo"})
    assert info.value.path == "plugins.datasette-llm.models"


async def test_invalid_config_also_fails_on_first_use():
    # a Datasette whose startup hooks never ran
    from datasette_test import Datasette as TestDatasette

    ds = TestDatasette(memory=True, plugin_config={"datasette-llm": {"require_keys": 1}})
    with pytest.raises(ConfigError, match="require_keys"):
        await LLM(ds).models()


async def test_uninstalled_model_ids_warn_at_startup(datasette_llm_config, caplog):
    with caplog.at_level(logging.WARNING, logger="datasette_llm"):
        await datasette_llm_config(
            {"default_model": "echo", "purposes": {"p": {"models": ["not-a-model"]}}}
        )
    assert "plugins.datasette-llm.purposes.p.models[0]" in caplog.text
    assert "'not-a-model'" in caplog.text
    assert "default_model" not in caplog.text


async def test_invalid_options_for_installed_model_fail_at_startup(datasette_llm_config):
    with fake_models(FakeModel("fake")):
        with pytest.raises(ConfigError) as info:
            await datasette_llm_config(
                {"default_model": {"model": "fake", "options": {"temprature": 0.2}}}
            )
    assert info.value.path == "plugins.datasette-llm.default_model.options.temprature"
    assert "'fake' has no option 'temprature'; its options are: max_tokens, temperature" in str(
        info.value
    )


async def test_config_changes_are_picked_up(datasette_llm_config):
    ds = await datasette_llm_config({"default_model": "echo"})
    assert (await LLM(ds).model()).model_id == "echo"
    config = ds.config if hasattr(ds, "config") and ds.config else None
    if config is None:
        pytest.skip("this Datasette keeps plugin config in metadata")
    config["plugins"]["datasette-llm"]["blocked_models"] = ["echo"]
    with pytest.raises(Exception, match="blocklist"):
        await LLM(ds).model()


@pytest.mark.parametrize(
    "yaml_key, shown",
    [("2024", "2024"), ("on", "True"), ("yes", "True"), ("no", "False"), ("1.5", "1.5")],
)
def test_yaml_purpose_names_read_as_numbers_or_booleans_are_rejected(yaml_key, shown):
    import yaml

    raw = yaml.safe_load(f"purposes:\n  {yaml_key}:\n    models: [a]\n")
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert info.value.path == f"plugins.datasette-llm.purposes.{shown}"
    assert "quote the name" in str(info.value)
    # Quoted, the same name is a purpose like any other
    quoted = yaml.safe_load(f"purposes:\n  '{yaml_key}':\n    models: [a]\n")
    assert list(parse_config(quoted).purposes) == [yaml_key]


class BoundedOptionsModel(FakeModel):
    """A model whose ``max_tokens`` option must be at least 1, as providers' are."""

    def __init__(self, model_id):
        super().__init__(model_id)
        from typing import Optional

        import llm
        from pydantic import Field, create_model

        self.Options = self.sync.Options = create_model(
            f"BoundedOptions_{model_id.replace('-', '_')}",
            __base__=llm.Options,
            max_tokens=(Optional[int], Field(None, ge=1)),
        )


def live_config(ds) -> dict:
    """The datasette-llm config a running Datasette reads (changed in place by tests)."""
    if getattr(ds, "config", None):
        return ds.config["plugins"]["datasette-llm"]
    return ds.metadata()["plugins"]["datasette-llm"]


async def test_options_changed_at_run_time_are_validated_before_use(datasette_llm_config):
    with fake_models(BoundedOptionsModel("bounded"), FakeModel("other")):
        ds = await datasette_llm_config({"default_model": "bounded"})
        if not getattr(ds, "config", None):
            pytest.skip("this Datasette keeps plugin config in metadata, read once")
        llm_ = LLM(ds)
        assert (await llm_.model()).model_id == "bounded"
        live_config(ds)["default_model"] = {"model": "bounded", "options": {"max_tokens": -5}}
        # Refused when the config is parsed, for any model, before anything is sent
        for call in (llm_.model, llm_.models, lambda: llm_.model("other")):
            with pytest.raises(ConfigError) as info:
                await call()
            assert info.value.path == "plugins.datasette-llm.default_model.options"
            assert "greater than or equal to 1" in str(info.value)
        live_config(ds)["default_model"] = {"model": "bounded", "options": {"system": "Be terse"}}
        with pytest.raises(ConfigError) as info:
            await llm_.model()
        assert info.value.path == "plugins.datasette-llm.default_model.options.system"


async def test_options_of_a_model_installed_after_startup_are_validated_at_first_use(
    datasette_llm_config, caplog
):
    with caplog.at_level(logging.WARNING, logger="datasette_llm"):
        ds = await datasette_llm_config(
            {"purposes": {"p": {"model": {"model": "later", "options": {"max_tokens": 0}}}}}
        )
    assert "model 'later' is not provided by any installed llm plugin" in caplog.text
    with fake_models(BoundedOptionsModel("later")):
        with pytest.raises(ConfigError) as info:
            await LLM(ds).model(purpose="p")
    assert info.value.path == "plugins.datasette-llm.purposes.p.model.options"
    with fake_models(FakeModel("later")):  # an installed "later" that takes max_tokens=0
        assert (await LLM(ds).model(purpose="p")).model_id == "later"


@pytest.mark.parametrize("named_as", ["id", "alias"])
async def test_one_model_in_model_and_models_with_different_keys_warns_and_models_wins(
    datasette_llm_config, caplog, named_as
):
    from datasette_llm.testing import fake_secrets

    fake = FakeModel("keyed-model", needs_key="acme")
    alias_plugin = None
    name = "keyed-model"
    if named_as == "alias":
        import llm
        from llm.plugins import pm as llm_pm

        class Alias:
            __name__ = "test-alias-plugin"

            @llm.hookimpl
            def register_models(self, register):
                register(fake.sync, fake, aliases=("km",))

        alias_plugin = Alias()
        name = "km"
    config = {
        "purposes": {
            "p": {
                "model": {"model": name, "key": "FROM_MODEL"},
                "models": [{"model": "keyed-model", "key": "FROM_MODELS"}],
            }
        }
    }
    with fake_models(fake), fake_secrets({"FROM_MODEL": "sk-model", "FROM_MODELS": "sk-models"}):
        if alias_plugin is not None:
            llm_pm.register(alias_plugin, name="test-alias-plugin")
        try:
            with caplog.at_level(logging.WARNING, logger="datasette_llm"):
                ds = await datasette_llm_config(config)
            model = await LLM(ds).model(purpose="p")
            await (await model.prompt("hi")).text()
        finally:
            if alias_plugin is not None:
                llm_pm.unregister(alias_plugin)
    assert fake.keys == ["sk-models"]
    assert (
        "plugins.datasette-llm.purposes.p.model: "
        f"{name!r} is also configured at plugins.datasette-llm.purposes.p.models[0]"
    ) in caplog.text
    assert "with a different key; the key of plugins.datasette-llm.purposes.p.models[0] is used" in (
        caplog.text
    )


async def test_unregistered_purposes_in_the_config_are_warned_about(
    datasette_llm_config, caplog, register_plugin
):
    from datasette import hookimpl

    from datasette_llm import Purpose

    class Registers:
        @hookimpl
        def register_llm_purposes(self):
            return [Purpose("sql-assistant")]

    register_plugin(Registers())
    with caplog.at_level(logging.WARNING, logger="datasette_llm"):
        await datasette_llm_config({"purposes": {"sql-asistant": {"model": "echo"}}})
    assert (
        "plugins.datasette-llm.purposes.sql-asistant: no installed plugin registers the "
        "purpose 'sql-asistant'"
    ) in caplog.text
    assert "did you mean 'sql-assistant'?" in caplog.text
