"""One snapshot of llm's model registry, taken once per call of ours.

llm rebuilds every model object on each ``get_models()``/``get_async_model()`` call
(plugins may change their model lists between calls, so caching across calls would
go stale). We enumerate once per public call and share that snapshot, through a
context variable, with everything the call triggers, including our
``register_secrets`` hook when datasette-secrets asks for it mid-call.
"""

from __future__ import annotations

import contextvars
import difflib
import re
from typing import Optional

import llm

_active: contextvars.ContextVar[Optional["Catalog"]] = contextvars.ContextVar(
    "datasette_llm_catalog", default=None
)


class Catalog:
    """The async models llm has registered right now, by ID and alias, in llm's order.

    Names resolve exactly as ``llm.get_async_model()`` resolves them: registrations are
    read in order and the later one wins, for an alias as for a model ID (so a fake or
    recording model registered after a real one shadows it under every name).

    Built once per public call, so it does as little as it can up front: the index by
    model ID and the set of aliases. The full name index (needed only for a name that is
    some model's alias) and the sync-only names are built the first time they are asked.
    """

    __slots__ = (
        "_async_models", "_entries", "_by_id", "_aliases", "_by_name", "_sync_only",
        "_providers",
    )

    def __init__(self, models_with_aliases) -> None:
        entries = models_with_aliases if isinstance(models_with_aliases, list) else list(
            models_with_aliases
        )
        self._entries = entries
        by_id: dict = {}
        aliases: set = set()
        for entry in entries:
            model = entry.async_model
            if model is not None:
                # A model ID registered again keeps its first position, takes the later object
                by_id[model.model_id] = model
                if entry.aliases:
                    aliases.update(entry.aliases)
        self._by_id = by_id
        self._aliases = aliases  # every alias of an async model
        self._async_models: Optional[list] = None
        self._by_name: Optional[dict] = None
        self._sync_only: Optional[set] = None
        self._providers: Optional[dict] = None

    @property
    def async_models(self) -> list:
        """Every async model, once per model ID, in llm's order."""
        async_models = self._async_models
        if async_models is None:
            async_models = self._async_models = list(self._by_id.values())
        return async_models

    def _names(self) -> dict:
        """ID or alias -> async model, built the way llm builds its aliases dict."""
        by_name = self._by_name
        if by_name is None:
            by_name = {}
            for entry in self._entries:
                model = entry.async_model
                if model is not None:
                    for alias in entry.aliases:
                        by_name[alias] = model
                    by_name[model.model_id] = model
            self._by_name = by_name
        return by_name

    def aliases_of(self, model) -> list:
        """The aliases under which ``model`` (one of this snapshot's) is found."""
        return [name for name, found in self._names().items()
                if found is model and name != model.model_id]

    @classmethod
    def current(cls) -> "Catalog":
        """The snapshot of the call in progress, or a fresh one."""
        return _active.get() or cls(llm.get_models_with_aliases())

    def lists(self, model) -> bool:
        """True if this snapshot lists this very model object (not merely its ID)."""
        return self._by_id.get(model.model_id) is model

    def active(self) -> "_Activation":
        """``with catalog.active():`` makes this the snapshot of the call in progress."""
        return _Activation(self)

    def get(self, name: str):
        """The async model with this ID or alias, or None."""
        if name in self._aliases:  # an alias may shadow an ID registered before it
            return self._names().get(name)
        return self._by_id.get(name)

    def canonical(self, name: str) -> str:
        """The model ID for an ID or alias; unknown names are returned as they are."""
        model = self.get(name)
        return model.model_id if model is not None else name

    def is_sync_only(self, name: str) -> bool:
        if self._sync_only is None:
            sync_only = set()
            for entry in self._entries:
                if entry.async_model is None:
                    sync_only.add(entry.model.model_id)
                    sync_only.update(entry.aliases)
            self._sync_only = sync_only
        return name in self._sync_only and self.get(name) is None

    def close_matches(self, name: str) -> list[str]:
        return difflib.get_close_matches(name, list(self._names()), n=3, cutoff=0.6)

    def providers(self) -> dict:
        """``needs_key`` -> ``key_env_var`` for every provider with a model that needs a key."""
        if self._providers is None:
            providers = {}
            for model in self.async_models:
                needs_key = model.needs_key
                if needs_key and needs_key not in providers:
                    providers[needs_key] = model.key_env_var
            self._providers = providers
        return self._providers


class _Activation:
    """The context manager of ``Catalog.active()`` (a class: this runs on every call)."""

    __slots__ = ("_catalog", "_token")

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def __enter__(self) -> Catalog:
        self._token = _active.set(self._catalog)
        return self._catalog

    def __exit__(self, *exc_info) -> None:
        _active.reset(self._token)
