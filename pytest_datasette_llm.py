"""pytest plugin shipped with datasette-llm (entry point ``pytest11``).

Inert unless asked: a test that uses none of its fixtures and markers runs exactly as
it would without datasette-llm installed. Kept import-light: importing it imports
neither Datasette nor llm; they are imported when a test uses a fixture or marker of
ours. The public helpers live in ``datasette_llm.testing``.

- A test that uses one of our fixtures (``fake_model``, ``hook_recorder``,
  ``datasette_llm_config``, ``llm_user_dir``, ``llm_models``, ``llm_cassette``),
  directly or through another fixture, or one of our markers (``llm_models``,
  ``llm_cassette``) is isolated: it gets its own llm user directory
  (``LLM_USER_PATH``), so no real ``keys.json``, ``aliases.json`` or ``logs.db`` is
  read or written, and the environment variables that would hand it a real API key
  (each installed llm provider's key variable, such as ``OPENAI_API_KEY``, and every
  ``DATASETTE_SECRETS_*``) are removed for the test. The ini option
  ``datasette_llm_isolate`` says which tests: ``fixtures`` (the default), ``all``
  (every test of the suite; ``true`` means the same) or ``off`` (``false``).
- A cassette test (``llm_cassette``) records its prompts to the real models or replays
  them: ``--llm-record-mode=none|once|new_episodes|all``. When recording, the key
  variables are left in place, so the real models get their keys.
- ``datasette_server`` and ``browser_page`` test a plugin's pages in a real browser: a
  ``datasette serve`` subprocess on a free port, and a Playwright page in an installed
  headless Chromium (skipped without one, unless ``DATASETTE_LLM_REQUIRE_BROWSER`` is
  set). They change nothing else.
- After every test, fake models, fake secrets, hook recorders and cassettes the test
  left active fail it (and are cleaned up so the next test starts clean), and so does
  a ``FakeModel`` of the ``llm_models`` marker or the ``fake_model`` fixture that was
  prompted fewer times than it had scripted responses (opt out with
  ``@pytest.mark.llm_models(assert_all_used=False)``).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

_MARKER = "llm_models"
_CASSETTE = "llm_cassette"
# Using any of these (directly or through other fixtures) asks for isolation
_OUR_FIXTURES = frozenset(
    {"fake_model", "hook_recorder", "datasette_llm_config", "llm_user_dir", _MARKER, _CASSETTE}
)
_ISOLATE = "datasette_llm_isolate"
_ISOLATE_VALUES = {
    "fixtures": "fixtures",
    "all": "all",
    "off": "off",
    # The boolean spellings of earlier releases, when `true` (the default) meant every test
    **dict.fromkeys(("true", "yes", "on", "1"), "all"),
    **dict.fromkeys(("false", "no", "0"), "off"),
}
# The same as datasette_llm.testing's RECORD_MODES (importing that here would import llm)
_RECORD_MODES = ("none", "once", "new_episodes", "all")
# Written to the test's own keys.json for replayed models that need a key: the replay
# never sends it anywhere, and datasette-llm then treats the model as it would in production
PLACEHOLDER_KEY = "cassette-replay-placeholder"
_isolation_key = pytest.StashKey[str]()
_provider_env_vars = None  # computed once per session, on first use


def pytest_addoption(parser):
    parser.addini(
        _ISOLATE,
        "datasette-llm: which tests get their own LLM_USER_PATH, without API key "
        "environment variables: fixtures (tests using a datasette-llm fixture or marker; "
        "the default), all, or off",
        default="fixtures",
    )
    group = parser.getgroup("datasette-llm")
    group.addoption(
        "--llm-record-mode",
        choices=_RECORD_MODES,
        default="none",
        help="datasette-llm cassettes (llm_cassette): none replays only (the default); "
        "once records tests without a cassette file; new_episodes records prompts not "
        "recorded yet; all records everything again. Recording needs the providers' API "
        "keys in the environment.",
    )


def pytest_configure(config):
    value = str(config.getini(_ISOLATE)).strip().lower()
    if value not in _ISOLATE_VALUES:
        raise pytest.UsageError(
            f"{_ISOLATE} = {value!r}: use fixtures (the default: tests that use a "
            "datasette-llm fixture or marker), all (every test) or off"
        )
    config.stash[_isolation_key] = _ISOLATE_VALUES[value]
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(*models, assert_all_used=True): register fake llm models for this test; "
        "each is a datasette_llm.testing.FakeModel or a model ID string. With "
        "assert_all_used (the default), a FakeModel that was scripted with more responses "
        "than it was prompted for fails the test.",
    )
    config.addinivalue_line(
        "markers",
        f"{_CASSETTE}(match_on=None): record this test's llm prompts to a cassette beside "
        "it (cassettes/<module>/<test>.yaml) and replay them; see --llm-record-mode. "
        "match_on lists what a prompt is matched on.",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        item._datasette_llm_call_failed = True
    return report


@pytest.fixture
def llm_user_dir(tmp_path_factory):
    """This test's llm user directory (``LLM_USER_PATH``): write ``keys.json`` here."""
    return tmp_path_factory.mktemp("llm-user-dir")


