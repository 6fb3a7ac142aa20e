"""datasette_llm.testing.FakeModel: scripted answers, streaming, usage, errors, records."""

import asyncio

import llm
import pytest

from datasette_llm import LLM
from datasette_llm.testing import FakeModel, fake_models


async def text_of(model, prompt, **kwargs):
    return await (await model.prompt(prompt, **kwargs)).text()


def test_is_a_real_llm_async_model_with_a_sync_twin():
    model = FakeModel("f")
    assert isinstance(model, llm.AsyncKeyModel)
    assert isinstance(model.sync, llm.KeyModel)
    assert model.sync.model_id == "f"
    assert model.can_stream and model.supports_tools and model.supports_schema


async def test_responses_in_order_then_the_last_repeats():
    with fake_models(FakeModel("f", responses=["one", "two"])) as model:
        texts = [await (model.prompt(p)).text() for p in ("a", "b", "c", "d")]
    assert texts == ["one", "two", "two", "two"]


async def test_default_text_is_the_prompt_itself():
    with fake_models(FakeModel("f")) as model:
        assert await model.prompt("What is 2 + 2?").text() == "What is 2 + 2?"
        assert await model.prompt("something else").text() == "something else"


async def test_through_datasette_llm(datasette_llm_config):
    with fake_models(FakeModel("f", responses=["scripted"])) as fake:
        ds = await datasette_llm_config({"default_model": "f"})
        model = await LLM(ds).model()
        assert await text_of(model, "hi", system="be brief") == "scripted"
    assert fake.prompts[0].system == "be brief"


async def test_chunks_stream_one_at_a_time():
    fake = FakeModel("f", chunks=[["The ", "quick ", "fox"]])
    with fake_models(fake):
        response = fake.prompt("go")
        seen = []
        async for chunk in response:
            # The model is suspended between chunks: the response is not finished yet
            seen.append((chunk, response._done))
        assert seen == [("The ", False), ("quick ", False), ("fox", False)]
        assert await response.text() == "The quick fox"


async def test_chunks_interleave_with_other_tasks():
    """Each chunk yields to the event loop, as a network model would."""
    log = []

    async def other():
        for _ in range(3):
            log.append("other")
            await asyncio.sleep(0)

    async def consume(response):
        async for chunk in response:
            log.append(chunk)

    with fake_models(FakeModel("f", chunks=[["a", "b", "c"]])) as fake:
        await asyncio.gather(consume(fake.prompt("x")), other())
    assert log.index("other") < log.index("c")
    assert log.index("a") < log.index("c")
    assert [entry for entry in log if entry != "other"] == ["a", "b", "c"]


async def test_chunks_per_response_and_the_last_list_repeats():
    with fake_models(FakeModel("f", chunks=[["a", "b"], ["c"]])) as fake:
        assert [c async for c in fake.prompt("1")] == ["a", "b"]
        assert [c async for c in fake.prompt("2")] == ["c"]
        assert [c async for c in fake.prompt("3")] == ["c"]


async def test_chunks_through_wrapped_model_stream(datasette_llm_config):
    with fake_models(FakeModel("f", responses=["ab", "cd"], chunks=[["a", "b"], ["c", "d"]])):
        ds = await datasette_llm_config({})
        model = await LLM(ds).model("f")
        response = await model.prompt("x")
        assert [c async for c in response] == ["a", "b"]
        assert await text_of(model, "y") == "cd"


def test_chunks_must_agree_with_responses():
    with pytest.raises(ValueError, match=r"chunks\[0\] joins to 'ab', but responses\[0\] is 'abc'"):
        FakeModel("f", responses=["abc"], chunks=[["a", "b"]])
    with pytest.raises(ValueError, match="2 responses but 1 chunk lists"):
        FakeModel("f", responses=["a", "b"], chunks=[["a"]])
    with pytest.raises(TypeError, match="list of lists of strings"):
        FakeModel("f", chunks=["abc"])


async def test_usage_defaults_to_word_counts():
    with fake_models(FakeModel("f", responses=["three word answer"])) as fake:
        response = fake.prompt("two words", system="one")
        await response.text()
        usage = await response.usage()
    assert (usage.input, usage.output) == (3, 3)


async def test_usage_default_counts_the_streamed_chunks():
    with fake_models(FakeModel("f", chunks=[["one ", "two"]])) as fake:
        response = fake.prompt("x")
        await response.text()
        assert (await response.usage()).output == 2


async def test_explicit_usage():
    with fake_models(FakeModel("f", usage=(120, 7))) as fake:
        response = fake.prompt("x")
        await response.text()
        usage = await response.usage()
    assert (usage.input, usage.output) == (120, 7)


