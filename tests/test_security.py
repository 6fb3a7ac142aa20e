"""Keys never leak; concurrent actors never get each other's key or hook context."""

import asyncio
import logging
from contextlib import asynccontextmanager

import pytest
from datasette import hookimpl

from datasette_llm import LLM, ModelNotAllowedError
from datasette_llm.testing import FakeModel, fake_models, fake_secrets

SECRET = "sk-VERY-SECRET-VALUE-1234"


async def test_keys_never_appear_in_reprs_errors_logs_or_pages(
    datasette_llm_config, register_plugin, caplog, capsys
):
    seen_texts = []

    class Auditor:
        @hookimpl
        def llm_prompt_context(self, model_id, prompt, actor):
            @asynccontextmanager
            async def wrapper(result):
                yield
                seen_texts.append(repr(result))

            return wrapper

        @hookimpl
        def llm_group_exit(self, group):
            seen_texts.append(repr(group))

    register_plugin(Auditor())
    keyed = FakeModel("keyed", needs_key="acme")
    other = FakeModel("other", needs_key="other")
    with fake_models(keyed, other), fake_secrets({"ACME_API_KEY": SECRET, "P_KEY": SECRET}):
        ds = await datasette_llm_config(
            {
                "default_model": {"model": "keyed", "key": "P_KEY"},
                "blocked_models": ["echo"],
                "purposes": {"p": {"models": [{"model": "keyed", "key": "P_KEY"}]}},
            }
        )
        llm = LLM(ds)
        with caplog.at_level(logging.DEBUG):
            model = await llm.model(purpose="p", actor={"id": "alice"})
            response = await model.prompt("hello")
            await response.text()
            assert keyed.keys == [SECRET]  # the key was really used
            seen_texts += [repr(llm), str(llm), repr(model), str(model), repr(response)]
            seen_texts.append(repr(model.conversation()))
            async with llm.group(purpose="p") as grouped:
                await (await grouped.prompt("x")).text()
            for bad in (
                lambda: llm.model("other"),
                lambda: llm.model("echo"),
                lambda: llm.model("nope"),
                lambda: llm.model("keyed", purpose="p", actor="not-a-dict"),
            ):
                with pytest.raises(Exception) as info:
                    await bad()
                seen_texts += [str(info.value), repr(info.value)]
            for path in ("/-/plugins.json", "/-/config.json", "/-/settings.json", "/-/secrets"):
                page = await ds.client.get(path)
                seen_texts.append(page.text)
    captured = capsys.readouterr()
    everything = "\n".join(seen_texts + [caplog.text, captured.out, captured.err])
    assert SECRET not in everything
    assert "ModelNotAllowedError" in everything or "not allowed" in everything


async def test_500_concurrent_prompts_over_50_actors_keep_their_own_keys_and_context(
    datasette_llm_config, register_plugin
):
    contexts = []

    class PerActorContext:
        @hookimpl
        def llm_prompt_context(self, prompt, actor):
            @asynccontextmanager
            async def wrapper(result):
                await asyncio.sleep(0)
                yield

                async def done(response):
                    contexts.append((actor["id"], prompt, await response.text()))

                await result.on_response_done(done)

            return wrapper

    register_plugin(PerActorContext())
    model_obj = FakeModel("keyed", needs_key="acme", chunks=[["a", "b", "c"]])
    with fake_models(model_obj), fake_secrets({"ACME_API_KEY": lambda actor_id: f"sk-{actor_id}"}):
        ds = await datasette_llm_config({"default_model": "keyed"})
        llm = LLM(ds)

        async def one(actor_number, prompt_number):
            actor = {"id": f"actor{actor_number}"}
            model = await llm.model(actor=actor)
            response = await model.prompt(f"{actor['id']} prompt {prompt_number}")
            chunks = [chunk async for chunk in response]
            return actor["id"], chunks

        results = await asyncio.gather(
            *(one(i % 50, i) for i in range(500))
        )
    assert len(results) == 500
    assert len(model_obj.prompts) == 500
    for prompt, key in zip(model_obj.prompts, model_obj.keys):
        actor_id = prompt.prompt.split()[0]
        assert key == f"sk-{actor_id}"
    assert len(contexts) == 500
    for actor_id, prompt, text in contexts:
        assert prompt.startswith(actor_id + " ")
    assert {actor for actor, _ in results} == {f"actor{i}" for i in range(50)}


