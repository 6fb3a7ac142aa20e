"""The conftest datasette-extract's tests rely on but its sdist leaves out.

Copied over the unpacked sdist by testing/downstream.py. Its tests expect an OpenAI key to
be configured (through datasette-secrets' environment variable and llm's) and remove them
with ``monkeypatch.delenv`` to test the no-key case. The key is fake: no test that runs here
reaches OpenAI.
"""

import pytest


@pytest.fixture(autouse=True)
def fake_openai_key(monkeypatch):
    monkeypatch.setenv("DATASETTE_SECRETS_OPENAI_API_KEY", "sk-fake-for-tests")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-for-tests")
