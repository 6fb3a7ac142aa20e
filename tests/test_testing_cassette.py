"""Cassettes: real llm prompts recorded to a YAML file beside the test, then replayed
without the model, its plugin or an API key (``datasette_llm.testing.Cassette``, the
``llm_cassette`` fixture and marker, ``--llm-record-mode``).

Recordings come from ``echo`` (llm-echo) and ``FakeModel``s; replays run with those
models unregistered, and once with llm's plugins not loaded at all.
"""

import asyncio
import contextlib
import json

import llm
import pytest
import yaml

import pytest_datasette_llm
from datasette_llm import LLM
from datasette_llm.testing import (
    RECORD_MODES,
    Cassette,
    CassetteFileError,
    FakeModel,
    UnrecordedPromptError,
    fake_models,
    fake_secrets,
)

pytest_plugins = ["pytester"]

INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
FAST = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:syrupy")


def read(path) -> dict:
    return yaml.safe_load(path.read_text())


def requests(path) -> list:
    return [exchange["request"] for exchange in read(path)["exchanges"]]


@pytest.fixture
def cassette_file(tmp_path):
    return tmp_path / "cassettes" / "test_module" / "test_name.yaml"


# Record, then replay across two pytest runs


RECORD_REPLAY = '''
import json, llm, pytest
from datasette_llm import LLM


@pytest.mark.llm_cassette
async def test_prompts(datasette_llm_config, llm_cassette, request):
    ds = await datasette_llm_config({"default_model": "echo"})
    model = await LLM(ds).model()
    response = await model.prompt("Hello", system="Be brief")
    assert '"prompt": "Hello"' in await response.text()
    usage = await response.usage()
    (request.path.parent / f"usage-{request.config.getoption('llm_record_mode')}.json").write_text(
        json.dumps([usage.input, usage.output])
    )
    sync = llm.get_model("echo").prompt("Line one\\nline two")
    assert '"prompt": "Line one\\\\nline two"' in sync.text()
    replaying = request.config.getoption("llm_record_mode") == "none"
    assert llm_cassette.played == ([0, 1] if replaying else [])
'''


def test_record_then_replay_across_two_runs(pytester):
    pytester.makeini(INI)
    pytester.makepyfile(test_inner=RECORD_REPLAY)
    pytester.runpytest(*FAST, "--llm-record-mode=once").assert_outcomes(passed=1)

    path = pytester.path / "cassettes" / "test_inner" / "test_prompts.yaml"
    text = path.read_text()
    assert text.startswith("# llm prompts and responses recorded by datasette-llm's Cassette\n")
    document = yaml.safe_load(text)
    assert document["version"] == 1
    assert document["models"]["echo"]["can_stream"] is True
    assert document["models"]["echo"]["options"]["example_bool"] == "boolean"
    assert [e["request"] for e in document["exchanges"]] == [
        {"model": "echo", "prompt": "Hello", "system": "Be brief"},
        {"model": "echo", "prompt": "Line one\nline two"},
    ]
    first = document["exchanges"][0]["response"]
    recorded_usage = json.loads((pytester.path / "usage-once.json").read_text())
    usage = first.get("usage") or {}  # llm-echo before 0.4 reports no usage
    assert [usage.get("input"), usage.get("output")] == recorded_usage
    assert '"prompt": "Hello"' in "".join(first["chunks"])
    # Multi-line text is written as readable blocks, not escaped strings
    assert "prompt: |-\n      Line one\n      line two\n" in text

    pytester.runpytest(*FAST).assert_outcomes(passed=1)
    assert path.read_text() == text  # replaying writes nothing
    assert json.loads((pytester.path / "usage-none.json").read_text()) == recorded_usage


# Replay with the recorded models uninstalled


UNINSTALLED = '''
import contextlib, os, sys
import llm, pytest
from datasette_llm import LLM
from datasette_llm.testing import FakeModel, fake_models, fake_secrets

RECORDING = os.environ.get("RECORDING") == "1"
POET = FakeModel(
    "poet", responses=["Rows in quiet rows"], chunks=[["Rows ", "in quiet ", "rows"]],
    needs_key="verse",
)


def recording_only(context):
    return context if RECORDING else contextlib.nullcontext()


@pytest.mark.llm_cassette
async def test_replays_without_the_models(datasette_llm_config):
    with recording_only(fake_models(POET)), recording_only(
        fake_secrets({"VERSE_API_KEY": "verse-key-3a7f1c"})
    ):
        ds = await datasette_llm_config({"default_model": "poet"})
        poet = await LLM(ds).model()
        response = await poet.prompt("A haiku about SQLite", temperature=0.2)
        assert [chunk async for chunk in response] == ["Rows ", "in quiet ", "rows"]
        echo = await LLM(ds).model("echo")
        assert '"prompt": "hi"' in await (await echo.prompt("hi")).text()
        sync = llm.get_model("poet").prompt("A haiku about SQLite", key="verse-key-3a7f1c")
        assert sync.text() == "Rows in quiet rows"
    if RECORDING:
        assert POET.keys == ["verse-key-3a7f1c", "verse-key-3a7f1c"]
    else:
        assert "llm_echo" not in sys.modules and POET.prompts == []
'''


