"""model() and group(): default resolution, unknown models, and policy enforcement."""

import logging

import pytest
from datasette import hookimpl

from datasette_llm import LLM, ModelNotAllowedError, ModelNotFoundError, WrappedAsyncModel
from datasette_llm.testing import FakeModel, fake_models, fake_secrets


@pytest.fixture
def models():
    with fake_models(*[FakeModel(i) for i in ("m-a", "m-b", "m-c")]) as registered:
        yield registered


class DefaultHook:
    def __init__(self, answer, is_async=False):
        self.answer = answer
        self.calls = []

    @hookimpl
    def llm_default_model(self, datasette, purpose, actor):
        self.calls.append((purpose, actor))
        return self.answer


class AsyncDefaultHook(DefaultHook):
    @hookimpl
    async def llm_default_model(self, purpose, actor):
        self.calls.append((purpose, actor))
        return self.answer


async def test_explicit_model_id(datasette_llm_config, models):
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("m-b")
    assert isinstance(model, WrappedAsyncModel)
    assert model.model_id == "m-b"
    assert model.purpose is None


async def test_global_default_model(datasette_llm_config, models):
    ds = await datasette_llm_config({"default_model": "m-a"})
    assert (await LLM(ds).model()).model_id == "m-a"


async def test_purpose_model_beats_global_default(datasette_llm_config, models):
    ds = await datasette_llm_config(
        {"default_model": "m-a", "purposes": {"enrichments": {"model": "m-c"}}}
    )
    model = await LLM(ds).model(purpose="enrichments")
    assert model.model_id == "m-c"
    assert model.purpose == "enrichments"
    # a purpose without its own model falls back to the global default
    assert (await LLM(ds).model(purpose="other")).model_id == "m-a"


async def test_dict_model_refs_as_defaults(datasette_llm_config, models):
    ds = await datasette_llm_config(
        {
            "default_model": {"model": "m-a", "key": "K1"},
            "purposes": {"q": {"model": {"model": "m-b", "key": "K2"}}},
        }
    )
    assert (await LLM(ds).model()).model_id == "m-a"
    assert (await LLM(ds).model(purpose="q")).model_id == "m-b"


async def test_default_model_hook_beats_config(datasette_llm_config, models, register_plugin):
    hook = register_plugin(AsyncDefaultHook("m-b"))
    ds = await datasette_llm_config({"default_model": "m-a", "purposes": {"p": {"model": "m-c"}}})
    model = await LLM(ds).model(purpose="p", actor={"id": "u"})
    assert model.model_id == "m-b"
    assert hook.calls == [("p", {"id": "u"})]


async def test_default_model_hook_returning_none_defers_to_config(
    datasette_llm_config, models, register_plugin
):
    register_plugin(DefaultHook(None))
    ds = await datasette_llm_config({"default_model": "m-a"})
    assert (await LLM(ds).model()).model_id == "m-a"


async def test_default_model_hook_not_called_with_explicit_model(
    datasette_llm_config, models, register_plugin
):
    hook = register_plugin(DefaultHook("m-b"))
    ds = await datasette_llm_config({})
    assert (await LLM(ds).model("m-c")).model_id == "m-c"
    assert hook.calls == []


async def test_no_default_configured(datasette_llm_config, models):
    ds = await datasette_llm_config({})
    with pytest.raises(ModelNotFoundError) as info:
        await LLM(ds).model(purpose="enrichments")
    message = str(info.value)
    assert "no default model configured" in message
    assert "purposes.enrichments.model" in message


async def test_unknown_model_names_the_id_and_close_matches(datasette_llm_config, models):
    ds = await datasette_llm_config({})
    with pytest.raises(ModelNotFoundError) as info:
        await LLM(ds).model("m-aa")
    assert not isinstance(info.value, ModelNotAllowedError)
    assert "'m-aa'" in str(info.value)
    assert "did you mean" in str(info.value) and "'m-a'" in str(info.value)


async def test_unknown_configured_default(datasette_llm_config, models):
    ds = await datasette_llm_config({"default_model": "not-installed"})
    with pytest.raises(ModelNotFoundError) as info:
        await LLM(ds).model()
    assert "'not-installed'" in str(info.value)
    assert "plugins.datasette-llm.default_model" in str(info.value)


# Enforcement: model() hands out only what models() lists


async def test_globally_blocked_model_is_refused(datasette_llm_config, models):
    ds = await datasette_llm_config({"blocked_models": ["m-b"]})
    with pytest.raises(ModelNotAllowedError) as info:
        await LLM(ds).model("m-b")
    assert info.value.model_id == "m-b"
    assert info.value.rule == "plugins.datasette-llm.blocked_models"
    assert "global blocklist" in str(info.value)
    assert isinstance(info.value, ModelNotFoundError)


