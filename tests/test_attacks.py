"""Attacks on the core, as an attacker and as a careless plugin author would write them:
each test is a way around a guarantee of the README's Security model that once worked."""

import asyncio
from contextlib import asynccontextmanager

import llm
import pytest
from datasette import hookimpl
from datasette.plugins import pm

from datasette_llm import LLM, GroupExitedError, HookResultError, ModelNotAllowedError
from datasette_llm.testing import FakeModel, fake_models, fake_secrets


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


# Accounting: nothing runs, or is charged to a group, after the group settled


class ExitRecorder:
    """Records what llm_group_exit saw, and whether the group changed afterwards."""

    def __init__(self):
        self.exits = []

    @hookimpl
    def llm_group_exit(self, group):
        self.exits.append(
            (type(group.error).__name__ if group.error else None,
             group.response_count, group.usage.input, group.usage.output)
        )


async def test_a_response_a_failed_group_left_unread_cannot_run_after_the_block(
    datasette_llm_config, register_plugin
):
    """A block that raises leaves its unstarted responses unsent; reading one after the
    block would send the prompt (with the group's key) after ``llm_group_exit`` settled,
    and change the usage the hook already accounted for."""
    recorder = register_plugin(ExitRecorder())
    with fake_models(FakeModel("fake", usage=(2, 3), chunks=[["a ", "b ", "c"]])) as fake:
        ds = await datasette_llm_config({})
        with pytest.raises(ValueError, match="block failed"):
            async with LLM(ds).group("fake") as model:
                unstarted = await model.prompt("never sent")
                started = await model.prompt("started")
                await started.__aiter__().__anext__()  # one chunk, then left
                raise ValueError("block failed")
        for response in (unstarted, started):
            with pytest.raises(GroupExitedError, match="closed when its group"):
                await response.text()
    assert fake.prompt_texts == ["started"]
    assert recorder.exits == [("ValueError", 2, 0, 0)]
    assert (model.group.usage.input, model.group.usage.output) == (0, 0)


async def test_a_prompt_whose_wrappers_were_entering_when_the_group_exited_is_refused(
    datasette_llm_config, register_plugin
):
    """A prompt started in a task of its own, whose budget wrapper is still asking its
    service when the block ends, is not sent after the group settled."""
    recorder = register_plugin(ExitRecorder())
    log = []

    class SlowBudget:
        @hookimpl
        def llm_prompt_context(self):
            @asynccontextmanager
            async def wrapper(result):
                await asyncio.sleep(0.05)  # asking the budget service
                try:
                    yield
                except BaseException as error:
                    log.append(type(error).__name__)
                    raise

            return wrapper

    register_plugin(SlowBudget())
    with fake_models(FakeModel("fake", usage=(1, 1))) as fake:
        ds = await datasette_llm_config({})
        async with LLM(ds).group("fake") as model:
            late = asyncio.create_task(model.prompt("late"))
            await asyncio.sleep(0)
        with pytest.raises(GroupExitedError):
            await late
    assert fake.prompts == []
    assert log == ["GroupExitedError"]
    assert recorder.exits == [(None, 0, 0, 0)]


async def test_a_chain_iterated_by_another_task_starts_no_round_after_the_group_exited(
    datasette_llm_config, register_plugin
):
    def tool(x: str) -> str:
        "A tool"
        return x

    recorder = register_plugin(ExitRecorder())
    calls = {"text": "", "tool_calls": [{"name": "tool", "arguments": {"x": "1"}}]}
    model_obj = FakeModel("tooly", responses=[calls] * 5 + ["done"], usage=(1, 1))
    with fake_models(model_obj):
        ds = await datasette_llm_config({})
        first_round = asyncio.Event()

        async def consume(chain):
            async for response in chain.responses():
                await response.text()
                first_round.set()
                await asyncio.sleep(0.01)

        async with LLM(ds).group("tooly") as model:
            task = asyncio.create_task(consume(model.chain("go", tools=[tool])))
            await first_round.wait()
        with pytest.raises(GroupExitedError):
            await task
    sent = len(model_obj.prompts)
    assert recorder.exits == [(None, sent, sent, sent)]
    assert model.group.response_count == sent


