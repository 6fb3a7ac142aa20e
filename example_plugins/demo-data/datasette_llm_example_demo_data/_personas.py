"""``/-/demo-personas``: become a demo persona, and see side by side what the per-user
hooks give each actor. Exists only when the demo config lists ``personas``."""

from __future__ import annotations

from datasette import Response
from datasette.utils.asgi import NotFound

from datasette_llm import LLM, ModelNotFoundError

from ._compat import sign_in
from ._config import Config

PATH = "/-/demo-personas"
PURPOSE = "sql-assistant"


async def personas_view(datasette, request):
    config = Config.of(datasette)
    if config is None or not config.personas:
        raise NotFound("Demo personas are not enabled")
    if request.method == "POST":
        # Datasette's CSRF protection covers this form
        actor_id = (await request.post_vars()).get("persona")
        persona = config.persona(actor_id)
        if persona is None:
            datasette.add_message(
                request, f"There is no demo persona {actor_id!r}", datasette.ERROR
            )
            return Response.redirect(datasette.urls.path(PATH))
        response = Response.redirect(datasette.urls.path(PATH))
        sign_in(datasette, response, {"id": persona.actor_id})
        datasette.add_message(
            request, f"You are now signed in as {persona.actor_id}", datasette.INFO
        )
        return response
    actors = [None, *({"id": p.actor_id} for p in config.personas), {"id": "root"}]
    context = {
        "columns": [await _what_they_get(datasette, config, actor) for actor in actors],
        "personas": [p.actor_id for p in config.personas],
        "signed_in_as": request.actor.get("id") if request.actor else None,
    }
    html = await datasette.render_template(
        "llm_example_demo_personas.html", context, request=request
    )
    return Response.html(html)


async def _what_they_get(datasette, config: Config, actor) -> dict:
    """What the per-user hooks give this actor, asked through datasette-llm."""
    llm = LLM(datasette)
    return {
        "name": actor["id"] if actor else "anonymous",
        "models": [m.model_id for m in await llm.models(actor=actor)],
        "sql_models": [m.model_id for m in await llm.models(actor=actor, purpose=PURPOSE)],
        "default": await _default(llm, actor),
        "preference": await stored_preference(datasette, config, actor) if actor else None,
    }


async def stored_preference(datasette, config: Config, actor):
    """The actor's row in ``llm_user_prefs`` (what user-default-model reads)."""
    db = datasette.get_database(config.database)
    row = (
        await db.execute("select model_id from llm_user_prefs where actor_id = ?", [actor["id"]])
    ).first()
    return row["model_id"] if row else None


async def _default(llm, actor):
    try:
        return (await llm.model(actor=actor)).model_id
    except ModelNotFoundError:  # ModelNotAllowedError too
        return None
