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
from contextlib import contextmanager
from typing import Iterator, Optional

import llm

_active: contextvars.ContextVar[Optional["Catalog"]] = contextvars.ContextVar(
    "datasette_llm_catalog", default=None
)


def provider_secret_name(needs_key: str) -> str:
    """The datasette-secrets secret name for a provider: ``openai`` -> ``OPENAI_API_KEY``."""
    return f"{needs_key.upper()}_API_KEY"


class Catalog:
    """The async models llm has registered right now, by ID and alias, in llm's order."""

    __slots__ = ("async_models", "_by_name", "_sync_only", "_providers", "secrets")

    def __init__(self, models_with_aliases) -> None:
        self.async_models: list = []
        self._by_name: dict = {}
        self._sync_only: set = set()
        self._providers: Optional[dict] = None
        self.secrets = None  # datasette-secrets Secret objects, built on demand
        by_name = self._by_name
        position: dict = {}
        for entry in models_with_aliases:
            async_model = entry.async_model
            if async_model is None:
                self._sync_only.add(entry.model.model_id)
                self._sync_only.update(entry.aliases)
                continue
            if async_model.model_id in position:
                # Registered again: the later registration wins, as in llm
                self.async_models[position[async_model.model_id]] = async_model
            else:
                position[async_model.model_id] = len(self.async_models)
                self.async_models.append(async_model)
            for alias in entry.aliases:
                by_name.setdefault(alias, async_model)
        # Model IDs beat aliases, as in llm
        for async_model in self.async_models:
            by_name[async_model.model_id] = async_model

    @classmethod
    def current(cls) -> "Catalog":
        """The snapshot of the call in progress, or a fresh one."""
        return _active.get() or cls(llm.get_models_with_aliases())

    @contextmanager
    def active(self) -> Iterator["Catalog"]:
        token = _active.set(self)
        try:
            yield self
        finally:
            _active.reset(token)

    def get(self, name: str):
        """The async model with this ID or alias, or None."""
        return self._by_name.get(name)

    def canonical(self, name: str) -> str:
        """The model ID for an ID or alias; unknown names are returned as they are."""
        model = self._by_name.get(name)
        return model.model_id if model is not None else name

    def is_sync_only(self, name: str) -> bool:
        return name in self._sync_only and name not in self._by_name

    def close_matches(self, name: str) -> list[str]:
        return difflib.get_close_matches(name, list(self._by_name), n=3, cutoff=0.6)

    def providers(self) -> dict:
        """``needs_key`` -> ``key_env_var`` for every provider with a model that needs a key."""
        if self._providers is None:
            providers = {}
            for model in self.async_models:
                if model.needs_key and model.needs_key not in providers:
                    providers[model.needs_key] = model.key_env_var
            self._providers = providers
        return self._providers


