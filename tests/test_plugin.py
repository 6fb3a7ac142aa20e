"""Registration: entry point, hookspecs, purposes."""

import importlib.metadata

import pytest
from datasette import hookimpl
from datasette.plugins import pm

import datasette_llm
from datasette_llm import HookResultError, Purpose, get_purposes


def test_registered_through_datasette_entry_point_named_datasette_llm():
    entry_points = importlib.metadata.entry_points(group="datasette")
    ours = [ep for ep in entry_points if ep.name == "datasette-llm"]
    assert len(ours) == 1
    assert ours[0].value.startswith("datasette_llm")
    assert any(p.__name__.startswith("datasette_llm") for p in pm.get_plugins())


def test_hookspecs_are_added_when_imported():
    for name in (
        "register_llm_purposes",
        "llm_filter_models",
        "llm_default_model",
        "llm_prompt_context",
        "llm_group_exit",
    ):
        caller = getattr(pm.hook, name)
        assert caller.spec is not None
        assert caller.spec.namespace is datasette_llm.hookspecs
        assert getattr(datasette_llm.hookspecs, name).__doc__.strip()


def test_public_api():
    assert set(datasette_llm.__all__) >= {
        "LLM",
        "Purpose",
        "get_purposes",
        "ModelNotFoundError",
        "ModelNotAllowedError",
        "PromptResult",
        "Group",
    }
    for name in datasette_llm.__all__:
        assert hasattr(datasette_llm, name)


async def test_purposes_registered_first_wins(datasette_llm_config, register_plugin):
    class Second:
        @hookimpl
        def register_llm_purposes(self):
            return [Purpose("query-assistant", "the second description"), Purpose("extract")]

    class First:
        @hookimpl(tryfirst=True)
        def register_llm_purposes(self, datasette):
            return [
                Purpose(name="query-assistant", description="Assists users with writing SQL queries"),
                Purpose(name="suggest-table-names", description="Suggests names for tables"),
            ]

    register_plugin(Second())
    register_plugin(First())
    ds = await datasette_llm_config({})
    purposes = {p.name: p for p in get_purposes(ds)}
    assert purposes["query-assistant"].description == "Assists users with writing SQL queries"
    assert purposes["extract"].description is None
    assert "suggest-table-names" in purposes


async def test_purposes_hook_returning_garbage(datasette_llm_config, register_plugin):
    class Bad:
        @hookimpl
        def register_llm_purposes(self):
            return ["enrichments"]

    register_plugin(Bad())
    ds = await datasette_llm_config({})
    with pytest.raises(HookResultError, match="Purpose"):
        get_purposes(ds)


def test_purpose_needs_a_name():
    with pytest.raises(ValueError):
        Purpose("")


async def test_get_purposes_names_the_plugin_that_registered_each(
    datasette_llm_config, register_plugin
):
    from datasette.plugins import pm

    class Registers:
        @hookimpl
        def register_llm_purposes(self):
            return [Purpose("summaries", "Summarises rows")]

    name = pm.get_name(register_plugin(Registers()))
    ds = await datasette_llm_config({})
    (summaries,) = [p for p in get_purposes(ds) if p.name == "summaries"]
    assert summaries.plugin == name
    assert summaries == Purpose("summaries", "Summarises rows")  # plugin is not compared


async def test_an_async_register_llm_purposes_is_a_clear_error(
    datasette_llm_config, register_plugin, caplog
):
    class AsyncPurposes:
        @hookimpl
        async def register_llm_purposes(self):
            return [Purpose("late")]

    register_plugin(AsyncPurposes())
    with caplog.at_level("WARNING", logger="datasette_llm"):
        ds = await datasette_llm_config({})  # startup only warns
    assert "register_llm_purposes is called synchronously" in caplog.text
    with pytest.raises(HookResultError, match="write it as a plain def returning a list"):
        get_purposes(ds)


async def test_a_wrapper_of_register_llm_purposes_sees_every_answer(
    datasette_llm_config, register_plugin
):
    seen = []

    class Registers:
        @hookimpl
        def register_llm_purposes(self):
            return [Purpose("summaries")]

    class Wrapper:
        @hookimpl(wrapper=True)
        def register_llm_purposes(self):
            answers = yield
            seen.append([[p.name for p in answer] for answer in answers])
            return answers

    register_plugin(Registers())
    register_plugin(Wrapper())
    ds = await datasette_llm_config({})
    assert "summaries" in {p.name for p in get_purposes(ds)}
    assert ["summaries"] in seen[-1]


async def test_provider_secrets_say_where_to_get_a_key(datasette_llm_config):
    from datasette_secrets import get_secrets

    from datasette_llm.testing import FakeModel, fake_models

    with fake_models(FakeModel("claude-like", needs_key="anthropic")):
        ds = await datasette_llm_config({})
        secrets = {s.name: s for s in await get_secrets(ds)}
    assert secrets["OPENAI_API_KEY"].obtain_url == "https://platform.openai.com/api-keys"
    assert secrets["OPENAI_API_KEY"].obtain_label == "Get an OpenAI API key"
    assert secrets["ANTHROPIC_API_KEY"].obtain_url == "https://console.anthropic.com/settings/keys"
    assert secrets["ANTHROPIC_API_KEY"].obtain_label == "Get an Anthropic API key"
    assert secrets["ANTHROPIC_API_KEY"].description == "API key for anthropic models"
    # A provider we know nothing about gets no link, and its description as before
    assert secrets["ECHO-NEEDS-KEY_API_KEY"].obtain_url is None


async def test_the_secrets_page_shows_the_link(datasette_llm_config, register_plugin):
    from cryptography.fernet import Fernet
    from datasette.version import __version__

    if __version__.startswith("0."):
        class RootManagesSecrets:  # Datasette 0.65 grants root nothing by itself
            @hookimpl
            def permission_allowed(self, actor, action):
                if action == "manage-secrets" and actor and actor.get("id") == "root":
                    return True

        register_plugin(RootManagesSecrets())
    plugins = {"datasette-secrets": {"encryption-key": Fernet.generate_key().decode()}}
    ds = await datasette_llm_config({}, plugins=plugins)
    cookies = {"ds_actor": ds.sign({"a": {"id": "root"}}, "actor")}
    ds.root_enabled = True  # what --root does: root may manage secrets
    response = await ds.client.get("/-/secrets", cookies=cookies)
    assert response.status_code == 200, response.text[:300]
    assert '<a href="https://platform.openai.com/api-keys">Get an OpenAI API key</a>' in response.text
    response = await ds.client.get("/-/secrets/OPENAI_API_KEY", cookies=cookies)
    assert response.status_code == 200
    assert "Get an OpenAI API key" in response.text
