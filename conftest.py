"""Fixtures for the real-browser tests of this repository (tests/ and example_plugins/).

Browser tests drive Debian's ``chromium`` with Playwright for Python's async API
(``browser_page``); browsers are never downloaded. Mark them ``@pytest.mark.browser``
and use ``datasette_server`` to run a real Datasette on a free localhost port; sign in
with ``await browser_page.context.add_cookies([server.actor_cookie({"id": "root"})])``.

Without chromium, browser tests are skipped with the reason; under CI (``CI`` set)
they fail instead, since CI installs chromium (``.ci/run``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# Without the networking flags Chromium keeps trying to reach Google's hosts, which
# this machine's closed network refuses (slowly).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 30  # seconds


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), *CHROMIUM_CANDIDATES):
        if candidate and Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def pytest_collection_modifyitems(config, items):
    if chromium_path() is not None:
        return
    browser_items = [item for item in items if item.get_closest_marker("browser")]
    if not browser_items:
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(
            f"CI is set but no chromium is installed: {len(browser_items)} browser test(s) "
            "cannot run (apt-get install chromium, or set CHROMIUM_PATH)"
        )
    skip = pytest.mark.skip(
        reason="no chromium installed (apt-get install chromium, or set CHROMIUM_PATH)"
    )
    for item in browser_items:
        item.add_marker(skip)


@pytest.fixture
async def browser_page():
    """A Playwright page (async API) in a fresh headless Chromium, Debian's package,
    closed after the test. Never downloads a browser."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            yield page
        finally:
            await browser.close()


class DatasetteServer:
    """A ``datasette serve`` subprocess on a free localhost port."""

    def __init__(self, args: list[str], cwd: Path, env: dict, secret: str):
        self.secret = secret
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = cwd / f"datasette-{self.port}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "datasette", "serve", *args,
             "--host", "127.0.0.1", "--port", str(self.port), "--secret", secret],
            cwd=os.getcwd(), env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"datasette exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/-/versions.json", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"datasette did not start within {SERVER_START_TIMEOUT}s:\n{self.log()}")

    def actor_cookie(self, actor: dict) -> dict:
        """A ``ds_actor`` cookie signing this server in as ``actor`` (for Playwright's
        ``context.add_cookies``)."""
        from datasette.app import Datasette

        value = Datasette(memory=True, secret=self.secret).sign({"a": actor}, "actor")
        return {"name": "ds_actor", "value": value, "url": self.url}

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def datasette_server(tmp_path):
    """Factory: ``datasette_server(*args, env={...})`` starts ``datasette serve *args``
    in ``tmp_path`` on a free port and returns a ``DatasetteServer`` (``.url``,
    ``.actor_cookie(actor)``, ``.log()``); stopped after the test."""
    servers = []

    def start(*args: str, env: dict | None = None) -> DatasetteServer:
        server_env = {**os.environ, **(env or {})}
        server = DatasetteServer(
            [str(a) for a in args], tmp_path, server_env, secret=f"browser-test-{len(servers)}"
        )
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
