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
