"""pytest plugin shipped with datasette-llm (entry point ``pytest11``).

Kept import-light: importing it imports neither Datasette nor llm (llm is imported
when the first test runs, to learn the providers' key variables; Datasette when a test
uses a fixture or marker of ours). The public helpers live in ``datasette_llm.testing``.

- Every test gets its own llm user directory (``LLM_USER_PATH``), so no real
  ``keys.json``, ``aliases.json`` or ``logs.db`` is read or written, and the
  environment variables that would hand a test a real API key (each installed llm
  provider's key variable, such as ``OPENAI_API_KEY``, and every
  ``DATASETTE_SECRETS_*``) are removed for the test. Turn this off with the ini
  option ``datasette_llm_isolate = false``.
- After every test, fake models, fake secrets and hook recorders the test left
  registered fail it (and are cleaned up so the next test starts clean), and so does
  a ``FakeModel`` of the ``llm_models`` marker or the ``fake_model`` fixture that was
  prompted fewer times than it had scripted responses (opt out with
  ``@pytest.mark.llm_models(assert_all_used=False)``).
"""

from __future__ import annotations

import os
import sys

import pytest

_MARKER = "llm_models"
_provider_env_vars = None  # computed once per session, on first use


def pytest_addoption(parser):
    parser.addini(
        "datasette_llm_isolate",
        "datasette-llm: give each test its own LLM_USER_PATH and remove API key "
        "environment variables (default: true)",
        type="bool",
        default=True,
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(*models, assert_all_used=True): register fake llm models for this test; "
        "each is a datasette_llm.testing.FakeModel or a model ID string. With "
        "assert_all_used (the default), a FakeModel that was scripted with more responses "
        "than it was prompted for fails the test.",
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
    if request.config.getini("datasette_llm_isolate"):
        monkeypatch.setenv("LLM_USER_PATH", str(request.getfixturevalue("llm_user_dir")))
        for name in _key_env_vars():
            monkeypatch.delenv(name, raising=False)
    # Helpers registered before this test (by wider-scoped fixtures) are not its leaks
    before = {id(helper) for helper in _active_helpers()}
    marker = request.node.get_closest_marker(_MARKER)
    registration = _register_marker_models(request, marker) if marker is not None else None
    yield
    if registration is not None:
        registration.__exit__(None, None, None)
    problems = _leftovers(before)
    check_usage = marker is None or marker.kwargs.get("assert_all_used", True)
    if check_usage and not getattr(request.node, "_datasette_llm_call_failed", False):
        problems.extend(_unused(getattr(request.node, "_datasette_llm_checked", ())))
    if problems:
        pytest.fail("datasette-llm test helpers:\n- " + "\n- ".join(problems), pytrace=False)


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
    given dict (``plugins`` adds other plugins' config), on every supported Datasette."""

    async def make(config=None, *, plugins=None, **datasette_kwargs):
        from datasette_test import Datasette

        plugin_config = dict(plugins or {})
        if config is not None:
            plugin_config["datasette-llm"] = config
        if not datasette_kwargs.get("files"):
            datasette_kwargs.setdefault("memory", True)
        datasette = Datasette(plugin_config=plugin_config, **datasette_kwargs)
        await datasette.invoke_startup()
        return datasette

    return make
