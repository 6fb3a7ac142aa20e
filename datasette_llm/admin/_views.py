"""The views of ``/-/llm``. Each checks ``llm-admin`` first: a message page (HTML) or
``{"ok": false, "error"}`` (JSON) with status 403 otherwise.

- ``GET /-/llm`` the page; ``?actor=alice`` shows what ``{"id": "alice"}`` gets
- ``GET /-/llm.json`` the same data (``?actor=`` too)
- ``POST /-/llm/assign`` set or clear a purpose's model: Datasette's CSRF-protected form
  (``purpose`` and ``model``, or ``clear``; redirects back with a message), or a
  JSON body ``{"purpose": ..., "model": ... or null}`` sent as ``application/json``
- ``POST /-/llm/try`` the "try it" box (``purpose``, ``prompt``): server-sent events
  when the request accepts ``text/event-stream`` (the page's script), else the page
  with the whole answer (the form without JavaScript)
"""

from __future__ import annotations

import json
from typing import Optional
from urllib.parse import quote, urlencode

from datasette import Forbidden, Response
from datasette.utils.asgi import AsgiStream

from . import _assigning, _status, _try
from ._permission import LLM_ADMIN, allowed

PAGE_PATH = "/-/llm"
TEMPLATE = "llm_admin.html"
FORBIDDEN = f"The {LLM_ADMIN} permission is needed to see and change LLM models"
ASSIGN_FIELDS = ("purpose", "model")
_EVENT_STREAM = "text/event-stream; charset=utf-8"
# No caching, and no compression or proxy buffering that would hold chunks back
_STREAM_HEADERS = {
    "cache-control": "no-cache", "content-encoding": "none", "x-accel-buffering": "no",
}


async def page(datasette, request):
    if not await allowed(datasette, request.actor):
        raise Forbidden(FORBIDDEN)
    return await _render(datasette, request)


async def page_json(datasette, request):
    if not await allowed(datasette, request.actor):
        return Response.json({"ok": False, "error": FORBIDDEN}, status=403)
    data = await _status.status(datasette, _status.actor_for(request.args.get("actor")))
    return Response.json(data)


async def assign(datasette, request):
    wants_json = is_json(request.headers.get("content-type"))
    if not await allowed(datasette, request.actor):
        if wants_json:
            return Response.json({"ok": False, "error": FORBIDDEN}, status=403)
        raise Forbidden(FORBIDDEN)
    if request.method != "POST":
        return Response.text("POST a purpose and a model here", status=405)
    if wants_json:
        return await _assign_json(datasette, request)
    form = await request.post_vars()
    purpose = form.get("purpose") or ""
    model = None if form.get("clear") else (form.get("model") or "")
    back = _page_url(datasette, form.get("actor"), purpose)
    try:
        change = await _assigning.change(datasette, request.actor, purpose, model)
    except _assigning.Refused as refused:
        return await _render(
            datasette, request, error=refused.message, status=refused.status,
            view_actor_id=form.get("actor"),
        )
    datasette.add_message(request, _sentence(change), datasette.INFO)
    if change.note:
        datasette.add_message(request, change.note, datasette.WARNING)
    return Response.redirect(back)


async def _assign_json(datasette, request):
    try:
        body = json.loads(await request.post_body() or b"null")
    except ValueError as error:
        return Response.json({"ok": False, "error": f"Invalid JSON: {error}"}, status=400)
    problem = _json_problem(body)
    if problem:
        return Response.json({"ok": False, "error": problem}, status=400)
    try:
        change = await _assigning.change(
            datasette, request.actor, body["purpose"], body["model"]
        )
    except _assigning.Refused as refused:
        return Response.json(
            {"ok": False, "error": refused.message, "rule": refused.rule}, status=refused.status
        )
    return Response.json({
        "ok": True,
        "purpose": change.purpose,
        "assignment": _status.assignment_data(change.assignment),
        "cleared": change.cleared,
        "default": None if change.default is None else {
            "model": change.default, "source": change.default_source,
        },
        "message": _sentence(change),
        "note": change.note,
    })


