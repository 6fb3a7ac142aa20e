"""``datasette llm status``: what ``/-/llm`` shows, without starting a server.

Builds a Datasette from the same files ``datasette serve`` would be given, runs its
startup (so an invalid config fails here, naming the offending value's path, and the
command exits with status 1), then prints the purposes, models and keys as text or,
with ``--json``, exactly what ``/-/llm.json`` returns. Where the options differ:

- Datasette 1.0 alphas: plugin config in ``-c datasette.yaml``; ``--internal FILE``
  for the internal database that holds assignments and datasette-secrets' keys;
- Datasette 0.65: plugin config in ``-m metadata.yaml`` (``-c`` and ``--internal`` do
  not exist there), and assignments in the database named by ``assignments_database``.
"""

from __future__ import annotations

import asyncio
import json
import textwrap

import click

from . import _status
from ._permission import HAS_ACTIONS

DATASETTE_1 = HAS_ACTIONS  # the line that reads datasette.yaml and has --internal
ON_065 = "Datasette 0.65 reads plugin configuration from metadata: use -m metadata.yaml"


@click.group(name="llm")
def llm_group():
    """datasette-llm: models, purposes and keys."""


@llm_group.command(name="status")
@click.argument("files", type=click.Path(exists=True, dir_okay=False), nargs=-1)
@click.option("-c", "--config", type=click.File("r"),
              help="datasette.yaml (Datasette 1.0), as given to datasette serve")
@click.option("-m", "--metadata", type=click.File("r"),
              help="metadata.yaml (on Datasette 0.65 it holds the plugin configuration)")
@click.option("--internal", type=click.Path(dir_okay=False),
              help="The internal database file, as given to datasette serve (Datasette 1.0)")
@click.option("--actor", "actor_id", help="Show what the actor with this ID gets")
@click.option("--json", "as_json", is_flag=True, help="Print what /-/llm.json returns")
def status_command(files, config, metadata, internal, actor_id, as_json):
    """Which model serves each purpose and why, every installed model, where each API
    key comes from (never the key) and the config's problems. Exits with status 1 if
    the configuration is invalid."""
    if not DATASETTE_1 and (config is not None or internal is not None):
        raise click.UsageError(ON_065)
    kwargs = {"metadata": _parsed(metadata)}
    if DATASETTE_1:
        kwargs.update(config=_parsed(config), internal=internal)
    data = asyncio.run(_status_of(list(files), kwargs, _status.actor_for(actor_id)))
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(as_text(data))


def _parsed(file):
    if file is None:
        return None
    from datasette.utils import parse_metadata

    return parse_metadata(file.read())


async def _status_of(files: list, kwargs: dict, actor):
    from datasette.app import Datasette

    datasette = Datasette(files, **kwargs)
    try:
        await datasette.invoke_startup()
    except Exception as error:  # ConfigError, or another plugin's startup failing
        raise click.ClickException(f"{type(error).__name__}: {error}") from None
    return await _status.status(datasette, actor)


def as_text(data: dict) -> str:
    """The status as plain text, for a terminal or a deploy log."""
    lines = []
    actor = data["actor"]
    lines.append(f"As actor: {actor['id'] if actor else '(anonymous)'}")
    problems = data["config_problems"]
    lines += ["", f"Config problems ({len(problems)})"]
    lines += [_item(problem) for problem in problems] or ["  none"]
    lines += ["", "Purposes"]
    for purpose in [*data["purposes"], data["without_purpose"]]:
        lines += _purpose_lines(purpose)
    lines += ["", "Models"]
    for model in data["models"]:
        key = (
            "no key needed" if model["provider"] is None
            else f"key {model['key_secret']}: {model['key_source'] or 'MISSING'}"
        )
        aliases = f" (aliases: {', '.join(model['aliases'])})" if model["aliases"] else ""
        provider = f", provider {model['provider']}" if model["provider"] else ""
        lines.append(f"  {model['model']}{aliases}{provider}; {key}")
    lines += ["", "API keys"]
    for key in data["keys"]:
        used_by = (
            f"provider {key['provider']}" if key["provider"]
            else "used by " + ", ".join(key["used_by"])
        )
        lines.append(f"  {key['secret']} ({used_by}): {key['source'] or 'MISSING'}")
    if not data["keys"]:
        lines.append("  no installed model needs a key")
    storage = data["assignments_database"]
    lines += [
        "",
        "Assignments are stored in "
        + (f"the database {storage['name']!r}" if storage["name"] else "the internal database")
        + ("" if storage["persistent"] else " (temporary: lost when Datasette stops)"),
    ]
    return "\n".join(lines)


def _purpose_lines(purpose: dict) -> list:
    name = purpose["name"]
    if name is None:
        title = "(no purpose: model() called without one)"
    elif purpose["registered"]:
        title = f"{name}  registered by {purpose['plugin']}"
    else:
        title = f"{name}  NOT REGISTERED by any installed plugin"
    lines = ["", f"  {title}"]
    if purpose["description"]:
        lines.append(f"    {purpose['description']}")
    default = purpose["default"]
    lines.append(
        "    default: "
        + (f"{default['model']}  (from {default['source']})" if default else "none")
    )
    for skipped in purpose["skipped_defaults"]:
        lines.append(_item(
            f"skipped {skipped['model']} from {skipped['source']}: {skipped['reason']}", indent=6
        ))
    lines.append("    allowed: " + (", ".join(purpose["allowed"]) or "none"))
    by_rule: dict = {}
    for excluded in purpose["excluded"]:
        by_rule.setdefault(excluded["rule"], []).append(excluded["model"])
    for rule, models in by_rule.items():
        lines.append(_item(f"excluded by {rule}: {', '.join(models)}", indent=4))
    return lines


def _item(text: str, indent: int = 2) -> str:
    return textwrap.fill(
        text, width=100, initial_indent=" " * indent + "- ",
        subsequent_indent=" " * (indent + 2), break_on_hyphens=False, break_long_words=False,
    )
