"""The pytest plugin (``pytest_datasette_llm``): fixtures, the ``llm_models`` marker,
isolation of llm's user directory and API keys, and catching tests that leak helpers.

Behaviours that fail a test at teardown are checked by running small test files with
pytest's own ``pytester``.
"""

import importlib.metadata
import json
import os
import pathlib
import subprocess
import sys

import llm
import pytest

import datasette_llm.testing  # noqa: F401  imported before pytester snapshots sys.modules
from datasette_llm import LLM, ConfigError
from datasette_llm.testing import FakeModel, HookRecorder, fake_models

pytest_plugins = ["pytester"]

INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
# Plugins these runs do not need; hypothesis's would import hypothesis again every run
FAST = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:syrupy")


@pytest.fixture
def run(pytester):
    """Run a test file through pytest in this process; return pytest's RunResult."""
    pytester.makeini(INI)

    def run(source, *args):
        pytester.makepyfile(test_inner=source)
        return pytester.runpytest(*FAST, *args)

    return run


# The plugin is installed and cheap to import


def test_registered_as_a_pytest11_entry_point():
    entry_points = importlib.metadata.entry_points(group="pytest11")
    assert "pytest_datasette_llm" in [ep.value for ep in entry_points if ep.name == "datasette_llm"]


def test_importing_the_plugin_imports_neither_datasette_nor_llm():
    code = (
        "import sys, pytest_datasette_llm\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('datasette', 'llm', 'datasette_llm', 'datasette_secrets', 'datasette_test', 'httpx'))\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# Fixtures


async def test_fake_model_fixture_is_registered(fake_model, datasette_llm_config):
    assert isinstance(fake_model, FakeModel) and fake_model.model_id == "fake"
    assert llm.get_async_model("fake") is fake_model
    ds = await datasette_llm_config({"default_model": "fake"})
    model = await LLM(ds).model()
    assert await (await model.prompt("hi")).text() == "hi"
    assert fake_model.prompt_texts == ["hi"]


def test_fake_model_fixture_is_fresh_for_each_test(fake_model):
    assert fake_model.prompts == []


def test_hook_recorder_fixture(hook_recorder):
    assert isinstance(hook_recorder, HookRecorder)
    assert hook_recorder.calls == []


async def test_datasette_llm_config_applies_the_config(datasette_llm_config):
    config = {"default_model": "echo", "purposes": {"summaries": {"model": "echo"}}}
    ds = await datasette_llm_config(config, plugins={"other-plugin": {"setting": 1}})
    assert ds.plugin_config("datasette-llm") == config
    assert ds.plugin_config("other-plugin") == {"setting": 1}
    assert (await LLM(ds).model(purpose="summaries")).model_id == "echo"
    # Started: startup hooks have run
    assert ds._startup_invoked


async def test_datasette_llm_config_validates_at_startup(datasette_llm_config):
    with pytest.raises(ConfigError, match="default_model"):
        await datasette_llm_config({"default_model": 42})


async def test_datasette_llm_config_without_config(datasette_llm_config):
    ds = await datasette_llm_config()
    assert ds.plugin_config("datasette-llm") is None
    response = await ds.client.get("/-/plugins.json")
    assert "datasette-llm" in [p["name"] for p in response.json()]


async def test_datasette_llm_config_passes_datasette_arguments(datasette_llm_config, tmp_path):
    import sqlite3

    path = tmp_path / "data.db"
    sqlite3.connect(path).execute("create table t (id integer)").connection.close()
    ds = await datasette_llm_config({}, files=[str(path)])
    assert "data" in ds.databases
    assert "_memory" not in ds.databases


# The marker


@pytest.mark.llm_models("plain", FakeModel("scripted", responses=["one", "two"]))
async def test_marker_registers_models(llm_models, datasette_llm_config):
    assert set(llm_models) == {"plain", "scripted"}
    assert llm.get_async_model("plain") is llm_models["plain"]
    ds = await datasette_llm_config({"default_model": "scripted"})
    model = await LLM(ds).model()
    assert [await (await model.prompt(p)).text() for p in "ab"] == ["one", "two"]
    assert llm_models["scripted"].prompt_texts == ["a", "b"]


SHARED = FakeModel("shared", responses=["first"])


@pytest.mark.parametrize("run_number", [1, 2])
@pytest.mark.llm_models(SHARED)
def test_marker_models_start_each_test_clean(run_number, llm_models):
    # The marker's FakeModel is built once at import; each test starts it afresh
    assert llm_models["shared"] is SHARED
    assert SHARED.prompts == []
    assert llm.get_model("shared").prompt("x").text() == "first"


@pytest.mark.llm_models(FakeModel("unused", responses=["never asked"]), assert_all_used=False)
def test_marker_assert_all_used_false(llm_models):
    assert llm_models["unused"].prompts == []


def test_marker_models_are_gone_after_the_test():
    ids = [m.model_id for m in llm.get_models()]
    assert not {"plain", "scripted", "shared", "unused"} & set(ids)


def test_llm_models_fixture_needs_the_marker(run):
    result = run("def test_it(llm_models):\n    pass\n")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the llm_models fixture needs an @pytest.mark.llm_models*"])


def test_marker_rejects_unknown_arguments(run):
    result = run(
        "import pytest\n"
        "@pytest.mark.llm_models('a', assert_all_usd=False)\n"
        "def test_it():\n    pass\n"
    )
    assert result.ret != 0
    assert "llm_models marker: unknown argument(s) ['assert_all_usd']" in result.stdout.str()


def test_marker_rejects_other_objects(run):
    result = run("import pytest\n@pytest.mark.llm_models(42)\ndef test_it():\n    pass\n")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*takes FakeModel objects or model ID strings, got 42*"])


def test_marker_is_declared(pytestconfig):
    assert any(line.startswith("llm_models(") for line in pytestconfig.getini("markers"))


# Unused scripted responses fail at teardown


def test_unused_scripted_marker_model_fails_at_teardown(run):
    result = run(
        "import llm, pytest\n"
        "from datasette_llm.testing import FakeModel\n"
        "@pytest.mark.llm_models(FakeModel('m', responses=['a', 'b']))\n"
        "def test_prompts_once():\n"
        "    assert llm.get_model('m').prompt('hi').text() == 'a'\n"
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_prompts_once*"])
    assert (
        "- FakeModel 'm' was scripted with 2 response(s) but prompted 1 time(s): ['hi']; "
        "remove the unused responses, or use @pytest.mark.llm_models(assert_all_used=False)"
    ) in result.stdout.str()


def test_unused_responses_of_the_fake_model_fixture_fail_at_teardown(run):
    result = run(
        "def test_scripts_but_never_prompts(fake_model):\n"
        "    fake_model.responses = ['never used']\n"
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*FakeModel 'fake' was scripted with 1 response(s) but prompted 0*"]
    )


def test_all_responses_used_passes_and_failing_tests_are_not_reported_twice(run):
    result = run(
        "import llm, pytest\n"
        "from datasette_llm.testing import FakeModel\n"
        "@pytest.mark.llm_models(FakeModel('m', responses=['a', 'b']))\n"
        "def test_uses_both():\n"
        "    model = llm.get_model('m')\n"
        "    assert [model.prompt(p).text() for p in 'xy'] == ['a', 'b']\n"
        "@pytest.mark.llm_models(FakeModel('n', responses=['a', 'b']))\n"
        "def test_fails_first():\n"
        "    assert False, 'the real failure'\n"
    )
    result.assert_outcomes(passed=1, failed=1)
    assert "scripted with" not in result.stdout.str()


# Leaks: helpers a test forgot to exit


def test_forgotten_fake_models_is_caught_and_cleaned_up(run):
    result = run(
        "import llm\n"
        "from datasette_llm.testing import FakeModel, fake_models\n"
        "def test_leaks():\n"
        "    fake_models(FakeModel('leaked')).__enter__()\n"
        "def test_next_test_starts_clean():\n"
        "    assert 'leaked' not in [m.model_id for m in llm.get_models()]\n"
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks*",
            "*fake_models('leaked') was never exited (use it in a with block)*",
        ]
    )


def test_forgotten_fake_secrets_is_caught_and_cleaned_up(run):
    result = run(
        "import datasette_secrets\n"
        "from datasette_llm.testing import fake_secrets\n"
        "ORIGINAL = datasette_secrets.get_secret\n"
        "def test_leaks():\n"
        "    fake_secrets({'LEAKED_KEY': 'sk-leak'}).__enter__()\n"
        "    assert datasette_secrets.get_secret is not ORIGINAL\n"
        "def test_next_test_starts_clean():\n"
        "    assert datasette_secrets.get_secret is ORIGINAL\n"
    )
    result.assert_outcomes(passed=2, errors=1)
    assert "- <fake_secrets ['LEAKED_KEY']> was never exited" in result.stdout.str()
    assert "sk-leak" not in result.stdout.str()


def test_forgotten_hook_recorder_is_caught_and_cleaned_up(run):
    result = run(
        "from datasette.plugins import pm\n"
        "from datasette_llm.testing import HookRecorder\n"
        "def recorders():\n"
        "    return [p for p in pm.get_plugins() if hasattr(p, 'recorder')]\n"
        "def test_leaks():\n"
        "    HookRecorder().__enter__()\n"
        "def test_next_test_starts_clean():\n"
        "    assert recorders() == []\n"
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*<HookRecorder 0 calls> was never exited*"])


def test_helpers_of_wider_scoped_fixtures_are_not_leaks(run):
    result = run(
        "import llm, pytest\n"
        "from datasette_llm.testing import FakeModel, fake_models\n"
        "@pytest.fixture(scope='module')\n"
        "def shared_model():\n"
        "    with fake_models(FakeModel('module-wide')) as model:\n"
        "        yield model\n"
        "def test_one(shared_model):\n"
        "    assert llm.get_async_model('module-wide') is shared_model\n"
        "def test_two(shared_model):\n"
        "    assert llm.get_async_model('module-wide') is shared_model\n"
    )
    result.assert_outcomes(passed=2)


# Isolation


def test_llm_user_dir_is_a_temporary_directory(llm_user_dir):
    assert os.environ["LLM_USER_PATH"] == str(llm_user_dir)
    assert llm.user_dir() == llm_user_dir
    assert list(llm_user_dir.iterdir()) == []
    real_default = pathlib.Path.home() / ".config" / "io.datasette.llm"
    assert real_default not in llm.user_dir().parents and llm.user_dir() != real_default


def test_keys_json_in_llm_user_dir_is_what_llm_reads(llm_user_dir):
    (llm_user_dir / "keys.json").write_text(json.dumps({"fakeprovider": "from-keys-json"}))
    assert llm.get_key(alias="fakeprovider") == "from-keys-json"


def test_each_isolated_test_gets_its_own_user_dir(pytester, run):
    result = run(
        "import llm\n"
        "seen = []\n"
        "def test_one(llm_user_dir):\n"
        "    (llm_user_dir / 'keys.json').write_text('{\"p\": \"k\"}')\n"
        "    seen.append(llm.user_dir())\n"
        "def test_two(fake_model):\n"
        "    seen.append(llm.user_dir())\n"
        "    assert seen[0] != seen[1]\n"
        "    assert llm.get_key(alias='p') is None\n"
    )
    result.assert_outcomes(passed=2)


WHICH_TESTS = """
import os, llm, pytest

REAL = {real!r}


def check(isolated):
    if isolated:
        assert os.environ['LLM_USER_PATH'] != REAL
        assert 'OPENAI_API_KEY' not in os.environ
        assert 'DATASETTE_SECRETS_OPENAI_API_KEY' not in os.environ
        assert llm.get_key(alias='openai', env='OPENAI_API_KEY') is None
    else:
        assert os.environ['LLM_USER_PATH'] == REAL
        assert os.environ['OPENAI_API_KEY'] == 'sk-real-env'
        assert os.environ['DATASETTE_SECRETS_OPENAI_API_KEY'] == 'sk-real-secret'
        assert llm.get_key(alias='openai', env='OPENAI_API_KEY') == 'sk-real-keys-json'


@pytest.fixture
def app(datasette_llm_config):
    return datasette_llm_config


def test_plain():
    check({plain})


def test_monkeypatch_only(monkeypatch):
    check({plain})


def test_fake_model(fake_model):
    check({ours})


def test_hook_recorder(hook_recorder):
    check({ours})


def test_datasette_llm_config(datasette_llm_config):
    check({ours})


def test_llm_user_dir(llm_user_dir):
    check({ours})


def test_through_another_fixture(app):
    check({ours})


@pytest.mark.llm_models('m')
def test_llm_models_marker():
    check({ours})


@pytest.mark.llm_cassette
def test_llm_cassette_marker():
    check({ours})


def test_llm_cassette(llm_cassette):
    check({ours})
"""


@pytest.mark.parametrize(
    "setting, plain_isolated, ours_isolated",
    [
        (None, False, True),  # the default: fixtures
        ("fixtures", False, True),
        ("all", True, True),
        ("true", True, True),  # what `true` (the default before) always meant: every test
        ("off", False, False),
        ("false", False, False),
    ],
)
def test_which_tests_are_isolated(
    pytester, tmp_path, monkeypatch, setting, plain_isolated, ours_isolated
):
    real_dir = tmp_path / "real-llm-dir"
    real_dir.mkdir()
    (real_dir / "keys.json").write_text(json.dumps({"openai": "sk-real-keys-json"}))
    monkeypatch.setenv("LLM_USER_PATH", str(real_dir))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-env")
    monkeypatch.setenv("DATASETTE_SECRETS_OPENAI_API_KEY", "sk-real-secret")
    pytester.makeini(INI + (f"datasette_llm_isolate = {setting}\n" if setting else ""))
    pytester.makepyfile(
        test_inner=WHICH_TESTS.format(real=str(real_dir), plain=plain_isolated, ours=ours_isolated)
    )
    result = pytester.runpytest(*FAST)
    result.assert_outcomes(passed=10)
    # And everything is back afterwards
    assert os.environ["OPENAI_API_KEY"] == "sk-real-env"
    assert os.environ["LLM_USER_PATH"] == str(real_dir)


def test_an_isolated_test_can_still_set_a_key(run, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-env")
    result = run(
        "import llm\n"
        "def test_it(fake_model, monkeypatch):\n"
        "    assert llm.get_key(alias='openai', env='OPENAI_API_KEY') is None\n"
        "    monkeypatch.setenv('OPENAI_API_KEY', 'sk-test')\n"
        "    assert llm.get_key(alias='openai', env='OPENAI_API_KEY') == 'sk-test'\n"
    )
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("value", ["maybe", "fixture"])
def test_isolation_setting_must_be_known(pytester, value):
    pytester.makeini(INI + f"datasette_llm_isolate = {value}\n")
    pytester.makepyfile(test_inner="def test_it():\n    pass\n")
    result = pytester.runpytest(*FAST)
    assert result.ret != 0
    result.stderr.fnmatch_lines(
        [f"*datasette_llm_isolate = '{value}': use fixtures (the default*, all (every test) or off*"]
    )


def test_fake_models_inside_a_test_are_not_the_next_tests_business():
    with fake_models(FakeModel("local")):
        pass
    assert "local" not in [m.model_id for m in llm.get_models()]