def test_replay_with_the_models_uninstalled_and_no_key(pytester, monkeypatch):
    pytester.makeini(INI)
    pytester.makepyfile(test_inner=UNINSTALLED)
    monkeypatch.setenv("RECORDING", "1")
    pytester.runpytest(*FAST, "--llm-record-mode=once").assert_outcomes(passed=1)
    path = pytester.path / "cassettes" / "test_inner" / "test_replays_without_the_models.yaml"
    assert set(read(path)["models"]) == {"poet", "echo"}
    assert read(path)["models"]["poet"]["needs_key"] == "verse"

    # A fresh process where llm loads no plugin (no echo) and no FakeModel is registered
    monkeypatch.delenv("RECORDING")
    monkeypatch.setenv("LLM_LOAD_PLUGINS", "")
    result = pytester.runpytest_subprocess(*FAST)
    result.assert_outcomes(passed=1)
    assert "verse-key-3a7f1c" not in path.read_text()


# Each recording answers one prompt; what happens to prompts without one


async def test_each_recording_answers_once_in_order(cassette_file):
    fake = FakeModel("f", responses=["first", "second"])
    with Cassette(cassette_file, record_mode="once"), fake_models(fake):
        model = llm.get_async_model("f")
        assert [await model.prompt("same").text() for _ in range(2)] == ["first", "second"]
    with Cassette(cassette_file) as cassette:
        model = llm.get_async_model("f")
        assert [await model.prompt("same").text() for _ in range(2)] == ["first", "second"]
        with pytest.raises(UnrecordedPromptError) as info:
            await model.prompt("same").text()
    assert (
        "Its recordings (exchange 1, 2 of 2) already answered earlier prompts: each recording "
        "answers one prompt."
    ) in str(info.value)
    assert cassette.errors == [str(info.value)]


async def test_a_prompt_without_recording_shows_the_nearest_as_a_diff(cassette_file):
    with Cassette(cassette_file, record_mode="once"), fake_models(FakeModel("f")):
        for prompt in ("Summarise the table in one line", "Name three colours"):
            await llm.get_async_model("f").prompt(prompt, system="Be brief").text()
    with Cassette(cassette_file):
        with pytest.raises(UnrecordedPromptError) as info:
            await llm.get_async_model("f").prompt(
                "Summarise the table in two lines", system="Be brief", temperature=0.5
            ).text()
    message = str(info.value)
    assert message.startswith(
        f"No recording in {cassette_file} matches this prompt to 'f' (record mode 'none'; "
        "matching on model, prompt, system, options, tools, tool_results, schema).\n"
        "The nearest recorded prompt differs:\n"
        "--- recorded (exchange 1 of 2)\n"
        "+++ this prompt\n"
    )
    assert "\n-prompt: Summarise the table in one line\n" in message
    assert "\n+prompt: Summarise the table in two lines\n" in message
    assert "\n+options:\n+  temperature: 0.5\n" in message
    assert " system: Be brief\n" in message
    assert message.endswith(
        "To record it, run pytest with --llm-record-mode=new_episodes and the provider's "
        "API key in the environment."
    )


async def test_no_cassette_file_in_mode_none(cassette_file):
    with Cassette(cassette_file) as cassette:
        with pytest.raises(UnrecordedPromptError) as info:
            await llm.get_async_model("echo").prompt("hi").text()
    assert str(info.value) == (
        f"No cassette at {cassette_file} (record mode 'none'): this prompt to 'echo' has no "
        "recording. To record the test, run pytest with --llm-record-mode=once and the "
        "provider's API key in the environment."
    )
    assert not cassette_file.exists() and cassette.errors == [str(info.value)]


MISMATCH = '''
import os, llm, pytest

PROMPT = os.environ.get("PROMPT", "Summarise the table in one line")


@pytest.mark.llm_cassette
async def test_raises():
    await llm.get_async_model("echo").prompt(PROMPT).text()


@pytest.mark.llm_cassette
async def test_swallowed():
    try:
        await llm.get_async_model("echo").prompt(PROMPT).text()
    except Exception:
        pass  # as a view that turns provider errors into a message would
'''


