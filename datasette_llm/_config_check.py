"""Checks of the config against the installed models (and registered purposes).

Run when Datasette starts, and on each call of ours for a config parsed since (so a
config changed at run time, or a model installed later, is checked before it is used):

- options of every installed model a config entry names are validated against that
  model's own ``Options`` (a ``ConfigError`` naming the path);
- warnings, logged once per config: model IDs no installed llm plugin provides, one
  model named twice in a purpose (by ID or alias) with different keys or options, and
  configured purposes no plugin registered.
"""

from __future__ import annotations

import logging
from typing import Optional

from ._catalog import Catalog
from ._config import ROOT, LLMConfig, ModelRef
from ._errors import ConfigError, HookResultError
from ._purposes import get_purposes

logger = logging.getLogger("datasette_llm")


def check_options(config: LLMConfig, catalog: Catalog) -> None:
    """Validate the options of every config entry whose model is installed, against the
    model's own ``Options``; each (entry, ``Options`` class) pair once per config."""
    done = config.checks.options
    for path, ref in config.refs_with_options:
        model = catalog.get(ref.model_id)
        if model is None or (path, model.Options) in done:
            continue
        _validate_options(path, ref, model)
        done.add((path, model.Options))


def _validate_options(path: str, ref: ModelRef, model) -> None:
    fields = _option_names(model.Options)
    for name in ref.options:
        if fields is not None and name not in fields:
            raise ConfigError(
                f"{path}.options.{name}",
                f"{model.model_id!r} has no option {name!r}; its options are: "
                + (", ".join(sorted(fields)) or "none"),
            )
    try:
        model.Options(**ref.options)
    except Exception as exc:  # pydantic's ValidationError, or TypeError
        raise ConfigError(
            f"{path}.options", f"invalid options for {model.model_id!r}: {_first_lines(exc)}"
        ) from None


def _option_names(options_class) -> Optional[set]:
    fields = getattr(options_class, "model_fields", None)  # pydantic 2
    if fields is None:
        fields = getattr(options_class, "__fields__", None)  # pydantic 1
    return None if fields is None else set(fields)


def config_warnings(
    config: LLMConfig, catalog: Catalog, registered_purposes: Optional[set] = None
) -> list[str]:
    """Problems that do not stop Datasette: each a sentence starting with its path."""
    warnings = []
    for path, model_id in config.model_ids():
        if catalog.get(model_id) is None:
            warnings.append(
                f"{path}: model {model_id!r} is not provided by any installed llm plugin"
            )
    for name, purpose in config.purposes.items():
        warnings.extend(_conflicts(f"{ROOT}.purposes.{name}", purpose, catalog))
    if registered_purposes is not None:
        for name in config.purposes:
            if name not in registered_purposes:
                warnings.append(
                    f"{ROOT}.purposes.{name}: no installed plugin registers the purpose "
                    f"{name!r}, so no plugin asks for it (a typo?)"
                    + _suggestion(name, registered_purposes)
                )
    return warnings


def _conflicts(path: str, purpose, catalog: Catalog) -> list[str]:
    """One model named more than once in a purpose (by ID or alias) with different keys
    or options. Each is taken from the first entry that gives one, in precedence order
    (the ``models`` entries, then ``model``): say which."""
    entries: dict[str, list] = {}
    for relative, ref in purpose.refs_by_precedence():
        entries.setdefault(catalog.canonical(ref.model_id), []).append((relative, ref))
    warnings = []
    for same_model in entries.values():
        for attribute in ("key", "options"):
            giving = [(relative, ref) for relative, ref in same_model if getattr(ref, attribute)]
            if len({_comparable(getattr(ref, attribute)) for _, ref in giving}) < 2:
                continue
            (winner_path, winner), *others = giving
            for relative, ref in others:
                if getattr(ref, attribute) != getattr(winner, attribute):
                    warnings.append(
                        f"{path}.{relative}: {ref.model_id!r} is also configured at "
                        f"{path}.{winner_path}"
                        + (f" (as {winner.model_id!r})" if winner.model_id != ref.model_id else "")
                        + f" with a different {attribute}; the {attribute} of "
                        f"{path}.{winner_path} is used"
                    )
    return warnings


def _comparable(value) -> str:
    """A key name, or options as a hashable text (option values may be lists)."""
    return repr(sorted(value.items())) if hasattr(value, "items") else repr(value)


def _suggestion(name: str, registered: set) -> str:
    import difflib

    matches = difflib.get_close_matches(name, sorted(registered), n=1)
    return f"; did you mean {matches[0]!r}?" if matches else ""


def log_warnings_once(datasette, config: LLMConfig, catalog: Catalog) -> None:
    """Log the config's warnings the first time it is checked (at startup, and for a
    config changed at run time, on its first use)."""
    if config.checks.warned:
        return
    config.checks.warned = True
    try:
        registered = {purpose.name for purpose in get_purposes(datasette)}
    except HookResultError as error:  # raised again where a plugin asks for purposes
        logger.warning("datasette-llm: %s", error)
        registered = None
    for warning in config_warnings(config, catalog, registered):
        logger.warning("datasette-llm: %s", warning)


def _first_lines(exc: Exception) -> str:
    text = str(exc).strip()
    return " ".join(line.strip() for line in text.splitlines()[:3])
