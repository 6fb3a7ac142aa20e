"""Run the published plugins built on datasette-llm against this checkout.

For each plugin below: a fresh venv; this checkout (with its dependencies and the plugin's
real dependencies and test dependencies, resolved together, datasette-llm excepted); then
the plugin itself from its PyPI sdist (sdists ship the tests) with ``--no-deps``, so nothing
can replace our datasette-llm with the published one. Before its tests run, the venv is
checked: ``import datasette_llm`` must be this checkout. Then the plugin's own test suite
runs, unchanged, from the unpacked sdist.

    python testing/downstream.py                    # against this checkout (tox -e downstream)
    python testing/downstream.py --against both     # and against the published datasette-llm
    python testing/downstream.py --only datasette-extract --keep

Exit status 0 only if, against this checkout, every plugin's suite ran tests and none failed.
The published-release runs are for comparison and never change the exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OVERLAY = Path(__file__).resolve().parent / "downstream_overlay"

# The release the published-comparison runs use (--against published/both).
PUBLISHED_DATASETTE_LLM = "datasette-llm==0.1a8"


@dataclass
class Plugin:
    name: str
    # Pinned so the deselections below stay tied to the code they were written for;
    # bump when the plugin publishes (and re-check the deselections).
    version: str
    # Requirements their metadata leaves out.
    extra: list[str] = field(default_factory=list)
    # Versions their tests need that their metadata does not say.
    constraints: list[str] = field(default_factory=list)
    # Test IDs that fail for reasons outside datasette-llm's API, each with the reason.
    deselect: dict[str, str] = field(default_factory=dict)
    # Environment variables exported for its test run, as its CI would export them.
    env: dict[str, str] = field(default_factory=dict)
    # Copy testing/downstream_overlay/<name>/ over the unpacked sdist.
    overlay: bool = True
    # Tells two runs of one plugin apart (results, log and folder names).
    variant: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} ({self.variant})" if self.variant else self.name

    @property
    def slug(self) -> str:
        return self.name + ("-" + "-".join(self.variant.split()) if self.variant else "")


# Its sdist leaves out tests/conftest.py (which sets a fake OpenAI key) and the VCR
# cassettes: ours is in testing/downstream_overlay/datasette-extract/.
DATASETTE_EXTRACT = Plugin(
    "datasette-extract",
    "0.3a0",
    # Its tests read the ds_csrftoken cookie (Datasette 1.0a26 or older), and its
    # form handling breaks on python-multipart 0.0.25.
    constraints=["datasette<=1.0a26", "python-multipart<0.0.25"],
    deselect={
        # Replays a recorded OpenAI exchange from a cassette the sdist does not ship:
        # without it, it needs the network and a real OpenAI key.
        "tests/test_web.py::test_extract_flow": "needs its VCR cassette or OpenAI",
    },
)


PLUGINS = [
    Plugin(
        "datasette-enrichments-llm",
        "0.2a1",
        # It imports httpx without declaring it.
        extra=["httpx"],
        # Its tests read the ds_csrftoken cookie, which Datasette dropped after 1.0a26.
        constraints=["datasette<=1.0a26"],
    ),
    Plugin(
        "datasette-llm-accountant",
        "0.1a4",
        deselect={
            # These call DefaultPricingProvider, which downloads the price list over the
            # network (httpx.ConnectError here); they touch nothing of datasette-llm.
            f"tests/test_pricing.py::{name}": "downloads the price list"
            for name in (
                "test_calculate_cost_from_response",
                "test_calculate_cost_not_found",
                "test_supported_models",
                "test_calculate_cost_returns_nanocents",
            )
        },
    ),
    DATASETTE_EXTRACT,
    # Again, with the keys exported in the environment instead of set by a conftest, as a
    # CI would: datasette-llm being installed must not take them from the tests. (Its
    # test_action_menus_require_api_key removes both with monkeypatch.delenv.)
    replace(
        DATASETTE_EXTRACT,
        env={"DATASETTE_SECRETS_OPENAI_API_KEY": "mock-api-key", "OPENAI_API_KEY": "mock-api-key"},
        overlay=False,
        variant="key exported",
    ),
    Plugin(
        "datasette-agent",
        "0.4a0",
        # test_stream_endpoint_headers expects `cache-control: no-cache` on its stream;
        # Datasette 1.0a39 and later send `private, no-store` to signed-in actors.
        constraints=["datasette<=1.0a38"],
    ),
    # Its sdist leaves out the conftest three of its test files import: ours is in
    # testing/downstream_overlay/datasette-llm-limits/ and is copied over the sdist.
    Plugin("datasette-llm-limits", "0.1a2"),
]

_VERIFY = """
import importlib.metadata as m, json, datasette_llm
dist = m.distribution("datasette-llm")
print(json.dumps({
    "file": datasette_llm.__file__,
    "version": dist.version,
    "direct_url": json.loads(dist.read_text("direct_url.json") or "{}").get("url"),
}))
"""


def _uv() -> str:
    found = shutil.which("uv")
    if found:
        return found
    from uv import find_uv_bin  # tox installs the `uv` package into the env

    return find_uv_bin()


def _run(cmd, *, log, **kwargs) -> subprocess.CompletedProcess:
    log.write("$ " + " ".join(str(c) for c in cmd) + "\n")
    log.flush()
    result = subprocess.run(
        [str(c) for c in cmd], stdout=log, stderr=subprocess.STDOUT, text=True, **kwargs
    )
    return result


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _requirement_name(requirement: str) -> str:
    name = requirement.strip()
    for stop in "<>=!~[;( @":
        name = name.split(stop, 1)[0]
    return _normalize(name)


def download_sdist(plugin: Plugin, sdists: Path, log) -> Path:
    """``pip download --no-binary :all: --no-deps --pre`` (cached in ``sdists``)."""
    stem = f"{plugin.name}-{plugin.version}.tar.gz".replace("-", "_").lower()

    def cached():
        for existing in sdists.glob("*.tar.gz"):
            if existing.name.replace("-", "_").lower() == stem:
                return existing
        return None

    if cached():
        return cached()
    cmd = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps"]
    cmd += ["--pre", "-d", sdists, f"{plugin.name}=={plugin.version}"]
    if _run(cmd, log=log).returncode != 0:
        raise RuntimeError(f"could not download the sdist of {plugin.name}")
    if cached():
        return cached()
    raise RuntimeError(f"pip download gave no sdist for {plugin.name}")


def unpack(sdist: Path, dest: Path) -> Path:
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover - Pythons without PEP 706
            tar.extractall(dest)
    (src,) = [p for p in dest.iterdir() if p.is_dir()]
    return src


def declared_requirements(src: Path) -> list[str]:
    """Its runtime and test requirements, datasette-llm left out."""
    pyproject = tomllib.loads((src / "pyproject.toml").read_text())
    project = pyproject.get("project", {})
    requirements = list(project.get("dependencies", []))
    groups = pyproject.get("dependency-groups", {})
    test_requirements = groups.get("dev") or groups.get("test")
    if test_requirements is None:
        test_requirements = project.get("optional-dependencies", {}).get("test", [])
    requirements += [r for r in test_requirements if isinstance(r, str)]
    return [r for r in requirements if _requirement_name(r) != "datasette-llm"]


def junit_counts(path: Path) -> dict:
    if not path.exists():
        return {"tests": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {"tests": 0, "failed": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        counts["tests"] += int(suite.get("tests", 0))
        counts["failed"] += int(suite.get("failures", 0))
        counts["errors"] += int(suite.get("errors", 0))
        counts["skipped"] += int(suite.get("skipped", 0))
    counts["passed"] = counts["tests"] - counts["failed"] - counts["errors"] - counts["skipped"]
    return counts


def run_plugin(plugin: Plugin, against: str, work: Path, sdists: Path, log) -> dict:
    started = time.monotonic()
    result = {"plugin": plugin.label, "version": plugin.version, "against": against}
    base = work / f"{plugin.slug}-{against}"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    uv = _uv()

    src = unpack(download_sdist(plugin, sdists, log), base / "src")
    overlay = OVERLAY / plugin.name
    if plugin.overlay and overlay.is_dir():
        shutil.copytree(overlay, src, dirs_exist_ok=True)

    venv = base / "venv"
    python = venv / "bin" / "python"
    if _run([uv, "venv", "-q", "--python", sys.executable, venv], log=log).returncode:
        raise RuntimeError("uv venv failed")

    ours = against == "ours"
    target = str(ROOT) if ours else PUBLISHED_DATASETTE_LLM
    constraints = base / "constraints.txt"
    constraints.write_text("".join(c + "\n" for c in plugin.constraints))
    requirements = [target, *declared_requirements(src), *plugin.extra]
    install = [uv, "pip", "install", "-q", "--python", python, "-c", constraints]
    if _run(install + requirements, log=log).returncode:
        raise RuntimeError(f"installing {target} and the plugin's requirements failed")
    if _run(install + ["--no-deps", src], log=log).returncode:
        raise RuntimeError(f"installing {plugin.name} --no-deps failed")

    # From where its tests run: a datasette_llm/ (or .egg-info) there would win otherwise.
    check = subprocess.run([python, "-c", _VERIFY], capture_output=True, text=True, cwd=src)
    if check.returncode:
        raise RuntimeError(f"import datasette_llm failed:\n{check.stderr}")
    imported = json.loads(check.stdout)
    result["datasette_llm"] = imported
    if ours and imported["direct_url"] != ROOT.as_uri():
        raise RuntimeError(f"imported datasette_llm is not this checkout: {imported}")
    if not ours and imported["version"] != PUBLISHED_DATASETTE_LLM.split("==")[1]:
        raise RuntimeError(f"imported datasette_llm is not {PUBLISHED_DATASETTE_LLM}: {imported}")
    versions = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('datasette'), m.version('llm'))"],
        capture_output=True,
        text=True,
    )
    result["datasette"], result["llm"] = versions.stdout.split()

    junit = base / "junit.xml"
    pytest = [venv / "bin" / "pytest", "-p", "no:cacheprovider", "-q", "-rfE", f"--junitxml={junit}"]
    for test_id in plugin.deselect:
        pytest += ["--deselect", test_id]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON", "EXPECT_"))}
    env["LLM_USER_PATH"] = str(base / "llm-user")
    env.update(plugin.env)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    try:
        outcome = _run(pytest, log=log, cwd=src, env=env, timeout=900)
        result["exit"] = outcome.returncode
    except subprocess.TimeoutExpired:
        result["exit"] = "timeout"
    result.update(junit_counts(junit))
    result["deselected"] = len(plugin.deselect)
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def succeeded(result: dict) -> bool:
    return (
        "error" not in result
        and result.get("exit") == 0
        and result.get("tests", 0) > 0
        and result.get("failed", 0) == 0
        and result.get("errors", 0) == 0
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", choices=["ours", "published", "both"], default="ours")
    parser.add_argument("--only", action="append", help="run only this plugin (repeatable)")
    parser.add_argument("--work", type=Path, help="working folder (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args = parser.parse_args(argv)

    plugins = [p for p in PLUGINS if not args.only or p.name in args.only]
    unknown = set(args.only or []) - {p.name for p in PLUGINS}
    if unknown:
        parser.error(f"unknown plugin(s): {sorted(unknown)}")
    modes = ["ours", "published"] if args.against == "both" else [args.against]
    work = args.work or Path(tempfile.mkdtemp(prefix="downstream-"))
    work.mkdir(parents=True, exist_ok=True)
    sdists = work / "sdists"
    sdists.mkdir(exist_ok=True)

    results = []
    for plugin in plugins:
        for against in modes:
            log_path = work / f"{plugin.slug}-{against}.log"
            print(f"downstream: {plugin.label} {plugin.version} against {against} datasette-llm ...", flush=True)
            with open(log_path, "w") as log:
                try:
                    result = run_plugin(plugin, against, work, sdists, log)
                except Exception as error:  # reported, and fails the run
                    result = {"plugin": plugin.label, "version": plugin.version, "against": against}
                    result["error"] = str(error)
            result["ok"] = succeeded(result)
            results.append(result)
            if not result["ok"]:
                print(_failure_excerpt(log_path.read_text()), flush=True)
            print("  " + describe(result), flush=True)

    print()
    print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if not args.keep and not args.work:
        shutil.rmtree(work, ignore_errors=True)
    ours = [r for r in results if r["against"] == "ours"]
    if ours and not all(r["ok"] for r in ours):
        return 1
    return 0


def _failure_excerpt(log: str) -> str:
    """pytest's short summary if it got that far, else the end of the log."""
    marker = "short test summary info"
    if marker in log:
        return log[log.index(marker) - 31 :][-6000:]
    return log[-3000:]


def describe(result: dict) -> str:
    if "error" in result:
        return f"{result['plugin']}: ERROR {result['error']}"
    return (
        f"{result['plugin']} on Datasette {result['datasette']}, llm {result['llm']}: "
        f"{result['passed']} passed, {result['failed']} failed, {result['errors']} errors, "
        f"{result['skipped']} skipped, {result['deselected']} deselected "
        f"({result['seconds']}s, {'ok' if result['ok'] else 'FAILED'})"
    )


def table(results: list[dict]) -> str:
    lines = [
        "| plugin | against datasette-llm | Datasette | llm | passed | failed | errors | skipped | deselected |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        against = "this checkout" if r["against"] == "ours" else PUBLISHED_DATASETTE_LLM.split("==")[1]
        if "error" in r:
            lines.append(f"| {r['plugin']} {r['version']} | {against} | error: {r['error'].splitlines()[0]} |||||||")
            continue
        lines.append(
            f"| {r['plugin']} {r['version']} | {against} | {r['datasette']} | {r['llm']} | "
            f"{r['passed']} | {r['failed']} | {r['errors']} | {r['skipped']} | {r['deselected']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