async def test_error_is_raised_when_prompted_and_the_prompt_is_recorded(datasette_llm_config):
    boom = RuntimeError("rate limited")
    with fake_models(FakeModel("f", error=boom)) as fake:
        ds = await datasette_llm_config({})
        model = await LLM(ds).model("f")
        response = await model.prompt("hello")  # lazy: nothing sent yet
        with pytest.raises(RuntimeError, match="rate limited") as info:
            await response.text()
    assert info.value is boom
    assert fake.prompt_texts == ["hello"]


def test_error_must_be_an_exception_instance():
    with pytest.raises(TypeError, match="exception instance"):
        FakeModel("f", error="boom")


def test_argument_checks():
    with pytest.raises(TypeError, match="list of strings, not one string"):
        FakeModel("f", responses="just one")
    with pytest.raises(ValueError, match="model ID string"):
        FakeModel("")
    with pytest.raises(TypeError, match=r"\(input_tokens, output_tokens\)"):
        FakeModel("f", usage=(1, 2, 3))


async def test_records_prompts_keys_and_texts(datasette_llm_config):
    fake = FakeModel("f", needs_key="fakeprovider")
    with fake_models(fake):
        ds = await datasette_llm_config({"require_keys": False})
        model = await LLM(ds).model("f")
        await text_of(model, "first", key="k-1", system="sys")
        await text_of(model, "second", key="k-2", temperature=0.5)
    assert fake.prompt_texts == ["first", "second"]
    assert fake.keys == ["k-1", "k-2"]
    assert all(isinstance(p, llm.Prompt) for p in fake.prompts)
    assert fake.prompts[0].system == "sys"
    assert fake.prompts[1].options.temperature == 0.5
    fake.reset()
    assert fake.prompts == [] and fake.keys == []


async def test_needs_key_model_gets_the_key_llm_resolves(monkeypatch):
    fake = FakeModel("f", needs_key="fakeprovider", key_env_var="FAKEPROVIDER_KEY")
    monkeypatch.setenv("FAKEPROVIDER_KEY", "from-env")
    with fake_models(fake):
        await llm.get_async_model("f").prompt("x").text()
        assert fake.keys == ["from-env"]
        monkeypatch.delenv("FAKEPROVIDER_KEY")
        with pytest.raises(llm.NeedsKeyException):
            await llm.get_async_model("f").prompt("x").text()


def test_sync_twin_works_through_llm_get_model():
    fake = FakeModel("f", responses=["sync answer"], chunks=[["sync ", "answer"]])
    with fake_models(fake):
        model = llm.get_model("f")
        assert model is fake.sync
        response = model.prompt("from sync")
        assert list(response) == ["sync ", "answer"]
        assert response.text() == "sync answer"
        assert response.usage().output == 2
    # Records are shared with the async model
    assert fake.prompt_texts == ["from sync"]


async def test_default_options_are_temperature_and_max_tokens():
    with fake_models(FakeModel("f")) as fake:
        await fake.prompt("x", temperature=0.3, max_tokens=10).text()
        assert fake.prompts[0].options.temperature == 0.3
        assert fake.prompts[0].options.max_tokens == 10
        with pytest.raises(Exception, match="bogus"):
            fake.prompt("x", bogus=1)


async def test_custom_options():
    with fake_models(FakeModel("f", options={"style": str, "verbose": bool})) as fake:
        await fake.prompt("x", style="terse", verbose=True).text()
        assert fake.prompts[0].options.style == "terse"
        assert fake.prompts[0].options.verbose is True
        with pytest.raises(Exception, match="temperature"):
            fake.prompt("x", temperature=0.5)


async def test_scripted_tool_calls_drive_a_chain():
    calls = []

    def lookup(city: str) -> str:
        "Weather for a city"
        calls.append(city)
        return "sunny"

    fake = FakeModel(
        "f",
        responses=[
            {"text": "", "tool_calls": [{"name": "lookup", "arguments": {"city": "Paris"}}]},
            "It is sunny in Paris",
        ],
    )
    with fake_models(fake):
        chain = fake.chain("Weather in Paris?", tools=[lookup])
        assert await chain.text() == "It is sunny in Paris"
    assert calls == ["Paris"]
    assert len(fake.prompts) == 2


def test_assert_all_used():
    FakeModel("unscripted").assert_all_used()
    fake = FakeModel("f", responses=["a", "b", "c"])
    with fake_models(fake):
        fake.sync.prompt("only once").text()
        with pytest.raises(AssertionError) as info:
            fake.assert_all_used()
        assert str(info.value).startswith(
            "FakeModel 'f' was scripted with 3 response(s) but prompted 1 time(s): ['only once']"
        )
        fake.sync.prompt("two").text()
        fake.sync.prompt("three").text()
        fake.assert_all_used()
    with pytest.raises(AssertionError, match="2 response"):
        FakeModel("g", chunks=[["a"], ["b"]]).assert_all_used()