class SlowToClose(FakeModel):
    """Streams until cancelled; closing it (its connection) takes a while."""

    async def execute(self, prompt, stream, response, conversation, key):
        self._answer(prompt, key)
        try:
            while True:
                yield "a "
                await asyncio.sleep(0.01)
        finally:
            await asyncio.sleep(0.1)


class AuditOnExit:
    """An audit wrapper that writes its row on exit, however the prompt ended: ``write``
    (async) is that write."""

    def __init__(self, write):
        self.write = write

    @hookimpl
    def llm_prompt_context(self):
        @asynccontextmanager
        async def wrapper(result):
            try:
                yield
            finally:
                await self.write()

        return wrapper


async def slow_write():
    await asyncio.sleep(0.1)


async def failing_write():
    raise ConnectionError("audit log is down")


@pytest.mark.parametrize("closing", ["a response", "a chain's wrappers"])
async def test_a_second_cancellation_while_the_group_closes_does_not_skip_llm_group_exit(
    datasette_llm_config, register_plugin, closing
):
    """A request timeout cancels the block, then the server's shutdown cancels the task
    again while the group is closing what the block left unfinished."""
    recorder = register_plugin(ExitRecorder())
    if closing == "a chain's wrappers":
        register_plugin(AuditOnExit(slow_write))
    with fake_models(SlowToClose("slow")):
        ds = await datasette_llm_config({})
        inside = asyncio.Event()

        async def work():
            async with LLM(ds).group("slow") as model:
                if closing == "a response":
                    unfinished = (await model.prompt("x")).__aiter__()
                else:
                    unfinished = model.chain("x").responses()
                await unfinished.__anext__()
                inside.set()
                await asyncio.sleep(10)

        task = asyncio.create_task(work())
        await inside.wait()
        task.cancel()
        await asyncio.sleep(0.03)  # the group is now closing
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert recorder.exits and recorder.exits[0][0] == "CancelledError"
    assert len(recorder.exits) == 1


async def test_a_wrapper_raising_while_the_group_closes_a_chain_does_not_skip_llm_group_exit(
    datasette_llm_config, register_plugin, caplog
):
    recorder = register_plugin(ExitRecorder())
    register_plugin(AuditOnExit(failing_write))
    with fake_models(FakeModel("fake", chunks=[["a", "b"]])):
        ds = await datasette_llm_config({})
        async with LLM(ds).group("fake") as model:
            responses = model.chain("x").responses()
            await responses.__anext__()  # left unfinished
    assert recorder.exits == [(None, 1, 1, 1)]  # its first response was completed
    assert "audit log is down" in caplog.text


# Keys: a key goes only to the model it was resolved for, and never shows


async def test_a_chain_cannot_be_pointed_at_another_model(datasette_llm_config, keyed_pair):
    allowed, blocked = keyed_pair
    ds = await datasette_llm_config({"blocked_models": ["blocked"]})
    model = await LLM(ds).model("allowed")
    for make_chain in (model.chain, model.conversation().chain):
        chain = make_chain("hi")
        chain.model = llm.get_async_model("blocked")  # llm's own attribute, assignable
        with pytest.raises(RuntimeError, match="a key is only ever given to the model"):
            await chain.text()
    assert blocked.prompts == [] and allowed.prompts == []