def test_a_prompt_without_recording_fails_the_test_even_if_the_error_is_caught(
    pytester, monkeypatch
):
    pytester.makeini(INI)
    pytester.makepyfile(test_inner=MISMATCH)
    pytester.runpytest(*FAST, "--llm-record-mode=once").assert_outcomes(passed=2)
    monkeypatch.setenv("PROMPT", "Summarise the table in two lines")
    result = pytester.runpytest(*FAST)
    result.assert_outcomes(failed=1, passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_swallowed*",
            "datasette-llm cassette: 1 prompt(s) had no recording:",
            "No recording in cassettes/test_inner/test_swallowed.yaml matches this prompt*",
            "The nearest recorded prompt differs:",
            "--- recorded (exchange 1 of 1)",
            "+++ this prompt",
            "*",
            " model: echo",
            "-prompt: Summarise the table in one line",
            "+prompt: Summarise the table in two lines",
            "*UnrecordedPromptError: No recording in cassettes/test_inner/test_raises.yaml "
            "matches this prompt to 'echo' (record mode 'none'; matching on model, prompt,*",
        ]
    )
    # A failing test is not reported twice
    assert result.stdout.str().count("ERROR at teardown") == 1


# Record modes


async def test_once_records_only_without_a_file(cassette_file):
    fake = FakeModel("f")
    with Cassette(cassette_file, record_mode="once"), fake_models(fake):
        await llm.get_async_model("f").prompt("a").text()
    with Cassette(cassette_file, record_mode="once"), fake_models(fake):
        assert await llm.get_async_model("f").prompt("a").text() == "a"
        with pytest.raises(UnrecordedPromptError, match="No recording in"):
            await llm.get_async_model("f").prompt("b").text()
    assert fake.prompt_texts == ["a"]
    assert requests(cassette_file) == [{"model": "f", "prompt": "a"}]


async def test_new_episodes_replays_what_is_recorded_and_records_the_rest(cassette_file):
    fake = FakeModel("f")
    with Cassette(cassette_file, record_mode="once"), fake_models(fake):
        await llm.get_async_model("f").prompt("a").text()
    with Cassette(cassette_file, record_mode="new_episodes"), fake_models(fake):
        assert await llm.get_async_model("f").prompt("a").text() == "a"
        assert await llm.get_async_model("f").prompt("b").text() == "b"
    assert fake.prompt_texts == ["a", "b"]  # "a" the second time came from the cassette
    assert [r["prompt"] for r in requests(cassette_file)] == ["a", "b"]


async def test_all_records_everything_again(cassette_file):
    with Cassette(cassette_file, record_mode="once"), fake_models(FakeModel("f")):
        await llm.get_async_model("f").prompt("a").text()
        await llm.get_async_model("f").prompt("b").text()
    fake = FakeModel("f", responses=["new answer"])
    with Cassette(cassette_file, record_mode="all"), fake_models(fake):
        assert await llm.get_async_model("f").prompt("a").text() == "new answer"
    assert fake.prompt_texts == ["a"]
    exchanges = read(cassette_file)["exchanges"]
    assert [e["request"]["prompt"] for e in exchanges] == ["a"]
    assert exchanges[0]["response"]["chunks"] == ["new answer"]


def test_record_modes_are_the_command_line_choices():
    assert RECORD_MODES == pytest_datasette_llm._RECORD_MODES == (
        "none", "once", "new_episodes", "all"
    )


def test_unknown_record_mode_on_the_command_line(pytester):
    pytester.makeini(INI)
    pytester.makepyfile(test_inner="def test_it():\n    pass\n")
    result = pytester.runpytest(*FAST, "--llm-record-mode=sometimes")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*--llm-record-mode: invalid choice: 'sometimes'*"])


# Streaming, conversations, chains with tools, schemas


async def test_streaming_is_replayed_chunk_by_chunk_in_order(cassette_file):
    chunks = ["Rows ", "in ", "quiet ", "rows"]
    with Cassette(cassette_file, record_mode="once"), fake_models(FakeModel("poet", chunks=[chunks])):
        for _ in range(2):
            assert [c async for c in llm.get_async_model("poet").prompt("go")] == chunks
        assert list(llm.get_model("poet").prompt("go")) == chunks
    assert read(cassette_file)["exchanges"][0]["response"]["chunks"] == chunks

    log = []

    async def consume(name, response):
        async for chunk in response:
            log.append((name, chunk))

    with Cassette(cassette_file):
        model = llm.get_async_model("poet")
        await asyncio.gather(consume("a", model.prompt("go")), consume("b", model.prompt("go")))
        assert list(llm.get_model("poet").prompt("go")) == chunks
    assert [chunk for name, chunk in log if name == "a"] == chunks
    assert [chunk for name, chunk in log if name == "b"] == chunks
    # One chunk at a time, yielding to the event loop in between: the streams interleave
    assert log[:2] == [("a", "Rows "), ("b", "Rows ")]


