"""The operator's configuration rules, applied to one snapshot of the registry.

Config entries may name a model by ID or by alias; everything here compares
canonical model IDs, so ``blocked_models: [4o]`` blocks ``gpt-4o`` under any name.
"""

from __future__ import annotations

from typing import Mapping, Optional

from ._catalog import Catalog
from ._config import ROOT, LLMConfig, ModelRef, _EMPTY_OPTIONS


class Refusal:
    """Why configuration refuses a model: the rule's config path and a sentence."""

    __slots__ = ("rule", "reason")

    def __init__(self, rule: str, reason: str) -> None:
        self.rule = rule
        self.reason = reason


class Policy:
    __slots__ = ("config", "catalog", "_canon", "_blocked", "_purpose_cache", "_keyed_ids")

    def __init__(self, config: LLMConfig, catalog: Catalog) -> None:
        self.config = config
        self.catalog = catalog
        self._canon = catalog.canonical
        self._blocked = frozenset(map(self._canon, config.blocked_models))
        self._purpose_cache: dict = {}
        self._keyed_ids: Optional[frozenset] = None  # models any config entry gives a key

    def _purpose_rules(self, purpose: Optional[str]):
        """(allowlist ids in config order or None, allowlist rule path, purpose blocked ids)."""
        cached = self._purpose_cache.get(purpose)
        if cached is not None:
            return cached
        config = self.config
        purpose_config = config.purpose(purpose)
        canon = self._canon
        allow = None
        rule = None
        blocked: frozenset = frozenset()
        if purpose_config is not None and purpose_config.models is not None:
            # A purpose allowlist replaces the global one; its default model is included
            allow = [canon(ref.model_id) for ref in purpose_config.refs()]
            rule = f"{ROOT}.purposes.{purpose}.models"
        elif config.models is not None:
            allow = []
            if purpose_config is not None and purpose_config.model is not None:
                allow.append(canon(purpose_config.model.model_id))
            if config.default_model is not None:
                allow.append(canon(config.default_model.model_id))
            allow.extend(map(canon, config.models))
            rule = f"{ROOT}.models"
        if purpose_config is not None:
            blocked = frozenset(map(canon, purpose_config.blocked_models))
        allow_order = None if allow is None else list(dict.fromkeys(allow))
        cached = (allow_order, None if allow is None else frozenset(allow), rule, blocked)
        self._purpose_cache[purpose] = cached
        return cached

    def refusal(self, model_id: str, purpose: Optional[str]) -> Optional[Refusal]:
        """Why config refuses ``model_id`` (a canonical ID) for ``purpose``, or None."""
        if model_id in self._blocked:
            return Refusal(f"{ROOT}.blocked_models", "it is in the global blocklist")
        _, allowed, rule, purpose_blocked = self._purpose_rules(purpose)
        if model_id in purpose_blocked:
            return Refusal(
                f"{ROOT}.purposes.{purpose}.blocked_models",
                f"it is blocked for purpose {purpose!r}",
            )
        if allowed is not None and model_id not in allowed:
            return Refusal(rule, "it is not in the allowlist" + (
                f" for purpose {purpose!r}" if rule != f"{ROOT}.models" else ""
            ))
        return None

    def allowed(self, models: list, purpose: Optional[str]) -> list:
        """The models config allows for ``purpose``, in their given order."""
        _, allowed, _, purpose_blocked = self._purpose_rules(purpose)
        blocked = self._blocked | purpose_blocked
        if allowed is None and not blocked:
            return list(models)
        return [
            m
            for m in models
            if m.model_id not in blocked and (allowed is None or m.model_id in allowed)
        ]

    def allowlist_order(self, purpose: Optional[str]) -> list[str]:
        """The applicable allowlist's model IDs in config order (empty without one)."""
        return self._purpose_rules(purpose)[0] or []

    def ref_for(self, model_id: str, purpose: Optional[str]) -> Optional[ModelRef]:
        """The purpose's config entry for ``model_id``: the one with a key or options if
        ``model`` and ``models`` both name it (config validation keeps them consistent)."""
        purpose_config = self.config.purpose(purpose)
        if purpose_config is None:
            return None
        found = None
        for ref in purpose_config.refs():
            if self._canon(ref.model_id) == model_id:
                if ref.key or ref.options:
                    return ref
                found = found or ref
        return found

    def default_ref_for(self, model_id: str) -> Optional[ModelRef]:
        ref = self.config.default_model
        if ref is not None and self._canon(ref.model_id) == model_id:
            return ref
        return None

    def keyed_model_ids(self) -> frozenset:
        """Canonical IDs of the models some config entry gives a key (any purpose):
        ``secret_names()`` is empty for every other model."""
        keyed_ids = self._keyed_ids
        if keyed_ids is None:
            keyed_ids = self._keyed_ids = frozenset(
                self._canon(ref.model_id) for _, ref in self.config.refs() if ref.key
            )
        return keyed_ids

    def secret_names(self, model_id: str, purpose: Optional[str]) -> list[str]:
        """Configured secret names for this model, in resolution order."""
        if model_id not in self.keyed_model_ids():  # most models: no config entry
            return []
        names = []
        purpose_ref = self.ref_for(model_id, purpose)
        if purpose_ref is not None and purpose_ref.key:
            names.append(purpose_ref.key)
        default_ref = self.default_ref_for(model_id)
        if default_ref is not None and default_ref.key and default_ref.key not in names:
            names.append(default_ref.key)
        return names

    def options_for(self, model_id: str, purpose: Optional[str]) -> Mapping:
        """Default options for this model here: the purpose's entry, else ``default_model``'s."""
        purpose_ref = self.ref_for(model_id, purpose)
        if purpose_ref is not None and purpose_ref.options:
            return purpose_ref.options
        default_ref = self.default_ref_for(model_id)
        if default_ref is not None:
            return default_ref.options
        return _EMPTY_OPTIONS

    def configured_default(self, purpose: Optional[str]) -> list[tuple[str, str]]:
        """Config's default model candidates for ``purpose``: (model name, where from)."""
        candidates = []
        purpose_config = self.config.purpose(purpose)
        if purpose_config is not None and purpose_config.model is not None:
            candidates.append(
                (purpose_config.model.model_id, f"{ROOT}.purposes.{purpose}.model")
            )
        if self.config.default_model is not None:
            candidates.append((self.config.default_model.model_id, f"{ROOT}.default_model"))
        return candidates
