"""Install every plugin under example_plugins/ into the running environment.

Run by tox (``commands_pre``) after this checkout's wheel is installed. The example
plugins depend on ``datasette-llm``; installed earlier (as tox ``deps``) that requirement
would pull the published release from PyPI, and on Datasette 0.65.x it cannot resolve at
all. Installed here, it is satisfied by our own package.

Everything already installed is pinned (a constraint ``name==version`` for each
distribution), so an example plugin can add a dependency it needs but never move the
env's Datasette or llm: a conflict fails the env instead.

    python testing/install_example_plugins.py [--dry-run]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example_plugins"


def example_plugin_dirs() -> list[Path]:
    if not EXAMPLES.is_dir():
        return []
    return sorted(
        path
        for path in EXAMPLES.iterdir()
        if (path / "pyproject.toml").is_file() or (path / "setup.py").is_file()
    )


def installed_pins() -> list[str]:
    pins = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            pins[name.lower()] = f"{name}=={dist.version}"
    return sorted(pins.values())


def uv_binary() -> str:
    """The uv that tox installs into every env (``uv`` in its deps)."""
    beside = Path(sys.executable).with_name("uv")
    if beside.exists():
        return str(beside)
    from uv import find_uv_bin

    return find_uv_bin()


def main(argv: list[str]) -> int:
    dirs = example_plugin_dirs()
    if not dirs:
        print(f"install_example_plugins: no example plugins under {EXAMPLES}")
        return 0
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
        constraints.write("\n".join(installed_pins()) + "\n")
    cmd = [uv_binary(), "pip", "install", "--python", sys.executable, "-c", constraints.name]
    for path in dirs:
        cmd += ["-e", str(path)]
    print("install_example_plugins:", " ".join(cmd), flush=True)
    if "--dry-run" in argv:
        return 0
    try:
        return subprocess.call(cmd)
    finally:
        Path(constraints.name).unlink()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
