"""models(): configuration allow/blocklists, purposes, require_keys, filter hooks, order."""

import pytest
from datasette import hookimpl

from datasette_llm import LLM
from datasette_llm.testing import FakeModel, fake_models, fake_secrets

IDS = ["m-a", "m-b", "m-c", "m-d"]


@pytest.fixture
def four_models():
    with fake_models(*[FakeModel(i) for i in IDS]) as models:
        yield models


async def listed(datasette, **kwargs):
    return [m.model_id for m in await LLM(datasette).models(**kwargs) if m.model_id in IDS + ["keyed"]]


async def test_no_config_lists_every_model_that_needs_no_key(datasette_llm_config, four_models):
    ds = await datasette_llm_config({})
    assert await listed(ds) == IDS


async def test_models_returns_llm_async_model_objects(datasette_llm_config, four_models):
    ds = await datasette_llm_config({})
    models = await LLM(ds).models()
    fake = next(m for m in models if m.model_id == "m-a")
    assert fake is four_models[0]
    echo = next(m for m in models if m.model_id == "echo")
    import llm

    assert isinstance(echo, llm.AsyncModel)


async def test_global_allowlist(datasette_llm_config, four_models):
    ds = await datasette_llm_config({"models": ["m-b", "m-c"]})
    assert await listed(ds) == ["m-b", "m-c"]


async def test_global_blocklist(datasette_llm_config, four_models):
    ds = await datasette_llm_config({"blocked_models": ["m-b"]})
    assert await listed(ds) == ["m-a", "m-c", "m-d"]


async def test_allowlist_applied_then_blocklist_removes(datasette_llm_config, four_models):
    ds = await datasette_llm_config({"models": ["m-a", "m-b", "m-c"], "blocked_models": ["m-b"]})
    assert await listed(ds) == ["m-a", "m-c"]


async def test_default_model_is_automatically_in_the_allowlist(datasette_llm_config, four_models):
    ds = await datasette_llm_config({"default_model": "m-d", "models": ["m-a"]})
    # default first, then the allowlist in config order
    assert await listed(ds) == ["m-d", "m-a"]


async def test_dict_default_model_is_automatically_in_the_allowlist(datasette_llm_config, four_models):
    ds = await datasette_llm_config({"default_model": {"model": "m-d", "key": "K"}, "models": ["m-a"]})
    assert await listed(ds) == ["m-d", "m-a"]


async def test_purpose_allowlist_replaces_global_allowlist(datasette_llm_config, four_models):
    ds = await datasette_llm_config(
        {
            "models": ["m-a", "m-b"],
            "purposes": {"sql-assistant": {"models": ["m-c", "m-d"]}},
        }
    )
    assert await listed(ds, purpose="sql-assistant") == ["m-c", "m-d"]
    assert await listed(ds) == ["m-a", "m-b"]


async def test_purpose_default_model_is_automatically_in_purpose_allowlist(
    datasette_llm_config, four_models
):
    ds = await datasette_llm_config(
        {"purposes": {"sql-assistant": {"model": "m-a", "models": ["m-c"]}}}
    )
    assert await listed(ds, purpose="sql-assistant") == ["m-a", "m-c"]


async def test_purpose_without_models_uses_global_allowlist(datasette_llm_config, four_models):
    ds = await datasette_llm_config(
        {"models": ["m-a", "m-b"], "purposes": {"extract": {"blocked_models": ["m-a"]}}}
    )
    assert await listed(ds, purpose="extract") == ["m-b"]
    assert await listed(ds, purpose="unconfigured") == ["m-a", "m-b"]


async def test_purpose_blocklist_removes_globally_allowed_model(datasette_llm_config, four_models):
    ds = await datasette_llm_config({"purposes": {"extract": {"blocked_models": ["m-c"]}}})
    assert await listed(ds, purpose="extract") == ["m-a", "m-b", "m-d"]
    assert await listed(ds) == IDS


async def test_global_blocklist_always_applies_even_to_purpose_allowlist(
    datasette_llm_config, four_models
):
    ds = await datasette_llm_config(
        {
            "blocked_models": ["m-c"],
            "purposes": {"p": {"model": "m-c", "models": ["m-c", "m-d"]}},
        }
    )
    assert await listed(ds, purpose="p") == ["m-d"]


