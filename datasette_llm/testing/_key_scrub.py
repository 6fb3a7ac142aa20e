"""Keeping API keys out of cassettes: the key values a test could have used, and the
shapes of the common providers' keys."""

from __future__ import annotations

import json
import os
import re
from typing import Iterable

REDACTED = "<redacted>"

# What common providers' API keys look like (OpenAI and Anthropic sk-..., Google AIza...,
# Groq gsk_..., xAI, Hugging Face, GitHub, AWS access keys, bearer tokens)
KEY_SHAPES = re.compile(
    r"\b(?:"
    r"(?:sk|rk|pk)-[A-Za-z0-9_\-]{4,}"
    r"|AIza[0-9A-Za-z_\-]{20,}"
    r"|(?:gsk|hf|ghp|gho|ghs|github_pat)_[A-Za-z0-9_]{16,}"
    r"|(?:xai|pplx)-[A-Za-z0-9]{16,}"
    r"|AKIA[0-9A-Z]{16}"
    r")"
    r"|\bBearer\s+[A-Za-z0-9._\-]{8,}"
)
# Values shorter than this are not treated as keys (they would redact ordinary words)
SHORTEST_KEY = 6


def environment_keys(key_env_vars: Iterable[str]) -> set:
    """Key values a test can reach without passing one: the given provider variables,
    every ``DATASETTE_SECRETS_*`` variable, and llm's ``keys.json``."""
    keys = {os.environ.get(name) for name in key_env_vars}
    keys.update(v for k, v in os.environ.items() if k.startswith("DATASETTE_SECRETS_"))
    keys.update(_keys_json_values())
    return {key for key in keys if isinstance(key, str) and len(key) >= SHORTEST_KEY}


def _keys_json_values() -> list:
    import llm

    path = llm.user_dir() / "keys.json"
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [value for value in stored.values() if isinstance(value, str)] if isinstance(
        stored, dict
    ) else []


def scrub(value, keys: set):
    """``value`` (nested dicts, lists and strings) with every known key and everything
    shaped like a key replaced by ``<redacted>``."""
    if isinstance(value, str):
        return _scrub_text(value, keys)
    if isinstance(value, dict):
        return {name: scrub(item, keys) for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(item, keys) for item in value]
    return value


def _scrub_text(text: str, keys: set) -> str:
    # Longest first, so a key that contains another is removed whole
    for key in sorted(keys, key=len, reverse=True):
        if key in text:
            text = text.replace(key, REDACTED)
    return KEY_SHAPES.sub(REDACTED, text)


def strings(value):
    """Every string in ``value`` (nested dicts and lists), dict keys left out."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings(item)


def find_key(text: str, keys: set):
    """The first known key or key-shaped string in ``text``, or None."""
    for key in keys:
        if key in text:
            return key
    found = KEY_SHAPES.search(text)
    return found.group(0) if found else None