async def test_one_chain_iterated_by_two_tasks_cannot_get_around_a_denial(
    datasette_llm_config, register_plugin
):
    """While one task waits for the budget service to answer, another task iterating the
    same chain must not send the prompt."""

    class Budget:
        @hookimpl
        def llm_prompt_context(self):
            @asynccontextmanager
            async def wrapper(result):
                await asyncio.sleep(0.02)  # asking the budget service
                raise PermissionError("over budget")
                yield

            return wrapper

    register_plugin(Budget())
    with fake_models(FakeModel("fake")) as fake:
        ds = await datasette_llm_config({})
        chain = (await LLM(ds).model("fake")).chain("hi")
        outcomes = await asyncio.gather(chain.text(), chain.text(), return_exceptions=True)
    assert fake.prompts == []
    assert isinstance(outcomes[0], PermissionError)
    assert isinstance(outcomes[1], RuntimeError) and "another task" in str(outcomes[1])


async def test_keys_are_not_in_the_locals_of_a_denied_or_failed_prompts_traceback(
    datasette_llm_config, register_plugin, keyed_pair
):
    """Error reporters (Sentry, rich, ``pytest -l``) show every frame's local variables."""
    import traceback

    class Denying:
        def __init__(self):
            self.deny_on = "enter"

        @hookimpl
        def llm_prompt_context(self):
            @asynccontextmanager
            async def wrapper(result):
                if self.deny_on == "enter":
                    raise PermissionError("denied")
                yield
                raise ConnectionError("audit log is down")

            return wrapper

    denying = register_plugin(Denying())
    ds = await datasette_llm_config({})
    for deny_on in ("enter", "exit"):
        denying.deny_on = deny_on
        for grouped in (False, True):
            with pytest.raises((PermissionError, ConnectionError)) as info:
                if grouped:
                    async with LLM(ds).group("allowed") as model:
                        await model.prompt("hi", temperature=0.5)
                else:
                    await (await LLM(ds).model("allowed")).prompt("hi", temperature=0.5)
            shown = "".join(
                traceback.TracebackException.from_exception(
                    info.value, capture_locals=True
                ).format()
            )
            assert "temperature" in shown  # the locals are there ...
            assert "sk-alpha" not in shown, (deny_on, grouped)  # ... but not the key


async def test_an_empty_key_from_the_caller_is_no_key(datasette_llm_config, monkeypatch):
    """``prompt(key=os.environ.get("X", ""))`` must not make llm use its own key (the
    server's keys.json or environment) instead of the operator's."""
    monkeypatch.setenv("ALPHA_OWN_KEY", "sk-llm-own")
    with fake_models(FakeModel("keyed", needs_key="alpha", key_env_var="ALPHA_OWN_KEY")) as keyed:
        ds = await datasette_llm_config(
            {"default_model": {"model": "keyed", "key": "CONFIGURED_KEY"}}
        )
        with fake_secrets({"CONFIGURED_KEY": "sk-configured"}):
            model = await LLM(ds).model()
        await (await model.prompt("a", key="")).text()
        await model.chain("b", key="").text()
        await (await model.prompt("c", key="sk-callers-own")).text()
    assert keyed.keys == ["sk-configured", "sk-configured", "sk-callers-own"]


# Config: a mistake cannot show a key, nor fail as something else


@pytest.mark.parametrize(
    "value",
    [
        "sk-proj-" + "Ab3" * 16,  # OpenAI
        "sk-ant-api03-" + "xY9" * 30,  # Anthropic
        "gsk_" + "aB4" * 17,  # Groq
        "AIzaSy" + "Cd5" * 11,  # Gemini
        "0123456789abcdef" * 4,  # hex keys (Together)
    ],
    ids=["openai", "anthropic", "groq", "gemini", "hex"],
)
def test_an_api_key_written_where_a_secret_name_goes_is_refused_without_showing_it(value):
    """``key:`` names a datasette-secrets secret. An operator who writes the key itself
    there (or ``key: {$env: OPENAI_API_KEY}``) would get it registered as a secret *name*:
    listed on /-/secrets and /-/llm, in URLs and logs."""
    from datasette_llm import ConfigError
    from datasette_llm._config import parse_config

    for config, path in (
        ({"default_model": {"model": "m", "key": value}}, "default_model.key"),
        ({"purposes": {"p": {"models": [{"model": "m", "key": value}]}}},
         "purposes.p.models[0].key"),
    ):
        with pytest.raises(ConfigError) as info:
            parse_config(config)
        assert info.value.path == f"plugins.datasette-llm.{path}"
        assert "looks like an API key" in str(info.value)
        assert value not in str(info.value) and value[4:12] not in str(info.value)


