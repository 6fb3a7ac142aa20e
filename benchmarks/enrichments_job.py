"""How fast the enrichments example's background job fills a table:
``python benchmarks/enrichments_job.py``.

A table of 1,000 rows in a SQLite file, a model that takes 20 ms per answer, at
concurrency 4: no job can finish in less than 1,000 x 20 ms / 4 = 5 s. The job is
started as a user starts it (the form's POST, through Datasette's client) and timed
until its task ends, every answer written to its row and every row marked done in the
job's state. Reported: the job's wall time against that limit (goal: within 1.2x),
the rows written per second, and, for comparison, the same prompts made with raw llm
at the same concurrency, writing nothing.

Options: ``--rows`` (1000), ``--delay-ms`` (20), ``--concurrency`` (4), ``--repeats``
(3; medians are shown). Timings are measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import llm
from datasette_test import Datasette

from datasette_llm.testing import FakeModel, fake_models

PLUGIN = "datasette-llm-example-enrichments"
MODEL_ID = "bench-slow"
GOAL = 1.2


class SlowModel(FakeModel):
    """Answers with its prompt, after ``delay`` seconds (as a remote model would)."""

    def __init__(self, model_id: str, delay: float):
        super().__init__(model_id)
        self.delay = delay

    async def execute(self, prompt, stream, response, conversation, key):
        await asyncio.sleep(self.delay)
        async for chunk in super().execute(prompt, stream, response, conversation, key):
            yield chunk


def make_table(path: Path, rows: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("create table articles (id integer primary key, title text, body text)")
    conn.executemany(
        "insert into articles values (?, ?, ?)",
        [(i, f"Title {i}", f"The body of article {i}.") for i in range(1, rows + 1)],
    )
    conn.commit()
    conn.close()


async def run_job(rows: int, concurrency: int, workdir: Path) -> float:
    """Seconds from the form's POST to the end of the job's task."""
    run_dir = workdir / str(time.monotonic_ns())
    run_dir.mkdir()
    db_path = run_dir / "news.db"
    make_table(db_path, rows)
    ds = Datasette(
        [str(db_path)],
        plugin_config={
            "datasette-llm": {"purposes": {"enrichments": {"model": MODEL_ID}}},
            PLUGIN: {"concurrency": concurrency},
        },
        permissions={"update-row": {"id": "root"}, "alter-table": {"id": "root"}},
    )
    await ds.invoke_startup()
    cookies = {"ds_actor": ds.sign({"a": {"id": "root"}}, "actor")}
    form_path = "/news/articles/-/enrich-with-llm"
    form = await ds.client.get(form_path, cookies=cookies)
    token = re.search(r'name="csrftoken" value="([^"]*)"', form.text).group(1)
    if "ds_csrftoken" in form.cookies:
        cookies["ds_csrftoken"] = form.cookies["ds_csrftoken"]
    data = {
        "csrftoken": token,
        "template": "Summarise {title}: {body}",
        "output_column": "summary",
        "model": MODEL_ID,
        "rows": "all",
    }
    start = time.perf_counter()
    response = await ds.client.post(form_path, data=data, cookies=cookies)
    job_id = int(response.headers["location"].rsplit("/", 1)[1])
    # Imported once Datasette has loaded its plugins: importing the plugin module first
    # would have Datasette load it while it is still half-imported
    from datasette_llm_example_enrichments._runner import running_here

    task = running_here(ds, job_id)
    if task is not None:
        await task
    elapsed = time.perf_counter() - start
    conn = sqlite3.connect(db_path)
    written = conn.execute("select count(*) from articles where summary is not null").fetchone()[0]
    conn.close()
    if written != rows:
        sys.exit(f"the job wrote {written} of {rows} rows")
    return elapsed


async def run_raw_llm(rows: int, concurrency: int) -> float:
    """Seconds for raw llm to answer the same prompts, ``concurrency`` at a time."""
    model = llm.get_async_model(MODEL_ID)
    queue: asyncio.Queue = asyncio.Queue()
    for i in range(1, rows + 1):
        queue.put_nowait(f"Summarise Title {i}: The body of article {i}.")

    async def worker():
        while not queue.empty():
            prompt = queue.get_nowait()
            await (model.prompt(prompt)).text()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    limit = max(args.rows * args.delay_ms / 1000 / args.concurrency, 1e-9)

    jobs, raws = [], []
    with (
        tempfile.TemporaryDirectory() as tmp,
        fake_models(SlowModel(MODEL_ID, args.delay_ms / 1000)) as model,
    ):
        for repeat in range(args.repeats):
            model.reset()
            raws.append(asyncio.run(run_raw_llm(args.rows, args.concurrency)))
            model.reset()
            jobs.append(asyncio.run(run_job(args.rows, args.concurrency, Path(tmp))))
            print(
                f"repeat {repeat + 1}: job {jobs[-1]:.2f} s, raw llm {raws[-1]:.2f} s",
                file=sys.stderr,
            )

    job, raw = statistics.median(jobs), statistics.median(raws)
    print(
        f"{args.rows} rows, {args.delay_ms:g} ms per answer, concurrency {args.concurrency}, "
        f"median of {args.repeats} (Python {sys.version.split()[0]}, llm {llm_version()}, "
        f"Datasette {datasette_version()})\n"
    )
    print("| what | wall time | vs the limit | rows/s |")
    print("|---|---|---|---|")
    for what, seconds in (
        ("limit: rows x delay / concurrency", limit),
        ("raw llm, same prompts, nothing written", raw),
        ("the enrichment job (form POST to last row done)", job),
    ):
        print(f"| {what} | {seconds:.2f} s | {seconds / limit:.3f}x | {args.rows / seconds:.0f} |")
    verdict = "within" if job / limit <= GOAL else "OVER"
    print(f"\ngoal: within {GOAL}x of the limit: {verdict} ({job / limit:.3f}x)")


def llm_version() -> str:
    from importlib.metadata import version

    return version("llm")


def datasette_version() -> str:
    from importlib.metadata import version

    return version("datasette")


if __name__ == "__main__":
    main()
