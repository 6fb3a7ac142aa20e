"""Every reach of ours into llm's private names.

llm documents ``AsyncResponse`` (iterate it, ``text()``, ``usage()``, ``on_done()``) and
``AsyncChainResponse`` (iterate it, ``text()``); three things we need are not in that
interface:

- **Stopping an unfinished response for good.** When a ``group()`` block fails, its
  unfinished responses must stop generating, and must not start (or go on) when read
  after the block. llm keeps the model's ``execute()`` generator of a response as
  ``response._generator``, created on the first read if absent: closing it stops the
  model, and putting in its place a generator that raises makes every later read raise.
- **Running a whole chain inside the prompt hooks.** A chain's wrappers must stay open
  for the chain's whole iteration, record each response as it appears, and exit with
  the real exception when the chain fails mid-stream. llm's ``__aiter__``,
  ``astream_events()`` and ``text()`` all iterate ``self.responses()``, and
  ``__aiter__`` is looked up on the type, so the chain object's class is swapped for a
  subclass whose methods run inside the hooks and then defer to llm's own.
- **Keeping follow-ups on our path.** llm 0.34 added ``AsyncResponse.reply()``, which
  prompts the llm model itself: past the ``llm_prompt_context`` hooks and with llm's own
  key. Each response we hand out gets an instance attribute ``reply`` that raises (on
  llm releases without ``reply()``, none).

Checked against llm 0.30, 0.34 and 0.36 (the tox matrix: ``_generator`` is set when
iteration starts unless it is already there, and ``responses()``/``__aiter__``/``text()``
of ``AsyncChainResponse`` behave as described; ``astream_events()`` exists from 0.34). On other releases: a
started response without ``_generator`` is left to the garbage collector, which closes
its generator the same way, only later, and a release that ignored our ``_generator``
would let a closed response be read again; a chain class without ``astream_events``
keeps its own. Nothing else of llm's outside its documented API is touched anywhere in
datasette-llm (tests/test_private_names.py checks this).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import llm

_HOOKS_ATTRIBUTE = "_datasette_llm_chain_hooks"
_HAS_REPLY = hasattr(llm.AsyncResponse, "reply")
_hooked_classes: dict = {}  # llm chain class -> its hooked subclass


async def close_unfinished(response, refusal: Callable[[], BaseException]) -> None:
    """Stop generating ``response`` (nothing more is asked of the model); reading it
    afterwards, or going on reading it in another task, raises ``refusal()``."""
    generator = getattr(response, "_generator", None)
    response._generator = _refusing(refusal)  # first: closing may be interrupted
    if generator is not None:
        await generator.aclose()


async def _refusing(refusal: Callable[[], BaseException]):
    raise refusal()
    yield  # an async generator, as llm expects  # pragma: no cover


def replace_reply(response, reply: Callable) -> None:
    """Make ``response.reply`` our ``reply``: an instance attribute shadowing llm's
    method (a class swap would cost every later attribute read of the response its
    interpreter cache: measured +5 us a prompt). Nothing on an llm without ``reply()``."""
    if _HAS_REPLY:
        response.reply = reply


def run_chain_inside(chain_response, hooks: Any) -> None:
    """Make every iteration of llm's ``chain_response`` run inside ``hooks``:
    ``hooks.running()`` (an async context manager, re-entrant) around it, and
    ``await hooks.saw(response)`` for each response as it appears."""
    base = type(chain_response)
    hooked = _hooked_classes.get(base)
    if hooked is None:
        hooked = _hooked_classes[base] = _hooked_subclass(base)
    setattr(chain_response, _HOOKS_ATTRIBUTE, hooks)
    chain_response.__class__ = hooked


def _hooked_subclass(base: type) -> type:
    namespace = {"responses": _responses, "__aiter__": _chunks}
    if hasattr(base, "astream_events"):
        namespace["astream_events"] = _stream_events
    return type(f"Hooked{base.__name__}", (base,), namespace)


def _hooks_of(chain_response):
    return getattr(chain_response, _HOOKS_ATTRIBUTE)


def _llm_method(chain_response, name: str):
    """llm's own method ``name``, bound to ``chain_response``."""
    return getattr(super(type(chain_response), chain_response), name)


async def _responses(self):
    hooks = _hooks_of(self)
    async with hooks.running():
        async for response in _llm_method(self, "responses")():
            await hooks.saw(response)
            yield response


async def _chunks(self):
    async with _hooks_of(self).running():
        async for chunk in _llm_method(self, "__aiter__")():
            yield chunk


async def _stream_events(self):
    async with _hooks_of(self).running():
        async for event in _llm_method(self, "astream_events")():
            yield event


def chain_hooks(chain_response) -> Optional[Any]:
    """The hooks a chain runs inside, or None (for tests and repr)."""
    return getattr(chain_response, _HOOKS_ATTRIBUTE, None)
