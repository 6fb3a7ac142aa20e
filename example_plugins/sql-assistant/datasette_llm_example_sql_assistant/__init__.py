"""``/-/sql-assistant``: ask a question about a database; an LLM writes the SQL, streamed
into the page as it is written, and a link opens it on Datasette's query page.

An example of a plugin built on datasette-llm: it registers the ``sql-assistant``
purpose, offers the models ``LLM.models(actor=..., purpose=...)`` lists for the
visitor, asks ``LLM.model(purpose=..., actor=...)`` for the one to use, streams the
answer with server-sent events, and turns every failure into a short message for the
visitor (the detail goes to the log).
"""

from __future__ import annotations

from datasette import hookimpl

from datasette_llm import Purpose

from ._answer import extract_sql
from ._config import Config
from ._schema import schema_for_prompt
from ._views import PURPOSE, page, sql_databases, stream

__all__ = ["Config", "extract_sql", "schema_for_prompt"]


@hookimpl
def register_llm_purposes(datasette):
    return [Purpose(PURPOSE, "Writes SQL queries from questions about a database")]


@hookimpl
def startup(datasette):
    Config.of(datasette)  # a config mistake stops Datasette at startup


@hookimpl
def register_routes():
    return [
        (r"^/-/sql-assistant$", page),
        (r"^/-/sql-assistant/stream$", stream),
    ]


@hookimpl
def menu_links(datasette, actor):
    async def inner():
        if await sql_databases(datasette, actor):
            return [{"href": datasette.urls.path("/-/sql-assistant"), "label": "SQL assistant"}]
        return []

    return inner
