"""Read, parse and validate the ``datasette-llm`` plugin configuration into typed objects.

The raw config is validated in full whenever it is parsed; every error names the full
path of the offending value. Nothing here touches llm's model registry: checks that
need the installed models (unknown IDs, option values, one model named twice) live in
``_config_check``.
"""

from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterator, Mapping, Optional

from ._errors import ConfigError

PLUGIN_NAME = "datasette-llm"
ROOT = f"plugins.{PLUGIN_NAME}"
MODEL_REF_EXPECTED = "expected a model ID or {model, key, options}"
TOP_LEVEL_KEYS = (
    "default_model", "purposes", "models", "blocked_models", "require_keys",
    "assignments_database",
)
PURPOSE_KEYS = ("model", "models", "blocked_models")
MODEL_REF_KEYS = ("model", "key", "options")
# Arguments of llm's prompt()/chain(): never model options, whatever a model's Options say
PROMPT_ARGUMENTS = frozenset({
    "prompt", "system", "attachments", "schema", "stream", "key", "options", "tools",
    "tool_results", "fragments", "system_fragments", "conversation", "chain_limit",
    "before_call", "after_call", "details", "hide_reasoning", "messages",
})
_EMPTY_OPTIONS: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class ModelRef:
    """A model reference from the config: a model ID, optionally with a secret name and options."""

    model_id: str
    key: Optional[str] = None
    options: Mapping[str, Any] = field(default_factory=lambda: _EMPTY_OPTIONS)

    def __repr__(self):
        # ``key`` is a secret *name*, never a secret value, but keep reprs short anyway.
        return f"ModelRef({self.model_id!r}, key={self.key!r}, options={dict(self.options)!r})"


@dataclass(frozen=True)
class PurposeConfig:
    model: Optional[ModelRef] = None
    models: Optional[tuple[ModelRef, ...]] = None  # None: no purpose allowlist
    blocked_models: tuple[str, ...] = ()

    def refs(self) -> Iterator[ModelRef]:
        """``model``, then the ``models`` entries."""
        if self.model is not None:
            yield self.model
        yield from self.models or ()

    def refs_by_precedence(self) -> Iterator[tuple[str, ModelRef]]:
        """Relative paths and entries in the order that decides a model's key and
        options when several name it: the ``models`` entries first, then ``model``."""
        for i, ref in enumerate(self.models or ()):
            yield f"models[{i}]", ref
        if self.model is not None:
            yield "model", self.model


@dataclass
class CheckState:
    """Checks of one parsed config against installed models, done once each:
    ``options``: (config path, model ``Options`` class) pairs validated; ``warned``:
    the config's warnings were logged."""

    options: set = field(default_factory=set)
    warned: bool = False


@dataclass(frozen=True)
class LLMConfig:
    default_model: Optional[ModelRef] = None
    purposes: Mapping[str, PurposeConfig] = field(default_factory=dict)
    models: Optional[tuple[str, ...]] = None  # None: no global allowlist
    blocked_models: tuple[str, ...] = ()
    require_keys: bool = True
    # Where /-/llm stores purpose assignments (None: Datasette's internal database)
    assignments_database: Optional[str] = None
    # What _config_check has already done for this parsed config
    checks: "CheckState" = field(default_factory=lambda: CheckState(), compare=False, repr=False)
    # Values worked out from this config alone, once (entries with options, the
    # policy's default candidates)
    derived: dict = field(default_factory=dict, compare=False, repr=False)

    def purpose(self, name: Optional[str]) -> Optional[PurposeConfig]:
        if name is None:
            return None
        return self.purposes.get(name)

    def refs(self) -> Iterator[tuple[str, ModelRef]]:
        """Every model reference that may carry a key or options, with its config path."""
        if self.default_model is not None:
            yield f"{ROOT}.default_model", self.default_model
        for name, purpose in self.purposes.items():
            if purpose.model is not None:
                yield f"{ROOT}.purposes.{name}.model", purpose.model
            for i, ref in enumerate(purpose.models or ()):
                yield f"{ROOT}.purposes.{name}.models[{i}]", ref

    @property
    def refs_with_options(self) -> tuple:
        """(path, entry) of every entry that sets options (computed once)."""
        found = self.derived.get("refs with options")
        if found is None:
            found = self.derived["refs with options"] = tuple(
                (path, ref) for path, ref in self.refs() if ref.options
            )
        return found

    def key_names(self) -> list[str]:
        """Custom secret names used by the config, in config order, without repeats."""
        return list(dict.fromkeys(ref.key for _, ref in self.refs() if ref.key))

    def model_ids(self) -> Iterator[tuple[str, str]]:
        """Every model ID the config mentions, with its path."""
        for path, ref in self.refs():
            yield path, ref.model_id
        for i, model_id in enumerate(self.models or ()):
            yield f"{ROOT}.models[{i}]", model_id
        for i, model_id in enumerate(self.blocked_models):
            yield f"{ROOT}.blocked_models[{i}]", model_id
        for name, purpose in self.purposes.items():
            for i, model_id in enumerate(purpose.blocked_models):
                yield f"{ROOT}.purposes.{name}.blocked_models[{i}]", model_id