@pytest.mark.parametrize(
    "name", ["CUSTOM_OPENAI_KEY", "ENRICHMENTS_GPT5_KEY", "openai-work", "QUERY_ASSISTANT_KEY"]
)
def test_secret_names_are_still_accepted(name):
    from datasette_llm._config import parse_config

    assert parse_config({"default_model": {"model": "m", "key": name}}).default_model.key == name


async def test_an_assignments_database_that_is_not_attached_is_a_config_error(
    datasette_llm_config,
):
    """Not a bare ``KeyError('nope')``, which code catching llm's ``UnknownModelError`` (a
    ``KeyError``) would take for an unknown model: at startup, and after a live change."""
    from datasette_llm import ConfigError

    with fake_models(FakeModel("m")):
        with pytest.raises(ConfigError) as info:
            await datasette_llm_config({"default_model": "m", "assignments_database": "nope"})
        assert info.value.path == "plugins.datasette-llm.assignments_database"
        assert "no attached database is named 'nope'" in str(info.value)
        ds = await datasette_llm_config({"default_model": "m"})
        if not getattr(ds, "config", None):
            return  # Datasette 0.65: plugin config lives in metadata, read once
        ds.config["plugins"]["datasette-llm"]["assignments_database"] = "nope"
        with pytest.raises(ConfigError) as info:
            await LLM(ds).model(purpose="p")
    assert info.value.path == "plugins.datasette-llm.assignments_database"


async def test_reading_assignments_before_any_is_made_logs_no_sql_error(
    datasette_llm_config, capsys, caplog
):
    with fake_models(FakeModel("m")):
        ds = await datasette_llm_config({"default_model": "m"})
        assert (await LLM(ds).model(purpose="p")).model_id == "m"
    captured = capsys.readouterr()
    assert "no such table" not in captured.out + captured.err + caplog.text


# Hooks written carelessly get an error that says what is wrong


@pytest.mark.parametrize("hook", ["llm_filter_models", "llm_prompt_context"])
async def test_a_wrapper_that_returns_without_yielding_is_a_clear_error(
    datasette_llm_config, register_plugin, hook
):
    """``if not actor: return models`` before the ``yield``: pluggy calls it a wrapper that
    did not yield; it must not surface as "coroutine raised StopIteration"."""

    class Early:
        @hookimpl(wrapper=True, specname=hook)
        def early(self, actor):
            if actor is None:
                return []
            return (yield)

    name = pm.get_name(register_plugin(Early()))
    with fake_models(FakeModel("m")) as fake:
        ds = await datasette_llm_config({})
        with pytest.raises(HookResultError) as info:
            await (await LLM(ds).model("m")).prompt("hi")
    assert str(info.value).startswith(f"{name}: {hook}() wrapper returned without yielding")
    assert fake.prompts == []


async def test_an_async_llm_prompt_context_is_a_clear_error_and_leaves_no_warning(
    datasette_llm_config, register_plugin, recwarn
):
    import gc

    class Async:
        @hookimpl
        async def llm_prompt_context(self):
            return None

    register_plugin(Async())
    with fake_models(FakeModel("m")) as fake:
        ds = await datasette_llm_config({})
        with pytest.raises(HookResultError, match="write it as a plain def"):
            await (await LLM(ds).model("m")).prompt("hi")
    gc.collect()
    assert [str(w.message) for w in recwarn if "never awaited" in str(w.message)] == []
    assert fake.prompts == []