@pytest.fixture(autouse=True)
def _datasette_llm_isolation(request, monkeypatch):
    marker = request.node.get_closest_marker(_MARKER)
    uses_cassette = (
        request.node.get_closest_marker(_CASSETTE) is not None
        or _CASSETTE in request.fixturenames
    )
    isolate = request.config.stash[_isolation_key]
    if isolate == "all" or (
        isolate == "fixtures"
        and (marker is not None or uses_cassette or not _OUR_FIXTURES.isdisjoint(request.fixturenames))
    ):
        monkeypatch.setenv("LLM_USER_PATH", str(request.getfixturevalue("llm_user_dir")))
        # A recording cassette needs the real keys; everything else must not see them
        if not (uses_cassette and request.config.getoption("llm_record_mode") != "none"):
            for name in _key_env_vars():
                monkeypatch.delenv(name, raising=False)
    # Entered now, whether the test asks for the fixture or only has the marker; the
    # fixture exits it
    cassette = request.getfixturevalue(_CASSETTE) if uses_cassette else None
    # Helpers active now (of wider-scoped fixtures, and the cassette) are not its leaks
    before = {id(helper) for helper in _active_helpers()}
    registration = _register_marker_models(request, marker) if marker is not None else None
    yield
    if registration is not None:
        registration.__exit__(None, None, None)
    problems = _leftovers(before)
    check_usage = marker is None or marker.kwargs.get("assert_all_used", True)
    # A FakeModel whose prompts were answered from a cassette was rightly never prompted
    if cassette is not None and cassette.played:
        check_usage = False
    if check_usage and not _call_failed(request):
        problems.extend(_unused(getattr(request.node, "_datasette_llm_checked", ())))
    if problems:
        pytest.fail("datasette-llm test helpers:\n- " + "\n- ".join(problems), pytrace=False)


def _call_failed(request) -> bool:
    return getattr(request.node, "_datasette_llm_call_failed", False)


def _key_env_vars() -> list:
    """``DATASETTE_SECRETS_*`` and every installed llm provider's key variable."""
    global _provider_env_vars
    if _provider_env_vars is None:
        import llm

        _provider_env_vars = sorted(
            {m.key_env_var for m in llm.get_models() if getattr(m, "key_env_var", None)}
        )
    return _provider_env_vars + [n for n in os.environ if n.startswith("DATASETTE_SECRETS_")]


