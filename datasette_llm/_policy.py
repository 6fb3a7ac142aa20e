"""The operator's configuration rules, applied to one snapshot of the registry.

Config entries may name a model by ID or by alias; everything here compares
canonical model IDs, so ``blocked_models: [4o]`` blocks ``gpt-4o`` under any name.
A blocklist entry that is one model's ID and another model's alias (``llm aliases set
gpt-4o router/gpt-4o``) blocks both: the model it resolves to and the model with that ID.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple, Optional

from ._catalog import Catalog
from ._config import ROOT, LLMConfig, ModelRef

_NO_OPTIONS: Mapping = {}


class Refusal(NamedTuple):
    """Why a model is refused: the rule (a config path, or ``hook:<plugin>``) and a sentence."""

    rule: str
    reason: str


class Candidate(NamedTuple):
    """A default model name to try, and where it came from (a config path, a hook...)."""

    name: str
    source: str


class PurposeRules(NamedTuple):
    """The allow/blocklist rules that apply to one purpose, as canonical model IDs."""

    allowlist: Optional[tuple]  # in config order; None: every installed model
    allowlist_rule: Optional[str]  # the config path of the allowlist that applies
    blocked: frozenset  # the purpose's blocklist (the global one is Policy.blocked)


class Policy:
    __slots__ = ("config", "catalog", "blocked", "_rules", "_keyed_ids")

    def __init__(self, config: LLMConfig, catalog: Catalog) -> None:
        self.config = config
        self.catalog = catalog
        self.blocked = _blocked_ids(catalog, config.blocked_models)
        self._rules: dict = {}  # purpose -> PurposeRules
        self._keyed_ids: Optional[frozenset] = None

    def rules(self, purpose: Optional[str]) -> PurposeRules:
        rules = self._rules.get(purpose)
        if rules is None:
            rules = self._rules[purpose] = self._rules_for(purpose)
        return rules

    def _rules_for(self, purpose: Optional[str]) -> PurposeRules:
        config = self.config
        canonical = self.catalog.canonical
        purpose_config = config.purpose(purpose)
        allowlist = rule = None
        if purpose_config is not None and purpose_config.models is not None:
            # A purpose allowlist replaces the global one; its default model is included
            allowlist = [canonical(ref.model_id) for ref in purpose_config.refs()]
            rule = f"{ROOT}.purposes.{purpose}.models"
        elif config.models is not None:
            allowlist = []
            if purpose_config is not None and purpose_config.model is not None:
                allowlist.append(canonical(purpose_config.model.model_id))
            if config.default_model is not None:
                allowlist.append(canonical(config.default_model.model_id))
            allowlist.extend(map(canonical, config.models))
            rule = f"{ROOT}.models"
        blocked = _blocked_ids(
            self.catalog, purpose_config.blocked_models if purpose_config is not None else ()
        )
        return PurposeRules(
            None if allowlist is None else tuple(dict.fromkeys(allowlist)), rule, blocked
        )

    def refusal(self, model_id: str, purpose: Optional[str]) -> Optional[Refusal]:
        """Why config refuses ``model_id`` (a canonical ID) for ``purpose``, or None."""
        if model_id in self.blocked:
            return Refusal(f"{ROOT}.blocked_models", "it is in the global blocklist")
        rules = self.rules(purpose)
        if model_id in rules.blocked:
            return Refusal(
                f"{ROOT}.purposes.{purpose}.blocked_models",
                f"it is blocked for purpose {purpose!r}",
            )
        if rules.allowlist is not None and model_id not in rules.allowlist:
            return Refusal(
                rules.allowlist_rule,
                "it is not in the allowlist"
                + ("" if rules.allowlist_rule == f"{ROOT}.models" else f" for purpose {purpose!r}"),
            )
        return None

    def allowed(self, models: list, purpose: Optional[str]) -> list:
        """The models config allows for ``purpose``, in their given order."""
        rules = self.rules(purpose)
        blocked = self.blocked | rules.blocked
        allowlist = None if rules.allowlist is None else frozenset(rules.allowlist)
        if allowlist is None and not blocked:
            return list(models)
        return [
            m
            for m in models
            if m.model_id not in blocked and (allowlist is None or m.model_id in allowlist)
        ]

    def _entry(self, model_id: str, purpose: Optional[str], attribute: str):
        """The first ``key`` or ``options`` the purpose's entries give ``model_id``, in
        precedence order (``models`` entries, then ``model``), else ``default_model``'s."""
        purpose_config = self.config.purpose(purpose)
        if purpose_config is not None:
            for _, ref in purpose_config.refs_by_precedence():
                value = getattr(ref, attribute)
                if value and self.catalog.canonical(ref.model_id) == model_id:
                    return value
        return None

    def _default_ref(self, model_id: str) -> Optional[ModelRef]:
        ref = self.config.default_model
        if ref is not None and self.catalog.canonical(ref.model_id) == model_id:
            return ref
        return None

    def keyed_model_ids(self) -> frozenset:
        """Canonical IDs of the models some config entry gives a key (any purpose):
        ``secret_names()`` is empty for every other model."""
        if self._keyed_ids is None:
            self._keyed_ids = frozenset(
                self.catalog.canonical(ref.model_id) for _, ref in self.config.refs() if ref.key
            )
        return self._keyed_ids

    def secret_names(self, model_id: str, purpose: Optional[str]) -> tuple:
        """Configured secret names for this model here, in resolution order: the
        purpose's entry, then ``default_model``'s."""
        if model_id not in self.keyed_model_ids():  # most models: no config entry
            return ()
        names = []
        purpose_key = self._entry(model_id, purpose, "key")
        if purpose_key:
            names.append(purpose_key)
        default_ref = self._default_ref(model_id)
        if default_ref is not None and default_ref.key and default_ref.key not in names:
            names.append(default_ref.key)
        return tuple(names)

    def options_for(self, model_id: str, purpose: Optional[str]) -> Mapping:
        """Default options for this model here: the purpose's entry, else ``default_model``'s."""
        if not self.config.refs_with_options:  # most configs set no options at all
            return _NO_OPTIONS
        options = self._entry(model_id, purpose, "options")
        if options:
            return options
        default_ref = self._default_ref(model_id)
        return default_ref.options if default_ref is not None else _NO_OPTIONS

    def configured_default(self, purpose: Optional[str]) -> list[Candidate]:
        """Config's default model candidates for ``purpose``, in the order tried (they
        depend on the config alone: worked out once per parsed config and purpose)."""
        found = self.config.derived.get(("default candidates", purpose))
        if found is None:
            found = self.config.derived[("default candidates", purpose)] = tuple(
                self._configured_default(purpose)
            )
        return list(found)

    def _configured_default(self, purpose: Optional[str]):
        purpose_config = self.config.purpose(purpose)
        if purpose_config is not None and purpose_config.model is not None:
            yield Candidate(purpose_config.model.model_id, f"{ROOT}.purposes.{purpose}.model")
        if self.config.default_model is not None:
            yield Candidate(self.config.default_model.model_id, f"{ROOT}.default_model")


def _blocked_ids(catalog: Catalog, names) -> frozenset:
    """The model IDs a blocklist blocks: what each name resolves to, and the name itself
    as a model ID (another model's alias may shadow it, and llm would then resolve the
    name elsewhere, while the model with that ID stays reachable by its other names)."""
    if not names:
        return _NOTHING
    return frozenset(map(catalog.canonical, names)) | frozenset(names)


_NOTHING: frozenset = frozenset()
