"""pytest plugin shipped with datasette-llm (entry point ``pytest11``).

Kept import-light: nothing from Datasette or llm is imported until a test uses a
fixture or marker of ours. The public helpers live in ``datasette_llm.testing``.

- Every test gets its own llm user directory (``LLM_USER_PATH``), so no real
  ``keys.json``, ``aliases.json`` or ``logs.db`` is read or written. Turn it off with
  the ini option ``datasette_llm_isolate = false``.
- After every test, fake models, fake secrets and hook recorders that were left
  registered fail the test (and are cleaned up so the next test starts clean).
"""

from __future__ import annotations

import sys

import pytest


def pytest_addoption(parser):
    parser.addini(
        "datasette_llm_isolate",
        "Give each test its own LLM_USER_PATH (default: true)",
        type="bool",
        default=True,
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "llm_models(*models, assert_all_used=True): register fake llm models for this test; "
        "each is a datasette_llm.testing.FakeModel or a model ID string. With "
        "assert_all_used, the test fails if a model given responses= was not prompted for "
        "each of them.",
    )


@pytest.fixture
def llm_user_dir(tmp_path_factory):
    """This test's llm user directory (``LLM_USER_PATH``): write ``keys.json`` here."""
    return tmp_path_factory.mktemp("llm-user-dir")


@pytest.fixture(autouse=True)
def _datasette_llm_isolation(request, monkeypatch):
    if request.config.getini("datasette_llm_isolate"):
        path = request.getfixturevalue("llm_user_dir")
        monkeypatch.setenv("LLM_USER_PATH", str(path))
    marker = request.node.get_closest_marker("llm_models")
    registration = None
    if marker is not None:
        registration = _register_marker_models(marker)
        request.node._datasette_llm_models = registration.models
    yield
    if registration is not None:
        registration.__exit__(None, None, None)
    problems = _leftovers()
    if registration is not None and marker.kwargs.get("assert_all_used", True):
        problems.extend(_unused(registration.models))
    if problems:
        pytest.fail("datasette-llm test helpers:\n- " + "\n- ".join(problems), pytrace=False)


def _register_marker_models(marker):
    from datasette_llm.testing import FakeModel, fake_models

    unknown = set(marker.kwargs) - {"assert_all_used"}
    if unknown:
        raise pytest.UsageError(f"llm_models marker: unknown argument(s) {sorted(unknown)}")
    models = [FakeModel(m) if isinstance(m, str) else m for m in marker.args]
    registration = fake_models(*models)
    registration.__enter__()
    return registration


def _unused(models) -> list:
    problems = []
    for model in models:
        scripted = getattr(model, "responses", None)
        if scripted and len(model.prompts) < len(scripted):
            problems.append(
                f"FakeModel {model.model_id!r} was given {len(scripted)} response(s) but "
                f"prompted {len(model.prompts)} time(s)"
            )
    return problems


def _leftovers() -> list:
    """Helpers still registered after the test; unregister them and report."""
    problems = []
    registry = sys.modules.get("datasette_llm.testing._registry")
    for registration in list(getattr(registry, "active_registrations", ())):
        problems.append(f"{registration!r} was never exited (use it in a with block)")
        registration.__exit__(None, None, None)
    secrets = sys.modules.get("datasette_llm.testing._fake_secrets")
    for fake in reversed(list(getattr(secrets, "active_fakes", ()))):
        problems.append(f"{fake!r} was never exited (use it in a with block)")
        fake.__exit__(None, None, None)
    recorder = sys.modules.get("datasette_llm.testing._hook_recorder")
    for hook_recorder in list(getattr(recorder, "active_recorders", ())):
        problems.append(f"{hook_recorder!r} was never exited (use it in a with block)")
        hook_recorder.__exit__(None, None, None)
    return problems


@pytest.fixture
def llm_models(request):
    """The fake models of this test's ``llm_models`` marker, by model ID."""
    models = getattr(request.node, "_datasette_llm_models", None)
    if models is None:
        raise pytest.UsageError("the llm_models fixture needs an @pytest.mark.llm_models(...) marker")
    return {model.model_id: model for model in models}


@pytest.fixture
def fake_model():
    """A ``FakeModel("fake")`` registered with llm for this test."""
    from datasette_llm.testing import FakeModel, fake_models

    model = FakeModel("fake")
    with fake_models(model):
        yield model
    problems = _unused([model])
    if problems:
        pytest.fail(problems[0], pytrace=False)


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
        datasette_kwargs.setdefault("memory", True)
        datasette = Datasette(plugin_config=plugin_config, **datasette_kwargs)
        await datasette.invoke_startup()
        return datasette

    return make
