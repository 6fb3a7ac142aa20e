"""API key resolution: one ordered chain, one step a line.

For a model used for a purpose, the first of these that yields a key wins:

1. the purpose's config key (``purposes.<name>.model`` or ``.models`` entry for that model)
2. the ``default_model`` config key (if it is a dict naming that model)
3. datasette-secrets ``<PROVIDER>_API_KEY`` (env var or encrypted database, with the actor's id)
4. llm's own resolution (``llm.get_key``: keys.json, then the provider's env var)

A configured secret that is unset falls through to the next step.
"""

from __future__ import annotations

from typing import Callable, Optional

import llm

from ._catalog import Catalog, provider_secret_name
from ._stored_secrets import NOT_READ, Snapshot, from_environment, usable


_datasette_secrets = None


def _secrets_module():
    """datasette_secrets, imported on first use. ``get_secret`` is looked up on it at
    call time, so tests (and ``fake_secrets()``) can replace it."""
    global _datasette_secrets
    if _datasette_secrets is None:
        import datasette_secrets

        _datasette_secrets = datasette_secrets
    return _datasette_secrets


class KeyResolver:
    """Resolves keys for one call of ours: each secret is looked up at most once."""

    __slots__ = ("_datasette", "_actor_id", "_secrets", "_llm_keys", "_stored")

    def __init__(self, datasette, actor: Optional[dict]) -> None:
        self._datasette = datasette
        self._actor_id = actor.get("id") if isinstance(actor, dict) else None
        self._secrets: dict[str, Optional[str]] = {}
        self._llm_keys: dict[tuple, Optional[str]] = {}
        self._stored: Optional[Snapshot] = None

    async def read_for_listing(self, names) -> None:
        """Read datasette-secrets' values for ``names`` (secret names our
        register_secrets hook declares) in one query, recording no use: for listings,
        which only ask whether keys exist. Look-ups of names not read, or when
        datasette-secrets cannot be read that way, still go to ``get_secret()``
        (see _stored_secrets)."""
        datasette_secrets = _secrets_module()
        if usable(datasette_secrets):
            self._stored = await Snapshot.read(datasette_secrets, self._datasette, names)

    async def key_for(self, model, configured_secrets: list[str]) -> Optional[str]:
        """The API key for ``model``, or None (also for models that need no key).

        ``configured_secrets`` are the config's secret names for this model and purpose,
        purpose first (``Policy.secret_names``): steps 1 and 2.
        """
        needs_key = model.needs_key
        if not needs_key:
            return None
        for name in configured_secrets:
            key = await self._secret(name, registered=True)  # a config key name
            if key:
                return key
        key = await self._secret(provider_secret_name(needs_key), Catalog.holds(model))
        if key:
            return key
        return self._llm_key(needs_key, model.key_env_var)

    async def keyed(
        self, models: list, secret_names: Callable[[str], list], configured: frozenset
    ) -> list:
        """``[m for m in models if not m.needs_key or await key_for(m, secret_names(m.model_id))]``,
        with one ``key_for`` per distinct provider, env var and configured names: a
        listing of 300 models from 30 providers resolves 30 keys, not 300. The look-ups
        happen in the same order as model by model. ``configured``: the model IDs
        ``secret_names`` may return names for (it returns none for the others).
        """
        kept: list = []
        append = kept.append
        known: dict = {}  # (needs_key, key_env_var, *names) -> has a key
        plain: dict = {}  # needs_key -> (key_env_var, has a key): no configured names
        for model in models:
            needs_key = model.needs_key
            if not needs_key:
                append(model)
                continue
            if configured and model.model_id in configured:
                names = secret_names(model.model_id)
                memo = (needs_key, model.key_env_var, *names)
            else:
                # Most models of a listing: the provider's answer, without a tuple
                key_env_var = model.key_env_var
                seen = plain.get(needs_key)
                if seen is not None and seen[0] == key_env_var:
                    if seen[1]:
                        append(model)
                    continue
                names = ()
                memo = (needs_key, key_env_var)
            has_key = known.get(memo)
            if has_key is None:
                has_key = known[memo] = bool(await self.key_for(model, names))
                if not names and needs_key not in plain:
                    plain[needs_key] = (memo[1], has_key)
            if has_key:
                append(model)
        return kept

    async def _secret(self, name: str, registered: bool) -> Optional[str]:
        """datasette-secrets' value for ``name``, looked up once per call.
        ``registered``: we know our register_secrets hook lists ``name`` (a config key
        name, or the provider secret of a model of this call's registry snapshot)."""
        if name not in self._secrets:
            value = self._known_without_get_secret(name) if registered else NOT_READ
            if value is NOT_READ:
                value = await _secrets_module().get_secret(self._datasette, name, self._actor_id)
            self._secrets[name] = value
        return self._secrets[name]

    def _known_without_get_secret(self, name: str):
        """What ``get_secret(name)`` would answer, where we know it without calling it
        (see _stored_secrets): from a listing's one-query read, or from the
        environment; else ``NOT_READ``."""
        if self._stored is not None:
            return self._stored.value(name)
        value = from_environment(_secrets_module(), name)
        return NOT_READ if value is None else value

    def _llm_key(self, alias: str, env_var: Optional[str]) -> Optional[str]:
        cache_key = (alias, env_var)
        if cache_key not in self._llm_keys:
            # Looked up on the module at call time so tests can patch llm.get_key
            self._llm_keys[cache_key] = llm.get_key(alias=alias, env=env_var)
        return self._llm_keys[cache_key]

