"""Wrapped models: every prompt goes through the ``llm_prompt_context`` hook.

The data path for one prompt: merge the caller's arguments with the key and default
options chosen at ``model()`` time, enter each plugin's context, call llm, record the
response on the ``PromptResult``, exit the contexts, hand llm's own response back.
Responses are llm's lazy ``AsyncResponse`` objects: nothing is generated until the
caller awaits or iterates them, so streaming reaches the caller chunk by chunk.
"""

from __future__ import annotations

import sys
from contextlib import AsyncExitStack
from typing import Any, Callable, Mapping, Optional

from ._errors import HookResultError
from ._hooks import call, hook_caller, implementations, in_call_order

_HOOK = "llm_prompt_context"
_prompt_context = None  # the llm_prompt_context HookCaller, once a prompt has asked


class PromptResult:
    """Handed to ``llm_prompt_context`` wrappers.

    ``response`` is the first response, ``responses`` all responses so far (a chain
    adds one per round), ``purpose`` and ``group`` (the ``Group`` of a ``group()``
    block, else ``None``) describe the prompt, ``is_chain`` is true for ``chain()``
    and ``chain_complete`` becomes true when a chain has run to its end.
    """

    __slots__ = ("response", "responses", "purpose", "group", "is_chain", "chain_complete",
                 "_done_callbacks")

    def __init__(self, purpose=None, group=None, is_chain=False):
        self.response = None
        self.responses: list = []
        self.purpose = purpose
        self.group = group
        self.is_chain = is_chain
        self.chain_complete = False
        self._done_callbacks: list = []

    async def on_response_done(self, callback: Callable) -> None:
        """Call ``callback(response)`` (sync or async) when each response completes:
        the responses seen so far and every later response of a chain."""
        self._done_callbacks.append(callback)
        for response in self.responses:
            await response.on_done(callback)

    async def _add_response(self, response) -> None:
        if self.response is None:
            self.response = response
        self.responses.append(response)
        if self._done_callbacks:
            for callback in self._done_callbacks:
                await response.on_done(callback)

    def __repr__(self):
        return (
            f"<PromptResult purpose={self.purpose!r} responses={len(self.responses)} "
            f"is_chain={self.is_chain}>"
        )


