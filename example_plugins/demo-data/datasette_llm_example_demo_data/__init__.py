"""Sample data for the demo in ``demo/datasette.yaml``: not an example to copy.

When configured, it attaches an in-memory database (``demo`` by default) at startup,
before the example plugins' own startup hooks run, holding a few ``articles`` to
summarise and the tables of the per-user model plugins, with the ``root`` actor allowed
the ``echo`` model. Without config it does nothing.
"""

from __future__ import annotations

from datasette import hookimpl

PLUGIN = "datasette-llm-example-demo-data"

SQL = """
create table if not exists articles (
    id integer primary key,
    title text,
    body text
);
insert or ignore into articles (id, title, body) values
    (1, 'Pelicans return to the bay',
     'After a decade away, brown pelicans have been seen nesting on the islands of the bay again, which volunteers credit to cleaner water.'),
    (2, 'Library extends opening hours',
     'The central library will open until ten on weekday evenings from next month, after a survey found most visitors come after work.'),
    (3, 'New cycle lane opens',
     'A protected cycle lane now links the station to the university, replacing a stretch of road that saw frequent collisions.');
create table if not exists llm_user_models (
    actor_id text not null,
    model_id text not null,
    primary key (actor_id, model_id)
);
insert or ignore into llm_user_models (actor_id, model_id) values ('root', 'echo');
create table if not exists llm_user_prefs (
    actor_id text primary key,
    model_id text not null
);
"""


@hookimpl(tryfirst=True)
def startup(datasette):
    config = datasette.plugin_config(PLUGIN)
    if config is None:
        return None
    name = config.get("database", "demo")
    if name not in datasette.databases:
        # Attached now, not in the coroutine: other plugins' startup hooks look for it
        datasette.add_memory_database(name)
    db = datasette.get_database(name)

    async def fill():
        await db.execute_write_script(SQL)

    return fill
