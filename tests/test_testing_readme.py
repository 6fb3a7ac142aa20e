"""The README's "A complete example" (Testing your plugin) runs as written: its plugin
module and its test file, copied from the README, pass in a fresh pytest run."""

from pathlib import Path

import datasette_llm.testing  # noqa: F401  imported before pytester snapshots sys.modules

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parent.parent / "README.md"
FAST = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:syrupy")


def code_after(label: str) -> str:
    """The first ```python block after ``label`` in the README."""
    text = README.read_text()
    start = text.index("```python\n", text.index(label)) + len("```python\n")
    return text[start : text.index("```\n", start)]


def test_the_complete_example_passes(pytester):
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(datasette_haiku=code_after("`datasette_haiku.py`"))
    pytester.makepyfile(test_haiku=code_after("`tests/test_haiku.py`"))
    # What installing it does: its entry point registers the module with Datasette
    pytester.makeconftest(
        "import pytest, datasette_haiku\n"
        "from datasette.plugins import pm\n"
        "@pytest.fixture(autouse=True, scope='session')\n"
        "def installed():\n"
        "    pm.register(datasette_haiku, name='datasette-haiku')\n"
        "    yield\n"
        "    pm.unregister(name='datasette-haiku')\n"
    )
    pytester.runpytest(*FAST).assert_outcomes(passed=4)
