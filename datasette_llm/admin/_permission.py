"""The ``llm-admin`` permission on each Datasette line: the one place that knows how.

- Datasette 1.0 alphas have the ``register_actions`` hook: ``llm-admin`` is an
  ``Action`` with no resource, and Datasette decides. Denied by default, granted to
  root when Datasette runs with ``--root``, and grantable in ``datasette.yaml``::

      permissions:
        llm-admin:
          id: [root, alice]   # a block replaces the default: list root to keep it

- Datasette 0.65 has no actions: a ``permission_allowed`` implementation answers for
  ``llm-admin``, from an allow block of the same shape at the top level of
  ``metadata.yaml`` (0.65 keeps everything in metadata; the block moves unchanged to
  ``datasette.yaml`` on upgrade). Without a block the actor ``root`` has it (as 0.65
  grants root ``permissions-debug``). With one, the block alone decides, for root too,
  as Datasette 1.0 does with its ``permissions`` blocks.

Which line is running is decided once, by whether Datasette has the hook.
"""

from __future__ import annotations

from typing import Optional

from datasette import hookimpl, hookspecs

LLM_ADMIN = "llm-admin"
DESCRIPTION = "See and change which LLM model serves each purpose (the /-/llm page)"
HAS_ACTIONS = hasattr(hookspecs, "register_actions")  # Datasette 1.0a21 and later


async def allowed(datasette, actor: Optional[dict], action: str = LLM_ADMIN) -> bool:
    """May ``actor`` do ``action`` (an action that takes no resource: ``llm-admin``,
    datasette-secrets' ``manage-secrets``)?"""
    if HAS_ACTIONS:
        return await datasette.allowed(action=action, actor=actor)
    return await datasette.permission_allowed(actor, action, default=False)


if HAS_ACTIONS:

    @hookimpl(specname="register_actions")
    def llm_admin_permission(datasette):
        from datasette.permissions import Action

        return [Action(name=LLM_ADMIN, description=DESCRIPTION)]

else:

    @hookimpl(specname="permission_allowed")
    def llm_admin_permission(datasette, actor, action):
        if action != LLM_ADMIN:
            return None
        from datasette.utils import actor_matches_allow

        allow = (datasette.metadata("permissions") or {}).get(LLM_ADMIN)
        if allow is not None:  # as on 1.0: the block decides, for root too
            return actor_matches_allow(actor, allow)
        if actor and actor.get("id") == "root":
            return True
        return None  # denied: permission_allowed's default is False
