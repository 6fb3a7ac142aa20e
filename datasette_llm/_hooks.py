"""Calling datasette-llm's hooks on Datasette's plugin manager.

We iterate the implementations ourselves (in pluggy's call order) rather than calling
``pm.hook.<name>(...)``: that lets errors name the plugin at fault, lets
``llm_filter_models`` implementations compose, and skips all work when no plugin
implements a hook.
"""

from __future__ import annotations

import inspect
from typing import Any


_hook_relay = None  # datasette.plugins.pm.hook, once something has asked for it


def _relay():
    global _hook_relay
    # Imported on first use, not at module level: importing datasette.plugins loads
    # every installed Datasette plugin, and those may import datasette_llm (see
    # __init__.py). Kept afterwards: an import statement costs about a microsecond, and
    # this runs on every prompt.
    from datasette.plugins import pm

    _hook_relay = pm.hook
    return _hook_relay


def implementations(hook_name: str) -> list:
    """Implementations of a hook in call order (pluggy calls the last registered first)."""
    caller = getattr(_hook_relay or _relay(), hook_name)
    impls = caller.get_hookimpls()
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
