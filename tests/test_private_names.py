"""Other packages' private names are touched only in the one module named for each.

llm's, Datasette's and datasette-secrets' private attributes can change in any release.
Every reach into them lives in ``datasette_llm/_llm_internals.py`` or
``datasette_llm/_datasette_secrets_internals.py``, which say which releases each reach
was checked against. This test reads every other module we ship (the plugin, its
testing helpers, the pytest plugin, the example plugins) and fails on any private name
(``_x``, not ``__x__``) that is not one of our own: an attribute, a ``getattr`` string,
or an import.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INTERNALS_MODULES = {
    "datasette_llm/_llm_internals.py",
    "datasette_llm/_datasette_secrets_internals.py",
}


def shipped_sources() -> list[Path]:
    paths = sorted((ROOT / "datasette_llm").rglob("*.py"))
    paths.append(ROOT / "pytest_datasette_llm.py")
    for package in sorted((ROOT / "example_plugins").glob("*/datasette_llm_example_*")):
        paths.extend(sorted(package.rglob("*.py")))
    return paths


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def names_defined(tree: ast.AST) -> set:
    """Every private name a module defines: functions, classes, variables, attributes
    it assigns, slots, arguments."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[-1])
        elif isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__slots__" for target in node.targets
        ):
            names.update(
                c.value for c in ast.walk(node.value)
                if isinstance(c, ast.Constant) and isinstance(c.value, str)
            )
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "setattr"
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
        ):
            names.add(node.args[1].value)
        elif (  # obj.__dict__.setdefault("_ours", ...)
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "setdefault"
            and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr == "__dict__"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(node.args[0].value)
    return {name for name in names if isinstance(name, str) and _is_private(name)}


def private_uses(tree: ast.AST) -> list[tuple[int, str]]:
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            uses.append((node.lineno, node.attr))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr", "setattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _is_private(node.args[1].value)
        ):
            uses.append((node.lineno, node.args[1].value))
        elif isinstance(node, ast.ImportFrom) and not (node.module or "").startswith(
            ("datasette_llm", ".")
        ) and node.level == 0:
            for alias in node.names:
                if _is_private(alias.name):
                    uses.append((node.lineno, f"{node.module}.{alias.name}"))
    return uses


def test_only_the_internals_modules_touch_other_packages_private_names():
    sources = {path: ast.parse(path.read_text(), str(path)) for path in shipped_sources()}
    ours = set()
    for path, tree in sources.items():
        ours |= names_defined(tree)
    problems = []
    for path, tree in sources.items():
        relative = path.relative_to(ROOT).as_posix()
        if relative in INTERNALS_MODULES:
            continue
        for line, name in private_uses(tree):
            if name not in ours:
                problems.append(f"{relative}:{line}: {name}")
    assert problems == [], (
        "private names of other packages, outside the *_internals modules:\n"
        + "\n".join(problems)
    )


def test_the_check_finds_a_foreign_private_name():
    tree = ast.parse(
        "def f(response, datasette):\n"
        "    response._done\n"
        "    getattr(datasette, '_plugin_config_top')\n"
        "from llm.models import _Options\n"
    )
    found = {name for _, name in private_uses(tree)} - names_defined(tree)
    assert found == {"_done", "_plugin_config_top", "llm.models._Options"}


def test_each_internals_module_says_which_releases_it_was_checked_against():
    for relative in INTERNALS_MODULES:
        text = (ROOT / relative).read_text()
        assert "Checked against" in text, relative
