"""Wrapped models: prompts, streaming, keyword pass-through, options, hooks, chains,
conversations."""

from contextlib import asynccontextmanager

import llm
import pytest
from datasette import hookimpl

from datasette_llm import LLM, HookResultError, PromptResult
from datasette_llm.testing import FakeModel, fake_models


class ContextRecorder:
    """An llm_prompt_context plugin that logs what happens, in order."""

    def __init__(self, name="ctx", log=None, fail_on_enter=None, after_yield=None):
        self.name = name
        self.log = log if log is not None else []
        self.fail_on_enter = fail_on_enter
        self.after_yield = after_yield
        self.results = []
        self.calls = []

    @hookimpl
    def llm_prompt_context(self, datasette, model_id, prompt, purpose, actor):
        self.calls.append({"model_id": model_id, "prompt": prompt, "purpose": purpose, "actor": actor})

        @asynccontextmanager
        async def wrapper(result):
            self.results.append(result)
            self.log.append(f"{self.name}:enter")
            if self.fail_on_enter:
                raise self.fail_on_enter
            try:
                yield
            except BaseException as exc:
                self.log.append(f"{self.name}:exit-with-{type(exc).__name__}")
                raise
            self.log.append(f"{self.name}:exit")
            if self.after_yield:
                await self.after_yield(result)

        return wrapper


@pytest.fixture
def fake():
    with fake_models(FakeModel("fake", chunks=[["one ", "two ", "three"]], usage=(3, 5))) as model:
        yield model


async def test_prompt_returns_llm_async_response(datasette_llm_config):
    ds = await datasette_llm_config({"default_model": "echo"})
    model = await LLM(ds).model()
    response = await model.prompt("What is the capital of France?")
    assert isinstance(response, llm.AsyncResponse)
    text = await response.text()
    assert '"prompt": "What is the capital of France?"' in text
    usage = await response.usage()
    assert usage.input is not None or usage.output is not None or usage is not None


async def test_prompt_is_lazy_and_streams_chunk_by_chunk(datasette_llm_config, fake):
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("fake")
    response = await model.prompt("go")
    # prompt() returned before anything was generated
    assert fake.prompts == []
    seen = []
    async for chunk in response:
        seen.append((chunk, len(fake.prompts), response._done))
    assert [chunk for chunk, _, _ in seen] == ["one ", "two ", "three"]
    assert all(not done for _, _, done in seen)
    assert (await response.usage()).output == 5


async def test_keyword_arguments_pass_through_to_llm(datasette_llm_config, fake):
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("fake")
    await (await model.prompt("q", system="be brief", temperature=0.5, stream=False)).text()
    prompt = fake.prompts[-1]
    assert prompt.prompt == "q"
    assert prompt.system == "be brief"
    assert prompt.options.temperature == 0.5


async def test_schema_and_attachments_pass_through(datasette_llm_config):
    ds = await datasette_llm_config({"default_model": "echo"})
    model = await LLM(ds).model()
    attachment = llm.Attachment(type="image/png", content=b"\x89PNG fake")
    response = await model.prompt("describe", attachments=[attachment], system="sys")
    text = await response.text()
    assert '"type": "image/png"' in text and '"system": "sys"' in text
    with fake_models(FakeModel("schema-model")) as schema_model:
        model = await LLM(ds).model("schema-model")
        await (await model.prompt("x", schema={"type": "object"})).text()
        assert schema_model.prompts[-1].schema == {"type": "object"}


async def test_wrapped_model_exposes_llm_model_attributes(datasette_llm_config, fake):
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("fake", purpose="p")
    assert model.supports_schema is True
    assert model.model is fake
    assert model.purpose == "p"
    assert "fake" in repr(model)