# Scripted failures and slow streams


class RateLimitError(Exception):
    """Shaped like a provider SDK's rate-limit error."""

    status_code = 429

    def __init__(self, message, retry_after=None):
        super().__init__(message)
        self.retry_after = retry_after


async def test_an_exception_in_responses_fails_that_prompt_only(datasette_llm_config):
    limited = RateLimitError("Rate limit reached for requests", retry_after=2)
    fake = FakeModel("f", responses=["first", limited, "after the retry"])
    with fake_models(fake):
        ds = await datasette_llm_config({})
        model = await LLM(ds).model("f")
        assert await text_of(model, "one") == "first"
        with pytest.raises(RateLimitError) as info:
            await text_of(model, "two")
        assert await text_of(model, "two again") == "after the retry"
    assert info.value is limited and info.value.status_code == 429
    # The failed prompt was received, and counts as used
    assert fake.prompt_texts == ["one", "two", "two again"]
    fake.assert_all_used()


def test_a_scripted_failure_as_the_last_response_repeats():
    fake = FakeModel("f", responses=["ok", RuntimeError("down")])
    with fake_models(fake):
        assert fake.sync.prompt("1").text() == "ok"
        for prompt in ("2", "3"):
            with pytest.raises(RuntimeError, match="down"):
                fake.sync.prompt(prompt).text()


async def test_scripted_failures_with_chunks():
    fake = FakeModel("f", responses=[RuntimeError("first fails"), "ab"], chunks=[[], ["a", "b"]])
    with fake_models(fake):
        with pytest.raises(RuntimeError, match="first fails"):
            await fake.prompt("1").text()
        assert [c async for c in fake.prompt("2")] == ["a", "b"]


def test_scripted_failure_arguments_are_checked():
    with pytest.raises(TypeError, match=r"responses\[1\] is the exception class RateLimitError; "
                       r"pass an instance to raise, such as RateLimitError\('...'\)"):
        FakeModel("f", responses=["ok", RateLimitError])
    with pytest.raises(TypeError, match=r"responses\[2\] must be a string, a dict or an "
                       r"exception instance, got 42"):
        FakeModel("f", responses=["a", "b", 42])
    with pytest.raises(ValueError, match=r"chunks\[0\] must be \[\]: responses\[0\] is an exception"):
        FakeModel("f", responses=[RuntimeError("x")], chunks=[["a"]])


@pytest.fixture
def waits(monkeypatch):
    """Every wait of the fake model, in order with the chunks: ("wait", seconds)."""
    import time

    import datasette_llm.testing._fake_model as fake_model_module

    events = []
    real_sleep = asyncio.sleep

    async def sleep(seconds, *args, **kwargs):
        if seconds:
            events.append(("wait", seconds))
        await real_sleep(0)

    monkeypatch.setattr(fake_model_module.asyncio, "sleep", sleep)
    monkeypatch.setattr(time, "sleep", lambda seconds: events.append(("wait", seconds)))
    return events


async def test_chunk_delay_waits_before_each_chunk(waits):
    fake = FakeModel("f", chunks=[["a", "b", "c"]], chunk_delay=0.25)
    with fake_models(fake):
        async for chunk in fake.prompt("x"):
            waits.append(("chunk", chunk))
        expected = [("wait", 0.25), ("chunk", "a"), ("wait", 0.25), ("chunk", "b"),
                    ("wait", 0.25), ("chunk", "c")]
        assert waits == expected
        waits.clear()
        for chunk in fake.sync.prompt("y"):
            waits.append(("chunk", chunk))
        assert waits == expected


async def test_no_chunk_delay_by_default(waits):
    with fake_models(FakeModel("f", chunks=[["a", "b"]])) as fake:
        assert [c async for c in fake.prompt("x")] == ["a", "b"]
    assert waits == []


def test_chunk_delay_is_checked():
    with pytest.raises(TypeError, match=r"chunk_delay= takes the seconds to wait before each "
                       r"chunk \(a number\), got 'slow'"):
        FakeModel("f", chunk_delay="slow")
    with pytest.raises(TypeError, match="got True"):
        FakeModel("f", chunk_delay=True)
    with pytest.raises(ValueError, match="chunk_delay= must be 0 or more seconds, got -1"):
        FakeModel("f", chunk_delay=-1)
