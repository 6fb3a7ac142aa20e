"""datasette_llm.testing.HookRecorder: every datasette-llm hook call, in order, while the
real hooks keep running; assertion helpers with readable messages."""

import re

import pytest
from datasette import hookimpl
from datasette.plugins import pm

from datasette_llm import LLM, PromptResult, Purpose, get_purposes
from datasette_llm.testing import HOOK_NAMES, FakeModel, HookCall, HookRecorder, fake_models


class RealPlugin:
    """Real hook implementations that change what datasette-llm does."""

    __name__ = "real-plugin"

    @hookimpl
    def register_llm_purposes(self):
        return [Purpose("summaries", "Summarise things")]

    @hookimpl
    def llm_filter_models(self, models, actor):
        if actor is None:
            return [m for m in models if m.model_id != "expensive"]

    @hookimpl
    def llm_default_model(self, actor):
        if actor and actor.get("id") == "alice":
            return "expensive"


@pytest.fixture
def real_plugin():
    plugin = RealPlugin()
    pm.register(plugin, name="real-plugin")
    try:
        yield plugin
    finally:
        pm.unregister(plugin)


@pytest.fixture
def two_models():
    with fake_models(FakeModel("cheap"), FakeModel("expensive")) as models:
        yield models


async def test_records_every_hook_in_order(datasette_llm_config, two_models):
    ds = await datasette_llm_config({"default_model": "cheap"})
    with HookRecorder() as hooks:
        get_purposes(ds)
        await LLM(ds).models(purpose="p")
        async with LLM(ds).group("cheap", purpose="p") as model:
            await (await model.prompt("hello")).text()
    assert [call.name for call in hooks.calls] == [
        "register_llm_purposes",
        "llm_filter_models",
        "llm_default_model",
        "llm_filter_models",
        "llm_prompt_context",
        "llm_group_exit",
    ]
    assert all(isinstance(call, HookCall) for call in hooks.calls)
    assert set(HOOK_NAMES) == {call.name for call in hooks.calls}


async def test_calls_carry_the_arguments(datasette_llm_config, two_models):
    ds = await datasette_llm_config({"default_model": "cheap"})
    actor = {"id": "bob"}
    with HookRecorder() as hooks:
        await LLM(ds).models(actor=actor, purpose="p")
        async with LLM(ds).group(purpose="g", actor=actor) as model:
            await (await model.prompt("question")).text()
    listing = hooks.called("llm_filter_models")[0]
    assert listing.kwargs["datasette"] is ds
    assert listing["actor"] == actor and listing["purpose"] == "p"
    assert "cheap" in [m.model_id for m in listing["models"]]
    context = hooks.last("llm_prompt_context")
    assert (context["model_id"], context["prompt"], context["purpose"]) == (
        "cheap",
        "question",
        "g",
    )
    # The recorder keeps the PromptResult the real wrappers saw
    assert isinstance(context.result, PromptResult)
    assert context.result.response is not None
    assert await context.result.response.text() == "question"
    group = hooks.last("llm_group_exit")["group"]
    assert group is context.result.group and group.purpose == "g"
    name, kwargs = hooks.last("llm_default_model")
    assert name == "llm_default_model" and kwargs["actor"] == actor


async def test_real_hooks_still_run(datasette_llm_config, two_models, real_plugin):
    ds = await datasette_llm_config({"default_model": "cheap"})
    with HookRecorder() as hooks:
        assert "summaries" in [p.name for p in get_purposes(ds)]
        listed = [
            m.model_id for m in await LLM(ds).models() if m.model_id in ("cheap", "expensive")
        ]
        assert listed == ["cheap"]
        chosen = await LLM(ds).model(actor={"id": "alice"})
        assert chosen.model_id == "expensive"
    # The recorder sees the list before any other plugin filtered it
    assert [m.model_id for m in hooks.called("llm_filter_models")[0]["models"]][-2:] == [
        "cheap",
        "expensive",
    ]
    hooks.assert_called("llm_default_model", actor={"id": "alice"})


async def test_stops_recording_on_exit(datasette_llm_config, two_models):
    ds = await datasette_llm_config({"default_model": "cheap"})
    with HookRecorder() as hooks:
        await LLM(ds).model()
    count = len(hooks.calls)
    assert count > 0
    await LLM(ds).model()
    assert len(hooks.calls) == count
    assert not [
        p for p in pm.get_plugins() if isinstance(getattr(p, "recorder", None), HookRecorder)
    ]


async def test_recorders_nest(datasette_llm_config, two_models):
    ds = await datasette_llm_config({"default_model": "cheap"})
    with HookRecorder() as outer:
        with HookRecorder() as inner:
            await LLM(ds).model()
        await LLM(ds).model()
    assert len(outer.calls) == 2 * len(inner.calls) > 0


async def test_clear(datasette_llm_config, two_models):
    ds = await datasette_llm_config({"default_model": "cheap"})
    with HookRecorder() as hooks:
        await LLM(ds).model()
        hooks.clear()
        assert hooks.calls == []
        get_purposes(ds)
    assert [c.name for c in hooks.calls] == ["register_llm_purposes"]