async def test_config_options_are_defaults_and_caller_wins(datasette_llm_config, fake):
    ds = await datasette_llm_config(
        {
            "default_model": {"model": "fake", "options": {"temperature": 0.2, "max_tokens": 10}},
            "purposes": {"p": {"models": [{"model": "fake", "options": {"temperature": 0.9}}]}},
        }
    )
    model = await LLM(ds).model()
    await (await model.prompt("a")).text()
    assert fake.prompts[-1].options.temperature == 0.2
    assert fake.prompts[-1].options.max_tokens == 10
    await (await model.prompt("b", temperature=0.7)).text()
    assert fake.prompts[-1].options.temperature == 0.7
    assert fake.prompts[-1].options.max_tokens == 10
    # the purpose's entry gives that purpose's defaults
    purpose_model = await LLM(ds).model("fake", purpose="p")
    await (await purpose_model.prompt("c")).text()
    assert fake.prompts[-1].options.temperature == 0.9
    # group(), conversation() and chain() apply them too
    async with LLM(ds).group(purpose="p", model_id="fake") as grouped:
        await (await grouped.prompt("d")).text()
        assert fake.prompts[-1].options.temperature == 0.9
    conversation = model.conversation()
    await (await conversation.prompt("e")).text()
    assert fake.prompts[-1].options.temperature == 0.2
    await model.chain("f").text()
    assert fake.prompts[-1].options.temperature == 0.2
    await model.chain("g", options={"temperature": 0.4}).text()
    assert fake.prompts[-1].options.temperature == 0.4


# llm_prompt_context


async def test_prompt_context_wraps_each_prompt(datasette_llm_config, fake, register_plugin):
    done = []

    async def after(result):
        async def on_complete(response):
            usage = await response.usage()
            done.append((usage.input, usage.output))

        await result.on_response_done(on_complete)

    ctx = register_plugin(ContextRecorder(after_yield=after))
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("fake", purpose="audit", actor={"id": "alice"})
    response = await model.prompt("hello there")
    assert ctx.log == ["ctx:enter", "ctx:exit"]
    assert ctx.calls == [
        {"model_id": "fake", "prompt": "hello there", "purpose": "audit", "actor": {"id": "alice"}}
    ]
    result = ctx.results[0]
    assert isinstance(result, PromptResult)
    assert result.response is response
    assert result.responses == [response]
    assert result.purpose == "audit"
    assert result.group is None
    assert result.is_chain is False
    # the completion callback runs when the response completes, not before
    assert done == []
    await response.text()
    assert done == [(3, 5)]


async def test_hook_may_take_any_subset_of_arguments(datasette_llm_config, fake, register_plugin):
    seen = []

    class Minimal:
        @hookimpl
        def llm_prompt_context(self, model_id):
            seen.append(model_id)

    register_plugin(Minimal())
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("fake")
    await (await model.prompt("x")).text()
    assert seen == ["fake"]


async def test_exception_entering_a_wrapper_denies_the_prompt(
    datasette_llm_config, fake, register_plugin
):
    class BudgetExceeded(Exception):
        pass

    log = []
    # the later-registered plugin is entered first
    register_plugin(ContextRecorder("inner", log, fail_on_enter=BudgetExceeded("no budget")))
    register_plugin(ContextRecorder("outer", log))
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("fake")
    with pytest.raises(BudgetExceeded, match="no budget"):
        await model.prompt("x")
    assert fake.prompts == []
    assert log == ["outer:enter", "inner:enter", "outer:exit-with-BudgetExceeded"]


async def test_hook_returning_non_callable_is_a_clear_error(
    datasette_llm_config, fake, register_plugin
):
    class Bad:
        @hookimpl
        def llm_prompt_context(self):
            return "not a wrapper"

    register_plugin(Bad())
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("fake")
    with pytest.raises(HookResultError) as info:
        await model.prompt("x")
    assert "llm_prompt_context" in str(info.value) and "str" in str(info.value)


async def test_wrapper_not_returning_context_manager_is_a_clear_error(
    datasette_llm_config, fake, register_plugin
):
    class Bad:
        @hookimpl
        def llm_prompt_context(self):
            def wrapper(result):
                return None

            return wrapper

    register_plugin(Bad())
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("fake")
    with pytest.raises(HookResultError, match="asynccontextmanager"):
        await model.prompt("x")


