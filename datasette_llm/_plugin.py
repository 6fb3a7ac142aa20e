"""Datasette hook implementations of datasette-llm itself."""

from __future__ import annotations

from datasette import hookimpl

from . import _assignments
from ._catalog import Catalog
from ._config import plugin_config
from ._config_check import check_options, log_warnings_once
from ._errors import ConfigError
from ._key_pages import key_page
from ._keys import provider_secret_name
from .admin._hooks import (  # noqa: F401  (the /-/llm page and `datasette llm status`)
    llm_admin_permission,
    menu_links,
    prepare_jinja2_environment,
    register_commands,
    register_routes,
    skip_csrf,
)


@hookimpl
def register_secrets(datasette):
    """``<PROVIDER>_API_KEY`` for every installed provider, plus every secret name the
    config uses as a custom key. Inside one of our calls, the providers are those of
    the call's registry snapshot (``Catalog.current()``)."""
    from datasette_secrets import Secret

    secrets = {}
    for needs_key, env_var in Catalog.current().providers().items():
        name = provider_secret_name(needs_key)
        page = key_page(needs_key)
        secrets[name] = Secret(
            name=name,
            description=f"API key for {needs_key} models"
            + (f" (llm also reads {env_var})" if env_var else ""),
            obtain_url=page.url if page else None,
            obtain_label=page.label if page else None,
        )
    try:
        config_key_names = plugin_config(datasette).key_names()
    except ConfigError:
        # Raised by every call of ours (and at startup); datasette-secrets asks this hook
        # for any plugin's get_secret(), and theirs must keep working
        config_key_names = []
    for name in config_key_names:
        if name not in secrets:
            secrets[name] = Secret(name=name, description="API key named in datasette-llm config")
    return list(secrets.values())


@hookimpl
def startup(datasette):
    async def check():
        # A ConfigError here stops Datasette, naming the offending value's path
        config = plugin_config(datasette)
        catalog = Catalog.current()
        check_options(config, catalog)
        log_warnings_once(datasette, config, catalog)
        _assignments.check_database(datasette, config.assignments_database)

    return check
