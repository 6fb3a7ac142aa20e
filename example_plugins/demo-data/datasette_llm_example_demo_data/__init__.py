"""The demo's own plugin (``demo/datasette.yaml``): not an example to copy.

When configured it creates an in-memory ``demo`` database at startup with sample
articles and the tables of the per-user model plugins, offers demo personas to sign in
as (``/-/demo-personas``, only if ``personas`` are configured) and prints a guide of
what to try once the server is up (``guide: true``). Without config it does nothing.
"""

from __future__ import annotations

from datasette import hookimpl

from . import _data
from ._config import Config
from ._guide import GUIDE, guide_after_startup
from ._personas import PATH as PERSONAS_PATH
from ._personas import personas_view

__all__ = ["GUIDE", "Config"]


@hookimpl(tryfirst=True)
def startup(datasette):
    config = Config.of(datasette)  # also: a config mistake stops Datasette at startup
    if config is None:
        return None
    created = config.database not in datasette.databases
    if created:
        # Attached now, not in the coroutine: other plugins' startup hooks look for it
        datasette.add_memory_database(config.database)
    db = datasette.get_database(config.database)

    async def fill():
        await _data.fill(db, config.personas, afresh=created)

    return fill


@hookimpl
def register_routes():
    return [(rf"^{PERSONAS_PATH}$", personas_view)]


@hookimpl
def menu_links(datasette):
    config = Config.of(datasette)
    if config is not None and config.personas:
        return [{"href": datasette.urls.path(PERSONAS_PATH), "label": "Demo personas"}]
    return []


@hookimpl
def asgi_wrapper(datasette):
    config = Config.of(datasette)
    if config is None or not config.guide:
        return None
    return guide_after_startup
