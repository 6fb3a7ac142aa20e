"""The demo database: a few articles, and the two tables of the per-user model plugins
(``llm_user_models`` for user-model-filter, ``llm_user_prefs`` for user-default-model),
filled with root's models and each persona's models and preference."""

from __future__ import annotations

SAMPLE_DATA = """
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
create table if not exists llm_user_prefs (
    actor_id text primary key,
    model_id text not null
);
"""
ROOT_MODELS = ("echo", "demo-sql", "demo-summarise", "demo-keyed")
# Named in-memory databases outlive a Datasette instance within one process (Datasette
# 0.65 shares them by name): the demo's own database starts from nothing every time
START_AFRESH = """
drop table if exists articles;
drop table if exists llm_user_models;
drop table if exists llm_user_prefs;
"""


async def fill(db, personas: list, afresh: bool) -> None:
    """Create and fill the demo tables; ``afresh`` drops them first (for the demo's own
    in-memory database, never for a database the operator attached)."""
    if afresh:
        await db.execute_write_script(START_AFRESH)
    await db.execute_write_script(SAMPLE_DATA)
    allowed = [("root", model_id) for model_id in ROOT_MODELS]
    allowed += [(p.actor_id, model_id) for p in personas for model_id in p.models]
    await db.execute_write_many(
        "insert or ignore into llm_user_models (actor_id, model_id) values (?, ?)", allowed
    )
    preferences = [(p.actor_id, p.default_model) for p in personas if p.default_model]
    await db.execute_write_many(
        "insert or replace into llm_user_prefs (actor_id, model_id) values (?, ?)", preferences
    )
