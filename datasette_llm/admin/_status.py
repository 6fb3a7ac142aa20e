"""What ``/-/llm``, ``/-/llm.json`` and ``datasette llm status`` show, as plain data.

One function, ``status()``, builds it for one actor from the code plugins go through:
``LLM._explain()`` (the same selection as ``models()`` and ``model()``, hooks included)
per purpose, the purpose assignments, ``key_statuses()`` (where each key is set, never
the key) and the config warnings logged at startup. The page renders it, the JSON
endpoint and the command print it.
"""

from __future__ import annotations

from typing import Optional

from .. import _assignments
from .._catalog import Catalog
from .._config import ROOT, plugin_config
from .._config_check import config_warnings
from .._errors import HookResultError, KeyUnavailableError
from .._keys import key_statuses, provider_secret_name
from .._llm import LLM
from .._purposes import get_purposes
from .._selection import Explanation

SECRETS_PATH = "/-/secrets"


def actor_for(actor_id: Optional[str]) -> Optional[dict]:
    """The actor an "as actor" ID stands for: ``{"id": actor_id}``, or None."""
    actor_id = (actor_id or "").strip()
    return {"id": actor_id} if actor_id else None


async def status(datasette, actor: Optional[dict]) -> dict:
    """Purposes, models, keys and config problems, as ``actor`` gets them."""
    config = plugin_config(datasette)
    catalog = Catalog.current()
    with catalog.active():  # one registry snapshot for everything below
        try:
            registered = get_purposes(datasette)
            registered_names = {purpose.name for purpose in registered}
            problems = config_warnings(config, catalog, registered_names)
        except HookResultError as error:  # which purposes exist is unknown: say why
            registered, registered_names = [], set()
            problems = [str(error), *config_warnings(config, catalog, None)]
        assignments = await _assignments.current(datasette, config.assignments_database)
        llm = LLM(datasette)
        purposes = [
            await _purpose(llm, actor, p.name, p.description, p.plugin, config, assignments)
            for p in registered
        ]
        unregistered = [
            name
            for name in dict.fromkeys([*config.purposes, *assignments])
            if name not in registered_names
        ]
        purposes += [
            await _purpose(llm, actor, name, None, None, config, assignments)
            for name in unregistered
        ]
        without_purpose = await _purpose(llm, actor, None, None, None, config, assignments)
        keys = await _keys(datasette, config, catalog)
        models = _models(catalog, keys)
    return {
        "actor": actor,
        "purposes": purposes,
        "without_purpose": without_purpose,
        "models": models,
        "keys": keys,
        "config_problems": problems,
        "assignments_database": _assignments_database(datasette, config),
        "secrets_ui": {
            "path": datasette.urls.path(SECRETS_PATH),
            "encryption_key_configured": bool(
                (datasette.plugin_config("datasette-secrets") or {}).get("encryption-key")
            ),
        },
    }


async def _purpose(llm, actor, name, description, plugin, config, assignments) -> dict:
    error = None
    try:
        explanation = await llm._explain(actor=actor, purpose=name)
    except (HookResultError, KeyUnavailableError) as problem:  # a broken hook, a locked database
        explanation, error = Explanation([], None, None, []), str(problem)
    allowed, excluded, assignable = [], [], []
    for verdict in explanation.verdicts:
        model_id = verdict.model.model_id
        refusal = verdict.refusal
        if refusal is None:
            allowed.append(model_id)
        else:
            excluded.append({"model": model_id, "rule": refusal.rule, "reason": refusal.reason})
        if refusal is None or not refusal.rule.startswith(ROOT):
            assignable.append(model_id)  # filter hooks decide per actor, config does not
    assignment = assignments.get(name) if name is not None else None
    return {
        "name": name,
        "description": description,
        "plugin": plugin,
        "registered": plugin is not None,
        "configured": name in config.purposes,
        "default": None if explanation.default is None else {
            "model": explanation.default.model_id, "source": explanation.default_source,
        },
        "skipped_defaults": [
            {"model": model, "source": source, "reason": why}
            for model, source, why in explanation.skipped_defaults
        ],
        "assignment": assignment_data(assignment),
        "allowed": allowed,
        "excluded": excluded,
        "assignable": assignable,
        "error": error,  # why the models could not be worked out, or None
    }


def assignment_data(assignment: Optional[_assignments.Assignment]) -> Optional[dict]:
    if assignment is None:
        return None
    return {
        "model": assignment.model_id,
        "assigned_by": assignment.assigned_by,
        "assigned_at": assignment.assigned_at,
    }


async def _keys(datasette, config, catalog) -> list:
    """Every provider's ``<PROVIDER>_API_KEY`` and every key name of the config, with
    where a key was found (None: missing) and what uses it."""
    used_by: dict = {}
    for path, ref in config.refs():
        if ref.key:
            used_by.setdefault(ref.key, []).append(path)
    statuses = await key_statuses(datasette, catalog.providers(), config.key_names())
    return [
        {
            "secret": key.secret_name,
            "provider": key.needs_key,
            "used_by": used_by.get(key.secret_name, []),
            "source": key.source,
        }
        for key in statuses
    ]


def _models(catalog, keys: list) -> list:
    """Every installed async model, in llm's order, with its provider's key status."""
    source_by_secret = {key["secret"]: key["source"] for key in keys}
    models = []
    for model in catalog.async_models:
        secret = provider_secret_name(model.needs_key) if model.needs_key else None
        models.append({
            "model": model.model_id,
            "aliases": catalog.aliases_of(model),
            "provider": model.needs_key or None,
            "key_secret": secret,
            "key_source": source_by_secret.get(secret) if secret else None,
        })
    return models


def _assignments_database(datasette, config) -> dict:
    """Where assignments are stored, and whether they outlive the process."""
    db = _assignments.database(datasette, config.assignments_database)
    return {
        "name": config.assignments_database,  # None: Datasette's internal database
        # Datasette 1.0a41 keeps an internal database without --internal in a temporary file
        "persistent": not db.is_memory and not getattr(db, "is_temp_disk", False),
    }
