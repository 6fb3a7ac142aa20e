"""The "try it" box of /-/llm: a test prompt to a purpose's effective model, as the
signed-in admin, through every hook, streamed as server-sent events; failures are
messages, never a 500."""

import logging
from contextlib import asynccontextmanager

import pytest
from datasette import hookimpl

from datasette_llm import KeyUnavailableError
from datasette_llm import _assignments
from datasette_llm.testing import FakeModel
from llm_admin_support import events, form_post, started

STREAM = {"accept": "text/event-stream"}


async def try_it(ds, purpose, prompt, actor_id="root"):
    return await form_post(
        ds, "/-/llm/try", {"purpose": purpose or "", "prompt": prompt}, actor_id, headers=STREAM
    )


@pytest.mark.llm_models(FakeModel("m", responses=["Hello there"], chunks=[["Hello", " there"]]))
async def test_the_answer_streams_as_events(llm_models, hook_recorder):
    ds = await started({"purposes": {"p": {"model": "m"}}})
    response = await try_it(ds, "p", "Say hello")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert events(response.text) == [
        ("model", {"model": "m", "purpose": "p"}),
        ("chunk", {"text": "Hello"}),
        ("chunk", {"text": " there"}),
        ("done", {"input_tokens": 2, "output_tokens": 2}),
    ]
    assert llm_models["m"].prompt_texts == ["Say hello"]
    # As the admin, through the prompt hook: accounting plugins see it
    hook_recorder.assert_called(
        "llm_prompt_context", times=1, model_id="m", purpose="p", actor={"id": "root"}
    )


@pytest.mark.llm_models(FakeModel("m-a"), FakeModel("m-b", responses=["from b"]))
async def test_the_purposes_effective_model_answers(llm_models):
    ds = await started({"purposes": {"p": {"model": "m-a"}}})
    await _assignments.assign(ds, None, "p", "m-b", "root")
    assert events((await try_it(ds, "p", "hi")).text)[0] == (
        "model", {"model": "m-b", "purpose": "p"}
    )
    assert llm_models["m-a"].prompts == []


@pytest.mark.llm_models(FakeModel("m", responses=["no purpose"]))
async def test_without_a_purpose_the_default_model_answers():
    ds = await started({"default_model": "m"})
    sent = events((await try_it(ds, None, "hi")).text)
    assert sent[0] == ("model", {"model": "m", "purpose": None})
    assert ("chunk", {"text": "no purpose"}) in sent


class RateLimitError(Exception):
    status_code = 429


@pytest.mark.parametrize(
    "error,message",
    [
        (
            ConnectionError("Connection refused"),
            "m could not answer: the provider could not be reached. "
            "ConnectionError: Connection refused",
        ),
        (
            RateLimitError("Too many requests"),
            "m could not answer: the provider's rate limit was reached. "
            "RateLimitError (HTTP 429): Too many requests",
        ),
        (
            ValueError("Incorrect API key provided: sk-proj-****abcd. See the docs"),
            "m could not answer: the model raised an error. "
            "ValueError: Incorrect API key provided: [masked]. See the docs",
        ),
    ],
)
async def test_a_provider_failure_is_a_message(error, message, caplog):
    from datasette_llm.testing import fake_models

    with fake_models(FakeModel("m", error=error)):
        ds = await started({"default_model": "m"})
        with caplog.at_level(logging.WARNING, logger="datasette_llm"):
            response = await try_it(ds, None, "hi")
    assert response.status_code == 200
    assert events(response.text) == [
        ("model", {"model": "m", "purpose": None}),
        ("error", {"message": message}),
    ]
    assert "sk-" not in caplog.text
    assert "try it: m failed" in caplog.text


@pytest.mark.llm_models(FakeModel("m-keyed", needs_key="acme"))
async def test_no_key_for_the_model():
    ds = await started({"default_model": "m-keyed"})
    sent = events((await try_it(ds, None, "hi")).text)
    assert sent == [("error", {"message": (
        "No model for prompts without a purpose: No usable default model: 'm-keyed' from "
        "plugins.datasette-llm.default_model is refused by plugins.datasette-llm.require_keys: "
        "no API key is configured for it (set the datasette-secrets secret ACME_API_KEY, or "
        "a key in the config)"
    )})]


