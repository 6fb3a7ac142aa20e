"""Calling datasette-llm's hooks: the one place that walks pluggy's implementations.

pluggy's own ``pm.hook.<name>(...)`` calls every implementation with the same
arguments and returns their answers. datasette-llm needs a little more: errors that
name the plugin at fault, ``llm_filter_models`` implementations that compose (each
receives what the previous one kept), and async implementations awaited. So each hook
is run here, over ``HookCaller.get_hookimpls()`` in pluggy's call order (``tryfirst``
first, then the most recently registered), keeping pluggy's semantics for what pluggy
users write:

- an implementation is called with the subset of the spec's arguments it names;
- ``@hookimpl(wrapper=True)`` and old-style ``@hookimpl(hookwrapper=True)``
  implementations wrap the whole call as in pluggy: the code before their ``yield``
  runs before any implementation, and they receive what datasette-llm makes of the
  hook (for ``llm_filter_models`` the composed list of models, for the others the list
  of the implementations' answers) and may replace it, or see the exception;
- wrappers are generator functions, as pluggy requires: their own code runs
  synchronously, around our (possibly async) loop.
"""

from __future__ import annotations

import inspect
import operator
from typing import Any, Awaitable, Callable

from ._errors import HookResultError

_callers: dict = {}  # hook name -> pluggy HookCaller, once something has asked for it


def hook_caller(hook_name: str):
    """pluggy's ``HookCaller`` for a hook on Datasette's plugin manager.

    pluggy creates one per hook name, the first time a spec or an implementation names
    it, and never replaces it (registering and unregistering plugins changes the list
    it holds, not the object), so we keep it: this runs on every prompt.
    """
    caller = _callers.get(hook_name)
    if caller is None:
        # Imported on first use, not at module level: importing datasette.plugins
        # loads every installed Datasette plugin, and those may import datasette_llm
        # (see __init__.py)
        from datasette.plugins import pm

        caller = _callers[hook_name] = getattr(pm.hook, hook_name)
    return caller


_SORTED_MAX = 256
_sorted: dict = {}  # (hook name, *HookImpls in get_hookimpls() order) -> Implementations


class Implementations:
    """One hook's implementations at the moment of a call, in pluggy's call order:
    the wrappers, and the plain implementations they wrap. ``Implementations.of(name)``."""

    __slots__ = ("hook_name", "wrappers", "plain", "callables")

    def __init__(self, hook_name: str, impls: list):
        self.hook_name = hook_name
        # get_hookimpls() lists them in registration order, wrappers last; pluggy calls
        # the list from its end
        impls.reverse()
        self.wrappers = [i for i in impls if _is_wrapper(i)]
        self.plain = [i for i in impls if not _is_wrapper(i)] if self.wrappers else impls
        # (plugin name, function, picker of the arguments it names) of each plain one
        self.callables = tuple(
            (impl.plugin_name, impl.function, _argument_getter(impl.argnames))
            for impl in self.plain
        )

    @classmethod
    def of(cls, hook_name: str) -> "Implementations":
        """The hook's implementations now. Sorted once per set of implementations (the
        same HookImpl objects in the same order give the same answer; registering or
        unregistering a plugin changes the set), since this runs on every prompt."""
        return cls.sorted(hook_name, hook_caller(hook_name).get_hookimpls())

    @classmethod
    def sorted(cls, hook_name: str, impls: list) -> "Implementations":
        """``impls`` (a fresh ``HookCaller.get_hookimpls()`` list of the hook) in call order."""
        if not impls:  # one shared empty answer
            return NO_IMPLEMENTATIONS
        key = (hook_name, *impls)
        found = _sorted.get(key)
        if found is None:
            if len(_sorted) >= _SORTED_MAX:  # test suites register plugins by the thousand
                _sorted.clear()
            found = _sorted[key] = cls(hook_name, impls)
        return found

    def __bool__(self) -> bool:
        return bool(self.plain or self.wrappers)

    def calls(self, arguments: dict):
        """``(plugin name, answer)`` of each plain implementation, in call order."""
        for plugin_name, function, pick in self.callables:
            yield plugin_name, function(*pick(arguments))

    def run(self, arguments: dict, inner: Callable[[], Any]) -> Any:
        """``inner()`` (our own loop over ``calls()``) inside the wrappers."""
        if not self.wrappers:
            return inner()
        running = self._enter_wrappers(arguments)
        try:
            result = inner()
        except BaseException as error:
            return _exit_wrappers(self.hook_name, running, None, error)
        return _exit_wrappers(self.hook_name, running, result, None)

    async def run_async(self, arguments: dict, inner: Callable[[], Awaitable]) -> Any:
        """``await inner()`` inside the wrappers."""
        if not self.wrappers:
            return await inner()
        running = self._enter_wrappers(arguments)
        try:
            result = await inner()
        except BaseException as error:
            return _exit_wrappers(self.hook_name, running, None, error)
        return _exit_wrappers(self.hook_name, running, result, None)

    def _enter_wrappers(self, arguments: dict) -> list:
        """Run each wrapper up to its ``yield``; return the suspended ones, outermost first."""
        running = []
        try:
            for impl in self.wrappers:
                # pluggy registers only generator functions as wrappers
                generator = call(impl, arguments)
                try:
                    next(generator)
                except StopIteration:  # would surface as "coroutine raised StopIteration"
                    raise HookResultError(
                        self.hook_name, impl.plugin_name,
                        "wrapper returned without yielding: a wrapper yields exactly once, "
                        "also when it has nothing to do (write: return (yield))",
                    ) from None
                running.append((impl, generator))
        except BaseException as error:
            _exit_wrappers(self.hook_name, running, None, error)
            raise
        return running


