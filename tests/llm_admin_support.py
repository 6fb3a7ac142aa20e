"""Helpers shared by the tests of the /-/llm page, its endpoints and its command."""

from __future__ import annotations

import json
import re

from datasette.version import __version__ as datasette_version

DATASETTE_1 = not datasette_version.startswith("0.")


def signed_in(ds, actor_id: str) -> dict:
    return {"ds_actor": ds.sign({"a": {"id": actor_id}}, "actor")}


def grant(permissions: dict) -> dict:
    """Datasette keyword arguments granting ``permissions`` (action -> allow block): in
    ``datasette.yaml`` on 1.0 alphas, in metadata on 0.65 (what our hook reads there)."""
    return {"config" if DATASETTE_1 else "metadata": {"permissions": permissions}}


async def started(llm_config: dict, *, plugins=None, **kwargs):
    """A started Datasette with this datasette-llm config (in memory unless ``files=``),
    where ``--root`` is on. (The ``datasette_llm_config`` fixture takes no ``config=``,
    which a test granting permissions on Datasette 1.0 needs.)"""
    from datasette_test import Datasette

    if not kwargs.get("files"):
        kwargs.setdefault("memory", True)
    ds = Datasette(plugin_config={**(plugins or {}), "datasette-llm": llm_config}, **kwargs)
    await ds.invoke_startup()
    ds.root_enabled = True  # what `datasette --root` sets (1.0 alphas; 0.65 ignores it)
    return ds


async def form_post(ds, path: str, data: dict, actor_id, headers=None, page_as="root"):
    """POST ``data`` as a form of /-/llm does, with its CSRF token (Datasette 0.65 and
    1.0a23 check it; later alphas check Sec-Fetch-Site, which a test client never sends).
    The token comes from the page as ``page_as``: it belongs to the browser, not to an
    actor."""
    page = await ds.client.get("/-/llm", cookies=signed_in(ds, page_as))
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrftoken" value="([^"]*)"', page.text).group(1)
    cookies = signed_in(ds, actor_id) if actor_id else {}
    if "ds_csrftoken" in page.cookies:
        cookies["ds_csrftoken"] = page.cookies["ds_csrftoken"]
    return await ds.client.post(
        path, data={**data, "csrftoken": token}, cookies=cookies, headers=headers
    )


def events(body: str) -> list:
    """The server-sent events of a response body, as (name, data) pairs."""
    found = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((lines["event"], json.loads(lines["data"])))
    return found

