"""Datasette hook implementations of datasette-llm itself."""

from __future__ import annotations

import logging

from datasette import hookimpl

from ._catalog import Catalog, provider_secret_name
from ._keys import lookup_in_progress
from ._llm import plugin_config
from ._startup import check_config

logger = logging.getLogger("datasette_llm")


# The Secret objects of the last set of providers seen: (providers, secrets). A pure
# function of its key (names and descriptions come from the providers alone), so it
# can never be stale; it only saves rebuilding the same objects on every call.
_provider_secrets_memo: tuple = (None, ())


def _provider_secrets(providers: dict) -> tuple:
    global _provider_secrets_memo
    key = tuple(providers.items())
    if _provider_secrets_memo[0] == key:
        return _provider_secrets_memo[1]
    from datasette_secrets import Secret

    secrets = tuple(
        Secret(
            name=provider_secret_name(needs_key),
            description=f"API key for {needs_key} models"
            + (f" (llm also reads {env_var})" if env_var else ""),
        )
        for needs_key, env_var in key
    )
    _provider_secrets_memo = (key, secrets)
    return secrets


def _declared_secrets(datasette, catalog: Catalog) -> dict:
    """Secret name -> ``Secret`` for everything we register, built once per public
    call (from the call's registry snapshot and config)."""
    cached = catalog.secrets
    if cached is not None and cached[0] is datasette:
        return cached[1]
    secrets = {secret.name: secret for secret in _provider_secrets(catalog.providers())}
    names = plugin_config(datasette).key_names()
    if names:
        from datasette_secrets import Secret

        for name in names:
            if name not in secrets:
                secrets[name] = Secret(name=name, description="API key named in datasette-llm config")
    catalog.secrets = (datasette, secrets)
    return secrets


@hookimpl
def register_secrets(datasette):
    """``<PROVIDER>_API_KEY`` for every installed provider, plus every secret name the
    config uses as a custom key.

    datasette-secrets' ``get_secret(name)`` calls this hook of every plugin, builds the
    full list and only checks that ``name`` is on it. When that ``get_secret()`` is one
    of our own look-ups (``KeyResolver`` says which name through a context variable),
    we answer with that one secret if we register it and nothing otherwise: the same
    verdict, without datasette-secrets walking our whole list once per provider (a
    listing of 30 providers would walk it 30 times), and, when the look-up already
    knows the name is ours, without listing the providers at all. Every other caller,
    and anything nested inside the look-up, gets the full list.
    """
    lookup = lookup_in_progress.get()
    if lookup is not None:
        lookup_in_progress.set(None)  # this get_secret()'s own list only
        name, registered = lookup
        if registered:
            return [_named_secret(name)]
        secret = _declared_secrets(datasette, Catalog.current()).get(name)
        return [] if secret is None else [secret]
    return list(_declared_secrets(datasette, Catalog.current()).values())


_named_secrets: dict = {}  # name -> Secret(name): a pure function of the name


def _named_secret(name: str):
    """A ``Secret`` declaring ``name``, for our own look-ups: datasette-secrets only
    reads the name from it."""
    secret = _named_secrets.get(name)
    if secret is None:
        from datasette_secrets import Secret

        if len(_named_secrets) > 1000:  # names come from installed providers and config
            _named_secrets.clear()
        secret = _named_secrets[name] = Secret(name=name)
    return secret


@hookimpl
def startup(datasette):
    async def validate():
        for warning in check_config(datasette):
            logger.warning("datasette-llm: %s", warning)

    return validate
