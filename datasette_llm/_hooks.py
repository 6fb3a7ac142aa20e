"""Calling datasette-llm's hooks on Datasette's plugin manager.

We iterate the implementations ourselves (in pluggy's call order) rather than calling
``pm.hook.<name>(...)``: that lets errors name the plugin at fault, lets
``llm_filter_models`` implementations compose, and skips all work when no plugin
implements a hook.
"""

from __future__ import annotations

import inspect
from typing import Any


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


def implementations(hook_name: str) -> list:
    """Implementations of a hook in call order (pluggy calls the last registered first)."""
    return in_call_order(hook_caller(hook_name).get_hookimpls())


def in_call_order(impls: list) -> list:
    """``HookCaller.get_hookimpls()`` (a fresh list) reordered the way pluggy calls them."""
    if len(impls) > 1:
        impls.reverse()
    return impls


def call(impl, arguments: dict) -> Any:
    """Call one implementation with the arguments it asks for (pluggy's ``argnames``)."""
    argnames = impl.argnames
    if len(argnames) == len(arguments):
        # pluggy only registers implementations whose arguments the spec has, and
        # ``arguments`` holds the spec's: same size, same names
        return impl.function(**arguments)
    return impl.function(**{name: arguments[name] for name in argnames})


async def resolve(value: Any) -> Any:
    """Await ``value`` if it is awaitable (hooks may be sync or async)."""
    if inspect.isawaitable(value):
        return await value
    return value
