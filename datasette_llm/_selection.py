"""Which models an actor may use for a purpose, and which one serves a request.

One ``Selection`` serves one public call: one registry snapshot, the config rules
applied to it, one key resolver. The data flows one way: the catalog lists the
installed models, the policy narrows them and says where each one's key comes from,
the key resolver answers for those sources, the filter hooks narrow what is left.
Listing and handing out share every rule, so ``model()`` never hands out a model that
``models()`` would not list for the same actor and purpose.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, NamedTuple, Optional

from . import _assignments
from ._catalog import Catalog
from ._config import ROOT, LLMConfig
from ._errors import HookResultError, ModelNotAllowedError, ModelNotFoundError
from ._hooks import NO_IMPLEMENTATIONS, Implementations, call, resolve
from ._keys import KeyResolver, KeySources, provider_secret_name
from ._policy import Candidate, Policy, Refusal

logger = logging.getLogger("datasette_llm")
_FILTER_HOOK = "llm_filter_models"
_DEFAULT_HOOK = "llm_default_model"


class Choice(NamedTuple):
    """What ``model()`` hands out: the llm model, its key, its default options."""

    model: Any
    key: Optional[str]
    options: Mapping

    def __repr__(self):
        # Never the key: error reporters show the locals of the frames that hold a Choice
        return (
            f"Choice(model={self.model!r}, key={'<hidden>' if self.key else None}, "
            f"options={dict(self.options)!r})"
        )


class HookVerdict(NamedTuple):
    """What the ``llm_filter_models`` hooks made of the configured models."""

    offered: list  # what configuration allows (allow/blocklists, keys), in llm's order
    kept: list  # the models every hook kept, in order
    removed_by: dict  # model ID -> the plugin whose hook removed it


class Verdict(NamedTuple):
    """One installed model, for one actor and purpose: allowed, or refused and why."""

    model: Any
    refusal: Optional[Refusal]  # None: listed by models() and handed out by model()


class Explanation(NamedTuple):
    """What ``models()`` and ``model()`` give one actor for one purpose, and why."""

    verdicts: list  # every installed model: the listed ones first, in models() order
    default: Optional[Any]  # the model model(purpose=...) hands out, or None
    default_source: Optional[str]  # where that default came from
    skipped_defaults: list  # SkippedDefault for each candidate tried before it


class SkippedDefault(NamedTuple):
    name: str  # the model name a default candidate gave
    source: str  # where the candidate came from
    why: str  # why it was not used


class Selection:
    __slots__ = (
        "datasette", "config", "catalog", "policy", "_keys", "actor", "purpose",
        "_defaults", "_verdict",
    )

    def __init__(self, datasette, config: LLMConfig, catalog: Catalog, actor, purpose):
        self.datasette = datasette
        self.config = config
        self.catalog = catalog
        self.policy = Policy(config, catalog)
        self._keys: Optional[KeyResolver] = None  # made when a key is first needed
        self.actor = actor
        self.purpose = purpose
        self._defaults: Optional[list] = None  # default candidates, once asked
        self._verdict: Optional[HookVerdict] = None  # the filter hooks' answer, once asked

    # Keys

    @property
    def keys(self) -> KeyResolver:
        if self._keys is None:
            actor = self.actor
            self._keys = KeyResolver(self.datasette, actor.get("id") if actor else None)
        return self._keys

    def key_sources(self, model) -> Optional[KeySources]:
        """Where ``model``'s key comes from here, or None if it needs none."""
        if not model.needs_key:
            return None
        return KeySources(
            self.policy.secret_names(model.model_id, self.purpose),
            model.needs_key,
            model.key_env_var,
            self.catalog.lists(model),
        )

    async def key_for(self, model) -> Optional[str]:
        """The key ``model()`` would hand out with ``model`` (reads are recorded)."""
        sources = self.key_sources(model)
        return None if sources is None else await self.keys.key_for(sources)

    # Listing

    async def available(self) -> list:
        """``models(actor, purpose)``: config rules, keys, then every filter hook,
        ordered for a model picker."""
        verdict = await self._hook_verdict()
        return self._ordered(verdict.kept, await self._default_candidates())

    async def _configured(self) -> list:
        """The models config allows here: allow/blocklists, then ``require_keys``."""
        models = self.policy.allowed(self.catalog.async_models, self.purpose)
        if self.config.require_keys:
            models = await self._with_keys(models)
        return models

    async def _with_keys(self, models: list) -> list:
        """The models that need no key or have one, with one key look-up per distinct
        set of sources (a listing of 300 models from 30 providers resolves 30 keys)."""
        await self.keys.read_for_listing(self._secret_names_for_listing(models))
        keyed_ids = self.policy.keyed_model_ids()
        has_key: dict = {}  # (needs_key, env var, configured names) -> a key was found
        kept = []
        for model in models:
            needs_key = model.needs_key
            if needs_key:
                names = (
                    self.policy.secret_names(model.model_id, self.purpose)
                    if model.model_id in keyed_ids
                    else ()
                )
                sources = (needs_key, model.key_env_var, names)
                found = has_key.get(sources)
                if found is None:
                    # every model of a listing is in this call's snapshot: registered
                    found = has_key[sources] = bool(await self.keys.key_for(
                        KeySources(names, needs_key, model.key_env_var, True), listing=True
                    ))
                if not found:
                    continue
            kept.append(model)
        return kept

    def _secret_names_for_listing(self, models: list) -> list[str]:
        """Every secret name a listing of ``models`` may look up: their providers'
        ``<PROVIDER>_API_KEY`` and the config's key names (none if no model needs a key)."""
        providers = dict.fromkeys(m.needs_key for m in models if m.needs_key)
        if not providers:
            return []
        return [provider_secret_name(p) for p in providers] + self.config.key_names()

    def _ordered(self, models: list, default_candidates: list) -> list:
        allowlist = self.policy.rules(self.purpose).allowlist or ()
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

    async def _hook_verdict(self) -> HookVerdict:
        """The configured models narrowed by every ``llm_filter_models`` implementation
        in turn (each receives what the previous one kept), once per call."""
        if self._verdict is None:
            self._verdict = await self._filter(await self._configured())
        return self._verdict

    async def _filter(self, models: list) -> HookVerdict:
        implementations = Implementations.of(_FILTER_HOOK)
        removed_by: dict = {}
        if not implementations:
            return HookVerdict(models, models, removed_by)
        arguments = {
            "datasette": self.datasette, "actor": self.actor, "purpose": self.purpose,
            "models": list(models),
        }

        composed: list = []  # what the plain implementations kept, before any wrapper

        async def compose() -> list:
            kept = models
            for impl in implementations.plain:
                returned = await resolve(call(impl, {**arguments, "models": list(kept)}))
                if returned is not None:
                    kept = _narrowed(kept, returned, impl.plugin_name, removed_by)
            composed[:] = kept
            return kept

        kept = await implementations.run_async(arguments, compose)
        if implementations.wrappers:  # a wrapper may narrow the answer, never widen it
            wrappers = ", ".join(i.plugin_name for i in implementations.wrappers)
            kept = _narrowed(composed, kept, wrappers, removed_by)
        return HookVerdict(models, kept, removed_by)

    async def explain(self) -> Explanation:
        """Every installed model with the rule that refuses it here (or none), and the
        default ``model()`` would hand out: built from the same rules and hook answers as
        ``available()``, so the two cannot disagree. Keys are only checked, never used."""
        verdict = await self._hook_verdict()
        candidates = await self._default_candidates()
        listed = self._ordered(verdict.kept, candidates)
        listed_ids = {m.model_id for m in listed}
        offered_ids = {m.model_id for m in verdict.offered}
        refusals: dict = {}
        for model in self.catalog.async_models:
            if model.model_id in listed_ids:
                continue
            refusal = self.policy.refusal(model.model_id, self.purpose)
            if refusal is None and model.model_id not in offered_ids:
                refusal = self._no_key(model)
            if refusal is None:
                plugin = verdict.removed_by.get(model.model_id, "a plugin")
                refusal = Refusal(
                    f"hook:{plugin}", f"the llm_filter_models hook of {plugin} excluded it"
                )
            refusals[model.model_id] = Verdict(model, refusal)
        default = default_source = None
        skipped = []
        for name, source in candidates:
            model = self.catalog.get(name)
            if model is not None and model.model_id in listed_ids:
                default, default_source = model, source
                break
            why = (
                "not an installed model" if model is None
                else f"refused by {refusals[model.model_id].refusal.rule}: "
                f"{refusals[model.model_id].refusal.reason}"
            )
            skipped.append(SkippedDefault(name, source, why))
        return Explanation(
            [Verdict(m, None) for m in listed] + list(refusals.values()),
            default, default_source, skipped,
        )

    def _no_key(self, model) -> Refusal:
        return Refusal(
            f"{ROOT}.require_keys",
            "no API key is configured for it (set the datasette-secrets secret "
            f"{provider_secret_name(model.needs_key)}, or a key in the config)",
        )

    # Handing out one model

    async def choose(self, model_id: Optional[str]) -> Choice:
        """What ``model(model_id, purpose, actor)`` hands out; raises
        ``ModelNotFoundError`` or ``ModelNotAllowedError``."""
        if model_id is not None:
            if not isinstance(model_id, str):
                raise TypeError(f"model_id must be a string, got {type(model_id).__name__}")
            model = self.installed(model_id)
            refusal, choice = await self._check(model)
            if refusal is not None:
                raise self._not_allowed(model, refusal)
            return choice
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
                refusal, choice = await self._check(model)
                if refusal is None:
                    return choice
                problem = f"{name!r} from {source} is refused by {refusal.rule}: {refusal.reason}"
            problems.append(problem)
            logger.warning("datasette-llm: default model skipped: %s", problem)
        message = "No usable default model" + (
            f" for purpose {self.purpose!r}" if self.purpose else ""
        ) + ": " + "; ".join(problems)
        if all("is not an installed model" in p for p in problems):
            raise ModelNotFoundError(message)
        raise ModelNotAllowedError(candidates[0].name, "default", message)

    def _choice(self, model, key: Optional[str]) -> Choice:
        return Choice(model, key, self.policy.options_for(model.model_id, self.purpose))

    def installed(self, model_id: str):
        """The installed async model with this ID or alias; else ``ModelNotFoundError``."""
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

    async def _check(self, model) -> tuple[Optional[Refusal], Optional[Choice]]:
        """The same rules as ``available()``, for one model: its key is read the way
        a prompt uses it (recorded), and where filter hooks exist, they decide on the
        whole listing (a hook may decide on the list as a whole, ``models[:1]``).
        The key is held in the ``Choice`` at once, never in a local variable that an
        error reporter would show if a hook raised."""
        refusal = self.policy.refusal(model.model_id, self.purpose)
        if refusal is not None:
            return refusal, None
        choice = self._choice(model, await self.key_for(model))
        if choice.key is None and model.needs_key and self.config.require_keys:
            return self._no_key(model), None
        if Implementations.of(_FILTER_HOOK) is not NO_IMPLEMENTATIONS:
            verdict = await self._hook_verdict()
            if model.model_id not in {kept.model_id for kept in verdict.kept}:
                plugin = verdict.removed_by.get(model.model_id, "a plugin")
                return Refusal(
                    f"hook:{plugin}", f"the llm_filter_models hook of {plugin} excluded it"
                ), None
        return None, choice

    def _not_allowed(self, model, refusal: Refusal) -> ModelNotAllowedError:
        who = f" for actor {_actor_id(self.actor)!r}" if self.actor else ""
        for_purpose = f" (purpose {self.purpose!r})" if self.purpose else ""
        return ModelNotAllowedError(
            model.model_id,
            refusal.rule,
            f"Model {model.model_id!r} is not allowed{who}{for_purpose}: {refusal.reason} "
            f"[{refusal.rule}]",
        )

    async def _default_candidates(self) -> list[Candidate]:
        """Default model names in the order they are tried, each with where it came
        from: hook answers, the purpose's assignment on /-/llm, then config."""
        if self._defaults is None:
            candidates = []
            implementations = Implementations.of(_DEFAULT_HOOK)
            if implementations is not NO_IMPLEMENTATIONS:
                candidates += await self._hook_defaults(implementations)
            if self.purpose is not None:
                assignment = (
                    await _assignments.current(self.datasette, self.config.assignments_database)
                ).get(self.purpose)
                if assignment is not None:
                    candidates.append(_assigned(assignment))
            self._defaults = candidates + self.policy.configured_default(self.purpose)
        return self._defaults

    async def _hook_defaults(self, implementations: Implementations) -> list[Candidate]:
        arguments = {"datasette": self.datasette, "purpose": self.purpose, "actor": self.actor}
        plugin_of: dict = {}  # model ID answered -> the first plugin that answered it

        async def answers() -> list:
            found = []
            for plugin_name, answer in implementations.calls(arguments):
                answer = await resolve(answer)
                if answer is None:
                    continue
                if not isinstance(answer, str):
                    raise HookResultError(
                        _DEFAULT_HOOK, plugin_name,
                        f"returned {type(answer).__name__}, expected a model ID string or None",
                    )
                plugin_of.setdefault(answer, plugin_name)
                found.append(answer)
            return found

        # Wrappers see the model IDs answered, as pluggy would show them, and may replace them
        found = await implementations.run_async(arguments, answers)
        wrappers = ", ".join(impl.plugin_name for impl in implementations.wrappers)
        if implementations.wrappers and (
            not isinstance(found, list) or not all(isinstance(a, str) for a in found)
        ):
            raise HookResultError(
                _DEFAULT_HOOK, wrappers,
                f"wrapper returned {found!r}, expected a list of model ID strings "
                "(return what yield gave it, or a changed copy)",
            )
        return [
            Candidate(answer, f"the llm_default_model hook of {plugin_of.get(answer, wrappers)}")
            for answer in found
        ]


