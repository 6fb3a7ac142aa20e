"""Purpose assignments: the default model an admin chose for a purpose on ``/-/llm``.

Stored in Datasette's internal database (``--internal FILE`` makes it persistent and
shared between processes), or in the database the config names as
``assignments_database`` (Datasette 0.65 has no persistent internal database). An
assignment takes precedence over ``purposes.<name>.model``; it never widens the
allow/blocklists: ``model()`` checks it like any other default.

``model()`` runs often and the table rarely changes, so each process keeps what it
read for ``REFRESH_SECONDS``: a change made by this process (or of the configured
database) is seen at once, one made by another process sharing the database within that
time.
"""

from __future__ import annotations

import time
import weakref
from typing import NamedTuple, Optional

from ._config import ROOT
from ._errors import ConfigError

TABLE = "datasette_llm_assignments"
REFRESH_SECONDS = 2.0
_SCHEMA = f"""
create table if not exists {TABLE} (
    purpose text primary key,
    model_id text not null,
    assigned_by text,
    assigned_at text not null
)
"""


class Assignment(NamedTuple):
    purpose: str
    model_id: str
    assigned_by: Optional[str]  # the actor ID of the admin who assigned it
    assigned_at: str  # UTC, ISO 8601


class _Read(NamedTuple):
    at: float  # time.monotonic() of the read
    database_name: Optional[str]  # the assignments_database it was read from
    assignments: dict  # purpose -> Assignment


_cache: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # datasette -> _Read


def database(datasette, database_name: Optional[str]):
    """The database assignments live in: the configured one, else the internal one."""
    if database_name:
        if database_name not in datasette.databases:
            attached = ", ".join(repr(name) for name in datasette.databases) or "none"
            raise ConfigError(
                f"{ROOT}.assignments_database",
                f"no attached database is named {database_name!r} (attached: {attached})",
            )
        return datasette.get_database(database_name)
    if hasattr(datasette, "get_internal_database"):  # Datasette 1.0 alphas
        return datasette.get_internal_database()
    return datasette.get_database("_internal")  # Datasette 0.65: in memory


def check_database(datasette, database_name: Optional[str]) -> None:
    """At startup: a configured database that is not attached or not writable is a
    ``ConfigError`` (else every ``model(purpose=...)`` would fail on it)."""
    if database_name is None:
        return
    if not database(datasette, database_name).is_mutable:
        raise ConfigError(
            f"{ROOT}.assignments_database",
            f"the database {database_name!r} is immutable; assignments need a writable one",
        )


async def current(datasette, database_name: Optional[str]) -> dict:
    """Every assignment, by purpose (read at most every ``REFRESH_SECONDS``)."""
    read = _cache.get(datasette)
    now = time.monotonic()
    if read is None or now - read.at > REFRESH_SECONDS or read.database_name != database_name:
        read = _Read(now, database_name, await _read_all(datasette, database_name))
        _cache[datasette] = read
    return read.assignments


async def _read_all(datasette, database_name: Optional[str]) -> dict:
    """Read on the database's write connection: Datasette 0.65's in-memory internal
    database refuses a read that overlaps a write ("database table is locked")."""

    def read(conn) -> dict:
        with conn:  # Datasette 0.65 leaves committing to the function
            conn.execute(_SCHEMA)  # a no-op once the table exists; never "no such table"
        rows = conn.execute(f"select purpose, model_id, assigned_by, assigned_at from {TABLE}")
        return {row[0]: Assignment(*row) for row in rows.fetchall()}

    return await database(datasette, database_name).execute_write_fn(read)


async def assign(datasette, database_name, purpose: str, model_id: str, actor_id) -> Assignment:
    """Store an assignment (checked against policy by the caller) and see it at once."""
    from datetime import datetime, timezone

    assignment = Assignment(
        purpose, model_id, actor_id,
        datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    def write(conn) -> None:
        with conn:  # committed (Datasette 0.65 leaves it to the function)
            conn.execute(_SCHEMA)
            conn.execute(
                f"insert or replace into {TABLE} (purpose, model_id, assigned_by, assigned_at) "
                "values (?, ?, ?, ?)",
                list(assignment),
            )

    await database(datasette, database_name).execute_write_fn(write)
    _cache.pop(datasette, None)
    return assignment


async def clear(datasette, database_name, purpose: str) -> bool:
    """Remove a purpose's assignment; true if there was one."""
    def delete(conn) -> int:
        with conn:  # committed (Datasette 0.65 leaves it to the function)
            conn.execute(_SCHEMA)
            return conn.execute(f"delete from {TABLE} where purpose = ?", [purpose]).rowcount

    removed = await database(datasette, database_name).execute_write_fn(delete)
    _cache.pop(datasette, None)
    return bool(removed)
