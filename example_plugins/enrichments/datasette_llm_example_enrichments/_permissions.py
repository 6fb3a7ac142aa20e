"""Who may enrich a table: Datasette's own permissions, asked before anything is written.

Enriching writes a value into every chosen row (``update-row``) and may add the output
column (``alter-table``); the rows are read through the table's JSON API as the actor,
so the actor must also see the table (``view-table``). The same rule lets an actor see,
cancel and resume the table's jobs.
"""

from __future__ import annotations

from typing import Optional

from ._compat import allowed


async def refusal(
    datasette,
    actor: Optional[dict],
    database: str,
    table: str,
    *,
    adding_column: Optional[str] = None,
) -> Optional[str]:
    """Why ``actor`` may not enrich ``database``/``table`` (adding the column
    ``adding_column``, if given), or ``None`` if they may."""
    if not await allowed(datasette, actor, "view-table", database, table):
        return f"You may not view the table {table}"
    if not datasette.get_database(database).is_mutable:
        return f"The database {database} is immutable: its tables cannot be enriched"
    if not await allowed(datasette, actor, "update-row", database, table):
        return f"Enriching {table} writes to its rows, which needs the update-row permission"
    if adding_column and not await allowed(datasette, actor, "alter-table", database, table):
        return (
            f"Adding the column {adding_column} to {table} needs the alter-table permission: "
            "choose an existing column"
        )
    return None