async def test_stream_events_are_replayed(cassette_file):
    pytest.importorskip("llm.parts")
    if "thinking" not in llm.get_model("echo").Options.model_fields:
        pytest.skip("this llm-echo has no thinking option")
    with Cassette(cassette_file, record_mode="once"):
        response = llm.get_async_model("echo").prompt("hi", thinking=True)
        recorded = [(e.type, e.chunk) async for e in response.astream_events()]
    assert [t for t, _ in recorded] == ["reasoning", "reasoning", "text"]
    with Cassette(cassette_file):
        response = llm.get_async_model("echo").prompt("hi", thinking=True)
        assert [(e.type, e.chunk) async for e in response.astream_events()] == recorded


async def test_conversations_are_replayed_with_their_history(cassette_file, datasette_llm_config):
    async def converse(model):
        conversation = model.conversation()
        first = await (await conversation.prompt("My name is Ada")).text()
        second = await (await conversation.prompt("What is my name?")).text()
        return first, second

    scripted = FakeModel("f", responses=["Hello Ada", "Your name is Ada"])
    with Cassette(cassette_file, record_mode="once"), fake_models(scripted):
        ds = await datasette_llm_config({"default_model": "f"})
        assert await converse(await LLM(ds).model()) == ("Hello Ada", "Your name is Ada")
    assert requests(cassette_file)[1]["history"] == ["My name is Ada"]

    with Cassette(cassette_file):
        ds = await datasette_llm_config({"default_model": "f"})
        assert await converse(await LLM(ds).model()) == ("Hello Ada", "Your name is Ada")

    # Matching on the history: the second question alone is a different prompt
    with Cassette(cassette_file, match_on=["model", "prompt", "history"]):
        with pytest.raises(UnrecordedPromptError, match=r"(?s)-history:\n-- My name is Ada"):
            await llm.get_async_model("f").prompt("What is my name?").text()


def population(city: str) -> str:
    "The population of a city"
    population.calls.append(city)
    return {"Paris": "2.1 million", "Lyon": "0.5 million"}[city]


population.calls = []
# A chain: the model asks for both populations, then answers from the tools' results
CHAIN_TURNS = [
    {"text": "", "tool_calls": [
        {"name": "population", "arguments": {"city": "Paris"}},
        {"name": "population", "arguments": {"city": "Lyon"}},
    ]},
    "Paris has 2.1 million people, Lyon 0.5 million.",
]


async def test_chains_with_tool_calls_are_replayed(cassette_file, datasette_llm_config):
    planner = FakeModel("planner", responses=CHAIN_TURNS)

    async def ask():
        ds = await datasette_llm_config({"default_model": "planner"})
        model = await LLM(ds).model()
        chain = model.chain("How many people live in Paris and Lyon?", tools=[population])
        return await chain.text()

    with Cassette(cassette_file, record_mode="once"), fake_models(planner):
        assert await ask() == "Paris has 2.1 million people, Lyon 0.5 million."
    first, second = read(cassette_file)["exchanges"]
    assert [(c["name"], c["arguments"]) for c in first["response"]["tool_calls"]] == [
        ("population", {"city": "Paris"}), ("population", {"city": "Lyon"}),
    ]
    assert first["request"]["tools"][0]["name"] == "population"
    assert first["request"]["tools"][0]["description"] == "The population of a city"
    assert [(r["name"], r["output"]) for r in second["request"]["tool_results"]] == [
        ("population", "2.1 million"), ("population", "0.5 million"),
    ]

    # Replayed without the model: the tool calls come from the cassette, the tools run
    # again, and their results must match what was recorded
    population.calls.clear()
    with Cassette(cassette_file):
        assert await ask() == "Paris has 2.1 million people, Lyon 0.5 million."
    assert population.calls == ["Paris", "Lyon"]


