"""The demo models: llm model classes (sync and async twins) that answer by rule and
stream their answer word by word, with a pause between words so streaming can be seen.

- ``demo-sql``: a SQLite ``SELECT`` for the question, from the schema in the prompt
  (``_sql.py``)
- ``demo-summarise``: the first sentence of the text (``_summary.py``)
- ``demo-keyed``: needs an API key (``needs_key = "demo"``, so datasette-llm registers a
  ``DEMO_API_KEY`` secret); writes SQL when the prompt holds a schema, else summarises

The pause is the ``chunk_delay`` option, else the ``DEMO_MODELS_DELAY`` environment
variable, else ``DEFAULT_DELAY`` seconds; none when the caller asks not to stream.
Usage is reported as token estimates (about four characters a token).
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import time
from typing import Optional

import llm
from pydantic import Field

from . import _sql, _summary

DEFAULT_DELAY = 0.05
DELAY_VARIABLE = "DEMO_MODELS_DELAY"
_CHUNK = re.compile(r"^\s+|\S+\s*")


class DemoOptions(llm.Options):
    chunk_delay: Optional[float] = Field(
        default=None,
        ge=0,
        description=f"Seconds between streamed words (default: ${DELAY_VARIABLE}, else {DEFAULT_DELAY})",
    )


def chunk_delay(option: Optional[float]) -> float:
    """The pause between chunks: the option, else the environment variable, else the
    default."""
    if option is not None:
        return option
    raw = os.environ.get(DELAY_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_DELAY
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{DELAY_VARIABLE} must be a number of seconds (0 or more), got {raw!r}")
    return value


def chunks_of(text: str) -> list:
    """``text`` in the pieces it is streamed in: each word with the space after it."""
    return _CHUNK.findall(text)


def estimate_tokens(text: Optional[str]) -> int:
    return math.ceil(len(text) / 4) if text else 0


def sql_answer(prompt) -> str:
    question = _sql.remove_statements(prompt.prompt or "")
    return _sql.answer(question, f"{prompt.system or ''}\n\n{prompt.prompt or ''}")


def summary_answer(prompt) -> str:
    return _summary.first_sentence(prompt.prompt or "")


def keyed_answer(prompt) -> str:
    """SQL when the prompt holds a schema, a summary otherwise."""
    if _sql.create_statements(f"{prompt.system or ''}\n\n{prompt.prompt or ''}"):
        return sql_answer(prompt)
    return summary_answer(prompt)


class _Demo:
    """What every demo model shares: its answer, chunks, pause and usage."""

    can_stream = True
    Options = DemoOptions

    def __init__(self, model_id: str, answer):
        self.model_id = model_id
        self.answer = answer  # a function of the llm Prompt, returning the whole answer

    def __str__(self):
        return f"Demo model: {self.model_id}"

    def _plan(self, prompt, stream: bool) -> tuple:
        """(chunks, pause between them) for this prompt."""
        text = self.answer(prompt)
        delay = chunk_delay(prompt.options.chunk_delay) if stream else 0
        return chunks_of(text), delay

    @staticmethod
    def _set_usage(prompt, response, chunks) -> None:
        response.set_usage(
            input=estimate_tokens(prompt.prompt) + estimate_tokens(prompt.system),
            output=estimate_tokens("".join(chunks)),
        )


class _SyncDemo(_Demo):
    def _stream(self, prompt, stream, response):
        chunks, delay = self._plan(prompt, stream)
        for index, chunk in enumerate(chunks):
            if index and delay:
                time.sleep(delay)
            yield chunk
        self._set_usage(prompt, response, chunks)


class _AsyncDemo(_Demo):
    async def _stream(self, prompt, stream, response):
        chunks, delay = self._plan(prompt, stream)
        for index, chunk in enumerate(chunks):
            if index:
                # Even with no delay, let other tasks run between chunks
                await asyncio.sleep(delay)
            yield chunk
        self._set_usage(prompt, response, chunks)


# One class per variant llm needs (sync or async, keyless or keyed); each model is an
# instance with its ID and answer function (see register_models in __init__.py).


class DemoModel(_SyncDemo, llm.Model):
    def execute(self, prompt, stream, response, conversation=None):
        yield from self._stream(prompt, stream, response)


class AsyncDemoModel(_AsyncDemo, llm.AsyncModel):
    async def execute(self, prompt, stream, response, conversation=None):
        async for chunk in self._stream(prompt, stream, response):
            yield chunk


class KeyedDemoModel(_SyncDemo, llm.KeyModel):
    needs_key = "demo"  # datasette-llm's secret: DEMO_API_KEY
    key_env_var = "DEMO_API_KEY"  # llm's own fallback

    def execute(self, prompt, stream, response, conversation=None, key=None):
        yield from self._stream(prompt, stream, response)


class AsyncKeyedDemoModel(_AsyncDemo, llm.AsyncKeyModel):
    needs_key = "demo"
    key_env_var = "DEMO_API_KEY"

    async def execute(self, prompt, stream, response, conversation=None, key=None):
        async for chunk in self._stream(prompt, stream, response):
            yield chunk