class _PromptTarget:
    """What a wrapped model or conversation shares: model, purpose, actor, key,
    default options and group, plus the code that runs prompts through the hooks."""

    __slots__ = (
        "_datasette", "_model", "_purpose", "_actor", "_key", "_options", "_group", "_target",
        "_hot",
    )

    def __init__(self, datasette, model, purpose, actor, key, options: Mapping, group):
        self._datasette = datasette
        self._model = model
        self._purpose = purpose
        self._actor = actor
        self._key = key
        self._options = options
        self._group = group
        self._set_target(model)

    def _set_target(self, target) -> None:
        """What prompt() and chain() call: the model, or a conversation."""
        self._target = target
        # What prompt() reads, in one attribute: every attribute read on a class with
        # __getattr__ (the wrapped model delegates to llm's) takes CPython's slow path
        # plain: nothing of ours to add to the caller's arguments (no key, no options)
        plain = self._key is None and not self._options
        self._hot = (self._group, plain, target)

    def _prompt_kwargs(self, kwargs: dict) -> dict:
        """The caller's keyword arguments plus our key and default options; the
        caller's own values win."""
        if self._key is not None and kwargs.get("key") is None:
            kwargs["key"] = self._key
        if self._options:
            caller_options = kwargs.get("options") or ()
            for name, value in self._options.items():
                if name not in kwargs and name not in caller_options:
                    kwargs[name] = value
        return kwargs

    def _chain_kwargs(self, kwargs: dict) -> dict:
        """llm's ``chain()`` takes options only as ``options=``."""
        if self._key is not None and kwargs.get("key") is None:
            kwargs["key"] = self._key
        if self._options:
            kwargs["options"] = {**self._options, **(kwargs.get("options") or {})}
        return kwargs

    def _context_factories(self, prompt, impls: Optional[list] = None) -> list:
        """Call every ``llm_prompt_context`` implementation; keep what they return."""
        if impls is None:
            impls = implementations(_HOOK)
        if not impls:
            return impls
        arguments = {
            "datasette": self._datasette,
            "model_id": self._model.model_id,
            "prompt": prompt,
            "purpose": self._purpose,
            "actor": self._actor,
        }
        factories = []
        for impl in impls:
            if len(impl.argnames) == 5:  # asks for every argument (see _hooks.call)
                factory = impl.function(**arguments)
            else:
                factory = call(impl, arguments)
            if factory is None:
                continue
            if not callable(factory):
                raise HookResultError(
                    _HOOK, impl.plugin_name,
                    f"returned {type(factory).__name__}, expected None or a callable "
                    "taking a PromptResult and returning an async context manager",
                )
            factories.append((impl.plugin_name, factory))
        return factories

    async def prompt(self, prompt: Optional[str] = None, **kwargs: Any):
        """Run one prompt through the ``llm_prompt_context`` hooks; return llm's
        ``AsyncResponse`` (not yet generated: await or iterate it).

        This is the path every prompt takes, so it is written for speed: one coroutine,
        no work for hooks nobody implements, and the hook contexts entered and exited
        by hand rather than with an ``AsyncExitStack`` (about a microsecond per
        context). Whenever an exception is on its way the remaining exits go to an
        ``AsyncExitStack`` after all, so suppression and chaining are exactly its own.
        """
        group, plain, target = self._hot
        impls = (_prompt_context or _prompt_context_caller()).get_hookimpls()
        if group is not None:
            group.prompt_count += 1
        factories = self._context_factories(prompt, in_call_order(impls)) if impls else None
        if not plain:
            kwargs = self._prompt_kwargs(kwargs)
        send = target.prompt
        if not factories:
            response = send(prompt, **kwargs) if kwargs else send(prompt)
        else:
            result = PromptResult(self._purpose, group)
            entered: list = []  # (context, its type's __aexit__), outermost first
            try:
                for plugin_name, factory in factories:
                    context = factory(result)
                    cls = type(context)
                    try:
                        aenter, aexit = cls.__aenter__, cls.__aexit__
                    except AttributeError:
                        aenter = None
                    if aenter is None:
                        await _enter_unusual(plugin_name, context)
                    await aenter(context)
                    entered.append((context, aexit))
                response = send(prompt, **kwargs)
                result.responses.append(response)
                result.response = response
                if result._done_callbacks:
                    for callback in result._done_callbacks:
                        await response.on_done(callback)
            except BaseException:
                if not await _exit_with_error(entered, *sys.exc_info()):
                    raise
            else:
                while entered:
                    context, aexit = entered.pop()
                    try:
                        await aexit(context, None, None, None)
                    except BaseException:
                        if not await _exit_with_error(entered, *sys.exc_info()):
                            raise
                        break
        if group is not None and group._track_now(response):
            await response.on_done(group._done_callback)
        return response

    def _chain(self, chain_method: Callable, prompt, kwargs: dict):
        if self._group is not None:
            self._group.prompt_count += 1
        factories = self._context_factories(prompt)
        chain_response = chain_method(prompt, **self._chain_kwargs(kwargs))
        if factories or self._group is not None:
            _route_chain_through_hooks(chain_response, factories, self._purpose, self._group)
        return chain_response


def _checked_context(plugin_name: str, factory: Callable, result: PromptResult):
    return _checked_context_type(plugin_name, factory(result))


def _checked_context_type(plugin_name: str, context):
    if not hasattr(context, "__aenter__"):
        raise HookResultError(
            _HOOK, plugin_name,
            f"wrapper returned {type(context).__name__}, expected an async context manager "
            "(decorate the wrapper with @contextlib.asynccontextmanager)",
        )
    return context