async def test_a_pluggy_wrapper_cannot_swallow_a_denial_raised_by_a_prompt_hook(
    datasette_llm_config, register_plugin
):
    """A budget plugin may deny in ``llm_prompt_context`` itself; an audit plugin's
    ``@hookimpl(wrapper=True)`` that logs exceptions and returns must not turn that
    denial into a prompt that is sent."""
    logged = []

    class Budget:
        @hookimpl
        def llm_prompt_context(self, actor):
            raise PermissionError("over budget")

    class Audit:
        @hookimpl(wrapper=True)
        def llm_prompt_context(self):
            try:
                return (yield)
            except Exception as error:
                logged.append(str(error))
                return []

    register_plugin(Budget())
    register_plugin(Audit())
    with fake_models(FakeModel("m")) as fake:
        ds = await datasette_llm_config({})
        model = await LLM(ds).model("m")
        with pytest.raises(PermissionError, match="over budget"):
            await model.prompt("hi")
        with pytest.raises(PermissionError, match="over budget"):
            await model.chain("hi").text()
    assert logged == ["over budget", "over budget"]
    assert fake.prompts == []


@pytest.mark.skipif(
    not hasattr(llm.AsyncResponse, "reply"), reason="AsyncResponse.reply() is newer than this llm"
)
async def test_a_follow_up_cannot_leave_through_llms_own_reply(
    datasette_llm_config, register_plugin, monkeypatch
):
    """llm's ``response.reply()`` prompts the llm model itself: past every
    ``llm_prompt_context`` wrapper (budgets, audit logs) and with llm's own key (here
    the server's environment variable) instead of the operator's."""
    monkeypatch.setenv("ALPHA_OWN_KEY", "sk-llm-own")
    contexts = []

    class Audit:
        @hookimpl
        def llm_prompt_context(self, prompt):
            contexts.append(prompt)

    register_plugin(Audit())
    with fake_models(
        FakeModel("keyed", needs_key="alpha", key_env_var="ALPHA_OWN_KEY", responses=["a", "b"])
    ) as keyed, fake_secrets({"ALPHA_API_KEY": "sk-configured"}):
        ds = await datasette_llm_config({})
        model = await LLM(ds).model("keyed")
        response = await model.prompt("first")
        await response.text()
        with pytest.raises(TypeError, match="model.conversation"):
            await response.reply("second")
        conversation = model.conversation()
        await (await conversation.prompt("first")).text()
        with pytest.raises(TypeError, match="model.conversation"):
            await conversation.responses[0].reply("second")
        chain_responses = [r async for r in model.chain("first").responses()]
        with pytest.raises(TypeError, match="model.conversation"):
            await chain_responses[0].reply("second")
    assert keyed.keys == ["sk-configured"] * 3
    assert contexts == ["first"] * 3


async def test_an_exit_hook_raising_cancelled_error_does_not_skip_the_others(
    datasette_llm_config, register_plugin
):
    """A hook awaiting a shared future that was cancelled elsewhere (a connection pool
    being set up) gets ``CancelledError``: the other plugins still settle."""
    recorder = register_plugin(ExitRecorder())

    class Pool:
        @hookimpl(tryfirst=True)
        def llm_group_exit(self):
            async def settle():
                shared = asyncio.get_running_loop().create_future()
                shared.cancel()
                await shared

            return settle()

    register_plugin(Pool())
    with fake_models(FakeModel("fake")):
        ds = await datasette_llm_config({})
        with pytest.raises(asyncio.CancelledError):
            async with LLM(ds).group("fake") as model:
                await (await model.prompt("hi")).text()
    assert recorder.exits == [(None, 1, 1, 1)]


