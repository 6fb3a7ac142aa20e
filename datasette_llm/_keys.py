"""API key resolution: one ordered chain, one step a line.

For a model used for a purpose, the first of these that yields a key wins:

1. the purpose's config key (``purposes.<name>.models`` or ``.model`` entry for that model)
2. the ``default_model`` config key (if it is a dict naming that model)
3. datasette-secrets ``<PROVIDER>_API_KEY`` (env var or encrypted database, with the actor's id)
4. llm's own resolution (``llm.get_key``: keys.json, then the provider's env var)

A configured secret that is unset falls through to the next step. A secret that is set
but could not be read (a locked database) never does: the read is tried again, then
``KeyUnavailableError`` is raised, so a call never runs on another key than the one the
operator configured.
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Iterable, NamedTuple, Optional

import llm

from . import _datasette_secrets_internals as stored
from ._errors import KeyUnavailableError

# A locked table is read again after about 5, 10, 20 ... 320 ms (1.3 s in all), each
# pause varied by up to half so that requests locked together do not retry together
READ_ATTEMPTS = 8


def provider_secret_name(needs_key: str) -> str:
    """The datasette-secrets secret name for a provider: ``openai`` -> ``OPENAI_API_KEY``."""
    return f"{needs_key.upper()}_API_KEY"


class KeySources(NamedTuple):
    """Where one model's key may come from, in resolution order."""

    configured: tuple  # steps 1 and 2: config secret names, the purpose's first
    needs_key: str  # step 3: <NEEDS_KEY>_API_KEY; step 4: the keys.json alias
    env_var: Optional[str]  # step 4: llm's environment variable for the provider
    registered: bool  # our register_secrets declares step 3's secret name


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
    """Resolves keys for one call of ours, for one actor. Each secret is read at most
    once per call (the one memo: secret name -> value); a listing may answer from one
    read of every name it needs (``read_for_listing``)."""

    __slots__ = ("_datasette", "_actor_id", "_secrets", "_snapshot", "_readable")

    def __init__(self, datasette, actor_id: Optional[str]) -> None:
        self._datasette = datasette
        self._actor_id = actor_id
        self._secrets: dict[str, Optional[str]] = {}
        self._snapshot: Optional[stored.Snapshot] = None
        self._readable: Optional[bool] = None  # stored.usable(), asked once per call

    def _stored_readable(self) -> bool:
        """True if datasette-secrets' table may be read around ``get_secret()``."""
        if self._readable is None:
            self._readable = stored.usable(_secrets_module())
        return self._readable

    async def read_for_listing(self, names: Iterable[str]) -> None:
        """Read datasette-secrets' values for ``names`` (secret names our
        register_secrets declares) in one query, recording no use: listings only ask
        whether keys exist. Without it, or for names it did not read, a listing asks
        ``get_secret()``."""
        if not self._stored_readable():
            return
        names = list(names)
        datasette_secrets = _secrets_module()
        self._snapshot = await _read_retrying(
            names,
            lambda: stored.Snapshot.read(datasette_secrets, self._datasette, names),
        )

    async def key_for(self, sources: KeySources, listing: bool = False) -> Optional[str]:
        """The API key, or None. ``listing``: only to know whether a key exists, so
        the listing's one read may answer (no use is recorded)."""
        for name in sources.configured:
            key = await self._secret(name, True, listing)
            if key:
                return key
        key = await self._secret(
            provider_secret_name(sources.needs_key), sources.registered, listing
        )
        if key:
            return key
        # Looked up on the module at call time so tests can patch llm.get_key
        return llm.get_key(alias=sources.needs_key, env=sources.env_var)

    async def _secret(self, name: str, registered: bool, listing: bool) -> Optional[str]:
        """datasette-secrets' value for ``name``. ``registered``: we know our
        register_secrets hook declares ``name``."""
        if listing and registered and self._snapshot is not None:
            value = self._snapshot.value(name)
            if value is not stored.NOT_READ:
                return value
        if name not in self._secrets:
            self._secrets[name] = await self._read_secret(name, registered)
        return self._secrets[name]

    async def secret_source(self, name: str) -> Optional[str]:
        """Where datasette-secrets holds ``name`` (one of ours): its environment
        variable, its database, or None."""
        if stored.environment_value(name):
            return DATASETTE_SECRETS_ENV
        value = await self._secret(name, True, listing=True)
        return DATASETTE_SECRETS_DATABASE if value else None

    async def _read_secret(self, name: str, registered: bool) -> Optional[str]:
        """``get_secret()``'s answer, with the use recorded; never a wrong ``None``."""
        datasette_secrets = _secrets_module()
        readable = registered and self._stored_readable()
        if readable:
            value = stored.environment_value(name)
            if value:
                return value  # get_secret() answers this, reading and recording nothing

        async def read() -> Optional[str]:
            value = await datasette_secrets.get_secret(self._datasette, name, self._actor_id)
            if value is None and readable and await stored.stored_value_exists(
                datasette_secrets, self._datasette, name
            ):
                raise _ReadFailed("datasette-secrets answered None for a stored value")
            return value

        return await _read_retrying([name], read)


class KeyStatus(NamedTuple):
    """Whether one secret name (a provider's or the config's) holds a key, and where;
    never the key itself."""

    secret_name: str
    needs_key: Optional[str]  # the provider, for <PROVIDER>_API_KEY names; else None
    source: Optional[str]  # where the key comes from; None: missing


DATASETTE_SECRETS_ENV = "datasette-secrets environment variable"
DATASETTE_SECRETS_DATABASE = "datasette-secrets database"
LLM_KEYS_JSON = "llm keys.json"
LLM_ENV = "llm environment variable"


async def key_statuses(datasette, providers: dict, config_names: list) -> list[KeyStatus]:
    """Where each provider's key (``providers``: needs_key -> env var) and each config
    key name is set, in the order the chain would find them; no use is recorded when
    datasette-secrets can be read around ``get_secret()``."""
    resolver = KeyResolver(datasette, None)
    names = [provider_secret_name(p) for p in providers] + list(config_names)
    await resolver.read_for_listing(names)
    llm_keys = llm.load_keys()
    statuses = []
    for needs_key, env_var in providers.items():
        name = provider_secret_name(needs_key)
        source = await resolver.secret_source(name)
        if source is None and llm_keys.get(needs_key):
            source = LLM_KEYS_JSON
        if source is None and env_var and os.environ.get(env_var):
            source = f"{LLM_ENV} {env_var}"
        statuses.append(KeyStatus(name, needs_key, source))
    for name in dict.fromkeys(config_names):
        if name not in {status.secret_name for status in statuses}:
            statuses.append(KeyStatus(name, None, await resolver.secret_source(name)))
    return statuses


class _ReadFailed(Exception):
    """A stored secret was not read (get_secret() hides why)."""


async def _read_retrying(names: list, read):
    """``await read()``, tried again while the database is locked; then
    ``KeyUnavailableError`` naming the secrets (never their values)."""
    from datasette.utils import sqlite3

    for attempt in range(READ_ATTEMPTS):
        try:
            return await read()
        except (sqlite3.OperationalError, _ReadFailed) as error:
            problem = str(error)
        if attempt + 1 < READ_ATTEMPTS:
            await asyncio.sleep(0.005 * 2**attempt * random.uniform(0.5, 1.5))
    raise KeyUnavailableError(names, problem)