async def test_a_changed_tool_result_is_a_different_prompt(cassette_file):
    def today() -> str:
        "Today's date"
        return "2024-05-01"

    fake = FakeModel("f", responses=[{"text": "", "tool_calls": [{"name": "today"}]}, "May"])
    with Cassette(cassette_file, record_mode="once"), fake_models(fake):
        assert await llm.get_async_model("f").chain("Which month?", tools=[today]).text() == "May"

    def later() -> str:
        "Today's date"
        return "2024-06-01"

    later.__name__ = "today"
    with Cassette(cassette_file):
        with pytest.raises(UnrecordedPromptError, match=r"(?s)-  output: '2024-05-01'\n\+  output: '2024-06-01'"):
            await llm.get_async_model("f").chain("Which month?", tools=[later]).text()


async def test_schema_prompts_are_matched_on_their_schema(cassette_file):
    person = {"type": "object", "properties": {"name": {"type": "string"}}}
    fake = FakeModel("f", responses=['{"name": "Ada"}'])
    with Cassette(cassette_file, record_mode="once"), fake_models(fake):
        await llm.get_async_model("f").prompt("Invent a person", schema=person).text()
    assert requests(cassette_file)[0]["schema"] == person
    with Cassette(cassette_file):
        response = llm.get_async_model("f").prompt("Invent a person", schema=person)
        assert json.loads(await response.text()) == {"name": "Ada"}
    with_age = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}}
    with Cassette(cassette_file):
        with pytest.raises(UnrecordedPromptError, match=r"\+    age:\n\+      type: integer"):
            await llm.get_async_model("f").prompt("Invent a person", schema=with_age).text()


async def test_usage_and_tool_call_ids_are_replayed(cassette_file):
    fake = FakeModel(
        "f", responses=[{"text": "ok", "tool_calls": [{"name": "t", "arguments": {"x": 1}}]}],
        usage=(120, 7),
    )
    with Cassette(cassette_file, record_mode="once"), fake_models(fake):
        recorded = llm.get_async_model("f").prompt("go")
        await recorded.text()
        recorded_calls = await recorded.tool_calls()
    with Cassette(cassette_file):
        replayed = llm.get_async_model("f").prompt("go")
        usage = await replayed.usage()
        assert (usage.input, usage.output) == (120, 7)
        calls = await replayed.tool_calls()
    assert [(c.name, c.arguments, c.tool_call_id) for c in calls] == [
        (c.name, c.arguments, c.tool_call_id) for c in recorded_calls
    ]


# API keys never reach a cassette


LEAKY = '''
import datasette_secrets, llm, pytest
from cryptography.fernet import Fernet
from datasette_llm import LLM
from datasette_llm.testing import fake_models


def answer(prompt, response, key):
    # A careless provider: the key in its text (split across chunks), a tool call, usage
    response.add_tool_call(llm.ToolCall(name="audit", arguments={"token": key}))
    response.set_usage(input=1, output=1, details={"echoed": key})
    return ["key=", key[:4], key[4:], f" and again {key} ", prompt.prompt]


class LeakySync(llm.KeyModel):
    model_id, needs_key, key_env_var = "leaky", "leaky", "LEAKY_TOKEN"
    supports_tools = True

    def execute(self, prompt, stream, response, conversation=None, key=None):
        yield from answer(prompt, response, key)


class Leaky(llm.AsyncKeyModel):
    model_id, needs_key, key_env_var = "leaky", "leaky", "LEAKY_TOKEN"
    supports_tools = True
    sync = LeakySync()

    async def execute(self, prompt, stream, response, conversation=None, key=None):
        for chunk in answer(prompt, response, key):
            yield chunk


@pytest.fixture(autouse=True)
def leaky():
    with fake_models(Leaky()):
        yield


@pytest.mark.llm_cassette
async def test_key_argument(datasette_llm_config):
    await llm.get_async_model("leaky").prompt("direct", key="arg-key-5c81d2e9").text()
    ds = await datasette_llm_config({"require_keys": False})
    model = await LLM(ds).model("leaky")
    await (await model.prompt("wrapped", key="arg-key-5c81d2e9")).text()


@pytest.mark.llm_cassette
async def test_datasette_secrets_environment_variable(datasette_llm_config):
    ds = await datasette_llm_config({})
    await (await (await LLM(ds).model("leaky")).prompt("from secrets env")).text()


@pytest.mark.llm_cassette
async def test_datasette_secrets_database(datasette_llm_config, monkeypatch):
    monkeypatch.delenv("DATASETTE_SECRETS_LEAKY_API_KEY", raising=False)
    encryption_key = Fernet.generate_key()
    ds = await datasette_llm_config(
        {}, plugins={"datasette-secrets": {"encryption-key": encryption_key.decode()}}
    )
    db = datasette_secrets.get_database(ds)
    await db.execute_write(datasette_secrets.SCHEMA)
    await db.execute_write(
        "insert into datasette_secrets (name, version, encrypted, encryption_key_name)"
        " values ('LEAKY_API_KEY', 1, ?, 'default')",
        (Fernet(encryption_key).encrypt(b"db-key-7e2a9b41"),),
    )
    await (await (await LLM(ds).model("leaky")).prompt("from the database")).text()


@pytest.mark.llm_cassette
async def test_llm_keys_json(llm_user_dir):
    (llm_user_dir / "keys.json").write_text('{"leaky": "keys-json-key-0f4c3d8a"}')
    await llm.get_async_model("leaky").prompt("from keys.json").text()


@pytest.mark.llm_cassette
async def test_provider_environment_variable():
    llm.get_model("leaky").prompt("from the provider variable").text()


@pytest.mark.llm_cassette
async def test_key_shaped_text_in_a_prompt():
    await llm.get_async_model("leaky").prompt(
        "My key is sk-ant-api03-q9Zt4XwLr2Kp8", key="arg-key-5c81d2e9"
    ).text()
'''
KEYS = {
    "DATASETTE_SECRETS_LEAKY_API_KEY": "secrets-env-key-91b0c6f3",
    "LEAKY_TOKEN": "sk-provider-env-4d2f8a61c9",
}