NO_IMPLEMENTATIONS = Implementations("(none)", [])  # Implementations.of() of any hook nobody implements


def _is_wrapper(impl) -> bool:
    # pluggy 1.0 has no ``wrapper`` attribute (new-style wrappers came in 1.1)
    return bool(getattr(impl, "wrapper", False) or impl.hookwrapper)


def _exit_wrappers(hook_name: str, running: list, result: Any, error) -> Any:
    """Resume the wrappers, innermost first, with the result or the exception, as
    pluggy does; return the final result or raise the final exception."""
    import pluggy

    for impl, generator in reversed(running):
        try:
            if impl.hookwrapper:  # old style: receives a Result, may force another
                outcome = pluggy.Result(result, error)
                try:
                    generator.send(outcome)
                except StopIteration:
                    pass
                else:
                    raise HookResultError(hook_name, impl.plugin_name, "wrapper yielded twice")
                result, error = outcome.get_result(), None
            elif error is not None:
                try:
                    generator.throw(error)
                except StopIteration as stop:
                    result, error = stop.value, None
                else:
                    raise HookResultError(hook_name, impl.plugin_name, "wrapper yielded twice")
            else:
                try:
                    generator.send(result)
                except StopIteration as stop:
                    result = stop.value
                else:
                    raise HookResultError(hook_name, impl.plugin_name, "wrapper yielded twice")
        except HookResultError:
            raise
        except BaseException as raised:
            result, error = None, raised
    if error is not None:
        raise error
    return result


def refuse_awaitable(hook_name: str, plugin_name: str, awaitable, advice: str):
    """An implementation of a hook we call synchronously returned an awaitable (it is an
    ``async def``): close it, so no "never awaited" warning follows, and say what to
    write instead."""
    if hasattr(awaitable, "close"):
        awaitable.close()
    raise HookResultError(hook_name, plugin_name, f"returned an awaitable: {advice}")


def call(impl, arguments: dict) -> Any:
    """Call one implementation with the arguments it names, as pluggy does."""
    return impl.function(*_argument_getter(impl.argnames)(arguments))


_getters: dict = {}  # argnames -> a function picking those arguments, in order


def _argument_getter(argnames: tuple) -> Callable[[dict], tuple]:
    getter = _getters.get(argnames)
    if getter is None:
        if len(argnames) > 1:
            getter = operator.itemgetter(*argnames)
        elif argnames:
            name = argnames[0]
            getter = lambda arguments: (arguments[name],)  # noqa: E731
        else:
            getter = lambda arguments: ()  # noqa: E731
        _getters[argnames] = getter
    return getter


async def resolve(value: Any) -> Any:
    """Await ``value`` if it is awaitable (hooks may be sync or async)."""
    if inspect.isawaitable(value):
        return await value
    return value
