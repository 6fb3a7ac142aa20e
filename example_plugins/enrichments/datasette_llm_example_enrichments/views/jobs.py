"""Job pages: the list, one job's progress (HTML and JSON) and its actions.

An actor may see and act on a job if they may enrich its table (``_permissions``).
"""

from __future__ import annotations

import datetime
from typing import Optional

from datasette import Forbidden, Response
from datasette.utils import tilde_encode
from datasette.utils.asgi import NotFound

from .. import _runner
from .._paths import job_path, jobs_path
from .._permissions import refusal
from .._store import ACTIVE, RESUMABLE, Job, job_store

ERRORS_SHOWN = 100


async def _job_for(datasette, request) -> Job:
    """The job of the URL, if the actor may see it."""
    job = await job_store(datasette).get(int(request.url_vars["job_id"]))
    if job is None:
        raise NotFound("No such enrichment job")
    if job.database not in datasette.databases:
        raise NotFound(f"The database {job.database} of this job is no longer attached")
    reason = await refusal(datasette, request.actor, job.database, job.table)
    if reason:
        raise Forbidden(reason)
    return job


async def job_view(datasette, request):
    job = await _job_for(datasette, request)
    store = job_store(datasette)
    payload = job_payload(
        datasette, job, await store.errors(job.id, ERRORS_SHOWN), await store.events(job.id)
    )
    if request.url_vars.get("format") == "json":
        return Response.json(payload)
    context = {
        "job": payload,
        "can_cancel": job.status in ACTIVE + RESUMABLE,
        "can_resume": job.status in RESUMABLE,
        "can_retry": job.failed > 0 and job.status not in ACTIVE + ("cancelled",),
        "errors_shown": ERRORS_SHOWN,
        "jobs_url": jobs_path(datasette, job.database, job.table),
        "readable_time": readable_time,
    }
    html = await datasette.render_template("llm_enrichment_job.html", context, request=request)
    return Response.html(html)


async def job_action_view(datasette, request):
    if request.method != "POST":
        return Response.text("Use POST (the buttons on the job's page)", status=405)
    job = await _job_for(datasette, request)
    store = job_store(datasette)
    action = request.url_vars["action"]
    who = (request.actor or {}).get("id") or "an anonymous user"
    if action == "cancel":
        done = await _runner.cancel(datasette, store, job.id, request.actor)
        message = "Cancelled the job" if done else f"The job had already ended ({job.status})"
    elif action == "resume":
        done = await _runner.begin(
            datasette, store, job.id, request.actor, RESUMABLE, f"Resumed by {who}"
        )
        message = (
            "Resumed the job: rows already done are skipped"
            if done
            else "Only a paused, interrupted or failed job can be resumed; "
            f"this one is {job.status}"
        )
    else:  # retry
        done = job.failed > 0 and job.status not in ACTIVE + ("cancelled",)
        if done:
            count = await store.retry_failed(job.id)
            done = await _runner.begin(
                datasette,
                store,
                job.id,
                request.actor,
                RESUMABLE + ("finished",),
                f"{who} retried {count} failed row(s)",
            )
        message = "Retrying the failed rows" if done else "There are no failed rows to retry now"
    datasette.add_message(request, message, datasette.INFO if done else datasette.WARNING)
    return Response.redirect(job_path(datasette, job.id))


async def jobs_view(datasette, request):
    database = request.args.get("database")
    table = request.args.get("table")
    visible = []
    may_see: dict = {}
    for job in await job_store(datasette).jobs(database, table):
        place = (job.database, job.table)
        if place not in may_see:
            may_see[place] = job.database in datasette.databases and not await refusal(
                datasette, request.actor, job.database, job.table
            )
        if may_see[place]:
            visible.append(job_payload(datasette, job))
    context = {
        "jobs": visible,
        "database": database,
        "table": table,
        "table_url": datasette.urls.table(database, table) if database and table else None,
        "all_jobs_url": jobs_path(datasette),
        "readable_time": readable_time,
    }
    html = await datasette.render_template("llm_enrichment_jobs.html", context, request=request)
    return Response.html(html)


def job_payload(datasette, job: Job, errors=(), events=()) -> dict:
    """What the job page shows, and its JSON twin returns."""
    return {
        "id": job.id,
        "database": job.database,
        "table": job.table,
        "output_column": job.output_column,
        "model": job.model_id,
        "template": job.template,
        "rows": job.rows_description,
        "actor_id": (job.actor or {}).get("id"),
        "status": job.status,
        "reason": job.reason,
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "remaining": job.remaining,
        "percent": job.percent,
        "elapsed_seconds": round(job.elapsed(), 3),
        "created_at": _iso(job.created_at),
        "finished_at": _iso(job.finished_at),
        "errors": [
            {
                "row": dict(zip(job.primary_keys, error.key)),
                "error": error.error,
                "url": datasette.urls.row(
                    job.database, job.table, ",".join(tilde_encode(str(v)) for v in error.key)
                ),
            }
            for error in errors
        ],
        "events": [{"at": _iso(at), "message": message} for at, message in events],
        "urls": {
            "job": job_path(datasette, job.id),
            "json": job_path(datasette, job.id, ".json"),
            "table": datasette.urls.table(job.database, job.table),
        },
    }


def _iso(timestamp: Optional[float]) -> Optional[str]:
    if timestamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="seconds")


def readable_time(iso: Optional[str]) -> str:
    """``2026-01-02T03:04:05+00:00`` as ``2026-01-02 03:04:05 UTC``, for the pages."""
    return iso.replace("T", " ").replace("+00:00", " UTC") if iso else ""
