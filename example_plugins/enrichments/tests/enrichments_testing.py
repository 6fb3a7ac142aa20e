"""Helpers for this plugin's tests: a model whose answers can be held back or made to
fail, and the form and job pages driven as a browser would drive them. The fixtures
are in conftest.py."""

from __future__ import annotations

import asyncio
import re
import sqlite3

from datasette_llm.testing import FakeModel

PLUGIN = "datasette-llm-example-enrichments"
FORM = "/news/articles/-/enrich-with-llm"
# Writes need permissions on Datasette 1.0 alphas and 0.65 alike: grant them to root
ROOT_WRITES = {"update-row": {"id": "root"}, "alter-table": {"id": "root"}}
ARTICLES = [(i, f"Title {i}", f"Body of article {i}") for i in range(1, 9)]
ACTIVE = ("pending", "running")


class HeldModel(FakeModel):
    """A FakeModel (answering with its prompt, unless scripted) that answers the first
    ``free`` prompts at once and holds the others until ``release()``, and raises for
    prompts containing ``fail_on``."""

    def __init__(self, model_id, *, free=None, fail_on=None, **kwargs):
        super().__init__(model_id, **kwargs)
        self.free = free
        self.fail_on = fail_on
        self.gate = None
        self.waiting = 0
        self.most_in_flight = 0
        self._in_flight = 0

    def release(self):
        self.free = None
        if self.gate is not None:
            self.gate.set()

    async def execute(self, prompt, stream, response, conversation, key):
        self._in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            if self.free is not None and len(self.prompts) >= self.free:
                if self.gate is None:
                    self.gate = asyncio.Event()
                self.waiting += 1
                try:
                    await self.gate.wait()
                finally:
                    self.waiting -= 1
            if self.fail_on and self.fail_on in prompt.prompt:
                self.prompts.append(prompt)
                raise RuntimeError(f"the model broke on {prompt.prompt!r}")
            async for chunk in super().execute(prompt, stream, response, conversation, key):
                yield chunk
        finally:
            self._in_flight -= 1


def cookies_for(ds, actor_id):
    return {"ds_actor": ds.sign({"a": {"id": actor_id}}, "actor")} if actor_id else {}


async def post_form(ds, path, data, actor_id="root", form_path=None, token_from=None):
    """POST as a browser would on every Datasette version: the CSRF token of a form
    page (``form_path``, default ``path``, fetched as ``token_from``, default the
    actor) goes in both the cookie and the form."""
    page = await ds.client.get(form_path or path, cookies=cookies_for(ds, token_from or actor_id))
    match = re.search(r'name="csrftoken" value="([^"]*)"', page.text)
    assert match, f"no CSRF token on {form_path or path} ({page.status_code})"
    cookies = cookies_for(ds, actor_id)
    if "ds_csrftoken" in page.cookies:
        cookies["ds_csrftoken"] = page.cookies["ds_csrftoken"]
    return await ds.client.post(path, data={**data, "csrftoken": match.group(1)}, cookies=cookies)


async def job_action(ds, job_id, action, actor_id="root"):
    """Press a button of the job page (``cancel``, ``resume``, ``retry``)."""
    return await post_form(
        ds, f"/-/llm-enrichments/{job_id}/{action}", {}, actor_id, form_path=FORM, token_from="root"
    )


async def start_job(ds, query="", actor_id="root", token_from=None, **fields):
    """Submit the form; returns the response (a redirect to the job page on success)."""
    data = {
        "template": "Summarise {title}: {body}",
        "output_column": "summary",
        "model": "echo",
        "rows": "filtered" if query else "all",
        "skip_filled": "1",
        **fields,
    }
    data = {key: value for key, value in data.items() if value is not None}
    path = FORM + (f"?{query}" if query else "")
    return await post_form(ds, path, data, actor_id, token_from=token_from)


def job_id_of(response) -> int:
    assert response.status_code == 302, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


async def job_json(ds, job_id, actor_id="root"):
    response = await ds.client.get(
        f"/-/llm-enrichments/{job_id}.json", cookies=cookies_for(ds, actor_id)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def wait_for(ds, job_id, condition, what="", actor_id="root"):
    """Poll the job's JSON until ``condition(job)``; fails (never hangs) if it does not."""
    job = None
    for _ in range(4000):
        job = await job_json(ds, job_id, actor_id)
        if condition(job):
            return job
        await asyncio.sleep(0.005)
    raise AssertionError(f"job {job_id} never reached {what or condition}: {job}")


async def wait_until_ended(ds, job_id, actor_id="root"):
    return await wait_for(ds, job_id, lambda job: job["status"] not in ACTIVE, "an end", actor_id)


async def until(condition, what):
    for _ in range(4000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


def table_rows(db_path, columns="id, summary"):
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(f"select {columns} from articles order by id").fetchall()
    finally:
        conn.close()


def summaries(db_path):
    return dict(table_rows(db_path))


def columns_of(db_path):
    conn = sqlite3.connect(db_path)
    try:
        return [row[1] for row in conn.execute("pragma table_info(articles)")]
    finally:
        conn.close()
