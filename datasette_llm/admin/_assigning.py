"""Setting or clearing the model assigned to a purpose, checked against the config.

The check is the selection's own: ``LLM._explain()`` for the purpose, without an actor.
A model that a config rule refuses for the purpose (a blocklist, an allowlist,
``require_keys``) cannot be assigned, and the refusal names the rule. A model that only a
``llm_filter_models`` hook excludes may be assigned: hooks decide per actor, and
``model()`` skips an assigned default a hook refuses to someone.
"""

from __future__ import annotations

import difflib
from typing import NamedTuple, Optional

from .. import _assignments
from .._catalog import Catalog
from .._config import ROOT, plugin_config
from .._llm import LLM
from .._purposes import get_purposes


class Refused(Exception):
    """An assignment that is not made: the HTTP status, the message, the rule (if a
    config rule refused the model)."""

    def __init__(self, status: int, message: str, rule: Optional[str] = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.rule = rule


class Change(NamedTuple):
    purpose: str
    assignment: Optional[_assignments.Assignment]  # None: the assignment was cleared
    cleared: bool  # an assignment existed and was removed
    default: Optional[str]  # the model model(purpose=...) now gives without an actor
    default_source: Optional[str]
    note: Optional[str]  # what the admin should know (a hook excludes it for anonymous)


async def known_purposes(datasette) -> list[str]:
    """Purposes that may be assigned: registered, configured or already assigned."""
    config = plugin_config(datasette)
    assigned = await _assignments.current(datasette, config.assignments_database)
    names = [purpose.name for purpose in get_purposes(datasette)]
    return list(dict.fromkeys([*names, *config.purposes, *assigned]))


async def change(datasette, actor, purpose, model_name: Optional[str]) -> Change:
    """Assign ``model_name`` (an ID or alias) to ``purpose``, or clear the purpose's
    assignment when it is None. Raises ``Refused``."""
    known = await known_purposes(datasette)
    if not isinstance(purpose, str) or purpose not in known:
        close = difflib.get_close_matches(str(purpose), known, n=1)
        raise Refused(
            404,
            f"Unknown purpose {purpose!r}"
            + (f"; did you mean {close[0]!r}?" if close else "")
            + (f" (purposes: {', '.join(known)})" if known else " (no purpose is registered)"),
        )
    config = plugin_config(datasette)
    llm = LLM(datasette)
    actor_id = actor.get("id") if actor else None
    note = None
    if model_name is None:
        cleared = await _assignments.clear(datasette, config.assignments_database, purpose)
        assignment = None
    else:
        model_id = await _allowed_model_id(llm, purpose, model_name)
        assignment = await _assignments.assign(
            datasette, config.assignments_database, purpose, model_id, actor_id
        )
        cleared = False
    explanation = await llm._explain(actor=None, purpose=purpose)
    if assignment is not None:
        refusal = next(
            (v.refusal for v in explanation.verdicts if v.model.model_id == assignment.model_id),
            None,
        )
        if refusal is not None:
            note = (
                f"{assignment.model_id} is assigned, but anonymous visitors get "
                f"{explanation.default.model_id if explanation.default else 'no model'}: "
                f"{refusal.reason} [{refusal.rule}]"
            )
    default = explanation.default
    return Change(
        purpose, assignment, cleared,
        default.model_id if default is not None else None, explanation.default_source, note,
    )


async def _allowed_model_id(llm, purpose: str, model_name) -> str:
    """The model ID for ``model_name`` if config allows it for ``purpose``."""
    if not isinstance(model_name, str) or not model_name.strip():
        raise Refused(400, "Choose a model to assign (or clear the assignment)")
    catalog = Catalog.current()
    model = catalog.get(model_name)
    if model is None:
        close = catalog.close_matches(model_name)
        raise Refused(
            400,
            f"Unknown model {model_name!r}"
            + (f"; did you mean {', '.join(map(repr, close))}?" if close else ""),
        )
    with catalog.active():  # the snapshot the name was resolved in: every model has a verdict
        explanation = await llm._explain(actor=None, purpose=purpose)
    refusal = {v.model.model_id: v.refusal for v in explanation.verdicts}[model.model_id]
    if refusal is not None and refusal.rule.startswith(ROOT):
        raise Refused(
            400,
            f"{model.model_id} cannot be assigned to purpose {purpose!r}: "
            f"{refusal.reason} [{refusal.rule}]",
            refusal.rule,
        )
    return model.model_id
