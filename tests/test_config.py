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
        (
            {"purposes": {"e": {"models": [{"model": "a", "key": "K1"}], "model": {"model": "a", "key": "K2"}}}},
            "plugins.datasette-llm.purposes.e.models[0]",
            "different key",
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
    assert info.value.path == "plugins.datasette-llm.default_model.options"
    assert "temprature" in str(info.value)


async def test_config_changes_are_picked_up(datasette_llm_config):
    ds = await datasette_llm_config({"default_model": "echo"})
    assert (await LLM(ds).model()).model_id == "echo"
    config = ds.config if hasattr(ds, "config") and ds.config else None
    if config is None:
        pytest.skip("this Datasette keeps plugin config in metadata")
    config["plugins"]["datasette-llm"]["blocked_models"] = ["echo"]
    with pytest.raises(Exception, match="blocklist"):
        await LLM(ds).model()
