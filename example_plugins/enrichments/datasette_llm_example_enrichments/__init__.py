"""Summarise the rows of a table with an LLM and write each summary back to its row.

An example of a plugin built on datasette-llm: it registers the ``enrichments``
purpose, runs each batch inside one ``LLM(datasette).group()`` (so accounting plugins
see the batch as one unit), and checks permissions at the top of its view.

- ``await summarise_rows(datasette, database, table, text_column, actor=...)`` is the
  function other code can call.
- ``/<database>/<table>/-/summarise`` is the page (GET form, POST to run), linked from
  the table's actions menu.
"""

from __future__ import annotations

from typing import Optional

from datasette import Forbidden, Response, hookimpl
from datasette.utils import actor_matches_allow, escape_sqlite, tilde_decode
from datasette.utils.asgi import NotFound

from datasette_llm import LLM, ModelNotAllowedError, ModelNotFoundError, Purpose

from ._compat import allowed

PLUGIN = "datasette-llm-example-enrichments"
PURPOSE = "enrichments"
DEFAULT_PROMPT = "Summarise this in one sentence:\n\n{text}"


class Config:
    """This plugin's config (``plugins: datasette-llm-example-enrichments:``).

    - ``allow``: who may run enrichments, in Datasette's allow-block syntax
      (default ``{"id": "root"}``; ``true`` lets everyone)
    - ``prompt``: the prompt for each row; ``{text}`` is replaced by the row's text
    - ``summary_column``: the column the summaries go to, added if missing (``summary``)
    - ``batch_size``: rows per run (default 20)
    """

    def __init__(self, raw: Optional[dict]):
        raw = raw or {}
        self.allow = raw.get("allow", {"id": "root"})
        self.prompt = raw.get("prompt", DEFAULT_PROMPT)
        self.summary_column = raw.get("summary_column", "summary")
        self.batch_size = raw.get("batch_size", 20)
        if not isinstance(self.prompt, str) or "{text}" not in self.prompt:
            raise ValueError(f"{PLUGIN}: prompt must be a string containing {{text}}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"{PLUGIN}: batch_size must be a positive integer")

    @classmethod
    def of(cls, datasette) -> "Config":
        return cls(datasette.plugin_config(PLUGIN))


@hookimpl
def register_llm_purposes(datasette):
    return [Purpose(PURPOSE, "Summarise the rows of a table, writing the summary to each row")]


@hookimpl
def startup(datasette):
    Config.of(datasette)  # a config mistake stops Datasette at startup, not mid-request


async def summarise_rows(
    datasette,
    database: str,
    table: str,
    text_column: str,
    *,
    actor: Optional[dict] = None,
    limit: Optional[int] = None,
) -> int:
    """Summarise the rows of ``table`` whose summary column is empty, one prompt per row,
    and write the summaries back. Returns how many rows were summarised.

    Raises ``ValueError`` for an unknown column, and datasette-llm's
    ``ModelNotFoundError``/``ModelNotAllowedError`` when no model is available for the
    ``enrichments`` purpose to this actor.
    """
    config = Config.of(datasette)
    db = datasette.get_database(database)
    columns = await db.table_columns(table)
    if text_column not in columns:
        raise ValueError(f"Table {table!r} has no column {text_column!r}")
    summary = config.summary_column
    if summary not in columns:
        await db.execute_write(
            f"alter table {escape_sqlite(table)} add column {escape_sqlite(summary)} text"
        )
    keys = await db.primary_keys(table) or ["rowid"]
    select = ", ".join(escape_sqlite(k) for k in keys)
    rows = (
        await db.execute(
            f"select {select}, {escape_sqlite(text_column)} as _text from {escape_sqlite(table)} "
            f"where {escape_sqlite(summary)} is null and {escape_sqlite(text_column)} is not null "
            "limit ?",
            [limit or config.batch_size],
        )
    ).rows
    if not rows:
        return 0
    updates = []
    # One group per batch: hooks (budgets, accounting) treat the batch as one unit, and
    # every response is complete when the block exits
    async with LLM(datasette).group(purpose=PURPOSE, actor=actor) as model:
        for row in rows:
            response = await model.prompt(config.prompt.replace("{text}", str(row["_text"])))
            text = (await response.text()).strip()
            updates.append([text] + [row[k] for k in keys])
    where = " and ".join(f"{escape_sqlite(k)} = ?" for k in keys)
    await db.execute_write_many(
        f"update {escape_sqlite(table)} set {escape_sqlite(summary)} = ? where {where}", updates
    )
    return len(updates)


async def _may_summarise(datasette, actor, database, table) -> bool:
    config = Config.of(datasette)
    return actor_matches_allow(actor, config.allow) and await allowed(
        datasette, actor, "view-table", database, table
    )


async def summarise_view(datasette, request):
    database = tilde_decode(request.url_vars["database"])
    table = tilde_decode(request.url_vars["table"])
    if not await _may_summarise(datasette, request.actor, database, table):
        raise Forbidden("You may not run enrichments on this table")
    try:
        db = datasette.get_database(database)
    except KeyError:
        raise NotFound(f"Database not found: {database}")
    if not await db.table_exists(table):
        raise NotFound(f"Table not found: {table}")
    columns = [c for c in await db.table_columns(table) if c != Config.of(datasette).summary_column]
    context = {
        "database": database,
        "table": table,
        "columns": columns,
        "column": columns[0] if columns else None,
        "table_url": datasette.urls.table(database, table),
        "error": None,
    }
    status = 200
    if request.method == "POST":
        form = await request.post_vars()
        context["column"] = form.get("column")
        try:
            count = await summarise_rows(
                datasette, database, table, form.get("column") or "", actor=request.actor
            )
        except ValueError as ex:
            context["error"], status = str(ex), 400
        except ModelNotAllowedError as ex:
            context["error"], status = f"No model you may use for enrichments: {ex}", 403
        except ModelNotFoundError as ex:
            context["error"], status = f"No model available for enrichments: {ex}", 400
        else:
            datasette.add_message(request, f"Summarised {count} row(s)", datasette.INFO)
            return Response.redirect(context["table_url"])
    html = await datasette.render_template("llm_example_enrichments.html", context, request=request)
    return Response.html(html, status=status)


@hookimpl
def register_routes():
    return [(r"^/(?P<database>[^/]+)/(?P<table>[^/]+)/-/summarise$", summarise_view)]


@hookimpl
def table_actions(datasette, actor, database, table):
    async def inner():
        if not await _may_summarise(datasette, actor, database, table):
            return []
        return [
            {
                "href": datasette.urls.table(database, table) + "/-/summarise",
                "label": "Summarise rows with an LLM",
            }
        ]

    return inner
