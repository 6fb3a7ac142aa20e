"""Each tox env runs on the versions it pins, not on whatever the resolver picked.

tox.ini sets EXPECT_DATASETTE, EXPECT_LLM and (for the Python envs) EXPECT_PYTHON per env.
These tests fail when the installed versions differ, and print the versions that actually
ran. Outside tox (the README's plain `pytest`) the variables are unset and they are skipped.
"""

from __future__ import annotations

import os
import platform
import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.version import Version  # a dependency of pytest

ROOT = Path(__file__).resolve().parent.parent

EXPECTED = {
    "datasette": "EXPECT_DATASETTE",
    "llm": "EXPECT_LLM",
}


def _expected(variable: str, distribution: str = "") -> str:
    value = os.environ.get(variable)
    if not value:
        pytest.skip(f"{variable} is not set (only tox envs pin versions)")
    if value == "floor":  # the `lowest` env: whatever pyproject.toml's floor is now
        return _floor(distribution)
    return value


def _floor(distribution: str) -> str:
    """The version after `>=` in pyproject.toml's requirement on ``distribution``."""
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(rf'^\s*"{re.escape(distribution)}\s*>=\s*([^",;\s]+)', text, re.M)
    assert match, f"no `{distribution}>=` floor in pyproject.toml"
    return match.group(1)


@pytest.fixture(scope="module", autouse=True)
def _print_versions(pytestconfig):
    """One line in the output of every run: what this run was really made of."""
    reporter = pytestconfig.pluginmanager.getplugin("terminalreporter")
    line = "versions: Python {}, Datasette {}, llm {}, datasette-secrets {}".format(
        platform.python_version(),
        metadata.version("datasette"),
        metadata.version("llm"),
        metadata.version("datasette-secrets"),
    )
    if reporter is not None:
        reporter.write("\n" + line + "\n")
    yield


@pytest.mark.parametrize("distribution", sorted(EXPECTED))
def test_installed_version_matches_pin(distribution):
    expected = _expected(EXPECTED[distribution], distribution)
    installed = metadata.version(distribution)
    assert Version(installed) == Version(expected), (
        f"this env expects {distribution}=={expected} but {installed} is installed: "
        "the resolver moved it (see constrain_package_deps in tox.ini)"
    )


def test_python_version_matches_env():
    expected = _expected("EXPECT_PYTHON")
    running = ".".join(platform.python_version_tuple()[:2])
    assert running == expected, f"this env is for Python {expected} but runs {running}"


def _project_name(plugin_dir: Path) -> str:
    text = (plugin_dir / "pyproject.toml").read_text()
    match = re.search(r'^\[project\][^\[]*?^name\s*=\s*"([^"]+)"', text, re.M | re.S)
    assert match, f"no [project] name in {plugin_dir / 'pyproject.toml'}"
    return match.group(1)


def test_every_example_plugin_is_installed():
    """Their integration tests are collected from example_plugins/: they must run on the pins too."""
    if not os.environ.get("EXPECT_DATASETTE"):
        pytest.skip("EXPECT_DATASETTE is not set (only tox envs pin versions)")
    dirs = sorted(p for p in (ROOT / "example_plugins").glob("*/pyproject.toml"))
    missing = []
    for pyproject in dirs:
        name = _project_name(pyproject.parent)
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    assert not missing, f"example plugins not installed in this env: {missing}"


def test_the_tested_datasette_llm_is_the_installed_wheel():
    """tox installs the built wheel (what users install): the tests must import it, not
    the checkout (a conftest.py at the repository root would put the checkout first on
    sys.path)."""
    if not os.environ.get("EXPECT_LLM"):
        pytest.skip("EXPECT_LLM is not set (only tox envs install the wheel)")
    import datasette_llm

    location = Path(datasette_llm.__file__).resolve().parent
    assert location != ROOT / "datasette_llm", f"datasette_llm was imported from the checkout"
    assert "site-packages" in location.parts, location
