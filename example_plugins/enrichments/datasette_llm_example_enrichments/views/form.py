"""``/<database>/<table>/-/enrich-with-llm``: the form, and starting a job from it.

Everything is checked before anything is written: Datasette's permissions for the
table, the template's placeholders against the table's columns, the output column, and
that the chosen model is one ``LLM.models(purpose="enrichments", actor=...)`` offers
this actor. Only then is the output column added (if missing), the job recorded and
its background task started.
"""

from __future__ import annotations

import logging
from typing import Optional

from datasette import Forbidden, Response
from datasette.utils import escape_sqlite, tilde_decode
from datasette.utils.asgi import NotFound

from datasette_llm import LLM, KeyUnavailableError, ModelNotFoundError

from .. import _runner
from .._database import select
from .._paths import form_path, job_path
from .._permissions import refusal
from .._rows import (
    RowsError,
    add_text_column,
    count_rows,
    filter_querystring,
    skip_filled_querystring,
)
from .._runner import PURPOSE
from .._store import job_store
from .._template import PromptTemplate, TemplateError

logger = logging.getLogger("datasette_llm_example_enrichments")

DEFAULT_OUTPUT_COLUMN = "summary"
DEFAULT_INSTRUCTION = "Summarise this in one sentence:"


class FormError(Exception):
    """A problem with the submitted form: the message for the page, and its status."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


async def enrich_form_view(datasette, request):
    database = tilde_decode(request.url_vars["database"])
    table = tilde_decode(request.url_vars["table"])
    if database not in datasette.databases:
        raise NotFound(f"Database not found: {database}")
    db = datasette.get_database(database)
    if not await db.table_exists(table):
        raise NotFound(f"Table not found: {table}")
    reason = await refusal(datasette, request.actor, database, table)
    if reason:
        raise Forbidden(reason)

    columns = await db.table_column_details(table)
    primary_keys = await db.primary_keys(table) or ["rowid"]
    filters = filter_querystring(request.query_string)
    models, default_model_id = await _models(datasette, request.actor)
    error, status = None, 200
    if request.method != "POST":
        form = {
            "template": await _default_template(db, table, columns, primary_keys),
            "output_column": DEFAULT_OUTPUT_COLUMN,
            "model": default_model_id or (models[0] if models else None),
            "rows": "filtered" if filters else "all",
            "skip_filled": True,
        }
    else:
        posted = await request.post_vars()
        form = {
            "template": posted.get("template", ""),
            "output_column": (posted.get("output_column") or "").strip(),
            "model": posted.get("model") or None,
            "rows": posted.get("rows", "all"),
            "skip_filled": bool(posted.get("skip_filled")),
        }
        try:
            job_id = await _start_job(
                datasette,
                request.actor,
                db,
                table,
                columns,
                primary_keys,
                models,
                filters,
                form,
            )
        except FormError as exc:
            error, status = str(exc), exc.status
        else:
            return Response.redirect(job_path(datasette, job_id))

    context = {
        "database": database,
        "table": table,
        "table_url": datasette.urls.table(database, table),
        "filtered_table_url": datasette.urls.table(database, table)
        + ("?" + filters if filters else ""),
        "form_url": form_path(datasette, database, table, request.query_string),
        "columns": [c.name for c in columns],
        "models": models,
        "default_model_id": default_model_id,
        "form": form,
        "filters": filters,
        "error": error,
    }
    context.update(await _row_counts(datasette, request.actor, database, table, filters))
    html = await datasette.render_template("llm_enrichment_form.html", context, request=request)
    return Response.html(html, status=status)


async def _start_job(
    datasette, actor, db, table, columns, primary_keys, models, filters, form
) -> int:
    names = [c.name for c in columns]
    try:
        template = PromptTemplate(form["template"])
        template.check_columns(table, names)
    except TemplateError as exc:
        raise FormError(str(exc))
    output = form["output_column"]
    if not output:
        raise FormError("Name the output column the answers go to")
    if output in primary_keys or output.lower() == "rowid":
        raise FormError(f"{output} is a primary key of {table}: choose another output column")
    adding = output not in names
    reason = await refusal(
        datasette, actor, db.name, table, adding_column=output if adding else None
    )
    if reason:
        raise FormError(reason, status=403)
    if not models:
        raise FormError(_no_model_message(), status=403)
    if form["model"] not in models:
        raise FormError(
            f"The model {form['model']!r} is not available to you for {PURPOSE}; "
            f"choose one of: {', '.join(models)}",
            status=403,
        )
    if form["rows"] not in ("filtered", "all"):
        raise FormError(f"Unknown choice of rows {form['rows']!r}: expected filtered or all")
    querystring = filters if form["rows"] == "filtered" else ""
    description = ""
    if querystring:
        try:
            _, description = await count_rows(datasette, db.name, table, querystring, actor)
        except RowsError as exc:
            raise FormError(str(exc))
        description = description or querystring
    if form["skip_filled"] and not adding:
        querystring = skip_filled_querystring(querystring, output)
        description = " and ".join(part for part in (description, f"{output} is empty") if part)

    if adding:
        await add_text_column(db, table, output)
    store = job_store(datasette)
    job_id = await store.create_job(
        database=db.name,
        table=table,
        output_column=output,
        template=form["template"],
        model_id=form["model"],
        filter_querystring=querystring,
        rows_description=description or "every row",
        primary_keys=primary_keys,
        actor=actor,
    )
    who = (actor or {}).get("id") or "an anonymous user"
    await _runner.begin(datasette, store, job_id, actor, ("pending",), f"Started by {who}")
    return job_id


async def _models(datasette, actor) -> tuple[list, Optional[str]]:
    """The IDs of the models this actor may use for enrichments, and the one
    ``model()`` would choose by default (``None`` if none is configured)."""
    llm = LLM(datasette)
    model_ids = [m.model_id for m in await llm.models(actor=actor, purpose=PURPOSE)]
    try:
        default = (await llm.model(purpose=PURPOSE, actor=actor)).model_id
    except (ModelNotFoundError, KeyUnavailableError):
        default = None  # none configured, refused for this actor, or its key unreadable
    return model_ids, default if default in model_ids else None


def _no_model_message() -> str:
    return (
        f"No model is available to you for {PURPOSE}: an administrator can configure one "
        f"under plugins.datasette-llm.purposes.{PURPOSE}"
    )


async def _default_template(db, table: str, columns, primary_keys) -> str:
    """A starting template: summarise the text column with the longest values (over the
    first 100 rows), else the first column that is not a key."""
    others = [c for c in columns if c.name not in primary_keys] or columns
    text = [c.name for c in others if (c.type or "").upper() == "TEXT"]
    chosen = text[0] if text else others[0].name
    if len(text) > 1:
        lengths = ", ".join(f"avg(length({escape_sqlite(name)}))" for name in text)
        sample = f"select * from {escape_sqlite(table)} limit 100"
        (row,) = await select(db, f"select {lengths} from ({sample})")
        chosen = max(zip(text, row.values()), key=lambda pair: pair[1] or 0)[0]
    return f"{DEFAULT_INSTRUCTION}\n\n{{{chosen}}}"


async def _row_counts(datasette, actor, database, table, filters) -> dict:
    """How many rows the view's filters select (with their description) and how many
    the table has, for the rows choice; problems become a message."""
    counts = {
        "filtered_count": None,
        "filter_description": "",
        "all_count": None,
        "count_error": None,
    }
    try:
        counts["all_count"], _ = await count_rows(datasette, database, table, "", actor)
        if filters:
            counts["filtered_count"], description = await count_rows(
                datasette, database, table, filters, actor
            )
            counts["filter_description"] = description or filters
    except RowsError as exc:
        logger.warning("Counting the rows of %s/%s failed: %s", database, table, exc)
        counts["count_error"] = str(exc)
    return counts