async def test_empty_allowlist_allows_only_defaults(datasette_llm_config, four_models):
    ds = await datasette_llm_config({"models": [], "default_model": "m-b"})
    assert await listed(ds) == ["m-b"]


async def test_allowlist_order_and_default_first(datasette_llm_config, four_models):
    ds = await datasette_llm_config(
        {"default_model": "m-c", "purposes": {"p": {"model": "m-b", "models": ["m-d", "m-a"]}}}
    )
    # purpose default first, then the purpose allowlist in config order
    assert await listed(ds, purpose="p") == ["m-b", "m-d", "m-a"]
    # no allowlist: the default first, then llm's order
    assert await listed(ds) == ["m-c", "m-a", "m-b", "m-d"]


async def test_aliases_in_config_match_the_model(datasette_llm_config):
    class Aliased:
        @__import__("llm").hookimpl
        def register_models(self, register):
            model = FakeModel("long-model-name")
            register(model.sync, model, aliases=("short",))

    from llm.plugins import pm as llm_pm

    llm_pm.register(Aliased(), name="aliased-test")
    try:
        ds = await datasette_llm_config({"blocked_models": ["short"]})
        ids = [m.model_id for m in await LLM(ds).models()]
        assert "long-model-name" not in ids
        from datasette_llm import ModelNotAllowedError

        with pytest.raises(ModelNotAllowedError):
            await LLM(ds).model("long-model-name")
        with pytest.raises(ModelNotAllowedError):
            await LLM(ds).model("short")
    finally:
        llm_pm.unregister(name="aliased-test")


async def test_require_keys_hides_models_without_keys(datasette_llm_config):
    with fake_models(FakeModel("keyed", needs_key="acme")):
        ds = await datasette_llm_config({})
        assert "keyed" not in await listed(ds)
        with fake_secrets({"ACME_API_KEY": "sk-acme"}):
            assert "keyed" in await listed(ds)


async def test_require_keys_false_lists_models_without_keys(datasette_llm_config):
    with fake_models(FakeModel("keyed", needs_key="acme")):
        ds = await datasette_llm_config({"require_keys": False})
        assert "keyed" in await listed(ds)


async def test_require_keys_counts_purpose_specific_keys(datasette_llm_config):
    with fake_models(FakeModel("keyed", needs_key="acme")):
        ds = await datasette_llm_config(
            {"purposes": {"p": {"models": [{"model": "keyed", "key": "P_KEY"}]}}}
        )
        with fake_secrets({"P_KEY": "sk-p"}):
            assert await listed(ds, purpose="p") == ["keyed"]
            assert await listed(ds) == []


# llm_filter_models hooks


class FilterPlugin:
    def __init__(self, keep, returns_none=False):
        self.keep = keep
        self.returns_none = returns_none
        self.record = []

    def _result(self, models, actor, purpose):
        self.record.append(([m.model_id for m in models], actor, purpose))
        if self.returns_none:
            return None
        return [m for m in models if m.model_id in self.keep]


class SyncFilter(FilterPlugin):
    @hookimpl
    def llm_filter_models(self, models, actor, purpose):
        return self._result(models, actor, purpose)


class AsyncFilter(FilterPlugin):
    @hookimpl
    async def llm_filter_models(self, datasette, models, actor, purpose):
        return self._result(models, actor, purpose)


async def test_filter_hook_receives_actor_and_purpose(
    datasette_llm_config, four_models, register_plugin
):
    plugin = register_plugin(SyncFilter(keep={"m-a"}))
    ds = await datasette_llm_config({})
    assert await listed(ds, actor={"id": "u1"}, purpose="p") == ["m-a"]
    _, actor, purpose = plugin.record[-1]
    assert actor == {"id": "u1"} and purpose == "p"


async def test_async_filter_hook_is_awaited(datasette_llm_config, four_models, register_plugin):
    plugin = AsyncFilter(keep={"m-b", "m-c"})
    register_plugin(plugin)
    ds = await datasette_llm_config({})
    assert await listed(ds) == ["m-b", "m-c"]


