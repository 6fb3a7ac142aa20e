"""Datasette hook implementations of datasette-llm itself."""

from __future__ import annotations

import logging

from datasette import hookimpl

from ._catalog import Catalog, provider_secret_name
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
    config uses as a custom key."""
    return list(_declared_secrets(datasette, Catalog.current()).values())


@hookimpl
def startup(datasette):
    async def validate():
        for warning in check_config(datasette):
            logger.warning("datasette-llm: %s", warning)

    return validate
