"""What differs between Datasette 0.65.x and the 1.0 alphas, for this plugin.

One check, ``IS_DATASETTE_1``: a 1.0 alpha (1.0a23 or later is tested), against 0.65.x.

- Permissions: 1.0 alphas answer ``datasette.allowed(action=..., resource=...)`` for
  every action, ``update-row`` and ``alter-table`` included (the root actor of
  ``--root`` has them all). Datasette 0.65 has no write permissions of its own: it asks
  ``permission_allowed()`` plugins, and when none answers, only the ``root`` actor may
  write. View permissions on 0.65 are asked level by level, most specific first, as
  its own views do.
- Where job state lives by default: the internal database
  (``datasette.get_internal_database()``, persistent with ``--internal jobs.db``) on
  1.0 alphas; on 0.65 the in-memory ``_internal`` database, lost when Datasette stops
  (name an attached file database in the ``database`` setting to keep jobs).
- The table JSON API: 1.0 alphas count rows and describe filters only when asked
  (``_extra=count``, ``_extra=human_description_en``); 0.65 always does, and calls the
  count ``filtered_table_rows_count``.
"""

from __future__ import annotations

from typing import Optional

from datasette.version import __version__ as datasette_version

IS_DATASETTE_1 = not datasette_version.startswith("0.")

COUNT_QUERYSTRING = (
    "_size=0&_nofacet=1&_extra=count&_extra=human_description_en"
    if IS_DATASETTE_1
    else "_size=0&_nofacet=1"
)
WRITE_ACTIONS = ("update-row", "alter-table")


def default_jobs_database(datasette):
    """The database that holds job state when the config names none."""
    if IS_DATASETTE_1:
        return datasette.get_internal_database()
    return datasette.get_database("_internal")


def count_and_description(table_json: dict) -> tuple[Optional[int], str]:
    """Rows matched and the filters in words, from a table JSON page fetched with
    ``COUNT_QUERYSTRING``."""
    count = table_json.get("count", table_json.get("filtered_table_rows_count"))
    return count, table_json.get("human_description_en") or ""


async def allowed(datasette, actor: Optional[dict], action: str, database: str, table: str) -> bool:
    """May ``actor`` do ``action`` (``view-table``, ``update-row``, ``alter-table``) on
    this table?"""
    if IS_DATASETTE_1:
        from datasette.resources import TableResource

        return await datasette.allowed(
            action=action, resource=TableResource(database, table), actor=actor
        )
    if action in WRITE_ACTIONS:
        answer = await datasette.permission_allowed(
            actor, action, resource=(database, table), default=None
        )
        return answer if answer is not None else bool(actor and actor.get("id") == "root")
    for check_action, resource in (
        (action, (database, table)),
        ("view-database", database),
        ("view-instance", None),
    ):
        answer = await datasette.permission_allowed(
            actor, check_action, resource=resource, default=None
        )
        if answer is not None:
            return answer
    return True