async def test_filter_hooks_compose(datasette_llm_config, four_models, register_plugin):
    class First(FilterPlugin):
        @hookimpl(tryfirst=True)
        def llm_filter_models(self, models, actor, purpose):
            return self._result(models, actor, purpose)

    first = register_plugin(First(keep={"m-a", "m-b", "m-c"}))
    second = register_plugin(AsyncFilter(keep={"m-b", "m-c", "m-d"}))
    ds = await datasette_llm_config({"models": IDS})
    assert await listed(ds) == ["m-b", "m-c"]
    # each hook receives the list the previous one returned
    assert first.record[-1][0] == IDS
    assert second.record[-1][0] == ["m-a", "m-b", "m-c"]


async def test_filter_hook_cannot_add_back_config_excluded_models(
    datasette_llm_config, four_models, register_plugin
):
    class Greedy:
        @hookimpl
        def llm_filter_models(self, models):
            return list(four_models)  # tries to return every model

    register_plugin(Greedy())
    ds = await datasette_llm_config({"models": ["m-a"], "blocked_models": ["m-b"]})
    assert await listed(ds) == ["m-a"]


async def test_filter_hook_sees_only_config_allowed_models(
    datasette_llm_config, four_models, register_plugin
):
    plugin = SyncFilter(keep=set(IDS), returns_none=True)
    register_plugin(plugin)
    ds = await datasette_llm_config({"models": ["m-a", "m-c"]})
    assert await listed(ds) == ["m-a", "m-c"]
    assert plugin.record[-1][0] == ["m-a", "m-c"]


async def test_filter_hook_returning_none_keeps_everything(
    datasette_llm_config, four_models, register_plugin
):
    plugin = SyncFilter(keep=set(), returns_none=True)
    register_plugin(plugin)
    ds = await datasette_llm_config({})
    assert await listed(ds) == IDS


async def test_filter_hook_returning_garbage_is_a_clear_error(
    datasette_llm_config, four_models, register_plugin
):
    from datasette_llm import HookResultError

    class Bad:
        @hookimpl
        def llm_filter_models(self, models):
            return ["m-a"]

    register_plugin(Bad())
    ds = await datasette_llm_config({})
    with pytest.raises(HookResultError) as info:
        await LLM(ds).models()
    assert "llm_filter_models" in str(info.value)
    assert "'m-a'" in str(info.value)


async def test_new_style_wrapper_sees_and_may_narrow_the_composed_list(
    datasette_llm_config, four_models, register_plugin
):
    from datasette_llm import ModelNotAllowedError

    seen = []
    register_plugin(SyncFilter(keep={"m-a", "m-b", "m-c"}))

    class Wrapper:
        @hookimpl(wrapper=True)
        def llm_filter_models(self, models, actor):
            seen.append(("offered", [m.model_id for m in models if m.model_id in IDS]))
            kept = yield
            seen.append(("kept", [m.model_id for m in kept]))
            # a wrapper may narrow further (or try to add: ignored)
            return [m for m in kept if m.model_id != "m-c"] + [four_models[3]]

    register_plugin(Wrapper())
    ds = await datasette_llm_config({"models": IDS})
    assert await listed(ds) == ["m-a", "m-b"]
    assert seen == [("offered", IDS), ("kept", ["m-a", "m-b", "m-c"])]
    with pytest.raises(ModelNotAllowedError) as info:
        await LLM(ds).model("m-c")
    assert info.value.rule.startswith("hook:test-plugin-1")


async def test_old_style_hookwrapper_may_force_a_result(
    datasette_llm_config, four_models, register_plugin
):
    class OldStyle:
        @hookimpl(hookwrapper=True)
        def llm_filter_models(self, models):
            outcome = yield
            outcome.force_result([m for m in outcome.get_result() if m.model_id == "m-d"])

    register_plugin(OldStyle())
    ds = await datasette_llm_config({"models": IDS})
    assert await listed(ds) == ["m-d"]


async def test_a_wrapper_sees_a_filter_hooks_exception(
    datasette_llm_config, four_models, register_plugin
):
    seen = []

    class Failing:
        @hookimpl
        def llm_filter_models(self, models):
            raise LookupError("user table missing")

    class Wrapper:
        @hookimpl(wrapper=True)
        def llm_filter_models(self):
            try:
                return (yield)
            except LookupError as error:
                seen.append(str(error))
                raise

    register_plugin(Failing())
    register_plugin(Wrapper())
    ds = await datasette_llm_config({})
    with pytest.raises(LookupError, match="user table missing"):
        await LLM(ds).models()
    assert seen == ["user table missing"]
