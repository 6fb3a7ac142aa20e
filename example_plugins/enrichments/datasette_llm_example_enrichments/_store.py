"""Job state, as rows of three tables in the jobs database (the internal database by
default), so that a job outlives the request that started it and the process running it.

- ``llm_enrichment_jobs``: one row per job: what it does, its status and counters.
- ``llm_enrichment_job_rows``: one row per table row the job covers, in order, with its
  state (``pending``, ``done``, ``failed``) and error. Resuming takes the pending ones,
  so rows already done are never prompted again.
- ``llm_enrichment_job_events``: what happened to the job, in words, for its page.

Statuses: ``pending`` (rows not yet collected), ``running``, ``paused`` (with the
reason), ``interrupted`` (Datasette stopped while it ran), ``failed`` (an unexpected
error, with the reason), ``cancelled``, ``finished``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Iterable, Optional

from ._compat import default_jobs_database
from ._config import PLUGIN, Config, ConfigError
from ._database import select

JOBS = "llm_enrichment_jobs"
JOB_ROWS = "llm_enrichment_job_rows"
JOB_EVENTS = "llm_enrichment_job_events"

ACTIVE = ("pending", "running")
RESUMABLE = ("paused", "interrupted", "failed")

SCHEMA = f"""
create table if not exists {JOBS} (
    id integer primary key,
    database_name text not null,
    table_name text not null,
    output_column text not null,
    template text not null,
    model_id text not null,
    filter_querystring text not null,  -- the table view's filters; '' for every row
    rows_description text not null,    -- the same, in words
    primary_keys text not null,        -- JSON list of the table's key columns
    actor text,                        -- JSON: the actor the prompts run as
    status text not null,
    reason text,                       -- why it is paused, failed or cancelled
    total integer,                     -- rows covered; null until collected
    done_count integer not null default 0,
    failed_count integer not null default 0,
    created_at real not null,          -- unix seconds
    updated_at real not null,
    run_started_at real,               -- start of the current run, null when not running
    elapsed_seconds real not null default 0,  -- time spent in runs that ended
    finished_at real
);
create index if not exists {JOBS}_by_table on {JOBS} (database_name, table_name);
create table if not exists {JOB_ROWS} (
    job_id integer not null references {JOBS}(id),
    position integer not null,
    row_key text not null,             -- JSON list of the row's key values
    state text not null default 'pending',
    error text,
    primary key (job_id, position)
);
create table if not exists {JOB_EVENTS} (
    id integer primary key,
    job_id integer not null references {JOBS}(id),
    at real not null,
    message text not null
);
"""


def job_store(datasette) -> "JobStore":
    """The store in the database the config names, or the internal database."""
    name = Config.of(datasette).database
    if name is None:
        return JobStore(default_jobs_database(datasette))
    if name not in datasette.databases:
        raise ConfigError(
            f"plugins.{PLUGIN}.database: no database named {name!r} is attached; "
            f"attached: {', '.join(datasette.databases)}"
        )
    return JobStore(datasette.get_database(name))


# Columns of the jobs table whose Job attribute has a shorter name
_RENAMED = {
    "database_name": "database",
    "table_name": "table",
    "done_count": "done",
    "failed_count": "failed",
}


@dataclass
class Job:
    id: int
    database: str
    table: str
    output_column: str
    template: str
    model_id: str
    filter_querystring: str
    rows_description: str
    primary_keys: list
    actor: Optional[dict]
    status: str
    reason: Optional[str]
    total: Optional[int]
    done: int
    failed: int
    created_at: float
    updated_at: float
    run_started_at: Optional[float]
    elapsed_seconds: float
    finished_at: Optional[float]

    @classmethod
    def from_row(cls, row: dict) -> "Job":
        values = {_RENAMED.get(column, column): value for column, value in row.items()}
        values["primary_keys"] = json.loads(values["primary_keys"])
        values["actor"] = json.loads(values["actor"]) if values["actor"] else None
        return cls(**values)

    @property
    def remaining(self) -> Optional[int]:
        return None if self.total is None else self.total - self.done - self.failed

    @property
    def percent(self) -> int:
        """Share of rows dealt with (done or failed), 0 to 100."""
        if not self.total:
            return 100 if self.total == 0 else 0
        return (self.done + self.failed) * 100 // self.total

    def elapsed(self, now: Optional[float] = None) -> float:
        """Seconds spent running, over every run, the current one included."""
        if self.run_started_at is None:
            return self.elapsed_seconds
        return self.elapsed_seconds + max(0.0, (now or time.time()) - self.run_started_at)


@dataclass
class RowError:
    position: int
    key: list
    error: str


class JobStore:
    """Reads and writes job state in ``db`` (a Datasette ``Database``)."""

    def __init__(self, db):
        self.db = db

    async def create_tables(self) -> None:
        await self.db.execute_write_script(SCHEMA)

    async def create_job(
        self,
        *,
        database: str,
        table: str,
        output_column: str,
        template: str,
        model_id: str,
        filter_querystring: str,
        rows_description: str,
        primary_keys: list,
        actor: Optional[dict],
    ) -> int:
        now = time.time()

        def insert(conn):
            with conn:
                cursor = conn.execute(
                    f"""insert into {JOBS} (database_name, table_name, output_column, template,
                        model_id, filter_querystring, rows_description, primary_keys, actor,
                        status, created_at, updated_at)
                    values (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)""",
                    [
                        database,
                        table,
                        output_column,
                        template,
                        model_id,
                        filter_querystring,
                        rows_description,
                        json.dumps(primary_keys),
                        _actor_json(actor),
                        now,
                        now,
                    ],
                )
                _event(conn, cursor.lastrowid, now, "Created")
                return cursor.lastrowid

        return await self.db.execute_write_fn(insert)

    async def get(self, job_id: int) -> Optional[Job]:
        rows = await select(self.db, f"select * from {JOBS} where id = ?", [job_id])
        return Job.from_row(rows[0]) if rows else None

    async def jobs(self, database: Optional[str] = None, table: Optional[str] = None) -> list:
        """Jobs, newest first, optionally of one database or table."""
        where, params = [], []
        if database is not None:
            where.append("database_name = ?")
            params.append(database)
        if table is not None:
            where.append("table_name = ?")
            params.append(table)
        sql = f"select * from {JOBS}" + (" where " + " and ".join(where) if where else "")
        rows = await select(self.db, sql + " order by id desc", params)
        return [Job.from_row(row) for row in rows]

    async def add_rows(self, job_id: int, keys: list) -> None:
        """Record the rows the job covers (the row keys, in order) and its total."""

        def insert(conn):
            with conn:
                conn.execute(f"delete from {JOB_ROWS} where job_id = ?", [job_id])
                conn.executemany(
                    f"insert into {JOB_ROWS} (job_id, position, row_key) values (?, ?, ?)",
                    ((job_id, position, json.dumps(key)) for position, key in enumerate(keys)),
                )
                conn.execute(
                    f"update {JOBS} set total = ?, done_count = 0, failed_count = 0, "
                    "updated_at = ? where id = ?",
                    [len(keys), time.time(), job_id],
                )

        await self.db.execute_write_fn(insert)

    async def pending_rows(self, job_id: int, after: int, limit: int) -> list:
        """``(position, key)`` of up to ``limit`` pending rows after ``after``, in order."""
        rows = await select(
            self.db,
            f"select position, row_key from {JOB_ROWS} where job_id = ? and position > ? "
            "and state = 'pending' order by position limit ?",
            [job_id, after, limit],
        )
        return [(row["position"], json.loads(row["row_key"])) for row in rows]

    async def mark_done(self, job_id: int, positions: list) -> None:
        """The rows at these positions have their answer written."""

        def mark(conn):
            with conn:
                conn.executemany(
                    f"update {JOB_ROWS} set state = 'done', error = null "
                    "where job_id = ? and position = ?",
                    [(job_id, position) for position in positions],
                )
                conn.execute(
                    f"update {JOBS} set done_count = done_count + ?, updated_at = ? where id = ?",
                    [len(positions), time.time(), job_id],
                )

        await self.db.execute_write_fn(mark)

    async def mark_failed(self, job_id: int, position: int, error: str) -> None:
        def mark(conn):
            with conn:
                conn.execute(
                    f"update {JOB_ROWS} set state = 'failed', error = ? "
                    "where job_id = ? and position = ?",
                    [error, job_id, position],
                )
                conn.execute(
                    f"update {JOBS} set failed_count = failed_count + 1, updated_at = ? "
                    "where id = ?",
                    [time.time(), job_id],
                )

        await self.db.execute_write_fn(mark)

    async def start_run(
        self, job_id: int, actor: Optional[dict], from_statuses: Iterable[str], message: str
    ) -> bool:
        """Set the job running as ``actor`` if its status is one of ``from_statuses``;
        False if it was not (someone else changed it first)."""
        now = time.time()
        statuses = list(from_statuses)

        def start(conn):
            with conn:
                cursor = conn.execute(
                    f"""update {JOBS} set status = 'running', reason = null, actor = ?,
                        run_started_at = ?, updated_at = ?, finished_at = null
                    where id = ? and status in ({", ".join("?" * len(statuses))})""",
                    [_actor_json(actor), now, now, job_id, *statuses],
                )
                if cursor.rowcount:
                    _event(conn, job_id, now, message)
                return cursor.rowcount > 0

        return await self.db.execute_write_fn(start)

    async def end_run(
        self,
        job_id: int,
        status: str,
        *,
        reason: Optional[str] = None,
        message: Optional[str] = None,
        from_statuses: Iterable[str] = ACTIVE,
    ) -> bool:
        """Move the job from one of ``from_statuses`` to ``status``, adding the time
        of the current run to its elapsed time; False if it was in another status."""
        statuses = list(from_statuses)

        def end(conn):
            now = time.time()
            row = conn.execute(
                f"select status, run_started_at, updated_at from {JOBS} where id = ?", [job_id]
            ).fetchone()
            if row is None or row[0] not in statuses:
                return False
            # An interrupted run ended when the job was last written to, not now
            ended = row[2] if status == "interrupted" else now
            run = max(0.0, ended - row[1]) if row[1] is not None else 0.0
            with conn:
                conn.execute(
                    f"""update {JOBS} set status = ?, reason = ?, run_started_at = null,
                        elapsed_seconds = elapsed_seconds + ?, updated_at = ?, finished_at = ?
                    where id = ?""",
                    [
                        status,
                        reason,
                        run,
                        now,
                        now if status in ("finished", "cancelled") else None,
                        job_id,
                    ],
                )
                _event(conn, job_id, now, message or _status_message(status, reason))
            return True

        return await self.db.execute_write_fn(end)

    async def active_job_ids(self) -> list:
        """Jobs that were pending or running: after a restart, none of them is."""
        rows = await select(
            self.db,
            f"select id from {JOBS} where status in ({', '.join('?' * len(ACTIVE))})",
            ACTIVE,
        )
        return [row["id"] for row in rows]

    async def retry_failed(self, job_id: int) -> int:
        """Make the job's failed rows pending again; returns how many."""

        def retry(conn):
            with conn:
                count = conn.execute(
                    f"update {JOB_ROWS} set state = 'pending', error = null "
                    "where job_id = ? and state = 'failed'",
                    [job_id],
                ).rowcount
                conn.execute(
                    f"update {JOBS} set failed_count = failed_count - ? where id = ?",
                    [count, job_id],
                )
                return count

        return await self.db.execute_write_fn(retry)

    async def errors(self, job_id: int, limit: int = 100) -> list:
        rows = await select(
            self.db,
            f"select position, row_key, error from {JOB_ROWS} "
            "where job_id = ? and state = 'failed' order by position limit ?",
            [job_id, limit],
        )
        return [RowError(row["position"], json.loads(row["row_key"]), row["error"]) for row in rows]

    async def events(self, job_id: int) -> list:
        rows = await select(
            self.db, f"select at, message from {JOB_EVENTS} where job_id = ? order by id", [job_id]
        )
        return [(row["at"], row["message"]) for row in rows]

    async def add_event(self, job_id: int, message: str) -> None:
        def add(conn):
            with conn:
                _event(conn, job_id, time.time(), message)

        await self.db.execute_write_fn(add)


def _event(conn, job_id: int, at: float, message: str) -> None:
    conn.execute(
        f"insert into {JOB_EVENTS} (job_id, at, message) values (?, ?, ?)", [job_id, at, message]
    )


def _actor_json(actor: Optional[dict]) -> Optional[str]:
    return json.dumps(actor) if actor is not None else None


def _status_message(status: str, reason: Optional[str]) -> str:
    words = {
        "finished": "Finished",
        "paused": "Paused",
        "cancelled": "Cancelled",
        "interrupted": "Interrupted",
        "failed": "Failed",
    }.get(status, status.capitalize())
    return f"{words}: {reason}" if reason else words
