"""The "try it" box: one test prompt to a purpose's effective model, sent as the
signed-in admin through ``LLM(datasette).model(purpose=..., actor=...)``, so every hook
runs (filters, defaults, ``llm_prompt_context``: accounting plugins see the prompt).

``answer()`` yields the events the page streams as server-sent events, each a name and
a dict: ``model`` ``{"model", "purpose"}`` first, then ``chunk`` ``{"text"}`` per piece
of the answer, then ``done`` ``{"input_tokens", "output_tokens"}``, or ``error``
``{"message"}`` at any point. Every failure is an ``error`` event, never an exception:
no model for the purpose, no key, a hook that denies the prompt, the provider failing
(no key, connection, rate limit). Text that comes from other packages (providers,
plugins) is shown with anything shaped like a key masked, and logged the same way.
"""

from __future__ import annotations

import logging
import re
from typing import AsyncIterator, Optional

import llm

from .._errors import HookResultError, KeyUnavailableError, ModelNotFoundError
from .._llm import LLM

logger = logging.getLogger("datasette_llm")
MAX_PROMPT_CHARS = 4000

# Tokens shaped like credentials: "sk-..."-style prefixed keys (masked ones too, as
# OpenAI's "Incorrect API key provided: sk-proj-****abcd" shows), and long unbroken runs
# of letters, digits and dashes.
_KEY_SHAPED = re.compile(
    r"\b(?:sk|pk|rk|key|api|token|bearer)[-_][\w\-*]{3,}|[\w\-*]{24,}", re.IGNORECASE
)


def masked(text: str) -> str:
    """``text`` with anything shaped like an API key replaced by ``[masked]``."""
    return _KEY_SHAPED.sub("[masked]", text)


async def answer(datasette, actor, purpose: Optional[str], prompt: str) -> AsyncIterator:
    """The events of one test prompt (see the module docstring)."""
    prompt = (prompt or "").strip()
    if not prompt:
        yield "error", {"message": "Type a prompt to send first."}
        return
    if len(prompt) > MAX_PROMPT_CHARS:
        yield "error", {"message": f"Keep the test prompt under {MAX_PROMPT_CHARS} characters."}
        return
    for_purpose = f"purpose {purpose!r}" if purpose else "prompts without a purpose"
    try:
        model = await LLM(datasette).model(purpose=purpose, actor=actor)
    except (ModelNotFoundError, KeyUnavailableError, HookResultError) as error:
        # Ours: they name rules, config paths and secret names, never a key
        yield "error", {"message": f"No model for {for_purpose}: {error}"}
        return
    model_id = model.model_id
    yield "model", {"model": model_id, "purpose": purpose}
    try:
        response = await model.prompt(prompt)
    except Exception as error:  # raised before anything was sent: a hook said no
        yield "error", {"message": _refused(model_id, error)}
        return
    try:
        async for chunk in response:
            yield "chunk", {"text": chunk}
        usage = await response.usage()
    except Exception as error:
        yield "error", {"message": _failed(model_id, error)}
        return
    yield "done", {"input_tokens": usage.input, "output_tokens": usage.output}


def _refused(model_id: str, error: Exception) -> str:
    detail = _describe(error)
    logger.warning("datasette-llm: try it: the prompt to %s was refused: %s", model_id, detail)
    return (
        f"The prompt to {model_id} was stopped before it was sent (an "
        f"llm_prompt_context hook raised): {detail}"
    )


def _failed(model_id: str, error: Exception) -> str:
    detail = _describe(error)
    logger.warning("datasette-llm: try it: %s failed: %s", model_id, detail)
    return f"{model_id} could not answer: {_kind(error)}. {detail}"


def _describe(error: Exception) -> str:
    """The exception's class and message, masked; with the HTTP status if it has one."""
    status = getattr(error, "status_code", None) or getattr(error, "status", None)
    text = masked(str(error).strip())
    return type(error).__name__ + (f" (HTTP {status})" if isinstance(status, int) else "") + (
        f": {text}" if text else ""
    )


def _kind(error: Exception) -> str:
    """What kind of failure this is, in words, from what providers' exceptions share."""
    name = type(error).__name__.lower()
    status = getattr(error, "status_code", None) or getattr(error, "status", None)
    if isinstance(error, (llm.NeedsKeyException, KeyUnavailableError)):
        return "no API key is available for it"
    if status == 429 or "ratelimit" in name:
        return "the provider's rate limit was reached"
    if status in (401, 403) or "authentication" in name or "permission" in name:
        return "the provider refused the API key"
    if isinstance(error, (ConnectionError, TimeoutError)) or "connect" in name or "timeout" in name:
        return "the provider could not be reached"
    return "the model raised an error"