async def test_on_response_done_attaches_to_existing_responses(
    datasette_llm_config, fake, register_plugin
):
    done = []

    async def after(result):
        await result.response.text()  # complete it first
        await result.on_response_done(lambda response: done.append(response))

    register_plugin(ContextRecorder(after_yield=after))
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("fake")
    response = await model.prompt("x")
    assert done == [response]


# chains


def lookup(city: str) -> str:
    "Look up a city's population"
    return f"{city}: 1000"


class Pause(getattr(llm, "PauseChain", Exception)):
    pass


@pytest.fixture
def tool_model():
    model = FakeModel(
        "tooly",
        responses=[
            {"text": "calling", "tool_calls": [{"name": "lookup", "arguments": {"city": "Paris"}}]},
            "Paris has 1000 people",
        ],
    )
    with fake_models(model):
        yield model


async def test_chain_goes_through_hooks_for_every_response(
    datasette_llm_config, tool_model, register_plugin
):
    states = []

    async def after(result):
        states.append((len(result.responses), result.chain_complete))

    ctx = register_plugin(ContextRecorder(after_yield=after))
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("tooly", purpose="agent")
    chain = model.chain("population of Paris?", tools=[lookup])
    assert isinstance(chain, llm.models.AsyncChainResponse)
    assert ctx.log == []  # nothing entered until the chain is iterated
    responses = []
    async for response in chain.responses():
        responses.append(response)
        assert ctx.log == ["ctx:enter"]  # context stays open while the chain runs
        await response.text()
    assert ctx.log == ["ctx:enter", "ctx:exit"]
    result = ctx.results[0]
    assert result.is_chain is True
    assert result.responses == responses and len(responses) == 2
    assert result.response is responses[0]
    assert states == [(2, True)]
    assert tool_model.prompts[1].tool_results[0].output == "Paris: 1000"


async def test_chain_text_and_iteration(datasette_llm_config, tool_model):
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("tooly")
    text = await model.chain("q", tools=[lookup]).text()
    assert "Paris has 1000 people" in text
    chunks = [c async for c in model.chain("q", tools=[lookup])]
    assert "Paris has 1000 people" in "".join(chunks)


async def test_chain_on_response_done_sees_every_response(
    datasette_llm_config, tool_model, register_plugin
):
    done = []

    class Tracker:
        @hookimpl
        def llm_prompt_context(self):
            @asynccontextmanager
            async def wrapper(result):
                await result.on_response_done(lambda r: done.append(r))
                yield

            return wrapper

    register_plugin(Tracker())
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("tooly")
    await model.chain("q", tools=[lookup]).text()
    assert len(done) == 2


@pytest.mark.skipif(not hasattr(llm, "PauseChain"), reason="llm.PauseChain is newer than this llm")
async def test_tool_exception_propagates_out_of_chain(
    datasette_llm_config, tool_model, register_plugin
):
    def lookup(city: str) -> str:
        "Look up"
        raise Pause("waiting for approval")

    ctx = register_plugin(ContextRecorder())
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("tooly")
    with pytest.raises(Pause):
        await model.chain("q", tools=[lookup]).text()
    assert ctx.log == ["ctx:enter", "ctx:exit-with-Pause"]


async def test_chain_denied_on_enter(datasette_llm_config, tool_model, register_plugin):
    register_plugin(ContextRecorder(fail_on_enter=PermissionError("denied")))
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("tooly")
    chain = model.chain("q", tools=[lookup])
    with pytest.raises(PermissionError, match="denied"):
        await chain.text()
    assert tool_model.prompts == []


# conversations