def _register_marker_models(request, marker):
    from datasette_llm.testing import FakeModel, fake_models

    unknown = set(marker.kwargs) - {"assert_all_used"}
    if unknown:
        raise pytest.UsageError(f"{_MARKER} marker: unknown argument(s) {sorted(unknown)}")
    models = []
    for model in marker.args:
        if isinstance(model, str):
            model = FakeModel(model)
        elif not isinstance(model, FakeModel):
            raise pytest.UsageError(
                f"{_MARKER} marker takes FakeModel objects or model ID strings, got {model!r}"
            )
        # Marker arguments are built once at import: start each test with a clean script
        model.reset()
        models.append(model)
    request.node._datasette_llm_models = models
    _check_at_teardown(request, models)
    if not models:
        return None
    registration = fake_models(*models)
    registration.__enter__()
    return registration


def _check_at_teardown(request, models) -> None:
    """Have the isolation fixture call ``assert_all_used()`` on these after the test."""
    checked = request.node.__dict__.setdefault("_datasette_llm_checked", [])
    checked.extend(models)


def _active_helpers() -> list:
    helpers = []
    for module, attribute in (
        ("datasette_llm.testing._cassette", "active_cassettes"),
        ("datasette_llm.testing._registry", "active_registrations"),
        ("datasette_llm.testing._fake_secrets", "active_fakes"),
        ("datasette_llm.testing._hook_recorder", "active_recorders"),
    ):
        helpers.extend(getattr(sys.modules.get(module), attribute, ()))
    return helpers


def _leftovers(before: set) -> list:
    """Helpers this test left active: exit them (innermost first) and report them."""
    problems = []
    for helper in reversed(_active_helpers()):
        if id(helper) in before:
            continue
        problems.append(f"{helper!r} was never exited (use it in a with block)")
        helper.__exit__(None, None, None)
    return problems


def _unused(models) -> list:
    problems = []
    for model in models:
        try:
            model.assert_all_used()
        except AssertionError as exc:
            problems.append(str(exc))
    return problems


@pytest.fixture
def llm_models(request):
    """The fake models of this test's ``llm_models`` marker, by model ID."""
    models = getattr(request.node, "_datasette_llm_models", None)
    if models is None:
        raise pytest.UsageError(
            f"the llm_models fixture needs an @pytest.mark.{_MARKER}(...) marker on the test"
        )
    return {model.model_id: model for model in models}


@pytest.fixture
def fake_model(request):
    """A ``FakeModel("fake")`` registered with llm for this test. Script it by setting
    ``fake_model.responses = [...]``: responses it was not prompted for fail the test."""
    from datasette_llm.testing import FakeModel, fake_models

    with fake_models(FakeModel("fake")) as model:
        _check_at_teardown(request, [model])
        yield model


@pytest.fixture
def hook_recorder():
    """A ``HookRecorder`` recording every datasette-llm hook call of this test."""
    from datasette_llm.testing import HookRecorder

    with HookRecorder() as recorder:
        yield recorder


@pytest.fixture
def datasette_llm_config():
    """Factory: ``await datasette_llm_config({...}, plugins=None, **datasette_kwargs)``
    returns a started in-memory ``Datasette`` whose ``datasette-llm`` config is the
    given dict (``plugins`` adds other plugins' config), on every supported Datasette.
    Needs datasette-test, which datasette-llm's ``test`` extra installs."""
    try:
        from datasette_test import Datasette
    except ImportError:
        pytest.fail(
            "the datasette_llm_config fixture needs datasette-test, which datasette-llm "
            "does not install: pip install datasette-test (or 'datasette-llm[test]')",
            pytrace=False,
        )

    async def make(config=None, *, plugins=None, **datasette_kwargs):
        plugin_config = dict(plugins or {})
        if config is not None:
            plugin_config["datasette-llm"] = config
        if not datasette_kwargs.get("files"):
            datasette_kwargs.setdefault("memory", True)
        datasette = Datasette(plugin_config=plugin_config, **datasette_kwargs)
        await datasette.invoke_startup()
        return datasette

    return make