def test_no_api_key_is_written_to_a_cassette_whichever_its_source(pytester, monkeypatch):
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    pytester.makeini(INI)
    pytester.makepyfile(test_inner=LEAKY)
    pytester.runpytest(*FAST, "--llm-record-mode=once").assert_outcomes(passed=6)

    cassettes = sorted((pytester.path / "cassettes" / "test_inner").glob("*.yaml"))
    assert len(cassettes) == 6
    keys = [
        *KEYS.values(), "arg-key-5c81d2e9", "db-key-7e2a9b41", "keys-json-key-0f4c3d8a",
        "sk-ant-api03-q9Zt4XwLr2Kp8",
    ]
    for path in cassettes:
        text = path.read_text()
        assert [key for key in keys if key in text] == [], path.name
        assert "<redacted>" in text, path.name
    # Each recording shows where its key was
    response = read(cassettes[0])["exchanges"][0]["response"]
    assert response["tool_calls"][0]["arguments"] == {"token": "<redacted>"}
    assert response["usage"]["details"] == {"echoed": "<redacted>"}

    # And they replay with no key anywhere
    for name in KEYS:
        monkeypatch.delenv(name)
    pytester.runpytest(*FAST).assert_outcomes(passed=6)


# The pytest side: fixture, marker, paths, isolation


def test_cassette_paths_are_beside_the_test(pytester):
    pytester.makeini(INI)
    pytester.makepyfile(
        test_inner=(
            "import llm, pytest\n"
            "@pytest.mark.llm_cassette\n"
            "@pytest.mark.parametrize('topic', ['SQL', 'a/b c'])\n"
            "def test_param(topic):\n"
            "    llm.get_model('echo').prompt(topic).text()\n"
            "class TestGroup:\n"
            "    def test_method(self, llm_cassette):\n"
            "        llm.get_model('echo').prompt('x').text()\n"
        )
    )
    pytester.runpytest(*FAST, "--llm-record-mode=once").assert_outcomes(passed=3)
    written = sorted(p.name for p in (pytester.path / "cassettes" / "test_inner").iterdir())
    assert written == ["TestGroup.test_method.yaml", "test_param[SQL].yaml", "test_param[a_b_c].yaml"]


def test_recording_keeps_the_key_variables_for_cassette_tests_only(pytester, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "recording-key-2b7e")
    pytester.makeini(INI)
    pytester.makepyfile(
        test_inner=(
            "import os, pytest\n"
            "RECORDING = os.environ.get('EXPECT_KEY') == '1'\n"
            "@pytest.mark.llm_cassette\n"
            "def test_cassette():\n"
            "    assert ('OPENAI_API_KEY' in os.environ) is RECORDING\n"
            "def test_other(fake_model):\n"
            "    assert 'OPENAI_API_KEY' not in os.environ\n"
        )
    )
    monkeypatch.setenv("EXPECT_KEY", "1")
    for mode in ("once", "new_episodes", "all"):
        pytester.runpytest(*FAST, f"--llm-record-mode={mode}").assert_outcomes(passed=2)
    monkeypatch.setenv("EXPECT_KEY", "0")
    pytester.runpytest(*FAST).assert_outcomes(passed=2)


