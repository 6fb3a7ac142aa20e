"""``LLM(datasette)``: the entry point plugins use to get models."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator, Optional

from ._catalog import Catalog
from ._config import plugin_config
from ._config_check import check_options, log_warnings_once
from ._group import Group
from ._prompting import WrappedAsyncModel
from ._selection import Choice, Selection


class LLM:
    """Models for Datasette plugins, chosen and keyed by the operator's configuration.

    Create one wherever you need it (``LLM(datasette)`` is cheap); it keeps no state
    of its own between calls.
    """

    def __init__(self, datasette):
        self.datasette = datasette

    @property
    def _datasette(self):
        # The published release's attribute name; some plugins read it
        return self.datasette

    def _selection(self, actor, purpose) -> Selection:
        """Everything one call needs: the config (checked against the models installed
        now), one registry snapshot, the actor and the purpose."""
        if purpose is not None and not isinstance(purpose, str):
            raise TypeError(f"purpose must be a string or None, got {type(purpose).__name__}")
        if actor is not None and not isinstance(actor, dict):
            raise TypeError(f"actor must be an actor dict or None, got {type(actor).__name__}")
        config = plugin_config(self.datasette)
        catalog = Catalog.current()
        check_options(config, catalog)
        log_warnings_once(self.datasette, config, catalog)
        return Selection(self.datasette, config, catalog, actor, purpose)

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
        choice = await self._choose(model_id, purpose, actor)
        return self._wrapped(choice, purpose, actor, group=None)

    async def _choose(self, model_id, purpose, actor) -> Choice:
        selection = self._selection(actor, purpose)
        with selection.catalog.active():
            return await selection.choose(model_id)

    def _wrapped(self, choice: Choice, purpose, actor, group) -> WrappedAsyncModel:
        return WrappedAsyncModel(
            self.datasette, choice.model, purpose, actor, choice.key, choice.options, group
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
        is called once, however the block ends. The model refuses prompts afterwards."""
        choice = await self._choose(model_id, purpose, actor)
        group = Group(choice.model.model_id, purpose, actor)
        wrapped = self._wrapped(choice, purpose, actor, group)
        try:
            yield wrapped
        except BaseException as error:
            await group._exit(self.datasette, error)
            raise
        failure = await group._exit(self.datasette, None)
        if failure is not None:
            raise failure

    async def get_key_for_model(
        self, model, actor: Optional[dict] = None, purpose: Optional[str] = None
    ) -> Optional[str]:
        """The API key datasette-llm would use for ``model`` (a model ID or alias, an
        llm model, or a wrapped model) for this actor and purpose, or ``None``."""
        selection = self._selection(actor, purpose)
        with selection.catalog.active():
            return await selection.key_for(self._llm_model(selection, model))

    async def model_has_key(
        self, model, actor: Optional[dict] = None, purpose: Optional[str] = None
    ) -> bool:
        """True if ``model`` (as for ``get_key_for_model``) needs no key or a key can be
        found for it."""
        selection = self._selection(actor, purpose)
        with selection.catalog.active():
            model = self._llm_model(selection, model)
            if not model.needs_key:
                return True
            return await selection.key_for(model) is not None

    @staticmethod
    def _llm_model(selection: Selection, model):
        """The llm model for a model ID, an llm model or a wrapped model."""
        if isinstance(model, str):
            return selection.installed(model)
        if isinstance(model, WrappedAsyncModel):
            return model.model
        if not hasattr(model, "needs_key") or not hasattr(model, "model_id"):
            raise TypeError(
                f"expected a model ID, an llm model or a wrapped model, got {type(model).__name__}"
            )
        return model

    async def _explain(self, actor: Optional[dict] = None, purpose: Optional[str] = None):
        """Why each installed model is or is not available to ``actor`` for
        ``purpose``, and which default ``model()`` would give (the ``/-/llm`` page)."""
        selection = self._selection(actor, purpose)
        with selection.catalog.active():
            return await selection.explain()

    def __repr__(self):
        return f"<LLM datasette={self.datasette!r}>"
