"""Reading tables that a job writes to while it runs.

In-memory databases (``datasette.add_memory_database()``, and Datasette 0.65's
``_internal``) share one SQLite cache between their connections: there a read that
overlaps a write on the same table fails at once with "database table is locked"
instead of waiting. So reads of such a database go through its write connection,
where they queue behind the writes. File databases are read as usual.
"""

from __future__ import annotations


async def select(db, sql: str, params=None) -> list:
    """The rows of ``sql`` as dicts."""
    if not db.memory_name:
        return [dict(row) for row in (await db.execute(sql, params or [])).rows]

    def read(conn):
        cursor = conn.execute(sql, params or [])
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    return await db.execute_write_fn(read)