def test_marker_match_on(pytester, monkeypatch):
    pytester.makeini(INI)
    pytester.makepyfile(
        test_inner=(
            "import os, llm, pytest\n"
            "@pytest.mark.llm_cassette(match_on=['model', 'prompt'])\n"
            "def test_it():\n"
            "    llm.get_model('echo').prompt('x', system=os.environ.get('SYSTEM', 'a')).text()\n"
        )
    )
    pytester.runpytest(*FAST, "--llm-record-mode=once").assert_outcomes(passed=1)
    monkeypatch.setenv("SYSTEM", "another system prompt")
    pytester.runpytest(*FAST).assert_outcomes(passed=1)


@pytest.mark.parametrize(
    "marker, message",
    [
        ("llm_cassette('x.yaml')", "llm_cassette marker takes only match_on=[...], got 'x.yaml'"),
        ("llm_cassette(match=['prompt'])", "llm_cassette marker takes only match_on=[...], got match"),
        ("llm_cassette(match_on=['colour'])", "Cassette match_on= has unknown name(s) 'colour'; choose from model, prompt,"),
    ],
)
def test_marker_arguments_are_checked(pytester, marker, message):
    pytester.makeini(INI)
    pytester.makepyfile(test_inner=f"import pytest\n@pytest.mark.{marker}\ndef test_it():\n    pass\n")
    result = pytester.runpytest(*FAST)
    assert result.ret != 0
    assert message in result.stdout.str()


def test_marker_is_declared(pytestconfig):
    assert any(line.startswith("llm_cassette(") for line in pytestconfig.getini("markers"))


def test_a_cassette_left_active_is_caught(pytester):
    pytester.makeini(INI)
    pytester.makepyfile(
        test_inner=(
            "import llm\n"
            "from datasette_llm.testing import Cassette\n"
            "def test_leaks(tmp_path):\n"
            "    Cassette(tmp_path / 'c.yaml').__enter__()\n"
            "def test_next_test_starts_clean():\n"
            "    assert llm.get_model('echo').prompt('hi').text().startswith('{')\n"
        )
    )
    result = pytester.runpytest(*FAST)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*<Cassette *c.yaml record_mode='none'> was never exited*"])


@pytest.mark.llm_models(FakeModel("scripted", responses=["from the script"]))
async def test_fake_models_of_the_marker_replayed_from_a_cassette_are_not_unused(
    llm_models, cassette_file
):
    with Cassette(cassette_file, record_mode="once"):
        await llm.get_async_model("scripted").prompt("x").text()
    llm_models["scripted"].reset()
    with Cassette(cassette_file):
        assert await llm.get_async_model("scripted").prompt("x").text() == "from the script"
    assert llm_models["scripted"].prompts == []
    llm_models["scripted"].responses = []  # nothing left for the teardown check to miss


# The Cassette's own arguments and files


def test_cassette_arguments_are_checked(cassette_file):
    with pytest.raises(ValueError, match="record_mode='sometimes' is not one of none, once, new_episodes, all"):
        Cassette(cassette_file, record_mode="sometimes")
    with pytest.raises(ValueError, match=r"match_on= has unknown name\(s\) 'colour'"):
        Cassette(cassette_file, match_on=["prompt", "colour"])
    with pytest.raises(TypeError, match="match_on= takes a list of names, not the string 'prompt'"):
        Cassette(cassette_file, match_on="prompt")


def test_one_cassette_at_a_time(cassette_file, tmp_path):
    with Cassette(cassette_file):
        with pytest.raises(RuntimeError, match="is already active: use one cassette at a time"):
            Cassette(tmp_path / "other.yaml").__enter__()


@pytest.mark.parametrize(
    "content, message",
    [
        ("exchanges: [", "is not valid YAML"),
        ("version: 7\nexchanges: []\n", "has version 7; this datasette-llm reads version 1"),
        ("version: 1\nexchanges:\n- request: {prompt: x}\n", r"exchanges\[0\] needs a 'request' with a 'model'"),
        ("- just a list\n", "must be a mapping with 'version' and 'exchanges'"),
    ],
)
def test_unreadable_cassette_files_are_named(cassette_file, content, message):
    cassette_file.parent.mkdir(parents=True)
    cassette_file.write_text(content)
    with pytest.raises(CassetteFileError, match=f"cassette {cassette_file}.*{message}"):
        Cassette(cassette_file)


async def test_models_are_stood_in_for_only_while_the_cassette_is_active(cassette_file):
    real_echo = type(llm.get_async_model("echo"))
    with Cassette(cassette_file, record_mode="once"):
        assert type(llm.get_async_model("echo")) is not real_echo
        assert str(llm.get_async_model("echo")) == str(real_echo())
    assert type(llm.get_async_model("echo")) is real_echo


