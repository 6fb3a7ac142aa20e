"""Purposes: the named reasons plugins use models for (``enrichments``, ``sql-assistant``)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Optional

from ._errors import HookResultError
from ._hooks import Implementations, refuse_awaitable

_HOOK = "register_llm_purposes"


@dataclass(frozen=True)
class Purpose:
    """A purpose: ``name`` (what ``model(purpose=...)`` is called with) and a
    ``description`` for operators. ``plugin`` is the plugin that registered it, filled
    in by ``get_purposes()``."""

    name: str
    description: Optional[str] = None
    plugin: Optional[str] = field(default=None, compare=False)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"Purpose name must be a non-empty string, got {self.name!r}")
        if self.name != self.name.strip():
            raise ValueError(
                f"Purpose name {self.name!r} has leading or trailing whitespace"
            )
        if self.description is not None and not isinstance(self.description, str):
            raise ValueError(
                f"Purpose description must be a string or None, got {type(self.description).__name__}"
            )


def get_purposes(datasette) -> list[Purpose]:
    """Every purpose registered through ``register_llm_purposes``; for a name
    registered more than once, the first registration (in pluggy's call order) wins.

    ``register_llm_purposes`` is called synchronously (so this function is too): an
    implementation must return a list, not a coroutine.
    """
    implementations = Implementations.of(_HOOK)
    arguments = {"datasette": datasette}

    def collect() -> list:
        answers = []
        for plugin_name, returned in implementations.calls(arguments):
            if returned is not None:
                answers.append(_purposes_of(plugin_name, returned))
        return answers

    purposes: dict[str, Purpose] = {}
    for entries in implementations.run(arguments, collect) or ():
        for entry in entries:
            purposes.setdefault(entry.name, entry)
    return list(purposes.values())


def _purposes_of(plugin_name: str, returned) -> list[Purpose]:
    """One implementation's answer, checked, each purpose marked with its plugin."""
    if inspect.isawaitable(returned):
        refuse_awaitable(
            _HOOK, plugin_name, returned,
            "register_llm_purposes is called synchronously by get_purposes(), so write it "
            "as a plain def returning a list of Purpose objects",
        )
    if isinstance(returned, (str, bytes)) or not hasattr(returned, "__iter__"):
        raise HookResultError(
            _HOOK, plugin_name, f"returned {type(returned).__name__}, expected a list"
        )
    purposes = []
    for entry in returned:
        if not isinstance(entry, Purpose):
            raise HookResultError(
                _HOOK, plugin_name,
                f"returned {entry!r}, expected datasette_llm.Purpose objects",
            )
        if entry.plugin is None:
            entry = Purpose(entry.name, entry.description, plugin_name)
        purposes.append(entry)
    return purposes
