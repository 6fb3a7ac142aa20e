"""Purposes: the named reasons plugins use models for (``enrichments``, ``sql-assistant``)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Optional

from ._errors import HookResultError
from ._hooks import call, implementations

_HOOK = "register_llm_purposes"


@dataclass(frozen=True)
class Purpose:
    name: str
    description: Optional[str] = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Purpose name must be a non-empty string, got {self.name!r}")


def get_purposes(datasette) -> list[Purpose]:
    """Every purpose registered through ``register_llm_purposes``; for a name
    registered more than once, the first registration wins."""
    purposes: dict[str, Purpose] = {}
    for impl in implementations(_HOOK):
        returned = call(impl, {"datasette": datasette})
        if returned is None:
            continue
        if inspect.isawaitable(returned):
            if hasattr(returned, "close"):
                returned.close()
            raise HookResultError(_HOOK, impl.plugin_name, "must return a list, not an awaitable")
        try:
            entries = list(returned)
        except TypeError:
            raise HookResultError(
                _HOOK, impl.plugin_name, f"returned {type(returned).__name__}, expected a list"
            ) from None
        for entry in entries:
            if not isinstance(entry, Purpose):
                raise HookResultError(
                    _HOOK, impl.plugin_name,
                    f"returned {entry!r}, expected datasette_llm.Purpose objects",
                )
            purposes.setdefault(entry.name, entry)
    return list(purposes.values())