def _json_problem(body) -> Optional[str]:
    """What is wrong with an assignment's JSON body, or None."""
    if not isinstance(body, dict):
        return 'Expected a JSON object: {"purpose": "...", "model": "..." or null}'
    unknown = [key for key in body if key not in ASSIGN_FIELDS]
    if unknown:
        return f"Unknown key {unknown[0]!r}, expected: {', '.join(ASSIGN_FIELDS)}"
    if not isinstance(body.get("purpose"), str):
        return '"purpose" must be the name of a purpose'
    if "model" not in body:
        return '"model" is required: a model ID, or null to clear the assignment'
    if body.get("model") is not None and not isinstance(body["model"], str):
        return '"model" must be a model ID, or null to clear the assignment'
    return None


def _sentence(change) -> str:
    if change.assignment is not None:
        return f"{change.assignment.model_id} is now assigned to purpose {change.purpose!r}"
    if change.cleared:
        return (
            f"The assignment of purpose {change.purpose!r} was cleared; its default is now "
            + (f"{change.default} (from {change.default_source})" if change.default else "none")
        )
    return f"Purpose {change.purpose!r} had no assignment"


async def try_it(datasette, request):
    streaming = "text/event-stream" in (request.headers.get("accept") or "")
    if not await allowed(datasette, request.actor):
        if streaming:
            return _events_response([("error", {"message": FORBIDDEN})], status=403)
        raise Forbidden(FORBIDDEN)
    if request.method != "POST":
        return Response.text("POST a purpose and a prompt here", status=405)
    form = await request.post_vars()
    purpose = form.get("purpose") or None
    events = _try.answer(datasette, request.actor, purpose, form.get("prompt") or "")
    if not streaming:
        result = {"purpose": purpose, "prompt": form.get("prompt") or "", "model": None,
                  "text": "", "error": None, "usage": None}
        async for name, data in events:
            if name == "model":
                result["model"] = data["model"]
            elif name == "chunk":
                result["text"] += data["text"]
            elif name == "error":
                result["error"] = data["message"]
            elif name == "done":
                result["usage"] = data
        return await _render(
            datasette, request, try_result=result, view_actor_id=form.get("actor"),
            status=200 if result["error"] is None else 400,
        )

    async def write(writer):
        async for name, data in events:
            await writer.write(_event(name, data))

    return AsgiStream(write, headers=_STREAM_HEADERS, content_type=_EVENT_STREAM)


async def _render(datasette, request, *, error=None, try_result=None, status=200,
                  view_actor_id=None):
    if view_actor_id is None:
        view_actor_id = request.args.get("actor")
    view_actor = _status.actor_for(view_actor_id)
    data = await _status.status(datasette, view_actor)
    context = {
        "status": data,
        "view_actor_id": view_actor["id"] if view_actor else "",
        "you": (request.actor or {}).get("id"),
        "may_manage_secrets": await allowed(datasette, request.actor, "manage-secrets"),
        "error": error,
        "try_result": try_result,
        "page_path": datasette.urls.path(PAGE_PATH),
        "json_path": datasette.urls.path(PAGE_PATH + ".json"),
        "assign_path": datasette.urls.path(PAGE_PATH + "/assign"),
        "try_path": datasette.urls.path(PAGE_PATH + "/try"),
    }
    html = await datasette.render_template(TEMPLATE, context, request=request)
    return Response.html(html, status=status)


def _page_url(datasette, actor_id, purpose) -> str:
    query = urlencode({"actor": actor_id}) if actor_id else ""
    return (
        datasette.urls.path(PAGE_PATH)
        + (f"?{query}" if query else "")
        + (f"#purpose-{quote(purpose)}" if purpose else "")
    )


def is_json(content_type: Optional[str]) -> bool:
    """``application/json``, with or without parameters: no cross-site HTML form can send
    it, and a browser sends it cross-site with cookies only after a CORS preflight that
    Datasette never approves for credentials."""
    return (content_type or "").split(";", 1)[0].strip().lower() == "application/json"


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def _events_response(events: list, status: int) -> Response:
    body = "".join(_event(name, data) for name, data in events)
    return Response(body, status=status, headers=_STREAM_HEADERS, content_type=_EVENT_STREAM)
