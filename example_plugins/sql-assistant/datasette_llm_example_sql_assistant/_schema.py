"""The schema the model is shown: the ``CREATE`` statements of the database's own tables
and views (columns, types and foreign keys as written), capped in size.

Left out: tables Datasette hides (full-text search tables, tables configured
``hidden``), names starting with ``_`` (Datasette's and plugins' own, ``_internal``
style) or ``sqlite_``, the configured ``exclude_tables``, and tables the actor may not
view. Row data only when the operator sets ``example_rows``.
"""

from __future__ import annotations

import json

from ._compat import allowed
from ._config import Config

MAX_VALUE_CHARS = 80


def is_own_table(name: str, hidden: set, config: Config) -> bool:
    """Is this table Datasette's, a plugin's or SQLite's rather than the user's data?"""
    return name.startswith(("_", "sqlite_")) or name in hidden or name in config.exclude_tables


async def schema_for_prompt(datasette, database: str, actor, config: Config) -> str:
    db = datasette.get_database(database)
    hidden = set(await db.hidden_table_names())
    rows = await db.execute(
        "select type, name, sql from sqlite_master where type in ('table', 'view') "
        "and sql is not null order by type = 'view', name"
    )
    parts, left_out, size = [], 0, 0
    for row in rows:
        name = row["name"]
        if is_own_table(name, hidden, config):
            continue
        if not await allowed(datasette, actor, "view-table", database, name):
            continue
        part = row["sql"].strip() + ";"
        if config.example_rows and row["type"] == "table":
            part += await _example_rows(db, name, config.example_rows)
        if size + len(part) + 1 > config.schema_max_chars:
            left_out += 1
            continue
        parts.append(part)
        size += len(part) + 1
    if left_out:
        parts.append(f"-- {left_out} more table(s) left out to keep this schema short")
    return "\n".join(parts)


async def _example_rows(db, table: str, limit: int) -> str:
    quoted = '"' + table.replace('"', '""') + '"'
    rows = await db.execute(f"select * from {quoted} limit {int(limit)}")
    lines = [f"\n-- Example rows of {table}:"]
    for row in rows:
        values = {key: _short(row[key]) for key in row.keys()}
        lines.append("-- " + json.dumps(values, ensure_ascii=False))
    return "\n".join(lines)


def _short(value):
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + "…"
    return value
