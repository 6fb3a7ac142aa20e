"""The guide the demo prints once the server is up: what to open and what to click.

Printed from an ``asgi_wrapper`` when the ASGI lifespan startup completes (the server's
event loop is running by then on every Datasette version), a moment later so that it
follows the server's own lines (the ``--root`` login URL, uvicorn's address).
"""

from __future__ import annotations

import asyncio
import sys

GUIDE_DELAY = 0.5  # seconds after startup

GUIDE = """
datasette-llm demo: what to try (paths on the server above)

  1. Open the login URL above to act as root (it is printed with --root).
  2. /-/sql-assistant   Ask "How many articles are there?" and press "Write SQL":
                        demo-sql's answer streams in; "Open this query" runs it.
  3. /-/demo-personas   Sign in as alice, then bob: each gets other models
                        (user-model-filter) and defaults (user-default-model).
                        Compare their pickers on the two pages below.
  4. /-/llm-preference  "Your default model" in the menu: pick yours. bob's saved
                        default is one he may no longer use, so it is ignored.
  5. /-/secrets         As root: set DEMO_API_KEY to any text. The demo-keyed
                        model then appears (require_keys).
  6. /demo/articles     As root, "Enrich with an LLM" in the table's actions menu:
                        a background job writes a summary into each row, with a
                        live progress bar (enrichments).
  7. /-/llm             "LLM models" in the menu (root): which model serves each
                        purpose and why, per actor ("As actor": alice, bob); assign
                        another model to a purpose, and try it with a test prompt.
"""


def print_guide() -> None:
    print(GUIDE, file=sys.stdout, flush=True)


def guide_after_startup(app):
    """Wrap the ASGI ``app`` to print the guide after the lifespan startup."""

    async def wrapped(scope, receive, send):
        if scope["type"] != "lifespan":
            return await app(scope, receive, send)

        async def watch(message):
            await send(message)
            if message["type"] == "lifespan.startup.complete":
                asyncio.get_running_loop().call_later(GUIDE_DELAY, print_guide)

        return await app(scope, receive, watch)

    return wrapped