@pytest.fixture
def llm_cassette(request):
    """The test's ``Cassette`` (``cassettes/<module>/<test>.yaml`` beside the test file),
    active for the whole test: prompts to any llm model are answered from it, or recorded
    from the real model, as ``--llm-record-mode`` says. A prompt with no recording fails
    the test, showing the nearest recorded prompt and how it differs."""
    from datasette_llm.testing import Cassette

    marker = request.node.get_closest_marker(_CASSETTE)
    options = dict(marker.kwargs) if marker is not None else {}
    if marker is not None and (marker.args or set(options) - {"match_on"}):
        raise pytest.UsageError(
            f"{_CASSETTE} marker takes only match_on=[...], got "
            f"{', '.join([repr(a) for a in marker.args] + sorted(set(options) - {'match_on'}))}"
        )
    if options.get("match_on") is None:
        options.pop("match_on", None)
    cassette = Cassette(
        cassette_path(request.node),
        record_mode=request.config.getoption("llm_record_mode"),
        **options,
    )
    user_dir = request.getfixturevalue("llm_user_dir")
    if not cassette.can_record and os.environ.get("LLM_USER_PATH") == str(user_dir):
        _add_placeholder_keys(user_dir, cassette)
    with cassette:
        yield cassette
    if cassette.errors and not _call_failed(request):
        pytest.fail(
            f"datasette-llm cassette: {len(cassette.errors)} prompt(s) had no recording:\n\n"
            + "\n\n".join(cassette.errors),
            pytrace=False,
        )


def cassette_path(item) -> Path:
    """``<test file's folder>/cassettes/<module>/<Class.test_name[params]>.yaml``."""
    path = Path(item.path)
    name = ".".join(item.nodeid.split("::")[1:]) or item.name
    return path.parent / "cassettes" / path.stem / (re.sub(r"[^\w.\-\[\]]", "_", name) + ".yaml")


def _add_placeholder_keys(user_dir: Path, cassette) -> None:
    """Give the models the cassette replays a key in the test's own keys.json (the last
    place llm and datasette-llm look), so a replay needs no real key."""
    import json

    path = user_dir / "keys.json"
    keys = json.loads(path.read_text()) if path.exists() else {}
    for description in cassette.models.values():
        needs_key = description.get("needs_key")
        if needs_key:
            keys.setdefault(needs_key, PLACEHOLDER_KEY)
    if keys:
        path.write_text(json.dumps(keys))


@pytest.fixture
def datasette_server(tmp_path):
    """Factory: ``server = datasette_server(*args, env={...})`` starts
    ``datasette serve *args`` (from the current directory, on a free localhost port,
    with this process's environment plus ``env``) and returns a ``DatasetteServer``:
    ``.url``, ``.actor_cookie({"id": "root"})``, ``.log()``. Stopped after the test."""
    from datasette_llm.testing._browser import DatasetteServer

    servers = []

    def start(*args, env=None):
        server = DatasetteServer(
            [str(arg) for arg in args], Path.cwd(), {**os.environ, **(env or {})},
            log_dir=tmp_path, secret=f"datasette-llm-browser-test-{len(servers)}",
        )
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


try:  # an async fixture in pytest-asyncio's strict mode too
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover - without pytest-asyncio no async test runs anyway
    _async_fixture = pytest.fixture


@_async_fixture
async def browser_page():
    """A Playwright page (async API) in a fresh headless Chromium that is already
    installed (Debian's ``chromium``, or ``CHROMIUM_PATH``): Playwright's own browser
    download is never used. Without one the test is skipped with the reason, or fails
    where ``DATASETTE_LLM_REQUIRE_BROWSER`` is set (as in CI that installs chromium)."""
    from datasette_llm.testing._browser import (
        CHROMIUM_ARGS,
        REQUIRE_BROWSER,
        chromium_path,
        missing_browser,
    )

    problem = missing_browser()
    if problem is not None:
        if os.environ.get(REQUIRE_BROWSER):
            pytest.fail(f"{problem}, and {REQUIRE_BROWSER} is set", pytrace=False)
        pytest.skip(problem)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield await browser.new_page(viewport={"width": 1280, "height": 900})
        finally:
            await browser.close()
