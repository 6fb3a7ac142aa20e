"""Datasette hook implementations of datasette-llm itself."""

from __future__ import annotations

import logging

from datasette import hookimpl

from ._catalog import Catalog, provider_secret_name
from ._llm import plugin_config
from ._startup import check_config

logger = logging.getLogger("datasette_llm")


@hookimpl
def register_secrets(datasette):
    """``<PROVIDER>_API_KEY`` for every installed provider, plus every secret name the
    config uses as a custom key. Inside one of our calls, the providers are those of
    the call's registry snapshot."""
    from datasette_secrets import Secret

    secrets = {}
    for needs_key, env_var in Catalog.current().providers().items():
        name = provider_secret_name(needs_key)
        secrets[name] = Secret(
            name=name,
            description=f"API key for {needs_key} models"
            + (f" (llm also reads {env_var})" if env_var else ""),
        )
    for name in plugin_config(datasette).key_names():
        if name not in secrets:
            secrets[name] = Secret(name=name, description="API key named in datasette-llm config")
    return list(secrets.values())


@hookimpl
def startup(datasette):
    async def validate():
        for warning in check_config(datasette):
            logger.warning("datasette-llm: %s", warning)

    return validate
