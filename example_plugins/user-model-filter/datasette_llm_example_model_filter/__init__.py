"""Per-user model filter: anonymous actors get a short list of cheap models, signed-in
actors the models listed for them in a table.

An example ``llm_filter_models`` implementation for datasette-llm. The filter applies
everywhere datasette-llm hands out or lists models (``LLM.models()``, ``LLM.model()``,
``LLM.group()``), on top of the operator's own configuration: it can only narrow the
list, never add to it.

The plugin does nothing until it is configured::

    plugins:
      datasette-llm-example-model-filter:
        anonymous_models: [gpt-5.4-nano]
        database: data           # default: the first database
        table: llm_user_models   # default

Rows of ``llm_user_models(actor_id, model_id)`` allow one actor one model. The table is
created at startup if the database is writable and the table is missing.
"""

from __future__ import annotations

from typing import Optional

from datasette import hookimpl
from datasette.utils import escape_sqlite

PLUGIN = "datasette-llm-example-model-filter"


class Config:
    """This plugin's config, validated once per read; ``None`` when not configured."""

    def __init__(self, raw: dict):
        self.anonymous_models = raw.get("anonymous_models", [])
        self.database = raw.get("database")
        self.table = raw.get("table", "llm_user_models")
        if not isinstance(self.anonymous_models, list) or not all(
            isinstance(m, str) for m in self.anonymous_models
        ):
            raise ValueError(f"{PLUGIN}: anonymous_models must be a list of model IDs")
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


SCHEMA = """
create table if not exists {table} (
    actor_id text not null,
    model_id text not null,
    primary key (actor_id, model_id)
)
"""


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


async def models_for_actor(datasette, config: Config, actor_id) -> set:
    """The model IDs the table allows this actor (none if the table is missing)."""
    db = config.get_database(datasette)
    if db is None or not await db.table_exists(config.table):
        return set()
    rows = await db.execute(
        f"select model_id from {escape_sqlite(config.table)} where actor_id = ?", [str(actor_id)]
    )
    return {row["model_id"] for row in rows}


@hookimpl
async def llm_filter_models(datasette, models, actor):
    config = Config.of(datasette)
    if config is None:
        return None  # not configured: keep every model
    actor_id = actor.get("id") if actor else None
    if actor_id is None:
        allowed = set(config.anonymous_models)
    else:
        allowed = await models_for_actor(datasette, config, actor_id)
    return [model for model in models if model.model_id in allowed]
