"""group(): shared Group object, completion on exit, llm_group_exit however the block ends."""

import asyncio
from contextlib import asynccontextmanager

import pytest
from datasette import hookimpl

from datasette_llm import LLM, Group
from datasette_llm.testing import FakeModel, fake_models


class GroupPlugin:
    def __init__(self, is_async=True):
        self.exits = []
        self.results = []
        self.pending_at_exit = []

    @hookimpl
    def llm_prompt_context(self):
        @asynccontextmanager
        async def wrapper(result):
            self.results.append(result)
            yield

        return wrapper

    @hookimpl
    def llm_group_exit(self, datasette, group):
        async def cleanup():
            self.exits.append(group)
            self.pending_at_exit.append(list(group._responses))

        return cleanup()


@pytest.fixture
def fake():
    with fake_models(FakeModel("fake", usage=(2, 3))) as model:
        yield model


async def test_group_shares_one_group_object_and_calls_exit(
    datasette_llm_config, fake, register_plugin
):
    plugin = register_plugin(GroupPlugin())
    ds = await datasette_llm_config({"purposes": {"enrichments": {"model": "fake"}}})
    rows = ["a", "b", "c"]
    async with LLM(ds).group(purpose="enrichments", actor={"id": "u"}) as model:
        results = []
        for row in rows:
            response = await model.prompt(f"Summarize: {row}")
            results.append(await response.text())
    assert results == ["Summarize: a", "Summarize: b", "Summarize: c"]
    assert len(plugin.exits) == 1
    group = plugin.exits[0]
    assert isinstance(group, Group)
    assert all(result.group is group for result in plugin.results)
    assert group.model_id == "fake" and group.purpose == "enrichments"
    assert group.actor == {"id": "u"}
    assert group.prompt_count == 3 and group.response_count == 3
    assert len(group._responses) == 3
    assert (group.usage.input, group.usage.output) == (6, 9)
    assert group.ok and group.error is None


async def test_unfinished_responses_are_completed_on_exit(
    datasette_llm_config, fake, register_plugin
):
    plugin = register_plugin(GroupPlugin())
    ds = await datasette_llm_config({})
    async with LLM(ds).group("fake") as model:
        responses = [await model.prompt(f"p{i}") for i in range(3)]
        assert fake.prompts == []  # nothing generated yet
    # guaranteed complete here
    assert all(r._done for r in responses)
    assert fake.prompt_texts == ["p0", "p1", "p2"]
    assert [await r.text() for r in responses] == ["p0", "p1", "p2"]
    assert plugin.pending_at_exit == [[]]


async def test_group_exit_runs_when_block_raises(datasette_llm_config, fake, register_plugin):
    plugin = register_plugin(GroupPlugin())
    ds = await datasette_llm_config({})
    with pytest.raises(ValueError, match="boom"):
        async with LLM(ds).group("fake") as model:
            unstarted = await model.prompt("never run")
            raise ValueError("boom")
    group = plugin.exits[0]
    assert isinstance(group.error, ValueError) and not group.ok
    # an unstarted response is not generated after the block failed
    assert fake.prompts == []
    assert not unstarted._done


async def test_group_exit_runs_when_cancelled(datasette_llm_config, register_plugin):
    plugin = register_plugin(GroupPlugin())
    started = asyncio.Event()
    slow = FakeModel("slow", chunks=[["a"] * 10_000])
    with fake_models(slow):
        ds = await datasette_llm_config({})

        async def work():
            async with LLM(ds).group("slow") as model:
                response = await model.prompt("x")
                async for _ in response:
                    started.set()

        task = asyncio.create_task(work())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    group = plugin.exits[0]
    assert isinstance(group.error, asyncio.CancelledError)
    assert list(group._responses) == []  # the started response was closed, not kept


async def test_failing_response_on_exit_still_calls_hook_then_raises(
    datasette_llm_config, register_plugin
):
    plugin = register_plugin(GroupPlugin())
    with fake_models(FakeModel("broken", error=RuntimeError("model down"))):
        ds = await datasette_llm_config({})
        with pytest.raises(RuntimeError, match="model down"):
            async with LLM(ds).group("broken") as model:
                await model.prompt("x")
    assert len(plugin.exits) == 1
    assert isinstance(plugin.exits[0].error, RuntimeError)


async def test_sync_group_exit_hook(datasette_llm_config, fake, register_plugin):
    seen = []

    class SyncExit:
        @hookimpl
        def llm_group_exit(self, group):
            seen.append(group.prompt_count)

    register_plugin(SyncExit())
    ds = await datasette_llm_config({})
    async with LLM(ds).group("fake") as model:
        await (await model.prompt("x")).text()
    assert seen == [1]


async def test_group_exit_hook_error_propagates_after_other_hooks(
    datasette_llm_config, fake, register_plugin
):
    plugin = register_plugin(GroupPlugin())

    class Failing:
        @hookimpl
        def llm_group_exit(self):
            raise RuntimeError("settlement failed")

    register_plugin(Failing())
    ds = await datasette_llm_config({})
    with pytest.raises(RuntimeError, match="settlement failed"):
        async with LLM(ds).group("fake") as model:
            await (await model.prompt("x")).text()
    assert len(plugin.exits) == 1


async def test_group_tracks_chain_responses(datasette_llm_config, register_plugin):
    plugin = register_plugin(GroupPlugin())

    def tool(x: str) -> str:
        "A tool"
        return x

    model_obj = FakeModel(
        "tooly",
        responses=[{"text": "", "tool_calls": [{"name": "tool", "arguments": {"x": "1"}}]}, "done"],
    )
    with fake_models(model_obj):
        ds = await datasette_llm_config({})
        async with LLM(ds).group("tooly") as model:
            assert "done" in await model.chain("go", tools=[tool]).text()
    group = plugin.exits[0]
    assert group.prompt_count == 1 and group.response_count == 2
    assert plugin.results[0].group is group and plugin.results[0].is_chain