async def test_a_model_known_only_from_the_cassette_cannot_record(cassette_file):
    with Cassette(cassette_file, record_mode="once"), fake_models(FakeModel("gone")):
        await llm.get_async_model("gone").prompt("a").text()
    with Cassette(cassette_file, record_mode="new_episodes"):
        assert await llm.get_async_model("gone").prompt("a").text() == "a"
        with pytest.raises(UnrecordedPromptError, match="the model is not installed"):
            await llm.get_async_model("gone").prompt("b").text()


async def test_fake_secrets_keys_are_not_written(cassette_file, datasette_llm_config):
    fake = FakeModel("paid", needs_key="acme", responses=["ok"])
    with Cassette(cassette_file, record_mode="once"), fake_models(fake):
        with fake_secrets({"ACME_API_KEY": "fake-secret-value-81c2"}):
            ds = await datasette_llm_config({})
            model = await LLM(ds).model("paid")
            await (await model.prompt("x")).text()
    assert fake.keys == ["fake-secret-value-81c2"]
    assert "fake-secret-value-81c2" not in cassette_file.read_text()


# A cassette committed with the repository, replayed on every llm version of the matrix


COMMITTED_MODELS = (
    FakeModel(
        "planner",
        responses=[
            *CHAIN_TURNS,
            "Hello Ada",
            "Your name is Ada",
            '{"name": "Ada", "born": 1815}',
        ],
        chunks=[
            [], ["Paris has 2.1 million people, ", "Lyon 0.5 million."], ["Hello ", "Ada"],
            ["Your name ", "is Ada"], ['{"name": "Ada", ', '"born": 1815}'],
        ],
        needs_key="planco",
        usage=(40, 9),
    ),
)


@pytest.mark.llm_cassette
async def test_a_committed_cassette_replays(llm_cassette, datasette_llm_config):
    """Recorded once from FakeModels (``pytest --llm-record-mode=all -k committed``) and
    committed, it replays without them on every llm the tox matrix runs."""
    recording = llm_cassette.can_record
    with fake_models(*COMMITTED_MODELS) if recording else contextlib.nullcontext():
        with fake_secrets({"PLANCO_API_KEY": "planco-key-recorded"}) if recording else (
            contextlib.nullcontext()
        ):
            ds = await datasette_llm_config({"purposes": {"planning": {"model": "planner"}}})
            model = await LLM(ds).model(purpose="planning")

            chain = model.chain("Populations of Paris and Lyon?", tools=[population],
                                system="Use the tools")
            assert await chain.text() == "Paris has 2.1 million people, Lyon 0.5 million."

            conversation = model.conversation()
            response = await conversation.prompt("My name is Ada")
            assert [chunk async for chunk in response] == ["Hello ", "Ada"]
            response = await conversation.prompt("What is my name?")
            assert [chunk async for chunk in response] == ["Your name ", "is Ada"]
            assert (await response.usage()).input == 40

            person = {"type": "object", "properties": {"name": {"type": "string"},
                                                       "born": {"type": "integer"}}}
            response = await model.prompt("Invent a mathematician", schema=person)
            assert json.loads(await response.text()) == {"name": "Ada", "born": 1815}
    if not recording:
        assert len(llm_cassette.played) == len(llm_cassette.recorded) == 5


# What counts as a key


@pytest.mark.parametrize(
    "text",
    [
        "sk-proj-4bX9zQ2mL7",
        "sk-ant-api03-q9Zt4XwLr2Kp8",
        "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStU",
        "gsk_4bX9zQ2mL7pR8sT1vW3y",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9",
        "AKIAIOSFODNN7EXAMPLE",
    ],
)
def test_key_shaped_text_is_redacted(text):
    from datasette_llm.testing._key_scrub import scrub

    assert "<redacted>" in scrub({"a": [text]}, set())["a"][0]


@pytest.mark.parametrize("text", ["a task-force of risk-free sk-", "Skip ahead", "ask-me"])
def test_ordinary_text_is_kept(text):
    from datasette_llm.testing._key_scrub import scrub

    assert scrub(text, set()) == text


def test_known_keys_are_redacted_wherever_they_are_and_longest_first():
    from datasette_llm.testing._key_scrub import scrub

    keys = {"secret-value-1", "secret-value-1-longer"}
    assert scrub({"x": ["use secret-value-1-longer or secret-value-1"], "n": 3}, keys) == {
        "x": ["use <redacted> or <redacted>"], "n": 3,
    }
