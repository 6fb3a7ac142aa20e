"""Installing datasette-llm changes nothing in another project's tests or server by itself.

- The pytest plugin leaves a suite alone unless the suite asks (our fixtures and markers,
  or the ``datasette_llm_isolate`` ini option): a downstream suite whose CI exports
  ``DATASETTE_SECRETS_OPENAI_API_KEY`` keeps it.
- No test package is a runtime dependency: an environment holding exactly what
  ``pip install datasette-llm`` installs has no datasette-test and no ``test_plugin``,
  and there the ``datasette_llm_config`` fixture says what to install.
"""

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import datasette_llm.testing  # noqa: F401  imported before pytester snapshots sys.modules

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
FAST = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:syrupy")
# Packages that exist only to run tests
TEST_ONLY = re.compile(r"^(pytest([-_].*)?|datasette-test(-plugin)?|syrupy|hypothesis|llm-echo|playwright)$")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# A downstream suite, as datasette-extract's CI runs it


DOWNSTREAM_SUITE = '''
import os
import llm
from datasette.app import Datasette
from datasette_secrets import get_secret

USER_PATH = os.environ.get("LLM_USER_PATH")


def test_the_exported_key_is_there():
    assert os.environ["DATASETTE_SECRETS_OPENAI_API_KEY"] == "mock-api-key"
    assert os.environ["OPENAI_API_KEY"] == "mock-openai-key"


async def test_datasette_secrets_reads_it():
    ds = Datasette(memory=True)
    await ds.invoke_startup()
    assert await get_secret(ds, "OPENAI_API_KEY") == "mock-api-key"


def test_llm_sees_its_own_key_and_user_dir():
    assert llm.get_key(alias="openai", env="OPENAI_API_KEY") == "mock-openai-key"
    assert os.environ.get("LLM_USER_PATH") == USER_PATH


def test_a_test_can_remove_it(monkeypatch):
    monkeypatch.delenv("DATASETTE_SECRETS_OPENAI_API_KEY")
    assert "DATASETTE_SECRETS_OPENAI_API_KEY" not in os.environ
'''


@pytest.fixture
def exported_keys(monkeypatch):
    monkeypatch.setenv("DATASETTE_SECRETS_OPENAI_API_KEY", "mock-api-key")
    monkeypatch.setenv("OPENAI_API_KEY", "mock-openai-key")


def test_a_downstream_suite_with_keys_in_its_environment_passes_unchanged(
    pytester, exported_keys
):
    pytester.makeini(INI)
    pytester.makepyfile(test_downstream=DOWNSTREAM_SUITE)
    pytester.runpytest(*FAST).assert_outcomes(passed=4)


def test_that_suite_with_isolation_turned_off_as_before_passes_too(pytester, exported_keys):
    # Suites that turned the earlier suite-wide isolation off keep working
    pytester.makeini(INI + "datasette_llm_isolate = false\n")
    pytester.makepyfile(test_downstream=DOWNSTREAM_SUITE)
    pytester.runpytest(*FAST).assert_outcomes(passed=4)


def test_that_suite_loses_its_keys_only_when_it_opts_in(pytester, exported_keys):
    pytester.makeini(INI + "datasette_llm_isolate = all\n")
    pytester.makepyfile(test_downstream=DOWNSTREAM_SUITE)
    result = pytester.runpytest(*FAST)
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(["*KeyError: 'DATASETTE_SECRETS_OPENAI_API_KEY'*"])


# Runtime dependencies


def runtime_requirements() -> list:
    """What ``pip install datasette-llm`` installs directly: pyproject.toml's
    ``[project] dependencies`` (the installed metadata on Pythons without tomllib)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        requirements = importlib.metadata.requires("datasette-llm") or []
        return [r for r in requirements if "extra ==" not in r]
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def closure(requirements) -> dict:
    """Distribution name -> Distribution for everything these requirements install,
    transitively, read from this environment's installed metadata."""
    found: dict = {}
    pending = [Requirement(r) for r in requirements]
    while pending:
        requirement = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = _normalize(requirement.name)
        if name in found:
            continue
        found[name] = distribution = importlib.metadata.distribution(name)
        for line in distribution.requires or ():
            needed = Requirement(line)
            extras = [""] + sorted(requirement.extras)
            if needed.marker is None or any(needed.marker.evaluate({"extra": e}) for e in extras):
                needed.marker = None
                pending.append(needed)
    return found


def test_runtime_dependencies_name_no_test_package():
    direct = [_normalize(Requirement(r).name) for r in runtime_requirements()]
    assert direct and not [name for name in direct if TEST_ONLY.match(name)]


def test_runtime_dependencies_pull_in_no_test_package():
    installed = closure(runtime_requirements())
    assert {"datasette", "llm", "datasette-secrets"} <= set(installed)
    assert not [name for name in installed if TEST_ONLY.match(name)]


@pytest.fixture(scope="module")
def runtime_site(tmp_path_factory):
    """A site directory holding exactly datasette-llm and its runtime dependency closure
    (links to this environment's installed copies): a ``pip install datasette-llm``."""
    site = tmp_path_factory.mktemp("runtime-site")
    dists = closure(runtime_requirements())
    dists["datasette-llm"] = importlib.metadata.distribution("datasette-llm")
    dists.update(closure(["pytest"]))  # to run a downstream suite there
    for distribution in dists.values():
        base = Path(distribution.locate_file(""))
        tops = {Path(f).parts[0] for f in distribution.files or ()}
        for top in sorted(tops):
            target = site / top
            if top in ("..", "__pycache__") or target.exists() or not (base / top).exists():
                continue
            target.symlink_to(base / top)
    return site


def run_in(site: Path, code: str, cwd=None) -> subprocess.CompletedProcess:
    """Run ``code`` in a Python that sees the standard library and ``site`` only."""
    prelude = f"import site, sys\nsite.addsitedir({str(site)!r})\n"
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", prelude + code],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": os.environ["PATH"], "LLM_USER_PATH": str(site.parent / "llm-user")},
    )


def test_importing_datasette_llm_registers_no_test_plugin(runtime_site):
    result = run_in(
        runtime_site,
        textwrap.dedent(
            """
            import importlib.util, json
            import datasette_llm
            from datasette.plugins import pm
            print(json.dumps({
                "datasette_test": importlib.util.find_spec("datasette_test") is not None,
                "plugins": sorted(name for name, _ in pm.list_name_plugin()),
            }))
            """
        ),
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["datasette_test"] is False
    assert "datasette-llm" in seen["plugins"] and "test_plugin" not in seen["plugins"]


def test_without_datasette_test_a_downstream_suite_runs_and_is_told_what_to_install(
    runtime_site, tmp_path
):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_downstream.py").write_text(
        textwrap.dedent(
            """
            from datasette import hookimpl
            from datasette.plugins import pm


            class Mine:
                __name__ = "test_plugin"

                @hookimpl
                def extra_template_vars(self):
                    return {}


            def test_registers_its_own_test_plugin():
                pm.register(Mine(), name="test_plugin")
                pm.unregister(name="test_plugin")


            def test_uses_the_config_fixture(datasette_llm_config):
                pass
            """
        )
    )
    result = run_in(
        runtime_site, "import pytest\nsys.exit(pytest.main(['-q', '-p', 'no:cacheprovider']))", tmp_path
    )
    assert re.search(r"\b1 passed\b.*\b1 error\b", result.stdout), result.stdout + result.stderr
    assert (
        "the datasette_llm_config fixture needs datasette-test, which datasette-llm does not "
        "install: pip install datasette-test (or 'datasette-llm[test]')"
    ) in result.stdout
