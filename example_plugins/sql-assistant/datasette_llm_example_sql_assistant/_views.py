"""The two views: ``/-/sql-assistant`` (the page; a plain form POST answers in full,
without JavaScript) and ``/-/sql-assistant/stream`` (the same form POSTed by the page's
script; the answer comes back as server-sent events while the model writes it).

Events of the stream, each ``event: <name>`` with a JSON ``data:`` line:
``model`` ``{"model"}`` first, then ``chunk`` ``{"text"}`` per piece of the answer,
then ``done`` ``{"sql", "run_url"}`` or ``error`` ``{"message"}``.

What the visitor sees of a failure is a short message; the detail (which rule refused a
model, the provider's exception) goes to the log. The plugin never runs the SQL: it
links to Datasette's query page with it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Optional

from datasette import Forbidden, Response
from datasette.utils.asgi import AsgiStream

from datasette_llm import LLM, ModelNotAllowedError, ModelNotFoundError

from ._answer import extract_sql
from ._compat import allowed, query_url
from ._config import Config
from ._schema import schema_for_prompt

PURPOSE = "sql-assistant"
logger = logging.getLogger("datasette_llm_example_sql_assistant")

NO_DATABASES = "You do not have permission to execute SQL on any database"
NO_MODEL = "No model is available to you for SQL assistance."
MODEL_REFUSED = "The model {model_id!r} is not available to you for SQL assistance."
MODEL_FAILED = "The model {model_id} could not answer. Please try again later."
NO_SQL = "The answer holds no SQL query to open."


@dataclass
class Refusal:
    status: int
    message: str


@dataclass
class Question:
    """A question ready to send: the model to ask and the prompt."""

    model: object  # datasette_llm.WrappedAsyncModel
    database: str
    question: str
    system: str


async def sql_databases(datasette, actor) -> list:
    """The databases ``actor`` may run SQL against, the empty ``_memory`` one last."""
    names = sorted(datasette.databases, key=lambda name: name == "_memory")
    return [
        name
        for name in names
        if name != "_internal" and await allowed(datasette, actor, "execute-sql", name)
    ]


async def prepare(datasette, actor, databases: list, form: dict):
    """A ``Question`` for the submitted form, or a ``Refusal`` saying why not."""
    database = form.get("database") or databases[0]
    model_id = form.get("model") or None
    question = (form.get("question") or "").strip()
    if database not in databases:
        return Refusal(403, f"You may not run SQL against database {database!r}")
    if not question:
        return Refusal(400, "Ask a question first")
    try:
        model = await LLM(datasette).model(model_id, purpose=PURPOSE, actor=actor)
    except ModelNotFoundError as ex:  # ModelNotAllowedError too: its subclass
        # The rule and the config paths are for the operator, not the visitor
        logger.warning("sql-assistant: no model for actor %r: %s", _actor_id(actor), ex)
        status = 403 if isinstance(ex, ModelNotAllowedError) else 400
        if model_id is None:
            return Refusal(status, NO_MODEL)
        return Refusal(status, MODEL_REFUSED.format(model_id=model_id))
    config = Config.of(datasette)
    schema = await schema_for_prompt(datasette, database, actor, config)
    system = config.system_prompt.replace("{schema}", schema)
    return Question(model, database, question, system)


async def page(datasette, request):
    actor = request.actor
    databases = await sql_databases(datasette, actor)
    if not databases:
        raise Forbidden(NO_DATABASES)
    models = await LLM(datasette).models(actor=actor, purpose=PURPOSE)
    requested = request.args.get("database")
    context = {
        "databases": databases,
        "database": requested if requested in databases else databases[0],
        "models": models,
        "model_id": "",
        "question": "",
        "answer": None,
        "sql": None,
        "run_url": None,
        "used_model": None,
        "error": None,
        "no_models": NO_MODEL if not models else None,
    }
    status = 200
    if request.method == "POST":
        form = await request.post_vars()
        context.update(
            database=form.get("database") or databases[0],
            model_id=form.get("model") or "",
            question=(form.get("question") or "").strip(),
        )
        status = await _answer_in_full(datasette, actor, databases, form, context)
    html = await datasette.render_template(
        "llm_example_sql_assistant.html", context, request=request
    )
    return Response.html(html, status=status)


async def _answer_in_full(datasette, actor, databases, form, context) -> int:
    """Ask, wait for the whole answer, fill ``context``; return the HTTP status."""
    prepared = await prepare(datasette, actor, databases, form)
    if isinstance(prepared, Refusal):
        context["error"] = prepared.message
        return prepared.status
    model_id = prepared.model.model_id
    try:
        response = await prepared.model.prompt(prepared.question, system=prepared.system)
        text = await response.text()
    except Exception:
        logger.exception("sql-assistant: model %s failed", model_id)
        context["error"] = MODEL_FAILED.format(model_id=model_id)
        return 502
    sql = extract_sql(text)
    context.update(
        answer=text,
        used_model=model_id,
        sql=sql,
        run_url=query_url(datasette, prepared.database, sql) if sql else None,
        error=None if sql else NO_SQL,
    )
    return 200


async def stream(datasette, request):
    if request.method != "POST":
        return Response.text("POST the assistant's form here", status=405)
    actor = request.actor
    databases = await sql_databases(datasette, actor)
    if not databases:
        return _events_response([("error", {"message": NO_DATABASES})], status=403)
    prepared = await prepare(datasette, actor, databases, await request.post_vars())
    if isinstance(prepared, Refusal):
        return _events_response([("error", {"message": prepared.message})], prepared.status)

    async def write_events(writer):
        model_id = prepared.model.model_id
        await _send(writer, "model", {"model": model_id})
        pieces = []
        try:
            response = await prepared.model.prompt(prepared.question, system=prepared.system)
            async for chunk in response:
                pieces.append(chunk)
                await _send(writer, "chunk", {"text": chunk})
        except Exception:
            logger.exception("sql-assistant: model %s failed", model_id)
            await _send(writer, "error", {"message": MODEL_FAILED.format(model_id=model_id)})
            return
        sql = extract_sql("".join(pieces))
        if sql is None:
            await _send(writer, "error", {"message": NO_SQL})
            return
        run_url = query_url(datasette, prepared.database, sql)
        await _send(writer, "done", {"sql": sql, "run_url": run_url})

    return AsgiStream(write_events, headers=_STREAM_HEADERS, content_type=_EVENT_STREAM)


_EVENT_STREAM = "text/event-stream; charset=utf-8"
# No caching, and no compression or proxy buffering that would hold chunks back
_STREAM_HEADERS = {
    "cache-control": "no-cache",
    "content-encoding": "none",
    "x-accel-buffering": "no",
}


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


async def _send(writer, name: str, data: dict) -> None:
    await writer.write(_event(name, data))


def _events_response(events: list, status: int) -> Response:
    body = "".join(_event(name, data) for name, data in events)
    return Response(body, status=status, headers=_STREAM_HEADERS, content_type=_EVENT_STREAM)


def _actor_id(actor: Optional[dict]):
    return actor.get("id") if actor else None
