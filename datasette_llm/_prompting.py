"""Wrapped models: every prompt goes through the ``llm_prompt_context`` hook.

The data path for one prompt: add the key and default options chosen at ``model()``
time to the caller's arguments, enter each plugin's context, call llm, record the
response on the ``PromptResult``, exit the contexts, hand llm's own response back.
Responses are llm's lazy ``AsyncResponse`` objects: nothing is generated until the
caller awaits or iterates them, so streaming reaches the caller chunk by chunk.

What we hand out is bound for good to the model its key was resolved for: a wrapped
model or conversation cannot be pointed at another model, and is not copied with its
key into a pickle.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from contextlib import asynccontextmanager
from typing import Any, Callable, Mapping, Optional

from . import _llm_internals
from ._errors import GroupExitedError, HookResultError
from ._hooks import NO_IMPLEMENTATIONS, Implementations, hook_caller, refuse_awaitable

logger = logging.getLogger("datasette_llm")
_HOOK = "llm_prompt_context"


async def _refused_reply(*args, **kwargs):
    """``reply()`` of the responses we hand out (llm's prompts the llm model itself)."""
    raise TypeError(
        "response.reply() would send the follow-up to the llm model itself, past "
        "datasette-llm's hooks and without the configured key: use model.conversation() "
        "and prompt the conversation again"
    )


class PromptResult:
    """Handed to ``llm_prompt_context`` wrappers.

    ``response`` is the first response, ``responses`` all responses so far (a chain
    adds one per round), ``purpose`` and ``group`` (the ``Group`` of a ``group()``
    block, else ``None``) describe the prompt, ``is_chain`` is true for ``chain()``
    and ``chain_complete`` becomes true when a chain has run to its end.
    """

    __slots__ = ("response", "responses", "purpose", "group", "is_chain", "chain_complete",
                 "_done_callbacks", "_plugin")

    def __init__(self, purpose=None, group=None, is_chain=False):
        self.response = None
        self.responses: list = []
        self.purpose = purpose
        self.group = group
        self.is_chain = is_chain
        self.chain_complete = False
        self._done_callbacks: list = []
        self._plugin: Optional[str] = None  # the plugin whose wrapper is running now

    async def on_response_done(self, callback: Callable) -> None:
        """Call ``callback(response)`` (sync or async) when each response completes:
        the responses seen so far and every later response of a chain. A callback that
        raises is logged with the plugin's name; the response is still delivered."""
        callback = _logging_failures(callback, self._plugin)
        self._done_callbacks.append(callback)
        for response in self.responses:
            await response.on_done(callback)

    async def _add_response(self, response) -> None:
        if self.response is None:
            self.response = response
        self.responses.append(response)
        for callback in self._done_callbacks:
            await response.on_done(callback)

    def __repr__(self):
        return (
            f"<PromptResult purpose={self.purpose!r} responses={len(self.responses)} "
            f"is_chain={self.is_chain}>"
        )


def _logging_failures(callback: Callable, plugin_name: Optional[str]) -> Callable:
    """``callback`` for llm's ``on_done``, with its exceptions logged instead of raised
    into the caller's ``text()`` or iteration (an accounting backend being down must not
    lose the answer the user paid for)."""

    async def call(response) -> None:
        try:
            outcome = callback(response)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            logger.exception(
                "datasette-llm: an on_response_done callback of %s failed",
                plugin_name or "a plugin",
            )

    return call


class _HookContexts:
    """The ``llm_prompt_context`` wrappers of one prompt or chain: entered in call
    order, exited in reverse. A wrapper sees the exception on its way out but cannot
    swallow it: a prompt that was denied or failed reaches the caller as the exception
    it is (a wrapper that raises another exception on exit replaces it, as in any
    ``with``). Exiting twice is exiting once."""

    __slots__ = ("_factories", "_result", "_entered")

    def __init__(self, factories: list, result: PromptResult):
        self._factories = factories  # (plugin name, factory) in call order
        self._result = result
        self._entered: list = []  # (plugin name, context, its __aexit__), in order

    async def __aenter__(self) -> PromptResult:
        result = self._result
        try:
            for plugin_name, factory in self._factories:
                context = factory(result)
                kind = type(context)
                try:
                    enter, exit_ = kind.__aenter__, kind.__aexit__
                except AttributeError:
                    raise _not_a_context(plugin_name, context) from None
                result._plugin = plugin_name
                try:
                    await enter(context)
                finally:
                    result._plugin = None
                self._entered.append((plugin_name, context, exit_))
        except BaseException as error:
            await self.__aexit__(type(error), error, error.__traceback__)
            raise
        return result

    async def __aexit__(self, exc_type, exc, traceback) -> bool:
        entered, self._entered = self._entered, []
        result = self._result
        replaced = None  # an exception a wrapper raised while exiting
        while entered:
            plugin_name, context, exit_ = entered.pop()
            result._plugin = plugin_name
            try:
                await exit_(context, exc_type, exc, traceback)  # its answer is ignored
            except BaseException as raised:
                if raised is not exc:
                    replaced = raised
                    exc_type, exc, traceback = type(raised), raised, raised.__traceback__
            finally:
                result._plugin = None
        if replaced is not None:
            raise replaced
        return False


def _not_a_context(plugin_name: str, context) -> HookResultError:
    return HookResultError(
        _HOOK, plugin_name,
        f"wrapper returned {type(context).__name__}, expected an async context manager "
        "(decorate the wrapper with @contextlib.asynccontextmanager)",
    )


class _Binding:
    """What a wrapped model or conversation is bound to (the model, purpose, actor, key,
    default options and group) and the prompt path that uses them. Kept apart from the
    wrapped classes, whose ``__getattr__`` (delegation to llm's model) makes every
    attribute read slower: this runs on every prompt."""

    __slots__ = ("datasette", "model", "purpose", "actor", "key", "options", "group", "hook")

    def __init__(self, datasette, model, purpose, actor, key, options: Mapping, group):
        # pluggy's HookCaller of llm_prompt_context: the same object for good, whose
        # implementations are asked for on each prompt (plugins come and go)
        self.hook = hook_caller(_HOOK)
        self.datasette = datasette
        self.model = model
        self.purpose = purpose
        self.actor = actor
        self.key = key
        self.options = options
        self.group = group

    def check_usable(self, what: str) -> None:
        group = self.group
        if group is not None and group.exited:
            raise GroupExitedError(
                f"This {what} of {self.model.model_id!r} belongs to a group() block that "
                "has exited; prompt inside the block, or start a new group()"
            )

    def prompt_kwargs(self, kwargs: dict) -> dict:
        """The caller's keyword arguments plus our key and default options; the
        caller's own values win (an empty ``key=`` is no key). A new dict, passed
        straight to llm: the key never sits in a local variable of ours, where an error
        reporter showing a traceback's locals would show it."""
        kwargs = dict(kwargs)
        if self.key is not None and not kwargs.get("key"):
            kwargs["key"] = self.key
        if self.options:
            caller_options = kwargs.get("options") or ()
            for name, value in self.options.items():
                if name not in kwargs and name not in caller_options:
                    kwargs[name] = value
        return kwargs

    def chain_kwargs(self, kwargs: dict) -> dict:
        """As ``prompt_kwargs()``; llm's ``chain()`` takes options only as ``options=``."""
        kwargs = dict(kwargs)
        if self.key is not None and not kwargs.get("key"):
            kwargs["key"] = self.key
        if self.options:
            kwargs["options"] = {**self.options, **(kwargs.get("options") or {})}
        return kwargs

    def context_factories(self, implementations: Implementations, prompt) -> list:
        """Call every ``llm_prompt_context`` implementation: (plugin name, factory)
        for each that takes part in this prompt, in call order."""
        if implementations is NO_IMPLEMENTATIONS:
            return []
        arguments = {
            "datasette": self.datasette,
            "model_id": self.model.model_id,
            "prompt": prompt,
            "purpose": self.purpose,
            "actor": self.actor,
        }
        if not implementations.wrappers:
            factories = []
            for plugin_name, function, pick in implementations.callables:
                factory = function(*pick(arguments))
                if factory is not None:
                    if not callable(factory):
                        _refuse_factory(plugin_name, factory)
                    factories.append((plugin_name, factory))
            return factories
        # Wrappers see (and may change) the list of factories, as pluggy would show it
        plugin_of: dict = {}  # id(factory) -> the plugin that returned it
        raised: list = []  # what an implementation raised (a denial)

        def collect() -> list:
            factories = []
            try:
                for plugin_name, factory in implementations.calls(arguments):
                    if factory is not None:
                        plugin_of[id(factory)] = plugin_name
                        factories.append(factory)
            except BaseException as error:
                raised.append(error)
                raise
            return factories

        factories = implementations.run(arguments, collect)
        if raised:  # a wrapper returned instead: it may replace a denial, never swallow it
            raise raised[0]
        wrappers = ", ".join(impl.plugin_name for impl in implementations.wrappers)
        checked = []
        for factory in factories or ():
            if not callable(factory):
                _refuse_factory(plugin_of.get(id(factory), wrappers), factory)
            checked.append((plugin_of.get(id(factory), wrappers), factory))
        return checked

    async def prompt(self, target, prompt, kwargs: dict):
        """Run one prompt on ``target`` (the model or a conversation of it) through
        the ``llm_prompt_context`` hooks; return llm's ``AsyncResponse``."""
        group = self.group
        if group is not None:
            if group.exited:
                self.check_usable("model")
            group.prompt_count += 1
        adds = self.key is not None or self.options
        impls = self.hook.get_hookimpls()
        if not impls:  # the common case: nobody implements the hook
            response = target.prompt(prompt, **(self.prompt_kwargs(kwargs) if adds else kwargs))
            _llm_internals.replace_reply(response, _refused_reply)
            if group is not None:
                await group._track(response)
            return response
        factories = self.context_factories(Implementations.sorted(_HOOK, impls), prompt)
        result = PromptResult(self.purpose, group)
        async with _HookContexts(factories, result):
            # The wrappers may have awaited: the group may have exited meanwhile
            if group is not None and group.exited:
                self.check_usable("model")
            response = target.prompt(prompt, **(self.prompt_kwargs(kwargs) if adds else kwargs))
            _llm_internals.replace_reply(response, _refused_reply)
            await result._add_response(response)
            if group is not None:  # before the wrappers exit (they may await)
                await group._track(response)
        return response

    def chain(self, target, prompt, kwargs: dict):
        """Start a chain on ``target``; its iteration runs through the hooks."""
        self.check_usable("model")
        factories = self.context_factories(Implementations.of(_HOOK), prompt)
        chain_response = target.chain(prompt, **self.chain_kwargs(kwargs))
        if self.group is not None:
            self.group.prompt_count += 1
        # Always, even with no hooks: each round is checked to run on our model
        _llm_internals.run_chain_inside(chain_response, _ChainRun(self, factories))
        return chain_response


def _refuse_factory(plugin_name: str, factory) -> None:
    """An ``llm_prompt_context`` answer that is not a callable: a clear error."""
    if inspect.isawaitable(factory):  # async def llm_prompt_context
        refuse_awaitable(
            _HOOK, plugin_name, factory,
            "llm_prompt_context is called synchronously, so write it as a plain def "
            "returning the wrapper (the wrapper itself is async)",
        )
    raise HookResultError(
        _HOOK, plugin_name,
        f"returned {type(factory).__name__}, expected None or a callable "
        "taking a PromptResult and returning an async context manager",
    )


class _ChainRun:
    """The hook contexts of one ``chain()``: entered when its iteration starts, open
    while it runs, exited when the outermost iteration ends (with the exception that
    ended it); each response recorded as it appears."""

    __slots__ = ("_binding", "_factories", "_contexts", "_depth", "_task")

    def __init__(self, binding: _Binding, factories: list):
        self._binding = binding
        self._factories = factories
        self._contexts: Optional[_HookContexts] = None
        self._depth = 0
        self._task = None  # the task iterating the chain now

    @asynccontextmanager
    async def running(self):
        if self._depth:
            if asyncio.current_task() is not self._task:
                # Its wrappers may still be deciding: iterating now would send the prompt
                raise RuntimeError(
                    "This chain is already being iterated by another task; iterate a "
                    "chain in one task at a time (await its text() once and share that)"
                )
            # llm's __aiter__ iterating our responses(): already open
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        binding = self._binding
        binding.check_usable("chain")
        group = binding.group
        result = PromptResult(binding.purpose, group, is_chain=True)
        self._contexts = _HookContexts(self._factories, result)
        self._depth = 1
        self._task = asyncio.current_task()
        if group is not None:
            group._open_chains.add(self)
        try:
            async with self._contexts:
                yield
                result.chain_complete = True
        finally:
            self._depth = 0
            self._task = None
            if group is not None:
                group._open_chains.discard(self)

    async def saw(self, response) -> None:
        """A response of the chain exists (not yet generated): record it, or refuse it
        if the chain's group has exited (another task going on iterating)."""
        binding = self._binding
        if response.model is not binding.model:  # llm's chain.model was reassigned
            raise _retargeted("chain", binding.model)
        group = binding.group
        if group is not None:
            binding.check_usable("chain")
        _llm_internals.replace_reply(response, _refused_reply)
        await self._contexts._result._add_response(response)
        if group is not None:
            await group._track(response)

    async def abandon(self, error: BaseException) -> None:
        """The group exits while this chain is still open (its iteration was left
        unfinished): exit the contexts now, before ``llm_group_exit``."""
        if self._contexts is not None:
            await self._contexts.__aexit__(type(error), error, error.__traceback__)


def _retargeted(what: str, model) -> RuntimeError:
    return RuntimeError(
        f"This {what}'s model was replaced after it was handed out for {model.model_id!r}; "
        "a key is only ever given to the model it was resolved for"
    )


class _Wrapped:
    """What wrapped models and conversations share: refusing to be copied with their
    key into a pickle."""

    __slots__ = ()

    def __reduce_ex__(self, protocol):
        raise TypeError(
            f"{type(self).__name__} cannot be pickled: it holds an API key; pickle the "
            "model ID and purpose, and call LLM(datasette).model() again"
        )


class WrappedConversation(_Wrapped):
    """An llm async conversation whose every prompt and chain goes through the hooks."""

    __slots__ = ("_binding", "_conversation")

    def __init__(self, wrapped_model: "WrappedAsyncModel", conversation):
        binding = wrapped_model._binding
        if getattr(conversation, "model", None) is not binding.model:
            raise TypeError(
                "WrappedConversation needs a conversation of the wrapped model's own llm "
                "model: use wrapped_model.conversation()"
            )
        self._binding = binding
        self._conversation = conversation

    def _target(self):
        conversation = self._conversation
        if conversation.model is not self._binding.model:
            raise _retargeted("conversation", self._binding.model)
        return conversation

    @property
    def conversation(self):
        """The llm async conversation itself."""
        return self._conversation

    @property
    def model_id(self) -> str:
        return self._binding.model.model_id

    @property
    def responses(self) -> list:
        return self._conversation.responses

    def prompt(self, prompt: Optional[str] = None, **kwargs: Any):
        """Like ``WrappedAsyncModel.prompt()``, with the conversation's history."""
        return self._binding.prompt(self._target(), prompt, kwargs)

    def chain(self, prompt: Optional[str] = None, **kwargs: Any):
        return self._binding.chain(self._target(), prompt, kwargs)

    def __copy__(self):
        raise TypeError(
            "WrappedConversation cannot be copied: start another with model.conversation()"
        )

    def __deepcopy__(self, memo):
        self.__copy__()

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._conversation, name)

    def __repr__(self):
        return (
            f"<WrappedConversation model_id={self.model_id!r} "
            f"purpose={self._binding.purpose!r}>"
        )