async def test_model_outside_allowlist_is_refused(datasette_llm_config, models):
    ds = await datasette_llm_config({"models": ["m-a"]})
    with pytest.raises(ModelNotAllowedError) as info:
        await LLM(ds).model("m-b")
    assert info.value.rule == "plugins.datasette-llm.models"


async def test_purpose_allowlist_enforced_and_overrides_global(datasette_llm_config, models):
    ds = await datasette_llm_config(
        {"models": ["m-a"], "purposes": {"sql": {"models": ["m-b"]}}}
    )
    assert (await LLM(ds).model("m-b", purpose="sql")).model_id == "m-b"
    with pytest.raises(ModelNotAllowedError) as info:
        await LLM(ds).model("m-a", purpose="sql")
    assert info.value.rule == "plugins.datasette-llm.purposes.sql.models"
    assert "purpose 'sql'" in str(info.value)


async def test_purpose_blocklist_enforced(datasette_llm_config, models):
    ds = await datasette_llm_config({"purposes": {"extract": {"blocked_models": ["m-c"]}}})
    with pytest.raises(ModelNotAllowedError) as info:
        await LLM(ds).model("m-c", purpose="extract")
    assert info.value.rule == "plugins.datasette-llm.purposes.extract.blocked_models"
    assert (await LLM(ds).model("m-c")).model_id == "m-c"


async def test_filter_hook_enforced_on_model(datasette_llm_config, models, register_plugin):
    class AnonymousGetsOneModel:
        @hookimpl
        def llm_filter_models(self, models, actor):
            if actor is None:
                return [m for m in models if m.model_id == "m-a"]

    register_plugin(AnonymousGetsOneModel())
    ds = await datasette_llm_config({})
    assert (await LLM(ds).model("m-a")).model_id == "m-a"
    with pytest.raises(ModelNotAllowedError) as info:
        await LLM(ds).model("m-b")
    assert info.value.rule.startswith("hook:")
    assert "llm_filter_models" in str(info.value)
    assert (await LLM(ds).model("m-b", actor={"id": "alice"})).model_id == "m-b"
    with pytest.raises(ModelNotAllowedError):
        async with LLM(ds).group("m-b"):
            pass


async def test_model_needing_missing_key_is_refused(datasette_llm_config):
    with fake_models(FakeModel("keyed", needs_key="acme")):
        ds = await datasette_llm_config({})
        with pytest.raises(ModelNotAllowedError) as info:
            await LLM(ds).model("keyed")
        assert info.value.rule == "plugins.datasette-llm.require_keys"
        assert "ACME_API_KEY" in str(info.value)
        with fake_secrets({"ACME_API_KEY": "sk-1"}):
            assert (await LLM(ds).model("keyed")).model_id == "keyed"


async def test_require_keys_false_hands_out_keyless_model(datasette_llm_config):
    with fake_models(FakeModel("keyed", needs_key="acme")):
        ds = await datasette_llm_config({"require_keys": False})
        assert (await LLM(ds).model("keyed")).model_id == "keyed"


async def test_hook_default_that_policy_refuses_falls_through(
    datasette_llm_config, models, register_plugin, caplog
):
    register_plugin(DefaultHook("m-b"))
    ds = await datasette_llm_config({"default_model": "m-a", "blocked_models": ["m-b"]})
    with caplog.at_level(logging.WARNING, logger="datasette_llm"):
        model = await LLM(ds).model()
    assert model.model_id == "m-a"
    assert "'m-b'" in caplog.text and "blocked_models" in caplog.text


async def test_every_default_refused_raises_not_allowed(datasette_llm_config, models):
    ds = await datasette_llm_config({"default_model": "m-a", "blocked_models": ["m-a"]})
    with pytest.raises(ModelNotAllowedError) as info:
        await LLM(ds).model()
    assert "'m-a'" in str(info.value) and "global blocklist" in str(info.value)


async def test_default_hook_returning_non_string_is_an_error(
    datasette_llm_config, models, register_plugin
):
    from datasette_llm import HookResultError

    register_plugin(DefaultHook(42))
    ds = await datasette_llm_config({"default_model": "m-a"})
    with pytest.raises(HookResultError) as info:
        await LLM(ds).model()
    assert "llm_default_model" in str(info.value) and "int" in str(info.value)


async def test_group_yields_wrapped_model_with_default(datasette_llm_config, models):
    ds = await datasette_llm_config({"purposes": {"enrichments": {"model": "m-c"}}})
    async with LLM(ds).group(purpose="enrichments", actor={"id": "a"}) as model:
        assert model.model_id == "m-c"
        assert model.group.model_id == "m-c"
        assert model.group.purpose == "enrichments"
        assert model.group.actor == {"id": "a"}