async def _enter_unusual(plugin_name: str, context) -> None:
    """``context``'s type has no ``__aenter__``/``__aexit__``: raise what the code
    before the fast path raised (our error if the wrapper returned no async context
    manager at all, else contextlib's own)."""
    _checked_context_type(plugin_name, context)
    await AsyncExitStack().enter_async_context(context)
    raise TypeError(f"{type(context).__name__} is not an async context manager")


async def _exit_with_error(entered: list, exc_type, exc, traceback) -> bool:
    """Exit the contexts with an exception on its way, through ``AsyncExitStack``
    itself; true if a context suppressed it."""
    stack = AsyncExitStack()
    for context, _ in entered:
        stack.push_async_exit(context)
    entered.clear()
    return await stack.__aexit__(exc_type, exc, traceback)


def _route_chain_through_hooks(chain_response, factories: list, purpose, group) -> None:
    """Make every iteration of ``chain_response`` (``responses()``, ``async for``,
    ``text()``) run inside the hook contexts and record each response as it appears.

    llm's chain methods all iterate ``self.responses()``; we give this one chain object
    its own ``responses`` that wraps llm's.
    """
    llm_responses = type(chain_response).responses.__get__(chain_response)

    async def responses():
        result = PromptResult(purpose, group, is_chain=True)
        async with AsyncExitStack() as stack:
            for plugin_name, factory in factories:
                await stack.enter_async_context(_checked_context(plugin_name, factory, result))
            async for response in llm_responses():
                await result._add_response(response)
                if group is not None:
                    await group._track(response)
                yield response
            result.chain_complete = True

    chain_response.responses = responses


class WrappedConversation(_PromptTarget):
    """An llm async conversation whose every prompt and chain goes through the hooks."""

    __slots__ = ()

    def __init__(self, target: _PromptTarget, conversation):
        super().__init__(
            target._datasette, target._model, target._purpose, target._actor,
            target._key, target._options, target._group,
        )
        self._set_target(conversation)

    @property
    def conversation(self):
        """The llm async conversation itself."""
        return self._target

    @conversation.setter
    def conversation(self, conversation) -> None:
        self._set_target(conversation)

    @property
    def model_id(self) -> str:
        return self._model.model_id

    @property
    def responses(self) -> list:
        return self.conversation.responses

    def chain(self, prompt: Optional[str] = None, **kwargs: Any):
        return self._chain(self.conversation.chain, prompt, kwargs)

    def __getattr__(self, name):
        return getattr(self.conversation, name)

    def __repr__(self):
        return f"<WrappedConversation model_id={self.model_id!r} purpose={self._purpose!r}>"


class WrappedAsyncModel(_PromptTarget):
    """An llm async model bound to a purpose, an actor, a key and default options.

    ``prompt()`` returns llm's ``AsyncResponse``; ``chain()`` llm's
    ``AsyncChainResponse``; ``conversation()`` a ``WrappedConversation``. Other
    attributes (``supports_schema``, ``Options`` ...) are the llm model's own.
    """

    __slots__ = ()

    @property
    def model_id(self) -> str:
        return self._model.model_id

    @property
    def model(self):
        """The llm async model object itself."""
        return self._model

    @property
    def purpose(self) -> Optional[str]:
        return self._purpose

    @property
    def actor(self) -> Optional[dict]:
        return self._actor

    @property
    def group(self):
        return self._group

    def chain(self, prompt: Optional[str] = None, **kwargs: Any):
        return self._chain(self._model.chain, prompt, kwargs)

    def conversation(self, **kwargs: Any) -> WrappedConversation:
        return WrappedConversation(self, self._model.conversation(**kwargs))

    def __getattr__(self, name):
        return getattr(self._model, name)

    def __repr__(self):
        return f"<WrappedAsyncModel model_id={self.model_id!r} purpose={self._purpose!r}>"

    __str__ = __repr__


def _prompt_context_caller():
    global _prompt_context
    _prompt_context = hook_caller(_HOOK)
    return _prompt_context
