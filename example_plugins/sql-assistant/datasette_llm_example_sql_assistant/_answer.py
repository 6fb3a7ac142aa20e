"""The SQL in a model's answer."""

from __future__ import annotations

import re
from typing import Optional

_FENCED = re.compile(r"```[ \t]*(?:sql|sqlite)?[ \t]*\n?(.*?)```", re.DOTALL | re.IGNORECASE)
_BARE_QUERY = re.compile(r"select\b|with\s+\S+\s+as\s*\(", re.IGNORECASE)


def extract_sql(text: str) -> Optional[str]:
    """The answer's first fenced code block; else the whole answer if it is a bare
    query (``select ...`` or ``with <name> as (...``); else ``None``."""
    match = _FENCED.search(text)
    if match:
        return match.group(1).strip() or None
    stripped = text.strip()
    return stripped if _BARE_QUERY.match(stripped) else None