async def test_assert_called_passes_and_returns_the_matching_calls(
    datasette_llm_config, two_models
):
    ds = await datasette_llm_config({"default_model": "cheap"})
    with HookRecorder() as hooks:
        await LLM(ds).models(purpose="a")
        await LLM(ds).models(purpose="b", actor={"id": "x"})
    matching = hooks.assert_called("llm_filter_models", purpose="b")
    assert [c["actor"] for c in matching] == [{"id": "x"}]
    assert len(hooks.assert_called("llm_filter_models", times=2)) == 2
    # Model lists compare by model ID
    models = hooks.called("llm_filter_models")[0]["models"]
    hooks.assert_called("llm_filter_models", models=[m.model_id for m in models])
    hooks.assert_called("llm_filter_models", models=models)
    assert hooks.assert_called("llm_group_exit", times=0) == []
    hooks.assert_not_called("llm_group_exit")


def test_message_when_a_hook_was_never_called():
    hooks = HookRecorder()
    with pytest.raises(AssertionError) as info:
        hooks.assert_called("llm_group_exit")
    assert str(info.value) == (
        "Expected llm_group_exit to be called; it never was. No datasette-llm hook was called."
    )


def test_message_lists_the_calls_that_did_happen():
    hooks = HookRecorder()
    hooks._record("llm_default_model", datasette=object(), purpose="p", actor=None)
    with pytest.raises(AssertionError) as info:
        hooks.assert_called("llm_group_exit")
    assert str(info.value) == (
        "Expected llm_group_exit to be called; it never was. Hook calls recorded:\n"
        "  HookCall('llm_default_model', {'purpose': 'p', 'actor': None})"
    )


def test_message_for_the_wrong_number_of_calls():
    hooks = HookRecorder()
    hooks._record("llm_default_model", datasette=None, purpose="p", actor=None)
    with pytest.raises(AssertionError) as info:
        hooks.assert_called("llm_default_model", times=2)
    assert str(info.value) == (
        "Expected llm_default_model to be called 2 time(s); it was called 1 time(s). "
        "Hook calls recorded:\n"
        "  HookCall('llm_default_model', {'purpose': 'p', 'actor': None})"
    )


def test_message_when_no_call_matches():
    hooks = HookRecorder()
    hooks._record(
        "llm_filter_models", datasette=None, models=[FakeModel("a")], actor=None, purpose="x"
    )
    hooks._record("llm_filter_models", datasette=None, models=[], actor={"id": 1}, purpose="y")
    with pytest.raises(AssertionError) as info:
        hooks.assert_called("llm_filter_models", purpose="z", models=["a"])
    assert str(info.value) == (
        "Expected a call of llm_filter_models with purpose='z', models=['a']; none of its "
        "2 call(s) matched:\n"
        "  HookCall('llm_filter_models', {'models': ['a'], 'actor': None, 'purpose': 'x'})\n"
        "  HookCall('llm_filter_models', {'models': [], 'actor': {'id': 1}, 'purpose': 'y'})"
    )


def test_message_of_assert_not_called():
    hooks = HookRecorder()
    hooks._record("llm_group_exit", datasette=None, group="the group")
    with pytest.raises(AssertionError) as info:
        hooks.assert_not_called("llm_group_exit")
    assert str(info.value) == (
        "Expected llm_group_exit not to be called; it was called 1 time(s):\n"
        "  HookCall('llm_group_exit', {'group': 'the group'})"
    )


def test_message_of_last():
    with pytest.raises(AssertionError, match="^llm_default_model was never called. No datasette"):
        HookRecorder().last("llm_default_model")


def test_typos_are_caught():
    hooks = HookRecorder()
    with pytest.raises(
        ValueError, match=re.escape("'llm_filter_model' is not a datasette-llm hook")
    ):
        hooks.called("llm_filter_model")
    with pytest.raises(TypeError) as info:
        hooks.assert_called("llm_default_model", purpse="x")
    assert str(info.value) == (
        "llm_default_model has no argument(s) purpse; its arguments are datasette, purpose, actor"
    )


def test_hook_call_is_a_name_and_kwargs():
    call = HookCall("llm_group_exit", {"group": "g"})
    name, kwargs = call
    assert (name, kwargs) == ("llm_group_exit", {"group": "g"})
    assert call == HookCall("llm_group_exit", {"group": "g"})
    assert call != HookCall("llm_group_exit", {"group": "other"})
    assert call["group"] == "g"


def test_hook_recorder_fixture_is_active(hook_recorder):
    assert isinstance(hook_recorder, HookRecorder)
    assert any(getattr(p, "recorder", None) is hook_recorder for p in pm.get_plugins())


def test_datasette_plugin_listing_still_works_while_recording():
    # Datasette 0.65 reads __name__ of every registered plugin object
    from datasette.plugins import get_plugins

    with HookRecorder():
        names = [plugin["name"] for plugin in get_plugins()]
    assert any(name.startswith("datasette-llm-hook-recorder-") for name in names)
