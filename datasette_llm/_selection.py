"""Which models an actor may use for a purpose, and which one serves a request.

One ``Selection`` serves one public call: it holds one registry snapshot, the config
rules applied to it, and a key resolver that looks up each secret at most once.
Listing and handing out share the same rules, so ``model()`` never hands out a model
that ``models()`` would not list for the same actor and purpose.
"""

from __future__ import annotations

import logging
from typing import Optional

from ._catalog import Catalog, provider_secret_name
from ._config import ROOT, LLMConfig
from ._errors import HookResultError, ModelNotAllowedError, ModelNotFoundError
from ._hooks import call, implementations, resolve
from ._keys import KeyResolver
from ._policy import Policy, Refusal

logger = logging.getLogger("datasette_llm")
_FILTER_HOOK = "llm_filter_models"
_DEFAULT_HOOK = "llm_default_model"


class Selection:
    __slots__ = ("datasette", "config", "catalog", "policy", "keys", "actor", "purpose")

    def __init__(self, datasette, config: LLMConfig, catalog: Catalog, actor, purpose):
        self.datasette = datasette
        self.config = config
        self.catalog = catalog
        self.policy = Policy(config, catalog)
        self.keys = KeyResolver(datasette, actor)
        self.actor = actor
        self.purpose = purpose

    async def key_for(self, model) -> Optional[str]:
        return await self.keys.key_for(
            model, self.policy.secret_names(model.model_id, self.purpose)
        )

    # Listing

    async def available(self) -> list:
        """``models(actor, purpose)``: config rules, keys, then every filter hook, ordered
        for a model picker."""
        models = self.policy.allowed(self.catalog.async_models, self.purpose)
        if self.config.require_keys:
            await self.keys.read_for_listing(self._secret_names_for_listing(models))
            purpose = self.purpose
            models = await self.keys.keyed(
                models,
                lambda model_id: self.policy.secret_names(model_id, purpose),
                self.policy.keyed_model_ids(),
            )
        models, _ = await self._filter_by_hooks(models)
        return self._ordered(models, await self._default_candidates())

    def _secret_names_for_listing(self, models: list) -> list[str]:
        """Every secret name a listing of ``models`` may look up: their providers'
        ``<PROVIDER>_API_KEY`` and the config's key names (none if no model needs a key)."""
        if len(models) == len(self.catalog.async_models):  # config removed none
            providers = self.catalog.providers()
        else:
            providers = dict.fromkeys(m.needs_key for m in models if m.needs_key)
        if not providers:
            return []
        return [provider_secret_name(p) for p in providers] + self.config.key_names()

    def _ordered(self, models: list, default_candidates: list) -> list:
        allowlist = self.policy.allowlist_order(self.purpose)
        if not default_candidates and not allowlist:
            return models
        by_id = {m.model_id: m for m in models}
        first: dict = {}
        for name, _ in default_candidates:
            model_id = self.catalog.canonical(name)
            if model_id in by_id:
                first[model_id] = None
                break
        for model_id in allowlist:
            if model_id in by_id:
                first[model_id] = None
        if not first:
            return models
        return [by_id[i] for i in first] + [m for m in models if m.model_id not in first]

    async def _filter_by_hooks(self, models: list) -> tuple[list, dict]:
        """Compose every ``llm_filter_models`` implementation; return the kept models and,
        for each removed model ID, the plugin that removed it."""
        removed_by: dict = {}
        arguments = {
            "datasette": self.datasette,
            "actor": self.actor,
            "purpose": self.purpose,
        }
        for impl in implementations(_FILTER_HOOK):
            arguments["models"] = list(models)
            returned = await resolve(
                call(impl, arguments)
            )
            if returned is None:
                continue
            kept_ids = _returned_model_ids(returned, impl.plugin_name)
            kept = []
            for model in models:
                if model.model_id in kept_ids:
                    kept.append(model)
                else:
                    removed_by[model.model_id] = impl.plugin_name
            models = kept
        return models, removed_by

    # Handing out one model

    async def choose(self, model_id: Optional[str]):
        """The model for ``model(model_id, purpose, actor)`` and its key; raises
        ``ModelNotFoundError`` or ``ModelNotAllowedError``."""
        if model_id is not None:
            if not isinstance(model_id, str):
                raise TypeError(f"model_id must be a string, got {type(model_id).__name__}")
            model = self._installed(model_id)
            refusal, key = await self._check(model)
            if refusal is not None:
                raise self._not_allowed(model, refusal)
            return model, key
        candidates = await self._default_candidates()
        if not candidates:
            raise ModelNotFoundError(
                "No model_id given and no default model configured"
                + (f" for purpose {self.purpose!r}" if self.purpose else "")
                + f": pass a model ID, or set {ROOT}.default_model"
                + (f" or {ROOT}.purposes.{self.purpose}.model" if self.purpose else "")
            )
        problems = []
        for name, source in candidates:
            model = self.catalog.get(name)
            if model is None:
                problem = f"{name!r} from {source} is not an installed model"
            else:
                refusal, key = await self._check(model)
                if refusal is None:
                    return model, key
                problem = f"{name!r} from {source} is refused by {refusal.rule}: {refusal.reason}"
            problems.append(problem)
            logger.warning("datasette-llm: default model skipped: %s", problem)
        message = "No usable default model" + (
            f" for purpose {self.purpose!r}" if self.purpose else ""
        ) + ": " + "; ".join(problems)
        if all("is not an installed model" in p for p in problems):
            raise ModelNotFoundError(message)
        raise ModelNotAllowedError(candidates[0][0], "default", message)

    def _installed(self, model_id: str):
        model = self.catalog.get(model_id)
        if model is not None:
            return model
        if self.catalog.is_sync_only(model_id):
            raise ModelNotFoundError(
                f"Model {model_id!r} has no async version, and datasette-llm needs one"
            )
        matches = self.catalog.close_matches(model_id)
        raise ModelNotFoundError(
            f"Unknown model {model_id!r}"
            + (f"; did you mean {', '.join(map(repr, matches))}?" if matches else "")
        )

    async def _check(self, model) -> tuple[Optional[Refusal], Optional[str]]:
        """The same rules as ``available()``, for one model only."""
        refusal = self.policy.refusal(model.model_id, self.purpose)
        if refusal is not None:
            return refusal, None
        key = await self.key_for(model) if model.needs_key else None
        if key is None and model.needs_key and self.config.require_keys:
            return Refusal(
                f"{ROOT}.require_keys",
                "no API key is configured for it (set the datasette-secrets secret "
                f"{provider_secret_name(model.needs_key)}, or a key in the config)",
            ), None
        kept, removed_by = await self._filter_by_hooks([model])
        if not kept:
            plugin = removed_by.get(model.model_id, "a plugin")
            return Refusal(f"hook:{plugin}", f"the llm_filter_models hook of {plugin} excluded it"), None
        return None, key

    def _not_allowed(self, model, refusal: Refusal) -> ModelNotAllowedError:
        who = f" for actor {_actor_id(self.actor)!r}" if self.actor else ""
        for_purpose = f" (purpose {self.purpose!r})" if self.purpose else ""
        return ModelNotAllowedError(
            model.model_id,
            refusal.rule,
            f"Model {model.model_id!r} is not allowed{who}{for_purpose}: {refusal.reason} "
            f"[{refusal.rule}]",
        )

    async def _default_candidates(self) -> list[tuple[str, str]]:
        """Default model names in the order they are tried: hook answers, then config."""
        candidates = []
        arguments = {"datasette": self.datasette, "purpose": self.purpose, "actor": self.actor}
        for impl in implementations(_DEFAULT_HOOK):
            answer = await resolve(
                call(impl, arguments)
            )
            if answer is None:
                continue
            if not isinstance(answer, str):
                raise HookResultError(
                    _DEFAULT_HOOK, impl.plugin_name,
                    f"returned {type(answer).__name__}, expected a model ID string or None",
                )
            candidates.append((answer, f"the llm_default_model hook of {impl.plugin_name}"))
        candidates.extend(self.policy.configured_default(self.purpose))
        return candidates


def _returned_model_ids(returned, plugin_name: str) -> set:
    if isinstance(returned, (str, bytes)) or not hasattr(returned, "__iter__"):
        raise HookResultError(
            _FILTER_HOOK, plugin_name,
            f"returned {type(returned).__name__}, expected a list of models or None",
        )
    ids = set()
    for entry in returned:
        model_id = getattr(entry, "model_id", None)
        if not isinstance(model_id, str):
            raise HookResultError(
                _FILTER_HOOK, plugin_name,
                f"returned {entry!r} in its list, expected llm model objects (with .model_id)",
            )
        ids.add(model_id)
    return ids


def _actor_id(actor) -> object:
    return actor.get("id") if isinstance(actor, dict) else actor