async def test_bad_argument_types(datasette_llm_config, models):
    ds = await datasette_llm_config({})
    with pytest.raises(TypeError, match="actor must be"):
        await LLM(ds).model("m-a", actor="alice")
    with pytest.raises(TypeError, match="purpose must be"):
        await LLM(ds).models(purpose=["p"])
    with pytest.raises(TypeError, match="model_id must be"):
        await LLM(ds).model(123)


async def test_llm_model_is_a_method_of_the_class():
    # downstream tests patch it there
    assert "model" in vars(LLM)


async def test_checking_a_named_model_looks_up_only_its_own_key(
    datasette_llm_config, without_filter_hooks
):
    fakes = [FakeModel(f"model-{i}", needs_key=f"prov{i % 10}") for i in range(40)]
    secrets = {f"PROV{i}_API_KEY": f"sk-{i}" for i in range(10)}
    with fake_models(*fakes), fake_secrets(secrets) as faked:
        ds = await datasette_llm_config({})
        model = await LLM(ds).model("model-13")
    assert model.model_id == "model-13"
    assert [name for name, _ in faked.lookups] == ["PROV3_API_KEY"]


async def test_with_a_filter_hook_a_named_model_is_checked_against_the_whole_listing(
    datasette_llm_config, register_plugin
):
    """A hook may decide on the list as a whole (here: only the first model), so the
    model asked for is checked against what models() lists, not on its own."""
    fakes = [FakeModel(f"model-{i}", needs_key=f"prov{i % 10}") for i in range(40)]
    secrets = {f"PROV{i}_API_KEY": f"sk-{i}" for i in range(10)}
    filter_calls = []

    class OnlyTheFirst:
        @hookimpl
        def llm_filter_models(self, models):
            filter_calls.append([m.model_id for m in models])
            return models[:1]

    register_plugin(OnlyTheFirst())
    with fake_models(*fakes), fake_secrets(secrets) as faked:
        ds = await datasette_llm_config({"models": [f.model_id for f in fakes]})
        llm_ = LLM(ds)
        listed = [m.model_id for m in await llm_.models()]
        assert listed == ["model-0"]
        assert (await llm_.model("model-0")).model_id == "model-0"
        before = len(faked.lookups)
        with pytest.raises(ModelNotAllowedError) as info:
            await llm_.model("model-13")
    assert info.value.rule.startswith("hook:")
    assert filter_calls == [[f.model_id for f in fakes]] * 3
    # The named model's own key is read first, as a prompt uses it
    assert faked.lookups[before] == ("PROV3_API_KEY", None)
    assert sorted({name for name, _ in faked.lookups}) == sorted(secrets)


async def test_names_resolve_exactly_as_llm_resolves_them(datasette_llm_config):
    """The later registration wins for an alias, even over an earlier model's ID."""
    import llm
    from llm.plugins import pm as llm_pm

    first, second, third = FakeModel("first"), FakeModel("second"), FakeModel("third")

    class Aliases:
        __name__ = "test-later-aliases"

        @llm.hookimpl(trylast=True)
        def register_models(self, register):
            register(second.sync, second, aliases=("nick",))
            register(third.sync, third, aliases=("nick", "first"))

    with fake_models(first):
        llm_pm.register(Aliases(), name="test-later-aliases")
        try:
            ds = await datasette_llm_config({})
            for name in ("first", "second", "third", "nick"):
                expected = llm.get_async_model(name).model_id
                assert (await LLM(ds).model(name)).model_id == expected, name
        finally:
            llm_pm.unregister(name="test-later-aliases")
    assert expected == "third"


@pytest.mark.parametrize("catch", ["llm.UnknownModelError", "KeyError", "ModelNotFoundError"])
async def test_an_unknown_model_is_caught_as_llm_code_expects(datasette_llm_config, models, catch):
    import llm

    caught = {"llm.UnknownModelError": llm.UnknownModelError, "KeyError": KeyError,
              "ModelNotFoundError": ModelNotFoundError}[catch]
    ds = await datasette_llm_config({})
    with pytest.raises(caught) as info:
        await LLM(ds).model("gpt-nonexistent")
    assert str(info.value).startswith("Unknown model 'gpt-nonexistent'")  # not quoted
    with pytest.raises(caught):
        async with LLM(ds).group("gpt-nonexistent"):
            pass
    ds_blocked = await datasette_llm_config({"blocked_models": ["m-a"]})
    with pytest.raises(caught):  # a refusal is a ModelNotFoundError too
        await LLM(ds_blocked).model("m-a")