# llm_group_exit exactly once, however the block ends


class ExitCounter:
    def __init__(self, log=None):
        self.log = log if log is not None else []

    @hookimpl
    def llm_group_exit(self, group):
        async def settle():
            self.log.append(("group_exit", type(group.error).__name__ if group.error else None))

        return settle()


class ExitLogger:
    """An llm_prompt_context wrapper logging how it exits: (name, exception type, message)."""

    def __init__(self, log):
        self.log = log

    @hookimpl
    def llm_prompt_context(self):
        @asynccontextmanager
        async def wrapper(result):
            try:
                yield
            except BaseException as error:
                self.log.append(("wrapper_exit", type(error).__name__, str(error)))
                raise
            self.log.append(("wrapper_exit", None, None))

        return wrapper


class SlowModel(FakeModel):
    """Streams its chunks with a pause between them."""

    def __init__(self, model_id, chunks, pause=0.01, fail_after=None):
        super().__init__(model_id, chunks=[chunks])
        self.pause = pause
        self.fail_after = fail_after

    async def execute(self, prompt, stream, response, conversation, key):
        self._answer(prompt, key)
        for index, chunk in enumerate(self.chunks[0]):
            if self.fail_after is not None and index == self.fail_after:
                raise RuntimeError("the provider dropped the connection")
            yield chunk
            await asyncio.sleep(self.pause)


async def test_group_exit_runs_once_when_cancelled_while_the_group_exits(
    datasette_llm_config, register_plugin
):
    """A request timeout arriving while ``async with`` completes unfinished responses."""
    counter = register_plugin(ExitCounter())
    with fake_models(SlowModel("slow", ["a"] * 200)):
        ds = await datasette_llm_config({})
        exiting = asyncio.Event()

        async def work():
            async with LLM(ds).group("slow") as model:
                await model.prompt("x")  # not iterated: completed on exit
                exiting.set()

        task = asyncio.create_task(work())
        await exiting.wait()
        await asyncio.sleep(0.05)  # the exit is now completing the response
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert counter.log == [("group_exit", "CancelledError")]


@pytest.mark.parametrize("ending", ["normal", "raises", "cancelled in block"])
async def test_group_exit_runs_exactly_once_for_every_ending(
    datasette_llm_config, register_plugin, ending
):
    counter = register_plugin(ExitCounter())
    with fake_models(SlowModel("slow", ["a"] * 5, pause=0)):
        ds = await datasette_llm_config({})

        async def work():
            async with LLM(ds).group("slow") as model:
                await (await model.prompt("x")).text()
                if ending == "raises":
                    raise ValueError("block failed")
                if ending == "cancelled in block":
                    asyncio.current_task().cancel()
                    await asyncio.sleep(1)

        task = asyncio.create_task(work())
        if ending == "normal":
            await task
        else:
            with pytest.raises((ValueError, asyncio.CancelledError)):
                await task
    expected = {"normal": None, "raises": "ValueError", "cancelled in block": "CancelledError"}
    assert counter.log == [("group_exit", expected[ending])]


async def test_a_groups_model_refuses_prompts_after_the_block(datasette_llm_config, fake):
    from datasette_llm import GroupExitedError

    ds = await datasette_llm_config({})
    async with LLM(ds).group("fake") as model:
        conversation = model.conversation()
        chain = model.chain("started inside, iterated after")
        await (await model.prompt("inside")).text()
    usage = (model.group.usage.input, model.group.usage.output)
    with pytest.raises(GroupExitedError, match="belongs to a group\\(\\) block that has exited"):
        await model.prompt("after")
    with pytest.raises(GroupExitedError):
        await conversation.prompt("after")
    with pytest.raises(GroupExitedError):
        model.chain("after")
    with pytest.raises(GroupExitedError):
        model.conversation()
    with pytest.raises(GroupExitedError):
        await chain.text()
    assert fake.prompt_texts == ["inside"]
    assert (model.group.usage.input, model.group.usage.output) == usage


async def test_a_chain_failing_mid_stream_exits_its_wrappers_first_with_the_real_error(
    datasette_llm_config, register_plugin
):
    log = []
    register_plugin(ExitCounter(log))
    register_plugin(ExitLogger(log))
    with fake_models(SlowModel("flaky", ["one ", "two ", "three"], pause=0, fail_after=2)):
        ds = await datasette_llm_config({})
        for consume in ("iterate", "text"):
            log.clear()
            with pytest.raises(RuntimeError, match="dropped the connection"):
                async with LLM(ds).group("flaky") as model:
                    chain = model.chain("go")
                    if consume == "iterate":
                        async for _ in chain:
                            pass
                    else:
                        await chain.text()
            assert log == [
                ("wrapper_exit", "RuntimeError", "the provider dropped the connection"),
                ("group_exit", "RuntimeError"),
            ], consume


async def test_a_chain_left_unfinished_is_closed_before_the_group_exits(
    datasette_llm_config, register_plugin
):
    """Iterating ``responses()`` by hand and leaving it half-way: the wrappers still
    exit before ``llm_group_exit``."""
    log = []
    register_plugin(ExitCounter(log))
    register_plugin(ExitLogger(log))
    with fake_models(SlowModel("slow", ["a", "b"], pause=0)):
        ds = await datasette_llm_config({})
        async with LLM(ds).group("slow") as model:
            responses = model.chain("go").responses()
            await responses.__anext__()  # the first response, then left alone
    assert log == [
        ("wrapper_exit", "GroupExitedError",
         "the group() block exited before this chain was iterated to its end"),
        ("group_exit", None),
    ]