async def test_conversation_prompts_go_through_hooks(datasette_llm_config, fake, register_plugin):
    ctx = register_plugin(ContextRecorder())
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("fake", purpose="chat", actor={"id": "u"})
    conversation = model.conversation()
    r1 = await conversation.prompt("first")
    await r1.text()
    r2 = await conversation.prompt("second")
    await r2.text()
    assert [c["prompt"] for c in ctx.calls] == ["first", "second"]
    assert all(c["purpose"] == "chat" and c["actor"] == {"id": "u"} for c in ctx.calls)
    assert len(conversation.responses) == 2
    assert fake.prompts[-1].prompt == "second"


async def test_conversation_chain_goes_through_hooks(
    datasette_llm_config, tool_model, register_plugin
):
    ctx = register_plugin(ContextRecorder())
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("tooly")
    conversation = model.conversation(tools=[lookup])
    await conversation.chain("q").text()
    assert ctx.results[0].is_chain and len(ctx.results[0].responses) == 2


# Wrappers see exceptions but cannot swallow them


class Swallower:
    """An audit wrapper written carelessly: it logs any exception and carries on."""

    def __init__(self):
        self.logged = []

    @hookimpl(tryfirst=True)  # outermost
    def llm_prompt_context(self):
        @asynccontextmanager
        async def wrapper(result):
            try:
                yield
            except Exception as error:
                self.logged.append(repr(error))

        return wrapper


class BudgetExceeded(Exception):
    pass


async def test_an_outer_wrapper_cannot_swallow_a_denial(datasette_llm_config, fake, register_plugin):
    swallower = register_plugin(Swallower())
    register_plugin(ContextRecorder("budget", fail_on_enter=BudgetExceeded("over budget")))
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("fake")
    with pytest.raises(BudgetExceeded, match="over budget"):
        await model.prompt("hi")
    assert swallower.logged == ["BudgetExceeded('over budget')"]
    assert fake.prompts == []  # nothing was sent


async def test_an_outer_wrapper_cannot_swallow_a_failing_chain(
    datasette_llm_config, tool_model, register_plugin
):
    register_plugin(Swallower())
    tool_model.error = RuntimeError("provider down")
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("tooly")
    with pytest.raises(RuntimeError, match="provider down"):
        await model.chain("q", tools=[lookup]).text()
    tool_model.error = None
    await model.chain("q", tools=[lookup]).text()  # the fixture's script is used up


async def test_a_failing_on_response_done_callback_is_logged_and_the_text_delivered(
    datasette_llm_config, fake, register_plugin, caplog
):
    class Accounting:
        @hookimpl
        def llm_prompt_context(self):
            @asynccontextmanager
            async def wrapper(result):
                yield

                async def record(response):
                    raise ConnectionError("accounting backend is down")

                await result.on_response_done(record)

            return wrapper

    from datasette.plugins import pm

    plugin_name = pm.get_name(register_plugin(Accounting()))
    ds = await datasette_llm_config({})
    model = await LLM(ds).model("fake")
    with caplog.at_level("ERROR", logger="datasette_llm"):
        assert await (await model.prompt("hi")).text() == "one two three"
        chunks = [chunk async for chunk in await model.prompt("again")]
    assert "".join(chunks) == "one two three"
    failures = [r for r in caplog.records if "on_response_done callback" in r.getMessage()]
    assert len(failures) == 2
    assert f"of {plugin_name} failed" in failures[0].getMessage()
    assert "accounting backend is down" in caplog.text


# Hooks called the way pluggy users expect


async def test_new_style_wrapper_around_the_prompt_hook(datasette_llm_config, fake, register_plugin):
    seen = []
    recorder = register_plugin(ContextRecorder("inner"))

    class Wrapping:
        @hookimpl(wrapper=True)
        def llm_prompt_context(self, model_id):
            seen.append(("before", model_id))
            factories = yield
            seen.append(("after", len(factories)))
            return factories

    register_plugin(Wrapping())
    ds = await datasette_llm_config({})
    await (await (await LLM(ds).model("fake")).prompt("hi")).text()
    assert seen == [("before", "fake"), ("after", 1)]
    assert recorder.log == ["inner:enter", "inner:exit"]