async def test_keys_are_not_in_the_locals_of_a_groups_exit_failure(
    datasette_llm_config, keyed_pair
):
    """A response failing while the group completes it is raised from ``group()``'s own
    frame, whose locals an error reporter shows (the model's own frames hold the key, as
    they must: they send it)."""
    import traceback

    allowed, _ = keyed_pair
    allowed.error = RuntimeError("provider down")
    ds = await datasette_llm_config({})
    with pytest.raises(RuntimeError, match="provider down") as info:
        async with LLM(ds).group("allowed") as model:
            await model.prompt("hi")
    allowed.error = None
    stack = traceback.TracebackException.from_exception(info.value, capture_locals=True).stack
    ours = {
        frame.name: " ".join(frame.locals.values())
        for frame in stack
        if "datasette_llm" in frame.filename and "testing" not in frame.filename
    }
    assert "<Group" in ours["group"]  # our frames and their locals are there ...
    assert not [name for name, shown in ours.items() if "sk-alpha" in shown]  # ... not the key


async def test_keys_are_not_in_the_locals_of_a_failing_filter_hooks_traceback(
    datasette_llm_config, register_plugin, keyed_pair
):
    """``model()`` reads the key, then asks the filter hooks; one that fails (its user
    table is missing) raises through frames of ours."""
    import traceback

    class Failing:
        @hookimpl
        def llm_filter_models(self, models):
            raise LookupError("user table missing")

    register_plugin(Failing())
    ds = await datasette_llm_config({})
    with pytest.raises(LookupError) as info:
        await LLM(ds).model("allowed")
    shown = "".join(
        traceback.TracebackException.from_exception(info.value, capture_locals=True).format()
    )
    assert "<Selection" in shown or "Selection object" in shown  # the locals are there ...
    assert "sk-alpha" not in shown  # ... but not the key


async def test_assignments_are_read_from_the_database_the_config_names_now(
    datasette_llm_config, tmp_path, monkeypatch
):
    """A live change of ``assignments_database`` is seen at once: an assignment read from
    the previous database moments before is not used."""
    import sqlite3

    from datasette_llm import _assignments

    for name in ("first", "second"):
        sqlite3.connect(tmp_path / f"{name}.db").execute("vacuum")
    with fake_models(FakeModel("m-a"), FakeModel("m-b")):
        ds = await datasette_llm_config(
            {"default_model": "m-a", "assignments_database": "first"},
            files=[str(tmp_path / "first.db"), str(tmp_path / "second.db")],
        )
        await _assignments.assign(ds, "first", "p", "m-b", "root")
        assert (await LLM(ds).model(purpose="p")).model_id == "m-b"
        changed = {"default_model": "m-a", "assignments_database": "second"}
        original = ds.plugin_config
        monkeypatch.setattr(
            ds, "plugin_config",
            lambda name, *args, **kwargs: (
                changed if name == "datasette-llm" else original(name, *args, **kwargs)
            ),
        )
        assert (await LLM(ds).model(purpose="p")).model_id == "m-a"


# What held when attacked, kept so that it goes on holding


@pytest.mark.parametrize(
    "answer",
    ["generator", "set", "duplicates", "tuple", "another snapshot", "unoffered", "mutated"],
)
async def test_odd_but_valid_filter_answers_only_ever_narrow(
    datasette_llm_config, register_plugin, answer
):
    """Whatever shape a filter hook answers in, it keeps m-a and m-b of what it was
    offered; blocked m-c never comes back, and model() agrees with models()."""

    class Odd:
        @hookimpl
        def llm_filter_models(self, models):
            kept = [m for m in models if m.model_id in ("m-a", "m-b")]
            if answer == "generator":
                return (m for m in kept)
            if answer == "set":
                return set(kept)
            if answer == "duplicates":
                return kept + kept
            if answer == "tuple":
                return tuple(kept)
            if answer == "another snapshot":  # fresh objects from llm, same IDs
                return [llm.get_async_model(m.model_id) for m in kept]
            if answer == "unoffered":  # tries to add the blocked model back
                return kept + [llm.get_async_model("m-c")]
            if answer == "mutated":  # changes the list it was given, returns nothing
                models[:] = kept + [llm.get_async_model("m-c")]
                return None

    register_plugin(Odd())
    with fake_models(FakeModel("m-a"), FakeModel("m-b"), FakeModel("m-c"), FakeModel("m-d")):
        ds = await datasette_llm_config({"blocked_models": ["m-c"]})
        listed = [m.model_id for m in await LLM(ds).models() if m.model_id.startswith("m-")]
        expected = ["m-a", "m-b", "m-d"] if answer == "mutated" else ["m-a", "m-b"]
        assert listed == expected
        for model_id in ("m-a", "m-b", "m-c", "m-d"):
            if model_id in listed:
                assert (await LLM(ds).model(model_id)).model_id == model_id
            else:
                with pytest.raises(ModelNotAllowedError):
                    await LLM(ds).model(model_id)


