"""The browser fixtures of the pytest plugin: a real server, a real page, and a clear
skip (or failure, where a browser is required) when no browser is installed."""

import pytest

pytest_plugins = ["pytester"]

NO_CHROMIUM = """
import pytest
from datasette_llm.testing import _browser

@pytest.fixture(autouse=True)
def no_chromium(monkeypatch):
    monkeypatch.setattr(_browser, "chromium_path", lambda: None)
"""
USES_A_PAGE = """
async def test_page(browser_page):
    pass
"""
INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"


@pytest.mark.parametrize("required", [False, True])
def test_without_chromium_a_browser_test_is_skipped_or_fails_where_required(
    pytester, monkeypatch, required
):
    if required:
        monkeypatch.setenv("DATASETTE_LLM_REQUIRE_BROWSER", "1")
    else:
        monkeypatch.delenv("DATASETTE_LLM_REQUIRE_BROWSER", raising=False)
    pytester.makeini(INI)
    pytester.makeconftest(NO_CHROMIUM)
    pytester.makepyfile(test_inner=USES_A_PAGE)
    result = pytester.runpytest("-p", "no:cacheprovider", "-rs")
    # Without Playwright itself (the tox matrix installs none) that is the reason given
    try:
        import playwright  # noqa: F401

        reason = "no chromium installed (apt-get install chromium, or set CHROMIUM_PATH)"
    except ImportError:
        reason = "Playwright for Python is not installed (pip install playwright)"
    if required:
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines([f"*{reason}, and DATASETTE_LLM_REQUIRE_BROWSER is set*"])
    else:
        result.assert_outcomes(skipped=1)
        result.stdout.fnmatch_lines([f"*{reason}*"])


@pytest.mark.browser
async def test_a_page_of_a_real_server(browser_page, datasette_server, tmp_path):
    server = datasette_server("--memory")
    await browser_page.context.add_cookies([server.actor_cookie({"id": "alice"})])
    await browser_page.goto(server.url + "/-/actor.json")
    assert '"alice"' in await browser_page.inner_text("body")
    assert "GET /-/actor.json" in server.log()  # the server logs each request
