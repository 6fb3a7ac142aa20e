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
