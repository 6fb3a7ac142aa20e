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
