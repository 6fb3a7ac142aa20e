"""Enrich a table with an LLM: a background job fills a column with the model's answer
for each row, from a prompt template such as ``Summarise {title}: {body}``.

An example of a batch job built on datasette-llm, to copy:

- it registers the ``enrichments`` purpose, offers the models
  ``LLM.models(purpose="enrichments", actor=...)`` lists, and prompts inside one
  ``LLM.group(purpose="enrichments", actor=...)`` per run (``_runner``);
- Datasette's own permissions (``update-row``, ``alter-table``) are checked before
  anything is written (``_permissions``, ``views.form``);
- job state lives in the internal database, so progress, errors, cancel and resume
  work across requests and restarts (``_store``).

This module holds only the Datasette hooks.
"""

from __future__ import annotations

from datasette import hookimpl

from datasette_llm import Purpose

from . import _runner
from ._config import Config
from ._paths import form_path, job_path, jobs_path
from ._permissions import refusal
from ._rows import filter_querystring
from ._runner import PURPOSE
from ._store import ACTIVE, RESUMABLE, job_store
from .views import ROUTES


@hookimpl
def register_llm_purposes(datasette):
    return [Purpose(PURPOSE, "Fill a column of a table with an LLM's answer for each row")]


@hookimpl
def startup(datasette):
    Config.of(datasette)  # a config mistake stops Datasette at startup, not mid-request

    async def prepare_jobs():
        store = job_store(datasette)
        await store.create_tables()
        # Nothing runs yet in this process: jobs that say they run were interrupted
        await _runner.mark_interrupted(store)

    return prepare_jobs


@hookimpl
def register_routes():
    return ROUTES


@hookimpl
def table_actions(datasette, actor, database, table, request):
    async def links():
        if await refusal(datasette, actor, database, table):
            return []
        query_string = request.query_string if request is not None else ""
        items = [
            {
                "href": form_path(datasette, database, table, filter_querystring(query_string)),
                "label": "Enrich with an LLM",
                "description": "Fill a column with a model's answer for each row of this view",
            }
        ]
        jobs = await job_store(datasette).jobs(database, table)
        for job in jobs:
            if job.status in ACTIVE + RESUMABLE:
                items.append(
                    {
                        "href": job_path(datasette, job.id),
                        "label": f"LLM enrichment {job.id}: {job.status}, {job.percent}%",
                        "description": f"{job.output_column} from {job.model_id}",
                    }
                )
        if jobs:
            items.append(
                {
                    "href": jobs_path(datasette, database, table),
                    "label": f"LLM enrichment jobs ({len(jobs)})",
                }
            )
        return items

    return links