# Nothing we hand out can be pointed at another model, or carry its key elsewhere


async def test_a_wrapped_conversation_cannot_be_pointed_at_another_model(
    datasette_llm_config, keyed_pair
):
    import llm

    allowed, blocked = keyed_pair
    ds = await datasette_llm_config({"blocked_models": ["blocked"]})
    conversation = (await LLM(ds).model("allowed")).conversation()
    other = llm.get_async_model("blocked").conversation()
    # The attribute cannot be assigned ...
    with pytest.raises(AttributeError):
        conversation.conversation = other
    # ... nor can llm's conversation be given another model behind our back
    conversation.conversation.model = llm.get_async_model("blocked")
    with pytest.raises(RuntimeError, match="a key is only ever given to the model"):
        await conversation.prompt("hi")
    with pytest.raises(RuntimeError, match="a key is only ever given to the model"):
        conversation.chain("hi")
    # ... nor can a WrappedConversation be built around a foreign conversation
    from datasette_llm import WrappedConversation

    with pytest.raises(TypeError, match="use wrapped_model.conversation()"):
        WrappedConversation(await LLM(ds).model("allowed"), other)
    assert blocked.prompts == [] and allowed.prompts == []


async def test_a_wrapped_model_cannot_be_re_targeted(datasette_llm_config, keyed_pair):
    import llm

    ds = await datasette_llm_config({})
    wrapped = await LLM(ds).model("allowed")
    for attribute in ("model", "model_id", "purpose", "actor", "group"):
        with pytest.raises(AttributeError):
            setattr(wrapped, attribute, llm.get_async_model("blocked"))
    with pytest.raises(AttributeError):
        wrapped.some_new_attribute = 1


async def test_copies_of_a_wrapped_model_are_the_same_model_and_pickles_are_refused(
    datasette_llm_config, keyed_pair
):
    import copy
    import pickle

    allowed, _ = keyed_pair
    ds = await datasette_llm_config({})
    wrapped = await LLM(ds).model("allowed")
    assert copy.copy(wrapped) is wrapped
    assert copy.deepcopy({"model": wrapped})["model"] is wrapped
    await (await copy.deepcopy(wrapped).prompt("hi")).text()
    assert allowed.keys == ["sk-alpha"]
    with pytest.raises(TypeError, match="cannot be pickled: it holds an API key"):
        pickle.dumps(wrapped)
    conversation = wrapped.conversation()
    for copier in (copy.copy, copy.deepcopy):
        with pytest.raises(TypeError, match="WrappedConversation cannot be copied"):
            copier(conversation)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(conversation)
    # Private names are not delegated to llm's model (no recursion on half-built copies)
    with pytest.raises(AttributeError):
        wrapped._not_there


@pytest.mark.parametrize("as_", ["id", "llm model", "wrapped"])
async def test_key_helpers_accept_a_model_id_and_agree(datasette_llm_config, keyed_pair, as_):
    import llm

    ds = await datasette_llm_config({})
    llm_ = LLM(ds)
    model = {
        "id": "allowed",
        "llm model": llm.get_async_model("allowed"),
        "wrapped": await llm_.model("allowed"),
    }[as_]
    assert await llm_.get_key_for_model(model) == "sk-alpha"
    assert await llm_.model_has_key(model) is True


async def test_key_helpers_refuse_what_is_not_a_model(datasette_llm_config, keyed_pair):
    from datasette_llm import ModelNotFoundError

    llm_ = LLM(await datasette_llm_config({}))
    with pytest.raises(ModelNotFoundError, match="Unknown model 'alowed'; did you mean 'allowed'"):
        await llm_.model_has_key("alowed")
    with pytest.raises(TypeError, match="expected a model ID, an llm model or a wrapped model"):
        await llm_.get_key_for_model(42)