class WrappedAsyncModel(_Wrapped):
    """An llm async model bound to a purpose, an actor, a key and default options.

    ``prompt()`` returns llm's ``AsyncResponse``; ``chain()`` llm's
    ``AsyncChainResponse``; ``conversation()`` a ``WrappedConversation``. Other
    attributes (``supports_schema``, ``Options`` ...) are the llm model's own.
    ``copy.copy()`` and ``copy.deepcopy()`` return the same object (it cannot change).
    """

    __slots__ = ("_binding",)

    def __init__(self, datasette, model, purpose, actor, key, options: Mapping, group):
        self._binding = _Binding(datasette, model, purpose, actor, key, options, group)

    @property
    def model_id(self) -> str:
        return self._binding.model.model_id

    @property
    def model(self):
        """The llm async model object itself."""
        return self._binding.model

    @property
    def purpose(self) -> Optional[str]:
        return self._binding.purpose

    @property
    def actor(self) -> Optional[dict]:
        return self._binding.actor

    @property
    def group(self):
        return self._binding.group

    def prompt(self, prompt: Optional[str] = None, **kwargs: Any):
        """Run one prompt through the ``llm_prompt_context`` hooks; await it for llm's
        ``AsyncResponse`` (not yet generated: await its ``text()`` or iterate it)."""
        binding = self._binding
        return binding.prompt(binding.model, prompt, kwargs)

    def chain(self, prompt: Optional[str] = None, **kwargs: Any):
        binding = self._binding
        return binding.chain(binding.model, prompt, kwargs)

    def conversation(self, **kwargs: Any) -> WrappedConversation:
        self._binding.check_usable("model")
        return WrappedConversation(self, self._binding.model.conversation(**kwargs))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._binding.model, name)

    def __repr__(self):
        return f"<WrappedAsyncModel model_id={self.model_id!r} purpose={self.purpose!r}>"

    __str__ = __repr__
