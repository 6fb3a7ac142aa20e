"""Attacks on the core, as an attacker and as a careless plugin author would write them:
each test is a way around a guarantee of the README's Security model that once worked."""

import llm
import pytest
from datasette import hookimpl
from datasette.plugins import pm

from datasette_llm import LLM, HookResultError, ModelNotAllowedError
from datasette_llm.testing import FakeModel, fake_models


# Policy: a model ID and an alias are one name


async def test_blocking_a_name_blocks_the_model_with_that_id_when_another_model_has_it_as_alias(
    datasette_llm_config,
):
    """``llm aliases set real-model router/real-model`` (routing a model through another
    provider) makes ``real-model`` resolve to the router's model. Blocking ``real-model``
    must still block the model whose ID it is, under any of its names."""
    real = FakeModel("real-model")
    router = FakeModel("router/real-model")

    class Aliased:
        __name__ = "test-aliased-real-model"

        @llm.hookimpl(tryfirst=True)  # before the router: its alias wins, as in llm
        def register_models(self, register):
            register(real.sync, real, aliases=("rm",))

    from llm.plugins import pm as llm_pm

    with fake_models(router):
        llm_pm.register(Aliased(), name="test-aliased-real-model")
        try:
            llm.set_alias("real-model", "router/real-model")
            assert llm.get_async_model("real-model") is router
            for config in (
                {"blocked_models": ["real-model"]},
                {"purposes": {"p": {"blocked_models": ["real-model"]}}},
            ):
                ds = await datasette_llm_config(config)
                listed = [m.model_id for m in await LLM(ds).models(purpose="p")]
                assert "real-model" not in listed and "router/real-model" not in listed
                for name in ("rm", "real-model", "router/real-model"):
                    with pytest.raises(ModelNotAllowedError):
                        await LLM(ds).model(name, purpose="p")
        finally:
            llm_pm.unregister(name="test-aliased-real-model")
    assert real.prompts == [] and router.prompts == []


# Hooks called the way pluggy users expect: a wrapper gets what the hook answered


async def test_a_wrapper_of_llm_default_model_sees_and_replaces_the_model_ids_answered(
    datasette_llm_config, register_plugin
):
    """As documented, a wrapper receives the implementations' answers (model ID strings)
    and may replace them: removing one, or answering another."""
    seen = []

    class Preference:
        @hookimpl
        def llm_default_model(self):
            return "m-a"

    class NoMA:
        @hookimpl(wrapper=True)
        def llm_default_model(self, actor):
            answers = yield
            seen.append(answers)
            if actor and actor["id"] == "carol":
                return ["m-c"] + answers
            return [answer for answer in answers if answer != "m-a"]

    register_plugin(Preference())
    wrapper_name = pm.get_name(register_plugin(NoMA()))
    with fake_models(FakeModel("m-a"), FakeModel("m-b"), FakeModel("m-c")):
        ds = await datasette_llm_config({"default_model": "m-b"})
        assert (await LLM(ds).model()).model_id == "m-b"
        assert (await LLM(ds).model(actor={"id": "carol"})).model_id == "m-c"
        explanation = await LLM(ds)._explain(actor={"id": "carol"})
    assert seen == [["m-a"], ["m-a"], ["m-a"]]
    assert explanation.default_source == f"the llm_default_model hook of {wrapper_name}"


@pytest.mark.parametrize("returned", [None, "m-a", [3]])
async def test_a_wrapper_of_llm_default_model_answering_garbage_is_a_clear_error(
    datasette_llm_config, register_plugin, returned
):
    class Bad:
        @hookimpl(wrapper=True)
        def llm_default_model(self):
            yield
            return returned

    register_plugin(Bad())
    with fake_models(FakeModel("m-a")):
        ds = await datasette_llm_config({"default_model": "m-a"})
        with pytest.raises(HookResultError, match="llm_default_model.*model ID strings"):
            await LLM(ds).model()