def _assigned(assignment) -> Candidate:
    return Candidate(
        assignment.model_id,
        f"the assignment on /-/llm by {assignment.assigned_by or 'an unnamed actor'} "
        f"at {assignment.assigned_at}",
    )


def _narrowed(models: list, returned, plugin_name: str, removed_by: dict) -> list:
    """``models`` kept by a filter answer (models it names that were not offered are
    ignored: no hook adds a model); the others recorded as removed by ``plugin_name``."""
    if isinstance(returned, (str, bytes)) or not hasattr(returned, "__iter__"):
        raise HookResultError(
            _FILTER_HOOK, plugin_name,
            f"returned {type(returned).__name__}, expected a list of models or None",
        )
    kept_ids = set()
    for entry in returned:
        model_id = getattr(entry, "model_id", None)
        if not isinstance(model_id, str):
            raise HookResultError(
                _FILTER_HOOK, plugin_name,
                f"returned {entry!r} in its list, expected llm model objects (with .model_id)",
            )
        kept_ids.add(model_id)
    kept = []
    for model in models:
        if model.model_id in kept_ids:
            kept.append(model)
        else:
            removed_by.setdefault(model.model_id, plugin_name)
    return kept


def _actor_id(actor) -> object:
    return actor.get("id") if isinstance(actor, dict) else actor
