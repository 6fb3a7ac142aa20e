"""``Group``: the shared context of prompts made inside one ``LLM.group()`` block.

Memory stays flat however many prompts a group makes: a response is held only while
it is unfinished, and released (its usage added to ``group.usage``) when it completes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Optional

import llm.models

from ._hooks import call, implementations, resolve

logger = logging.getLogger("datasette_llm")
_llm_on_done = llm.models.AsyncResponse.on_done


class GroupUsage:
    """Tokens summed over the group's completed responses (``None`` counts as 0)."""

    __slots__ = ("input", "output")

    def __init__(self):
        self.input = 0
        self.output = 0

    def __repr__(self):
        return f"GroupUsage(input={self.input}, output={self.output})"


class _TrackedResponses:
    """``group._responses``: ``len()`` is how many responses the group tracked;
    iterating yields the ones not yet finished (none once the group has exited)."""

    __slots__ = ("_group",)

    def __init__(self, group):
        self._group = group

    def __len__(self):
        return self._group.response_count

    def __iter__(self):
        return iter(list(self._group._pending))

    def __bool__(self):
        return self._group.response_count > 0

    def __repr__(self):
        return f"<tracked responses: {len(self)}, unfinished: {len(self._group._pending)}>"


class Group:
    """Prompts made inside one ``LLM.group()`` block.

    ``model_id``, ``purpose`` and ``actor`` say what the group is for; ``prompt_count``
    counts ``prompt()`` and ``chain()`` calls, ``response_count`` the responses they
    produced (a chain produces one per round); ``usage`` sums tokens over completed
    responses; ``error`` is the exception the block raised (``None`` if it did not);
    ``ok`` is ``error is None``. The same object is ``result.group`` in
    ``llm_prompt_context`` and is passed to ``llm_group_exit``.
    """

    def __init__(self, model_id: str, purpose: Optional[str] = None, actor: Optional[dict] = None):
        self.model_id = model_id
        self.purpose = purpose
        self.actor = actor
        self.prompt_count = 0
        self.response_count = 0
        self.usage = GroupUsage()
        self.error: Optional[BaseException] = None
        self.exited = False
        self._pending: dict = {}  # unfinished responses, in order (dict as ordered set)
        self._done_callback = self._response_done  # one bound method for every response

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def _responses(self) -> _TrackedResponses:
        return _TrackedResponses(self)

    def _track_now(self, response) -> bool:
        """Count ``response`` and watch for its completion. True if the caller must
        still ``await response.on_done(group._done_callback)`` (split out of
        ``_track`` so that the prompt path runs no coroutine for this)."""
        self.response_count += 1
        if getattr(response, "_done", False):
            self._response_done(response)
            return False
        self._pending[response] = None
        if type(response).on_done is _llm_on_done:
            # For an unfinished response llm's own on_done() does exactly this (in
            # every llm release): skip its coroutine
            response.done_callbacks.append(self._done_callback)
            return False
        return True

    async def _track(self, response) -> None:
        if self._track_now(response):
            await response.on_done(self._done_callback)

    def _response_done(self, response) -> None:
        """A response completed: release it, keep its usage."""
        self._pending.pop(response, None)
        usage = self.usage
        usage.input += getattr(response, "input_tokens", None) or 0
        usage.output += getattr(response, "output_tokens", None) or 0

    async def _complete_pending(self) -> Optional[BaseException]:
        """Run every unfinished response to completion; return the first failure."""
        first_error = None
        while self._pending:
            pending = list(self._pending)
            outcomes = await asyncio.gather(
                *(response.text() for response in pending), return_exceptions=True
            )
            for response, outcome in zip(pending, outcomes):
                self._pending.pop(response, None)
                if isinstance(outcome, BaseException) and first_error is None:
                    first_error = outcome
        return first_error

    async def _close_pending(self) -> None:
        """The block failed: stop unfinished responses without generating more."""
        pending, self._pending = list(self._pending), {}
        for response in pending:
            generator = getattr(response, "_generator", None)
            if generator is not None:
                try:
                    await generator.aclose()
                except Exception:  # closing is best effort; the block's error wins
                    logger.exception("datasette-llm: closing an unfinished response failed")

    async def _exit(self, datasette) -> Optional[BaseException]:
        """Finish the group and call ``llm_group_exit``; return an error to raise, if any."""
        failure = None
        if self.error is None:
            failure = await self._complete_pending()
            if failure is not None:
                self.error = failure
        else:
            await self._close_pending()
        self.exited = True
        arguments = {"datasette": datasette, "group": self}
        for impl in implementations("llm_group_exit"):
            try:
                await resolve(call(impl, arguments))
            except Exception as exc:
                if failure is None and self.error is None:
                    failure = exc
                else:
                    logger.exception("datasette-llm: llm_group_exit of %s failed", impl.plugin_name)
        return failure

    def __repr__(self):
        return (
            f"<Group model_id={self.model_id!r} purpose={self.purpose!r} "
            f"prompts={self.prompt_count} responses={self.response_count} ok={self.ok}>"
        )
