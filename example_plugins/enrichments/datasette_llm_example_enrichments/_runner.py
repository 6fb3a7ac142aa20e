"""Running a job in the background: one asyncio task per job, in the Datasette process.

A run collects the job's rows (the first time), then prompts every pending row inside
one ``LLM(datasette).group(purpose="enrichments", actor=...)``, at most ``concurrency``
prompts at a time. Each answer is written to its row as soon as it is complete, and the
row marked done in the job's state, so nothing paid for is lost if the run stops.

How a run ends:

- every row dealt with: ``finished``;
- a row's answer fails (the model raised): that row is recorded as failed with the
  error and the run goes on; after ``max_consecutive_failures`` failures in a row the
  job is paused, since the model is likely failing for every row;
- the prompts are refused as a whole (``group()`` refuses the model or cannot read its
  key, a ``llm_prompt_context`` hook such as a budget denies the prompt, llm finds no
  API key): the job is ``paused`` with the reason, and the row that was refused stays
  pending, so resuming retries it;
- cancelled (``cancel()``): the task is cancelled, answers still in flight are
  dropped, the group closes them;
- Datasette stops: the task simply ends; the job still says ``running`` and is marked
  ``interrupted`` at the next startup (``mark_interrupted()``).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Optional

import llm

from datasette_llm import LLM, KeyUnavailableError, ModelNotFoundError

from ._config import Config
from ._rows import collect_row_keys, read_rows, write_answers
from ._store import ACTIVE, RESUMABLE, Job, JobStore
from ._template import PromptTemplate

logger = logging.getLogger("datasette_llm_example_enrichments")

PURPOSE = "enrichments"
PAGE_SIZE = 100  # pending rows read from the job's state at a time

# The tasks running jobs in this process, per Datasette instance
_tasks: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class JobPaused(Exception):
    """Stop the run and pause the job; the message is the reason shown to the user."""


def task_name(job_id: int) -> str:
    return f"llm-enrichment-job-{job_id}"


async def begin(
    datasette, store: JobStore, job_id: int, actor: Optional[dict], from_statuses, message: str
) -> bool:
    """Set the job running as ``actor`` (if it is in one of ``from_statuses``) and run
    it in a background task of this process; False if its status had changed."""
    if not await store.start_run(job_id, actor, from_statuses, message):
        return False
    _start_task(datasette, store, job_id)
    return True


def _start_task(datasette, store: JobStore, job_id: int) -> asyncio.Task:
    tasks = _tasks.setdefault(datasette, {})
    task = asyncio.create_task(_JobRun(datasette, store, job_id).run(), name=task_name(job_id))
    tasks[job_id] = task

    def forget(finished):
        if tasks.get(job_id) is finished:
            del tasks[job_id]

    task.add_done_callback(forget)
    return task


def running_here(datasette, job_id: int) -> Optional[asyncio.Task]:
    """The task running this job in this process, if any."""
    return _tasks.get(datasette, {}).get(job_id)


async def cancel(datasette, store: JobStore, job_id: int, actor: Optional[dict]) -> bool:
    """Stop the job for good; False if it had already ended."""
    task = running_here(datasette, job_id)
    if task is not None:
        task.cancel()
        # Let it unwind (the group closes unfinished responses) before recording why
        await asyncio.wait([task])
    who = (actor or {}).get("id") or "an anonymous user"
    return await store.end_run(
        job_id,
        "cancelled",
        message=f"Cancelled by {who}",
        from_statuses=ACTIVE + RESUMABLE,
    )


async def mark_interrupted(store: JobStore) -> None:
    """At startup: jobs that were pending or running when Datasette stopped."""
    for job_id in await store.active_job_ids():
        await store.end_run(
            job_id,
            "interrupted",
            reason="Datasette stopped while this job was running",
            from_statuses=ACTIVE,
        )


class _JobRun:
    """One run of one job, from start or resume to its end."""

    def __init__(self, datasette, store: JobStore, job_id: int):
        self.datasette = datasette
        self.store = store
        self.job_id = job_id
        self.config = Config.of(datasette)
        self.consecutive_failures = 0

    async def run(self) -> None:
        store = self.store
        try:
            job = await store.get(self.job_id)
            if job.total is None:
                keys = await collect_row_keys(
                    self.datasette,
                    job.database,
                    job.table,
                    job.filter_querystring,
                    job.primary_keys,
                    job.actor,
                )
                await store.add_rows(job.id, keys)
                await store.add_event(job.id, f"{len(keys)} row(s) to enrich")
            await self._prompt_pending_rows(job)
        except JobPaused as paused:
            await store.end_run(self.job_id, "paused", reason=str(paused))
        except asyncio.CancelledError:
            raise  # cancel() records it; a stopping Datasette leaves the job to startup
        except Exception as exc:
            logger.exception("LLM enrichment job %s failed", self.job_id)
            await store.end_run(self.job_id, "failed", reason=f"{type(exc).__name__}: {exc}")
        else:
            job = await store.get(self.job_id)
            await store.end_run(
                self.job_id,
                "finished",
                message=f"Finished: {job.done} row(s) done, {job.failed} failed",
            )

    async def _prompt_pending_rows(self, job: Job) -> None:
        template = PromptTemplate(job.template)
        target = self.datasette.get_database(job.database)
        rows: asyncio.Queue = asyncio.Queue(maxsize=2 * self.config.concurrency)
        answers: asyncio.Queue = asyncio.Queue()
        writer = asyncio.ensure_future(self._write_answers(job, target, answers))
        try:
            async with LLM(self.datasette).group(
                model_id=job.model_id, purpose=PURPOSE, actor=job.actor
            ) as model:
                await _until_first_error(
                    [self._produce(job, template, target, rows)]
                    + [
                        self._work(job, template, model, rows, answers)
                        for _ in range(self.config.concurrency)
                    ],
                    watch=writer,
                )
        except (ModelNotFoundError, KeyUnavailableError) as exc:
            # The group refused the model for this actor, or its key could not be read
            raise JobPaused(str(exc)) from exc
        finally:
            # However the run ends, the answers already received are written
            answers.put_nowait(None)
            await writer

    async def _produce(self, job, template, target, queue) -> None:
        """Feed the workers the pending rows, a page at a time, then one stop each."""
        after = -1
        while True:
            page = await self.store.pending_rows(job.id, after, PAGE_SIZE)
            if not page:
                break
            rows = await read_rows(
                target, job.table, job.primary_keys, template.columns, [key for _, key in page]
            )
            for position, key in page:
                await queue.put((position, key, rows.get(tuple(key))))
            after = page[-1][0]
        for _ in range(self.config.concurrency):
            await queue.put(None)

    async def _work(self, job, template, model, rows, answers) -> None:
        while True:
            item = await rows.get()
            if item is None:
                return
            await self._enrich_row(job, template, model, answers, *item)

    async def _enrich_row(self, job, template, model, answers, position, key, row) -> None:
        if row is None:
            await self._failed(job, position, "The row no longer exists")
            return
        try:
            response = await model.prompt(template.render(row))
        except Exception as exc:  # refused before anything was sent: the same for every row
            raise JobPaused(f"The prompt was refused: {exc}") from exc
        try:
            answer = (await response.text()).strip()
        except llm.NeedsKeyException as exc:
            raise JobPaused(f"No API key for {job.model_id}: {exc}") from exc
        except Exception as exc:
            logger.warning("LLM enrichment job %s: row %s failed: %r", job.id, key, exc)
            await self._failed(job, position, f"{type(exc).__name__}: {exc}")
            return
        self.consecutive_failures = 0
        answers.put_nowait((position, key, answer))

    async def _write_answers(self, job, target, answers) -> None:
        """Write each answer to its row, then mark the row done, until a ``None``.
        Answers that complete while a write is in progress are written together, in one
        transaction, by the next: one SQLite commit per answer would cost more than the
        model's answer itself on a slow disk."""
        while True:
            batch = [await answers.get()]
            while not answers.empty():
                batch.append(answers.get_nowait())
            done = [item for item in batch if item is not None]
            if done:
                await write_answers(
                    target,
                    job.table,
                    job.primary_keys,
                    job.output_column,
                    [(key, answer) for _, key, answer in done],
                )
                await self.store.mark_done(job.id, [position for position, _, _ in done])
            if len(done) < len(batch):
                return

    async def _failed(self, job, position, error: str) -> None:
        await self.store.mark_failed(job.id, position, error)
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.config.max_consecutive_failures:
            raise JobPaused(
                f"{self.consecutive_failures} rows in a row failed, the last with: {error}"
            )


async def _until_first_error(coroutines, watch: Optional[asyncio.Future] = None) -> None:
    """Run the coroutines together until all end; if one of them (or ``watch``, which
    may outlive them) raises, cancel the coroutines (waiting for them) and raise its
    exception."""
    tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
    try:
        running = set(tasks)
        while running:
            watched = running | ({watch} if watch is not None and not watch.done() else set())
            done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()
            running -= done
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
