"""``LLM(datasette)``: the entry point plugins use to get models."""

from __future__ import annotations

import copy
import weakref
from contextlib import asynccontextmanager
from typing import AsyncIterator, Optional

from ._catalog import Catalog
from ._config import LLMConfig, parse_config
from ._group import Group
from ._prompting import WrappedAsyncModel
from ._selection import Selection

PLUGIN_NAME = "datasette-llm"
# datasette -> (the raw config parsed, its LLMConfig, a copy of the unresolved config it
# came from if resolving changed nothing in it, else _UNAVAILABLE)
_parsed_configs: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def plugin_config(datasette) -> LLMConfig:
    """The validated config of this Datasette instance (parsed again only if it changed).

    ``datasette.plugin_config()`` resolves ``$env`` and ``$file`` references on every
    call, copying the whole config; that copy is most of what choosing a model costs
    beyond llm's own enumeration. When the config has no such references, resolving
    returns a copy equal to the config itself, so comparing the unresolved config with
    the one we parsed answers the same question without the copy. Datasette 0.65 (or a
    subclass with its own ``plugin_config``) always gets the full call.
    """
    unresolved = _unresolved_plugin_config(datasette)
    cached = _parsed_configs.get(datasette)
    if cached is not None and cached[2] is not _UNAVAILABLE and unresolved == cached[2]:
        return cached[1]
    raw = datasette.plugin_config(PLUGIN_NAME)
    if cached is not None and cached[0] == raw:
        return cached[1]
    config = parse_config(raw)
    # A $env or $file reference resolves to a string, never to the mapping it was
    # written as: equal means the config has none
    plain = _UNAVAILABLE
    if unresolved is not _UNAVAILABLE and unresolved == raw:
        plain = copy.deepcopy(unresolved)
    _parsed_configs[datasette] = (raw, config, plain)
    return config


_UNAVAILABLE = object()


def _unresolved_plugin_config(datasette):
    """Our config as ``datasette.plugin_config()`` reads it before resolving it, on
    Datasette versions that read it with ``_plugin_config_top`` (1.0a8 and later);
    ``_UNAVAILABLE`` elsewhere, and for subclasses with their own ``plugin_config``."""
    global _stock_plugin_config
    if _stock_plugin_config is _UNAVAILABLE:
        # Looked up on first use: importing datasette.app while datasette_llm is
        # imported would be circular (see __init__.py)
        from datasette.app import Datasette

        stock = Datasette.plugin_config
        # This Datasette's plugin_config() is _plugin_config_top() plus resolving
        reads = stock.__code__.co_names
        _stock_plugin_config = (
            stock
            if hasattr(Datasette, "_plugin_config_top")
            and "_plugin_config_top" in reads
            and "resolve_env_secrets" in reads
            else None
        )
    if _stock_plugin_config is None or type(datasette).plugin_config is not _stock_plugin_config:
        return _UNAVAILABLE
    return datasette._plugin_config_top(PLUGIN_NAME)


_stock_plugin_config = _UNAVAILABLE


class LLM:
    """Models for Datasette plugins, chosen and keyed by the operator's configuration.

    Create one wherever you need it (``LLM(datasette)`` is cheap); it keeps no state
    of its own between calls.
    """

    def __init__(self, datasette):
        self.datasette = datasette

    @property
    def _datasette(self):
        return self.datasette

    def _selection(self, actor, purpose, catalog: Optional[Catalog] = None) -> Selection:
        if purpose is not None and not isinstance(purpose, str):
            raise TypeError(f"purpose must be a string or None, got {type(purpose).__name__}")
        if actor is not None and not isinstance(actor, dict):
            raise TypeError(f"actor must be an actor dict or None, got {type(actor).__name__}")
        return Selection(
            self.datasette, plugin_config(self.datasette), catalog or Catalog.current(),
            actor, purpose,
        )

    async def models(self, actor: Optional[dict] = None, purpose: Optional[str] = None) -> list:
        """The llm async model objects ``actor`` may use for ``purpose``: configuration
        (allowlists, blocklists, ``require_keys``) and every ``llm_filter_models`` hook
        applied together. Ordered for a model picker: the effective default first, then
        the applicable allowlist in config order, then the rest in llm's order."""
        selection = self._selection(actor, purpose)
        with selection.catalog.active():
            return await selection.available()

    async def model(
        self,
        model_id: Optional[str] = None,
        purpose: Optional[str] = None,
        actor: Optional[dict] = None,
    ) -> WrappedAsyncModel:
        """A model wrapped with hook support. Without ``model_id``, the default: the
        ``llm_default_model`` hooks, then ``purposes.<purpose>.model``, then
        ``default_model``. Raises ``ModelNotFoundError`` for unknown models and
        ``ModelNotAllowedError`` for models policy refuses to this actor and purpose."""
        return await self._wrapped(model_id, purpose, actor, group=None)

    async def _wrapped(self, model_id, purpose, actor, group) -> WrappedAsyncModel:
        selection = self._selection(actor, purpose)
        with selection.catalog.active():
            model, key = await selection.choose(model_id)
        return WrappedAsyncModel(
            self.datasette, model, purpose, actor, key,
            selection.policy.options_for(model.model_id, purpose), group,
        )

    @asynccontextmanager
    async def group(
        self,
        model_id: Optional[str] = None,
        purpose: Optional[str] = None,
        actor: Optional[dict] = None,
    ) -> AsyncIterator[WrappedAsyncModel]:
        """A wrapped model whose prompts form one ``Group``. On exit every unfinished
        response is completed (or closed, if the block raised) and ``llm_group_exit``
        is called, however the block ends."""
        group = Group(model_id, purpose, actor)
        wrapped = await self._wrapped(model_id, purpose, actor, group)
        group.model_id = wrapped.model_id
        try:
            yield wrapped
        except BaseException as exc:
            group.error = exc
            await group._exit(self.datasette)
            raise
        failure = await group._exit(self.datasette)
        if failure is not None:
            raise failure

    async def get_key_for_model(
        self, model, actor: Optional[dict] = None, purpose: Optional[str] = None
    ) -> Optional[str]:
        """The API key datasette-llm would use for ``model`` (an llm model or a wrapped
        one) for this actor and purpose, or ``None``."""
        model = getattr(model, "model", model) if isinstance(model, WrappedAsyncModel) else model
        if not getattr(model, "needs_key", None):
            return None
        selection = self._selection(actor, purpose)
        with selection.catalog.active():
            return await selection.key_for(model)

    async def model_has_key(
        self, model, actor: Optional[dict] = None, purpose: Optional[str] = None
    ) -> bool:
        """True if ``model`` needs no key or a key can be found for it."""
        if isinstance(model, WrappedAsyncModel):
            model = model.model
        if not getattr(model, "needs_key", None):
            return True
        return await self.get_key_for_model(model, actor=actor, purpose=purpose) is not None

    def __repr__(self):
        return f"<LLM datasette={self.datasette!r}>"
