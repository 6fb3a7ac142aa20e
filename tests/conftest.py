import re
import pytest
from datasette.plugins import pm


@pytest.fixture
def register_plugin():
    """Register Datasette plugin objects for one test: ``register(plugin)``, or
    ``register(plugin, "name")`` where the name shows (pages, snapshots)."""
    names = []

    def register(plugin, name=None):
        name = name or f"test-plugin-{len(names)}-{id(plugin)}"
        if not hasattr(plugin, "__name__"):
            plugin.__name__ = name  # Datasette 0.65's plugin listing reads __name__
        pm.register(plugin, name=name)
        names.append(name)
        return plugin

    yield register
    for name in names:
        pm.unregister(name=name)


@pytest.fixture
def without_filter_hooks():
    """Set aside installed plugins that implement ``llm_filter_models`` (the example
    plugins do) for one test, to test what happens when no filter hook exists."""
    import datasette_llm  # noqa: F401  (adds the hookspecs)

    set_aside = [
        (impl.plugin, impl.plugin_name) for impl in pm.hook.llm_filter_models.get_hookimpls()
    ]
    for plugin, _ in set_aside:
        pm.unregister(plugin)
    yield
    for plugin, name in set_aside:
        pm.register(plugin, name=name)


@pytest.fixture
def keyed_pair():
    """Two models of two providers, each with its own key (ALPHA's and BETA's)."""
    from datasette_llm.testing import FakeModel, fake_models, fake_secrets

    with fake_models(
        FakeModel("allowed", needs_key="alpha"), FakeModel("blocked", needs_key="beta")
    ) as models, fake_secrets({"ALPHA_API_KEY": "sk-alpha", "BETA_API_KEY": "sk-beta"}):
        yield models


@pytest.fixture
def secrets_list_walks(monkeypatch):
    """The calls of datasette-secrets' ``get_secrets()`` (every ``get_secret()`` makes
    one, listing every plugin's secrets) during the test, one Datasette per call."""
    import datasette_secrets

    walks = []
    original = datasette_secrets.get_secrets

    async def get_secrets(datasette):
        walks.append(datasette)
        return await original(datasette)

    monkeypatch.setattr(datasette_secrets, "get_secrets", get_secrets)
    return walks


# Every API key the tests use starts with "sk-". None may ever reach a log, stdout or
# stderr: checked for every passing test.
_KEY_PATTERN = re.compile(r"sk-[A-Za-z0-9_-]+")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.passed:
        return
    for section_name, content in report.sections:
        found = _KEY_PATTERN.search(content)
        if found:
            report.outcome = "failed"
            report.longrepr = (
                f"An API key ({found.group(0)[:5]}...) appeared in captured output "
                f"section {section_name!r}"
            )
            return