@pytest.mark.llm_models(FakeModel("m-keyed", needs_key="acme"))
async def test_no_key_when_keys_are_not_required():
    ds = await started({"default_model": "m-keyed", "require_keys": False})
    sent = events((await try_it(ds, None, "hi")).text)
    assert sent[0] == ("model", {"model": "m-keyed", "purpose": None})
    name, data = sent[1]
    assert name == "error"
    assert data["message"].startswith(
        "m-keyed could not answer: no API key is available for it. NeedsKeyException"
    )


@pytest.mark.llm_models(FakeModel("m-keyed", needs_key="acme"))
async def test_a_key_that_cannot_be_read(monkeypatch):
    from datasette_llm import _keys

    async def locked(self, sources, listing=False):
        raise KeyUnavailableError(["ACME_API_KEY"], "database is locked")

    ds = await started({"default_model": "m-keyed", "require_keys": False})
    monkeypatch.setattr(_keys.KeyResolver, "key_for", locked)
    sent = events((await try_it(ds, None, "hi")).text)
    assert sent == [("error", {"message": (
        "No model for prompts without a purpose: datasette-secrets secret 'ACME_API_KEY' "
        "could not be read (database is locked); refusing to fall back to another key"
    )})]


@pytest.mark.llm_models(FakeModel("m"))
async def test_no_model_for_the_purpose():
    ds = await started({})
    sent = events((await try_it(ds, "p", "hi")).text)
    assert sent == [("error", {"message": (
        "No model for purpose 'p': No model_id given and no default model configured for "
        "purpose 'p': pass a model ID, or set plugins.datasette-llm.default_model or "
        "plugins.datasette-llm.purposes.p.model"
    )})]


@pytest.mark.llm_models(FakeModel("m"))
async def test_a_hook_that_denies_the_prompt(register_plugin, llm_models):
    class Budget:
        @hookimpl
        def llm_prompt_context(self, actor):
            @asynccontextmanager
            async def wrapper(result):
                raise PermissionError(f"Budget exhausted for {actor['id']}")
                yield

            return wrapper

    register_plugin(Budget(), "budget")
    ds = await started({"default_model": "m"})
    sent = events((await try_it(ds, None, "hi")).text)
    assert sent == [
        ("model", {"model": "m", "purpose": None}),
        ("error", {"message": (
            "The prompt to m was stopped before it was sent (an llm_prompt_context hook "
            "raised): PermissionError: Budget exhausted for root"
        )}),
    ]
    assert llm_models["m"].prompts == []


@pytest.mark.llm_models(FakeModel("m"))
async def test_an_empty_prompt_is_not_sent(llm_models):
    ds = await started({"default_model": "m"})
    assert events((await try_it(ds, None, "  ")).text) == [
        ("error", {"message": "Type a prompt to send first."})
    ]
    assert llm_models["m"].prompts == []


@pytest.mark.llm_models(FakeModel("m", responses=["The whole answer"]))
async def test_without_javascript_the_page_shows_the_whole_answer():
    ds = await started({"purposes": {"p": {"model": "m"}}})
    response = await form_post(ds, "/-/llm/try", {"purpose": "p", "prompt": "hi"}, "root")
    assert response.status_code == 200
    section = response.text[response.text.index('id="purpose-p"'):]
    section = section[:section.index("</section>")]
    assert '<strong class="llm-answer-model">m</strong>' in section
    assert '<pre class="llm-answer-text">The whole answer</pre>' in section
    assert 'placeholder="A test prompt, sent as you (root)"\n        value="hi"' in section


@pytest.mark.llm_models(FakeModel("m", error=ConnectionError("down")))
async def test_without_javascript_a_failure_is_a_message():
    ds = await started({"purposes": {"p": {"model": "m"}}})
    response = await form_post(ds, "/-/llm/try", {"purpose": "p", "prompt": "hi"}, "root")
    assert response.status_code == 400
    assert "m could not answer: the provider could not be reached. ConnectionError: down" in (
        response.text
    )


@pytest.mark.parametrize(
    "text,shown",
    [
        (
            "Incorrect API key provided: sk-abc123. Try again",
            "Incorrect API key provided: [masked]. Try again",
        ),
        ("Bad token_Zm9vYmFyYmF6 here", "Bad [masked] here"),
        ("x 0123456789abcdefghijABCDEFGH y", "x [masked] y"),
        ("Connection refused (api.example.com:443)", "Connection refused (api.example.com:443)"),
    ],
)
def test_key_shaped_text_is_masked(text, shown):
    from datasette_llm.admin._try import masked

    assert masked(text) == shown
