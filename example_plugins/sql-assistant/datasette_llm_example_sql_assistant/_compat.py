"""What differs between Datasette 0.65.x and the 1.0 alphas, for this plugin.

- Permissions: Datasette 1.0a21 and later answer
  ``datasette.allowed(action=..., resource=..., actor=...)``; 0.65 asks
  ``permission_allowed()`` once per level, most specific first, and the first explicit
  answer wins, as its own views do.
- The URL that runs a SQL query: ``/<database>/-/query?sql=`` on 1.0 alphas,
  ``/<database>?sql=`` on 0.65.
"""

from __future__ import annotations

import urllib.parse
from typing import Optional


async def allowed(
    datasette, actor: Optional[dict], action: str, database: str, table: Optional[str] = None
) -> bool:
    """May ``actor`` do ``action`` (``view-table``, ``execute-sql`` ...) on this database
    or table?"""
    if hasattr(datasette, "allowed"):  # Datasette 1.0a21 and later
        from datasette.resources import DatabaseResource, TableResource

        resource = TableResource(database, table) if table else DatabaseResource(database)
        return await datasette.allowed(action=action, resource=resource, actor=actor)
    checks = [(action, (database, table) if table else database)]
    if action != "view-database":
        checks.append(("view-database", database))
    checks.append(("view-instance", None))
    for check_action, resource in checks:
        answer = await datasette.permission_allowed(
            actor, check_action, resource=resource, default=None
        )
        if answer is not None:
            return answer
    return True


def query_url(datasette, database: str, sql: str) -> str:
    """The URL that runs ``sql`` against ``database``."""
    if hasattr(datasette.urls, "database_query"):  # Datasette 1.0 alphas
        return datasette.urls.database_query(database, sql)
    return datasette.urls.database(database) + "?" + urllib.parse.urlencode({"sql": sql})