class _Parsed:
    """The raw config last parsed for one Datasette (a copy), and what it parsed to."""

    __slots__ = ("raw", "config")

    def __init__(self, raw: Any, config: LLMConfig) -> None:
        self.raw = raw
        self.config = config


_parsed: "weakref.WeakKeyDictionary[Any, _Parsed]" = weakref.WeakKeyDictionary()


def plugin_config(datasette) -> LLMConfig:
    """This Datasette's config, validated; parsed again only when it changed.

    ``datasette.plugin_config()`` is asked on every call (it resolves ``$env`` and
    ``$file`` references, so a changed environment variable or file is seen at once),
    and its answer compared with the raw config parsed last time.
    """
    raw = datasette.plugin_config(PLUGIN_NAME)
    parsed = _parsed.get(datasette)
    if parsed is not None and parsed.raw == raw:
        return parsed.config
    config = parse_config(raw)
    # A copy: the config could be changed in place, and must then compare unequal
    _parsed[datasette] = _Parsed(copy.deepcopy(raw), config)
    return config


def parse_config(raw: Any) -> LLMConfig:
    """Validate the whole raw config (``None`` means no config) and return an ``LLMConfig``."""
    if raw is None:
        return LLMConfig()
    _expect_mapping(raw, ROOT)
    _reject_unknown_keys(raw, TOP_LEVEL_KEYS, ROOT)
    require_keys = raw.get("require_keys", True)
    if not isinstance(require_keys, bool):
        raise ConfigError(
            f"{ROOT}.require_keys", f"expected true or false, got {_describe(require_keys)}"
        )
    purposes_raw = raw.get("purposes")
    purposes = {}
    if purposes_raw is not None:
        _expect_mapping(purposes_raw, f"{ROOT}.purposes")
        for name, purpose_raw in purposes_raw.items():
            _check_purpose_name(name)
            purposes[name] = _parse_purpose(purpose_raw, f"{ROOT}.purposes.{name}")
    assignments_database = raw.get("assignments_database")
    if assignments_database is not None and (
        not isinstance(assignments_database, str) or not assignments_database.strip()
    ):
        raise ConfigError(
            f"{ROOT}.assignments_database",
            f"expected the name of an attached database, got {_describe(assignments_database)}",
        )
    default_model = raw.get("default_model")
    return LLMConfig(
        default_model=(
            None
            if default_model is None
            else _parse_model_ref(default_model, f"{ROOT}.default_model")
        ),
        purposes=MappingProxyType(purposes),
        models=_parse_id_list(raw.get("models"), f"{ROOT}.models", allow_none=True),
        blocked_models=_parse_id_list(raw.get("blocked_models"), f"{ROOT}.blocked_models"),
        require_keys=require_keys,
        assignments_database=assignments_database,
    )


def _parse_purpose(raw: Any, path: str) -> PurposeConfig:
    if raw is None:
        return PurposeConfig()
    _expect_mapping(raw, path)
    _reject_unknown_keys(raw, PURPOSE_KEYS, path)
    model = raw.get("model")
    models_raw = raw.get("models")
    models = None
    if models_raw is not None:
        _expect_list(models_raw, f"{path}.models")
        models = tuple(
            _parse_model_ref(entry, f"{path}.models[{i}]") for i, entry in enumerate(models_raw)
        )
    return PurposeConfig(
        model=None if model is None else _parse_model_ref(model, f"{path}.model"),
        models=models,
        blocked_models=_parse_id_list(raw.get("blocked_models"), f"{path}.blocked_models"),
    )


def _check_purpose_name(name: Any) -> None:
    """YAML reads ``2024:``, ``on:`` or ``yes:`` as a number or a boolean, which no
    ``model(purpose=...)`` call could ever match: the purpose would silently have no
    rules. Purpose names are non-empty strings without surrounding whitespace."""
    if not isinstance(name, str):
        raise ConfigError(
            f"{ROOT}.purposes.{name}",
            f"purpose names must be strings, got {_describe(name)}: quote the name in "
            "YAML, as in '2024': (unquoted, 2024 is a number and on, off, yes, no are "
            "booleans)",
        )
    if not name.strip() or name != name.strip():
        raise ConfigError(
            f"{ROOT}.purposes.{name!r}",
            "purpose names must be non-empty, without leading or trailing whitespace",
        )


