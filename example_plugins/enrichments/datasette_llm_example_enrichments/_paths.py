"""URLs of the plugin's pages (shared by the views and the table actions)."""

from __future__ import annotations

import urllib.parse
from typing import Optional


def form_path(datasette, database: str, table: str, querystring: str = "") -> str:
    path = datasette.urls.table(database, table) + "/-/enrich-with-llm"
    return path + ("?" + querystring if querystring else "")


def jobs_path(datasette, database: Optional[str] = None, table: Optional[str] = None) -> str:
    args = [(k, v) for k, v in (("database", database), ("table", table)) if v is not None]
    path = datasette.urls.path("/-/llm-enrichments")
    return path + ("?" + urllib.parse.urlencode(args) if args else "")


def job_path(datasette, job_id: int, suffix: str = "") -> str:
    return datasette.urls.path(f"/-/llm-enrichments/{job_id}{suffix}")
