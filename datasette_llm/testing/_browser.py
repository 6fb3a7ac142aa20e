"""Real-browser testing of a plugin's pages: a real ``datasette serve`` on a free
localhost port (``DatasetteServer``) and a Playwright page in a headless Chromium that is
already installed (``chromium_path()``; Playwright never downloads one here).

Used by the ``datasette_server`` and ``browser_page`` fixtures of the pytest plugin.
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
from typing import Optional

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# Without the networking flags Chromium keeps trying to reach Google's hosts, which a
# closed network refuses (slowly)
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
# Set (to anything) where a missing browser must fail the test rather than skip it
REQUIRE_BROWSER = "DATASETTE_LLM_REQUIRE_BROWSER"


def chromium_path() -> Optional[str]:
    """``CHROMIUM_PATH``, else Debian's chromium, else a ``chromium`` on the PATH."""
    for candidate in (os.environ.get("CHROMIUM_PATH"), *CHROMIUM_CANDIDATES):
        if candidate and Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def missing_browser() -> Optional[str]:
    """Why a browser test cannot run here, or None."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright)"
    if chromium_path() is None:
        return "no chromium installed (apt-get install chromium, or set CHROMIUM_PATH)"
    return None


class DatasetteServer:
    """A ``datasette serve`` subprocess on a free localhost port: ``.url``,
    ``.actor_cookie(actor)`` (sign a browser in), ``.log()`` (what it printed)."""

    def __init__(self, args: list, cwd: Path, env: dict, log_dir: Path, secret: str):
        self.secret = secret
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"datasette-{self.port}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "datasette", "serve", *args,
             "--host", "127.0.0.1", "--port", str(self.port), "--secret", secret],
            cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"datasette exited with {self.process.returncode}:\n{self.log()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/-/versions.json", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"datasette did not start within {SERVER_START_TIMEOUT}s:\n{self.log()}")

    def actor_cookie(self, actor: dict) -> dict:
        """A ``ds_actor`` cookie signing this server in as ``actor``, for Playwright's
        ``context.add_cookies([...])``."""
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

    def __repr__(self):
        return f"<DatasetteServer {self.url}>"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
