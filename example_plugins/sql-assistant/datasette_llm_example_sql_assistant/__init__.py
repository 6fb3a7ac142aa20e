"""``/-/sql-assistant``: ask a question about a database, get SQL written by an LLM.

An example of a plugin built on datasette-llm: it registers the ``sql-assistant``
purpose, offers the models ``LLM.models(actor=..., purpose=...)`` lists for the
signed-in actor as a picker, asks ``LLM.model(purpose=..., actor=...)`` for the one to
use, and turns datasette-llm's errors into clear 400 and 403 pages.
"""

from __future__ import annotations

import re
from typing import Optional

from datasette import Forbidden, Response, hookimpl

from datasette_llm import LLM, ModelNotAllowedError, ModelNotFoundError, Purpose

from ._compat import allowed, query_url

PLUGIN = "datasette-llm-example-sql-assistant"
PURPOSE = "sql-assistant"
DEFAULT_SYSTEM_PROMPT = (
    "You write SQLite queries. Reply with one SQL query in a ```sql fenced block and "
    "nothing else.\n\nThe database schema:\n\n{schema}"
)
_FENCED = re.compile(r"```(?:sql)?\s*\n?(.*?)```", re.DOTALL | re.IGNORECASE)


class Config:
    """This plugin's config (``plugins: datasette-llm-example-sql-assistant:``).

    - ``system_prompt``: the system prompt; ``{schema}`` is replaced by the database's
      ``CREATE`` statements
    """

    def __init__(self, raw: Optional[dict]):
        raw = raw or {}
        self.system_prompt = raw.get("system_prompt", DEFAULT_SYSTEM_PROMPT)
        if not isinstance(self.system_prompt, str) or "{schema}" not in self.system_prompt:
            raise ValueError(f"{PLUGIN}: system_prompt must be a string containing {{schema}}")

    @classmethod
    def of(cls, datasette) -> "Config":
        return cls(datasette.plugin_config(PLUGIN))


@hookimpl
def register_llm_purposes(datasette):
    return [Purpose(PURPOSE, "Writes SQL queries from questions about a database")]


@hookimpl
def startup(datasette):
    Config.of(datasette)  # a config mistake stops Datasette at startup


@hookimpl
def register_routes():
    return [(r"^/-/sql-assistant$", sql_assistant)]


@hookimpl
def menu_links(datasette, actor):
    async def inner():
        if await _sql_databases(datasette, actor):
            return [{"href": datasette.urls.path("/-/sql-assistant"), "label": "SQL assistant"}]
        return []

    return inner


async def _sql_databases(datasette, actor) -> list:
    """The databases ``actor`` may run SQL against, the empty ``_memory`` one last."""
    names = sorted(datasette.databases, key=lambda name: name == "_memory")
    return [
        name
        for name in names
        if name != "_internal" and await allowed(datasette, actor, "execute-sql", name)
    ]


async def schema_of(db) -> str:
    rows = await db.execute(
        "select sql from sqlite_master where type in ('table', 'view') and sql is not null "
        "and name not like 'sqlite_%' order by name"
    )
    return "\n".join(row["sql"] + ";" for row in rows)


def extract_sql(text: str) -> str:
    """The SQL of a model's answer: its first fenced block, or the whole answer."""
    match = _FENCED.search(text)
    return (match.group(1) if match else text).strip()


async def sql_assistant(datasette, request):
    actor = request.actor
    # Permission first: the databases this actor may query, or a 403
    databases = await _sql_databases(datasette, actor)
    if not databases:
        raise Forbidden("You do not have permission to execute SQL on any database")
    llm = LLM(datasette)
    context = {
        "databases": databases,
        "database": databases[0],
        # The model picker: what this actor may use for this purpose, default first
        "models": await llm.models(actor=actor, purpose=PURPOSE),
        "model_id": "",
        "question": "",
        "sql": None,
        "run_url": None,
        "used_model": None,
        "error": None,
    }
    status = 200
    if request.method == "POST":
        form = await request.post_vars()
        context.update(
            database=form.get("database") or databases[0],
            model_id=form.get("model") or "",
            question=(form.get("question") or "").strip(),
        )
        status = await _answer(datasette, llm, actor, context)
    html = await datasette.render_template(
        "llm_example_sql_assistant.html", context, request=request
    )
    return Response.html(html, status=status)


async def _answer(datasette, llm, actor, context) -> int:
    """Fill ``context`` with the SQL for the question; return the HTTP status."""
    if context["database"] not in context["databases"]:
        context["error"] = f"You may not run SQL against database {context['database']!r}"
        return 403
    if not context["question"]:
        context["error"] = "Ask a question first"
        return 400
    try:
        model = await llm.model(context["model_id"] or None, purpose=PURPOSE, actor=actor)
    except ModelNotAllowedError as ex:
        context["error"] = f"You may not use that model for SQL assistance: {ex}"
        return 403
    except ModelNotFoundError as ex:
        context["error"] = f"No model available for SQL assistance: {ex}"
        return 400
    schema = await schema_of(datasette.get_database(context["database"]))
    system = Config.of(datasette).system_prompt.replace("{schema}", schema)
    response = await model.prompt(context["question"], system=system)
    sql = extract_sql(await response.text())
    context.update(
        sql=sql,
        used_model=model.model_id,
        run_url=query_url(datasette, context["database"], sql),
    )
    return 200