async def test_a_default_hook_answering_an_alias_of_a_blocked_model_is_skipped(
    datasette_llm_config, register_plugin
):
    class Aliased:
        __name__ = "test-aliased-blocked"

        @llm.hookimpl
        def register_models(self, register):
            blocked = FakeModel("blocked-model")
            register(blocked.sync, blocked, aliases=("cheap",))

    class Prefers:
        @hookimpl
        def llm_default_model(self):
            return "cheap"

    from llm.plugins import pm as llm_pm

    register_plugin(Prefers())
    llm_pm.register(Aliased(), name="test-aliased-blocked")
    try:
        with fake_models(FakeModel("fallback")):
            ds = await datasette_llm_config(
                {"default_model": "fallback", "blocked_models": ["blocked-model"]}
            )
            assert (await LLM(ds).model()).model_id == "fallback"
    finally:
        llm_pm.unregister(name="test-aliased-blocked")


async def test_a_key_name_from_an_environment_variable_is_a_name_and_a_key_there_is_refused(
    datasette_llm_config, monkeypatch
):
    from datasette_llm import ConfigError

    config = {"default_model": {"model": "keyed", "key": {"$env": "KEY_NAME"}}}
    with fake_models(FakeModel("keyed", needs_key="acme")) as keyed:
        monkeypatch.setenv("KEY_NAME", "TEAM_KEY")
        ds = await datasette_llm_config(config)
        with fake_secrets({"TEAM_KEY": "sk-team"}):
            await (await (await LLM(ds).model()).prompt("hi")).text()
        assert keyed.keys == ["sk-team"]
        monkeypatch.setenv("KEY_NAME", "sk-proj-" + "Ab3" * 16)  # the key itself
        with pytest.raises(ConfigError, match="looks like an API key") as info:
            await LLM(ds).model()
        assert "Ab3Ab3" not in str(info.value)


async def test_a_config_mistake_made_at_run_time_leaves_other_plugins_secrets_readable(
    datasette_llm_config, register_plugin, monkeypatch
):
    """Our register_secrets hook runs whenever datasette-secrets lists secrets, for any
    plugin's get_secret(): a datasette-llm config broken by a live change must fail our
    calls, not every plugin's keys."""
    from datasette_secrets import Secret, get_secret

    from datasette_llm import ConfigError

    class Other:
        @hookimpl
        def register_secrets(self):
            return [Secret(name="OTHER_TOKEN", description="another plugin's token")]

    register_plugin(Other())
    monkeypatch.setenv("DATASETTE_SECRETS_OTHER_TOKEN", "token-value")
    ds = await datasette_llm_config({})
    original = ds.plugin_config
    monkeypatch.setattr(
        ds, "plugin_config",
        lambda name, *args, **kwargs: (
            {"blocked_model": []} if name == "datasette-llm" else original(name, *args, **kwargs)
        ),
    )
    assert await get_secret(ds, "OTHER_TOKEN") == "token-value"
    with pytest.raises(ConfigError, match="blocked_model"):
        await LLM(ds).model("echo")
