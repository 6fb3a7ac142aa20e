"""``Group``: the shared context of prompts made inside one ``LLM.group()`` block.

Memory stays flat however many prompts a group makes: a response is held only while
it is unfinished, and released (its usage added to ``group.usage``) when it completes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Optional

from . import _llm_internals
from ._errors import GroupExitedError
from ._hooks import Implementations, call, resolve

logger = logging.getLogger("datasette_llm")
_EXIT_HOOK = "llm_group_exit"


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
        self._open_chains: set = set()  # chains whose iteration is under way
        self._exit_hooks: Optional[asyncio.Future] = None
        self._done_callback = self._response_done  # one bound method for every response

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def _responses(self) -> _TrackedResponses:
        return _TrackedResponses(self)

    def _track(self, response):
        """Count ``response`` and release it when it completes (at once if it has);
        returns llm's ``on_done()`` for the caller to await."""
        self.response_count += 1
        self._pending[response] = None
        return response.on_done(self._done_callback)

    def _response_done(self, response) -> None:
        """A response completed: release it, keep its usage (until ``llm_group_exit``
        has been called: what it saw is final)."""
        self._pending.pop(response, None)
        if self._exit_hooks is not None:
            return
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

    async def _exit(self, datasette, error: Optional[BaseException]) -> Optional[BaseException]:
        """Finish the group and call ``llm_group_exit`` exactly once, however the block
        ended (``error``: what it raised) and even if this exit is itself cancelled.
        Return an exception for a block that ended normally to raise, if any."""
        if self.exited:
            return None
        self.exited = True  # from now on the group's model refuses prompts
        interrupted = None  # what cut the exit itself short (a cancellation)
        if error is None:
            try:
                self.error = await self._complete_pending()
            except BaseException as exc:
                interrupted = self.error = exc
        else:
            self.error = error
        # Whatever arrives during a step (another cancellation, a wrapper raising)
        # stops neither the next steps nor the exit hooks
        for step in self._closing_steps():
            try:
                await step()
            except Exception:  # closing is best effort; the block's outcome stands
                logger.exception("datasette-llm: closing what a group() block left failed")
            except BaseException as exc:
                interrupted = interrupted or exc
        # Shielded: a cancellation arriving now cannot stop the exit hooks half-way
        self._exit_hooks = asyncio.ensure_future(self._call_exit_hooks(datasette))
        hook_failure = await asyncio.shield(self._exit_hooks)
        if interrupted is not None:
            raise interrupted
        if error is None:
            return self.error or hook_failure
        return None

    def _closing_steps(self) -> list:
        """What the block left unfinished, to close before ``llm_group_exit``: its
        unfinished responses if it failed (reading one afterwards raises
        ``GroupExitedError``), then the wrappers of chains whose iteration it left."""
        steps = []
        if self.error is not None:
            pending, self._pending = list(self._pending), {}
            steps += [
                functools.partial(_llm_internals.close_unfinished, response, _closed_response)
                for response in pending
            ]
        reason = self.error or GroupExitedError(
            "the group() block exited before this chain was iterated to its end"
        )
        steps += [functools.partial(chain.abandon, reason) for chain in self._open_chains]
        return steps

    async def _call_exit_hooks(self, datasette) -> Optional[BaseException]:
        """Every ``llm_group_exit`` implementation, each even if another raised; the
        first exception is returned (to raise if nothing else went wrong), the rest logged."""
        implementations = Implementations.of(_EXIT_HOOK)
        arguments = {"datasette": datasette, "group": self}
        failures = []

        async def each() -> list:
            for impl in implementations.plain:
                try:
                    await resolve(call(impl, arguments))
                except BaseException as exc:  # CancelledError too: the others still settle
                    failures.append((impl.plugin_name, exc))
            return []

        try:
            await implementations.run_async(arguments, each)
        except BaseException as exc:  # a wrapper of llm_group_exit raised
            failures.append((", ".join(i.plugin_name for i in implementations.wrappers), exc))
        first = None
        for plugin_name, exc in failures:
            if first is None and self.error is None:
                first = exc
            else:
                logger.error(
                    "datasette-llm: llm_group_exit of %s failed", plugin_name, exc_info=exc
                )
        return first

    def __repr__(self):
        return (
            f"<Group model_id={self.model_id!r} purpose={self.purpose!r} "
            f"prompts={self.prompt_count} responses={self.response_count} ok={self.ok}>"
        )


def _closed_response() -> GroupExitedError:
    return GroupExitedError(
        "This response was closed when its group() block failed; nothing more is "
        "generated for a group that has settled"
    )
