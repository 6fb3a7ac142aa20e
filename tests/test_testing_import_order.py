"""Dependent plugins do ``from datasette_llm import LLM`` at import time. Importing
``datasette.plugins`` loads every installed Datasette plugin, so that import must work
whichever of datasette_llm and Datasette is imported first."""

import subprocess
import sys
import textwrap

import pytest

PLUGIN = textwrap.dedent(
    """
    from datasette import hookimpl
    from datasette_llm import LLM, Purpose

    @hookimpl
    def register_llm_purposes():
        return [Purpose("import-order-check")]
    """
)


@pytest.fixture
def site_dir(tmp_path):
    """A directory holding an installed Datasette plugin (a module and its dist-info)."""
    (tmp_path / "import_order_plugin.py").write_text(PLUGIN)
    dist_info = tmp_path / "import_order_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: import-order-plugin\nVersion: 0.1\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[datasette]\nimport_order_plugin = import_order_plugin\n"
    )
    return tmp_path


@pytest.mark.parametrize(
    # datasette_llm first (a script, or a plugin's tests), or Datasette first (the CLI)
    "first_import",
    ["from datasette_llm import LLM", "import datasette.app"],
)
def test_dependent_plugin_loads_whatever_is_imported_first(site_dir, first_import):
    code = (
        f"{first_import}\n"
        "from datasette.plugins import pm\n"
        "from datasette_llm import get_purposes\n"
        "assert pm.get_plugin('import_order_plugin') is not None, 'plugin not loaded'\n"
        "print([p.name for p in get_purposes(None)])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(site_dir), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "'import-order-check'" in result.stdout
