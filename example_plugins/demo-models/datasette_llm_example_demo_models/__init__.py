"""Demo models for llm: keyless (but one), deterministic, useful, and streaming.

An llm plugin (llm's ``register_models`` hook, entry point group ``llm``), so the models
work wherever llm does: ``llm -m demo-sql``, datasette-llm's ``LLM(datasette).model()``.
Made for the datasette-llm demo and for tests that need a model with real output and no
network: see ``_models.py`` for the models and the delay between streamed chunks.
"""

from __future__ import annotations

import llm

from ._models import (
    DEFAULT_DELAY,
    DELAY_VARIABLE,
    AsyncDemoModel,
    AsyncKeyedDemoModel,
    DemoModel,
    KeyedDemoModel,
    chunk_delay,
    chunks_of,
    estimate_tokens,
    keyed_answer,
    sql_answer,
    summary_answer,
)
from ._sql import write_query
from ._summary import first_sentence

MODEL_IDS = ("demo-sql", "demo-summarise", "demo-keyed")

__all__ = [
    "DEFAULT_DELAY",
    "DELAY_VARIABLE",
    "MODEL_IDS",
    "chunk_delay",
    "chunks_of",
    "estimate_tokens",
    "first_sentence",
    "write_query",
]


@llm.hookimpl
def register_models(register):
    register(DemoModel("demo-sql", sql_answer), AsyncDemoModel("demo-sql", sql_answer))
    register(
        DemoModel("demo-summarise", summary_answer),
        AsyncDemoModel("demo-summarise", summary_answer),
    )
    register(
        KeyedDemoModel("demo-keyed", keyed_answer),
        AsyncKeyedDemoModel("demo-keyed", keyed_answer),
    )
