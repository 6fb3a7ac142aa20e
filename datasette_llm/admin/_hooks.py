"""Datasette hook implementations for the operator's page and command; imported by
``datasette_llm._plugin`` (the package's Datasette entry point) so pluggy finds them."""

from __future__ import annotations

from pathlib import Path

from datasette import hookimpl

from . import _views
from ._permission import allowed, llm_admin_permission  # noqa: F401  (a hook implementation)

TEMPLATES = Path(__file__).parent / "templates"
ASSIGN_PATH = _views.PAGE_PATH + "/assign"


@hookimpl
def register_routes():
    return [
        (r"^/-/llm$", _views.page),
        (r"^/-/llm\.json$", _views.page_json),
        (r"^/-/llm/assign$", _views.assign),
        (r"^/-/llm/try$", _views.try_it),
    ]


@hookimpl
def menu_links(datasette, actor):
    async def inner():
        if await allowed(datasette, actor):
            return [{"href": datasette.urls.path(_views.PAGE_PATH), "label": "LLM models"}]
        return []

    return inner


@hookimpl
def prepare_jinja2_environment(env):
    """Our templates, after Datasette's own search path (so ``--template-dir`` and other
    plugins may override them)."""
    from jinja2 import ChoiceLoader, FileSystemLoader

    env.loader = ChoiceLoader([env.loader, FileSystemLoader(str(TEMPLATES))])


@hookimpl
def skip_csrf(datasette, scope):
    """A JSON assignment needs no CSRF token (Datasette 1.0a23 skips every
    ``application/json`` request itself; Datasette 0.65 needs telling)."""
    if scope.get("type") != "http" or scope.get("path") != datasette.urls.path(ASSIGN_PATH):
        return None
    headers = dict(scope.get("headers") or [])
    return _views.is_json(headers.get(b"content-type", b"").decode("latin-1")) or None


@hookimpl
def register_commands(cli):
    from ._cli import llm_group

    cli.add_command(llm_group)