def _parse_model_ref(raw: Any, path: str) -> ModelRef:
    if isinstance(raw, str):
        if not raw.strip():
            raise ConfigError(path, f"{MODEL_REF_EXPECTED}, got an empty string")
        return ModelRef(raw)
    if not isinstance(raw, Mapping):
        raise ConfigError(path, f"{MODEL_REF_EXPECTED}, got {_describe(raw)}")
    unknown = [k for k in raw if k not in MODEL_REF_KEYS]
    if unknown:
        raise ConfigError(
            f"{path}.{unknown[0]}", f"unknown key, expected one of: {', '.join(MODEL_REF_KEYS)}"
        )
    model_id = raw.get("model")
    if not isinstance(model_id, str) or not model_id.strip():
        raise ConfigError(
            f"{path}.model" if "model" in raw else path,
            f"{MODEL_REF_EXPECTED}: 'model' must be a model ID string, got {_describe(model_id)}",
        )
    key = raw.get("key")
    if key is not None and (not isinstance(key, str) or not key.strip()):
        raise ConfigError(
            f"{path}.key", f"expected the name of a datasette-secrets secret, got {_describe(key)}"
        )
    if key is not None and _looks_like_an_api_key(key):
        # Never shown: registered as a secret name, it would be listed on /-/secrets
        raise ConfigError(
            f"{path}.key",
            "this looks like an API key, not the name of a datasette-secrets secret: "
            "put a name here (such as ENRICHMENTS_KEY) and store the key in that secret "
            "(DATASETTE_SECRETS_ENRICHMENTS_KEY, or /-/secrets)",
        )
    options = raw.get("options")
    if options is None:
        options = _EMPTY_OPTIONS
    else:
        _expect_mapping(options, f"{path}.options")
        for name in options:
            if not isinstance(name, str):
                raise ConfigError(f"{path}.options", f"option names must be strings, got {name!r}")
            if name in PROMPT_ARGUMENTS:
                raise ConfigError(
                    f"{path}.options.{name}",
                    f"{name!r} is an argument of prompt(), not a model option: a plugin "
                    "passes it with each prompt",
                )
        options = MappingProxyType(dict(options))
    return ModelRef(model_id, key, options)


def _looks_like_an_api_key(value: str) -> bool:
    """True for the shapes of the common providers' keys (``sk-...``; long random
    letters and digits), which secret names (``ENRICHMENTS_GPT5_KEY``) do not have."""
    if value.startswith(("sk-", "sk_")):
        return True
    has_digit = any(c.isdigit() for c in value)
    has_lower = any(c.islower() for c in value)
    mixed_case = has_lower and any(c.isupper() for c in value)
    return has_digit and has_lower and (
        (len(value) >= 30 and mixed_case) or (len(value) >= 32 and value.isalnum())
    )


def _parse_id_list(raw: Any, path: str, allow_none: bool = False):
    if raw is None:
        return None if allow_none else ()
    _expect_list(raw, path)
    for i, entry in enumerate(raw):
        if not isinstance(entry, str) or not entry.strip():
            raise ConfigError(
                f"{path}[{i}]",
                f"expected a model ID string, got {_describe(entry)}"
                + (
                    " (custom keys are only supported in default_model, "
                    "purposes.<name>.model and purposes.<name>.models)"
                    if isinstance(entry, Mapping)
                    else ""
                ),
            )
    return tuple(raw)


def _expect_mapping(raw: Any, path: str) -> None:
    if not isinstance(raw, Mapping):
        raise ConfigError(path, f"expected a mapping, got {_describe(raw)}")


def _expect_list(raw: Any, path: str) -> None:
    if not isinstance(raw, (list, tuple)):
        raise ConfigError(path, f"expected a list, got {_describe(raw)}")


def _reject_unknown_keys(raw: Mapping, allowed: tuple[str, ...], path: str) -> None:
    for key in raw:
        if key not in allowed:
            hint = _close_match(key, allowed)
            raise ConfigError(
                f"{path}.{key}",
                "unknown key"
                + (f" (did you mean {hint!r}?)" if hint else "")
                + f", expected one of: {', '.join(allowed)}",
            )


def _close_match(word: Any, candidates: tuple[str, ...]) -> Optional[str]:
    import difflib

    matches = difflib.get_close_matches(str(word), candidates, n=1)
    return matches[0] if matches else None


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    return f"a {type(value).__name__}"
