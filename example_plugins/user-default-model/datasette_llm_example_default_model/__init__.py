"""Per-user default model: each signed-in actor picks the model ``LLM.model()`` gives
them when a plugin asks for no model in particular.

An example ``llm_default_model`` implementation for datasette-llm, plus the page
``/-/llm-preference`` where an actor sets or clears their preference. Preferences live in
``llm_user_prefs(actor_id, model_id)``, created at startup if the database is writable.
A preference the operator's configuration (or a filter hook) no longer allows is skipped
by datasette-llm, which falls back to the configured default.

The plugin does nothing until it is configured::

    plugins:
      datasette-llm-example-default-model:
        database: data          # default: the first database
        table: llm_user_prefs   # default
"""

from __future__ import annotations

from typing import Optional

from datasette import Forbidden, Response, hookimpl
from datasette.utils import escape_sqlite
from datasette.utils.asgi import NotFound

from datasette_llm import LLM, ModelNotFoundError

PLUGIN = "datasette-llm-example-default-model"
SCHEMA = """
create table if not exists {table} (
    actor_id text primary key,
    model_id text not null
)
"""


class Config:
    """This plugin's config, validated once per read; ``None`` when not configured."""

    def __init__(self, raw: dict):
        self.database = raw.get("database")
        self.table = raw.get("table", "llm_user_prefs")
        if not isinstance(self.table, str) or not self.table:
            raise ValueError(f"{PLUGIN}: table must be a table name")

    @classmethod
    def of(cls, datasette) -> Optional["Config"]:
        raw = datasette.plugin_config(PLUGIN)
        return None if raw is None else cls(raw)

    def get_database(self, datasette):
        """The database holding the table, or ``None`` if it is not attached."""
        try:
            return datasette.get_database(self.database)
        except KeyError:
            return None


@hookimpl
def startup(datasette):
    config = Config.of(datasette)  # also: a config mistake stops Datasette at startup
    if config is None:
        return None

    async def create_table():
        db = config.get_database(datasette)
        if db is not None and db.is_mutable and not await db.table_exists(config.table):
            await db.execute_write(SCHEMA.format(table=escape_sqlite(config.table)))

    return create_table


async def get_preference(datasette, config: Config, actor_id) -> Optional[str]:
    db = config.get_database(datasette)
    if db is None or not await db.table_exists(config.table):
        return None
    row = (
        await db.execute(
            f"select model_id from {escape_sqlite(config.table)} where actor_id = ?",
            [str(actor_id)],
        )
    ).first()
    return row["model_id"] if row else None


async def set_preference(datasette, config: Config, actor_id, model_id: Optional[str]) -> None:
    """Store ``model_id`` as this actor's default, or forget it if ``None``."""
    db = config.get_database(datasette)
    table = escape_sqlite(config.table)
    if model_id is None:
        await db.execute_write(f"delete from {table} where actor_id = ?", [str(actor_id)])
    else:
        await db.execute_write(
            f"insert or replace into {table} (actor_id, model_id) values (?, ?)",
            [str(actor_id), model_id],
        )


@hookimpl
async def llm_default_model(datasette, actor):
    config = Config.of(datasette)
    actor_id = actor.get("id") if actor else None
    if config is None or actor_id is None:
        return None  # defer to other plugins, then to configuration
    return await get_preference(datasette, config, actor_id)


@hookimpl
def register_routes():
    return [(r"^/-/llm-preference$", preference_view)]


@hookimpl
def menu_links(datasette, actor):
    # In Datasette's menu for signed-in actors, once the plugin is configured
    if actor and actor.get("id") is not None and Config.of(datasette) is not None:
        return [{"href": datasette.urls.path("/-/llm-preference"), "label": "Your default model"}]
    return []


async def preference_view(datasette, request):
    config = Config.of(datasette)
    if config is None:
        raise NotFound("The LLM preference page is not enabled")
    actor_id = request.actor.get("id") if request.actor else None
    if actor_id is None:
        raise Forbidden("Sign in to choose your default model")
    llm = LLM(datasette)
    models = await llm.models(actor=request.actor)
    available = {model.model_id for model in models}
    error, status = None, 200
    if request.method == "POST":
        # State changes only on POST; Datasette's CSRF protection covers this form
        form = await request.post_vars()
        model_id = form.get("model_id") or None
        if model_id is not None and model_id not in available:
            error, status = f"Model {model_id!r} is not available to you", 400
        else:
            await set_preference(datasette, config, actor_id, model_id)
            message = (
                f"Your default model is now {model_id}"
                if model_id
                else ("Your default model preference was cleared")
            )
            datasette.add_message(request, message, datasette.INFO)
            return Response.redirect(datasette.urls.path("/-/llm-preference"))
    try:
        effective = (await llm.model(actor=request.actor)).model_id
    except ModelNotFoundError:
        effective = None
    preference = await get_preference(datasette, config, actor_id)
    context = {
        "models": models,
        "preference": preference,
        # A stored preference policy no longer allows: datasette-llm skips it
        "ignored_preference": preference if preference and preference not in available else None,
        "effective": effective,
        "error": error,
    }
    html = await datasette.render_template("llm_example_preference.html", context, request=request)
    return Response.html(html, status=status)
