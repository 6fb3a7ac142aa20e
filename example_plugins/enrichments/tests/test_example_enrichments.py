"""Integration tests: a real Datasette, datasette-llm and this plugin, driven through
Datasette's client as a browser would, with the echo model or FakeModels from
datasette_llm.testing. The fixtures ``datasette_llm_config`` and ``hook_recorder`` come
from datasette-llm's pytest plugin."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import asynccontextmanager

import pytest
from datasette import hookimpl
from datasette_llm_example_enrichments._compat import IS_DATASETTE_1
from enrichments_testing import (
    FORM,
    PLUGIN,
    HeldModel,
    columns_of,
    cookies_for,
    job_action,
    job_id_of,
    job_json,
    post_form,
    start_job,
    summaries,
    table_rows,
    until,
    wait_for,
    wait_until_ended,
)

from datasette_llm import get_purposes
from datasette_llm.testing import FakeModel, fake_models

SUMMARISER = {"default_model": "echo", "purposes": {"enrichments": {"model": "summariser"}}}


def expected(ids):
    return {i: f"Summarise Title {i}: Body of article {i}" for i in ids}


async def test_registers_the_enrichments_purpose(make_datasette):
    ds = await make_datasette()
    purposes = {p.name: p for p in get_purposes(ds)}
    assert "answer for each row" in purposes["enrichments"].description


async def test_every_row_gets_its_answer_inside_one_group(make_datasette, db_path, hook_recorder):
    with fake_models(FakeModel("summariser")) as model:
        ds = await make_datasette(SUMMARISER)
        job_id = job_id_of(await start_job(ds, model="summariser"))
        job = await wait_until_ended(ds, job_id)
    assert (job["status"], job["total"], job["done"], job["failed"]) == ("finished", 8, 8, 0)
    assert (job["remaining"], job["percent"], job["errors"]) == (0, 100, [])
    # FakeModel answers with the prompt it received: each row got its own prompt
    assert summaries(db_path) == expected(range(1, 9))
    assert sorted(model.prompt_texts) == sorted(expected(range(1, 9)).values())
    (exit_call,) = hook_recorder.called("llm_group_exit")
    group = exit_call["group"]
    assert (group.purpose, group.actor, group.model_id, group.prompt_count, group.ok) == (
        "enrichments",
        {"id": "root"},
        "summariser",
        8,
        True,
    )
    hook_recorder.assert_called("llm_prompt_context", times=8, purpose="enrichments")


async def test_the_form_names_the_model_that_will_run(make_datasette):
    with fake_models(FakeModel("summariser")):
        ds = await make_datasette(SUMMARISER)
        page = await ds.client.get(FORM, cookies=cookies_for(ds, "root"))
    assert page.status_code == 200
    assert (
        '<option value="summariser" selected>summariser (default for enrichments)</option>'
        in page.text
    )
    assert '<option value="echo">echo</option>' in page.text
    assert 'The model that will run: <strong id="model-that-runs">summariser</strong>' in page.text
    # The template starts from the text column with the longest values, the output
    # column is not "id"
    assert ">Summarise this in one sentence:\n\n{body}</textarea>" in page.text
    assert 'name="output_column" value="summary"' in page.text


async def test_answers_are_written_as_they_complete_and_progress_is_reported(
    make_datasette, db_path
):
    with fake_models(HeldModel("summariser", free=3)) as model:
        ds = await make_datasette(SUMMARISER, {"concurrency": 2})
        job_id = job_id_of(await start_job(ds, model="summariser"))
        job = await wait_for(ds, job_id, lambda job: job["done"] == 3, "3 rows done")
        await until(lambda: model.waiting == 2, "two prompts held")
        job = await job_json(ds, job_id)
        assert (job["status"], job["total"], job["done"], job["failed"], job["remaining"]) == (
            "running",
            8,
            3,
            0,
            5,
        )
        assert job["percent"] == 37
        # Already in the table, while the job runs
        assert summaries(db_path) == {**expected([1, 2, 3]), **dict.fromkeys(range(4, 9))}
        page = await ds.client.get(f"/-/llm-enrichments/{job_id}", cookies=cookies_for(ds, "root"))
        assert '<strong id="job-status">running</strong>' in page.text
        assert '<strong id="job-done">3</strong> done' in page.text
        assert 'aria-valuenow="37"' in page.text
        assert "Cancel the job" in page.text
        # The table page links to the running job
        table_page = await ds.client.get("/news/articles", cookies=cookies_for(ds, "root"))
        assert f'href="/-/llm-enrichments/{job_id}"' in table_page.text
        assert f"LLM enrichment {job_id}: running, 37%" in table_page.text
        model.release()
        job = await wait_until_ended(ds, job_id)
    assert (job["status"], job["done"]) == ("finished", 8)
    assert model.most_in_flight == 2  # the configured concurrency, never more
    assert summaries(db_path) == expected(range(1, 9))


async def test_a_failing_row_is_recorded_and_the_others_complete(make_datasette, db_path):
    with fake_models(HeldModel("summariser", fail_on="Title 5")) as model:
        ds = await make_datasette(SUMMARISER)
        job_id = job_id_of(await start_job(ds, model="summariser"))
        job = await wait_until_ended(ds, job_id)
        assert (job["status"], job["done"], job["failed"], job["percent"]) == (
            "finished",
            7,
            1,
            100,
        )
        assert job["errors"] == [
            {
                "row": {"id": 5},
                "error": "RuntimeError: the model broke on 'Summarise Title 5: Body of article 5'",
                "url": "/news/articles/5",
            }
        ]
        assert summaries(db_path) == {**expected([1, 2, 3, 4, 6, 7, 8]), 5: None}
        page = await ds.client.get(f"/-/llm-enrichments/{job_id}", cookies=cookies_for(ds, "root"))
        assert (
            '<a href="/news/articles/5">id=5</a></td><td>RuntimeError: the model broke' in page.text
        )
        assert "Retry the 1 failed row" in page.text

        # Retrying prompts the failed row only
        model.fail_on = None
        prompts_before = len(model.prompts)
        response = await job_action(ds, job_id, "retry")
        assert response.status_code == 302
        job = await wait_until_ended(ds, job_id)
    assert (job["status"], job["done"], job["failed"], job["errors"]) == ("finished", 8, 0, [])
    assert model.prompt_texts[prompts_before:] == ["Summarise Title 5: Body of article 5"]
    assert summaries(db_path) == expected(range(1, 9))


async def test_many_failures_in_a_row_pause_the_job(make_datasette, db_path):
    with fake_models(FakeModel("summariser", error=RuntimeError("401 invalid key"))):
        ds = await make_datasette(SUMMARISER, {"concurrency": 1, "max_consecutive_failures": 3})
        job_id = job_id_of(await start_job(ds, model="summariser"))
        job = await wait_until_ended(ds, job_id)
    assert (job["status"], job["done"], job["failed"]) == ("paused", 0, 3)
    assert job["reason"] == "3 rows in a row failed, the last with: RuntimeError: 401 invalid key"


async def test_table_view_filters_are_honoured(make_datasette, db_path):
    with fake_models(FakeModel("summariser")) as model:
        ds = await make_datasette(SUMMARISER)
        query = "id__gt=5&_sort_desc=title&_size=2"  # sorting and paging are not filters
        form = await ds.client.get(f"{FORM}?{query}", cookies=cookies_for(ds, "root"))
        assert "where id &gt; 5</a>: 3 rows" in form.text
        assert "Every row of articles: 8 rows" in form.text
        job_id = job_id_of(await start_job(ds, query=query, model="summariser"))
        job = await wait_until_ended(ds, job_id)
        assert (job["total"], job["done"], job["rows"]) == (3, 3, "where id > 5")
        assert summaries(db_path) == {**dict.fromkeys(range(1, 6)), **expected([6, 7, 8])}

        # "Every row" ignores the view's filters; rows that have a value are skipped
        job_id = job_id_of(await start_job(ds, query=query, model="summariser", rows="all"))
        job = await wait_until_ended(ds, job_id)
        assert (job["total"], job["rows"]) == (5, "summary is empty")
        # ... unless asked to redo them
        job_id = job_id_of(
            await start_job(ds, model="summariser", template="Again {id}", skip_filled=None)
        )
        job = await wait_until_ended(ds, job_id)
        assert (job["total"], job["rows"]) == (8, "every row")
        # Nothing left to do: the job says so
        job_id = job_id_of(await start_job(ds, model="summariser"))
        job = await wait_until_ended(ds, job_id)
        assert (job["status"], job["total"], job["percent"]) == ("finished", 0, 100)
        page = await ds.client.get(f"/-/llm-enrichments/{job_id}", cookies=cookies_for(ds, "root"))
        assert "Finished: 0 rows done." in page.text
        assert "No row matched (summary is empty)." in page.text
    assert summaries(db_path) == {i: f"Again {i}" for i in range(1, 9)}
    assert len(model.prompts) == 3 + 5 + 8


async def test_the_table_action_carries_the_view_filters(make_datasette):
    ds = await make_datasette()
    page = await ds.client.get(
        "/news/articles?title__contains=1&_sort=body", cookies=cookies_for(ds, "root")
    )
    assert 'href="/news/articles/-/enrich-with-llm?title__contains=1"' in page.text
    assert "Enrich with an LLM" in page.text


async def test_an_actor_without_write_permission_is_refused(make_datasette, db_path):
    ds = await make_datasette()
    for actor_id in ("alice", None):
        page = await ds.client.get("/news/articles", cookies=cookies_for(ds, actor_id))
        assert "enrich-with-llm" not in page.text
        assert (await ds.client.get(FORM, cookies=cookies_for(ds, actor_id))).status_code == 403
    # Even with a valid CSRF token (from root's page), alice's POST changes nothing
    response = await start_job(ds, actor_id="alice", token_from="root")
    assert response.status_code == 403
    assert "needs the update-row permission" in response.text
    assert "summary" not in columns_of(db_path)
    assert (
        await ds.client.get("/-/llm-enrichments", cookies=cookies_for(ds, "alice"))
    ).status_code == 200


async def test_anonymous_post_cannot_alter_any_table(make_datasette, db_path):
    ds = await make_datasette()
    for actor_id in (None, "alice"):
        response = await start_job(ds, actor_id=actor_id, token_from="root", output_column="pwned")
        assert response.status_code == 403
    assert "pwned" not in columns_of(db_path)


async def test_update_row_without_alter_table_fills_existing_columns_only(make_datasette, db_path):
    permissions = {"update-row": {"id": ["root", "alice"]}, "alter-table": {"id": "root"}}
    ds = await make_datasette(permissions=permissions)
    response = await start_job(ds, actor_id="alice")
    assert response.status_code == 403
    assert "Adding the column summary to articles needs the alter-table permission" in response.text
    assert "summary" not in columns_of(db_path)
    # An existing column is fine
    job_id = job_id_of(
        await start_job(
            ds, actor_id="alice", output_column="title", template="{body}!", skip_filled=None
        )
    )
    job = await wait_until_ended(ds, job_id, actor_id="alice")
    assert (job["status"], job["done"], job["actor_id"]) == ("finished", 8, "alice")
    assert '"prompt": "Body of article 1!"' in table_rows(db_path, "id, title")[0][1]


async def test_no_model_available_is_refused_before_the_column_is_added(make_datasette, db_path):
    # Only the default is allowed (models: []), and it is blocked
    ds = await make_datasette({"default_model": "echo", "models": [], "blocked_models": ["echo"]})
    page = await ds.client.get(FORM, cookies=cookies_for(ds, "root"))
    assert "No model is available to you for enrichments" in page.text
    assert 'value="Start the enrichment" disabled' in page.text
    response = await start_job(ds)
    assert response.status_code == 403
    assert "No model is available to you for enrichments" in response.text
    assert "summary" not in columns_of(db_path)


async def test_a_model_not_offered_is_refused(make_datasette, db_path):
    with fake_models(FakeModel("summariser")):
        ds = await make_datasette({**SUMMARISER, "purposes": {"enrichments": {"models": ["echo"]}}})
        response = await start_job(ds, model="summariser")
    assert response.status_code == 403
    message = "The model &#39;summariser&#39; is not available to you for enrichments"
    assert f"{message}; choose one of: echo" in response.text
    assert "summary" not in columns_of(db_path)


@pytest.mark.parametrize(
    "fields, message",
    [
        (
            {"template": "Summarise {nope}"},
            "The prompt template names {nope}, which is not a column of articles; "
            "its columns are: id, title, body",
        ),
        ({"template": "No placeholder"}, "The prompt template names no column"),
        ({"template": "Broken {title"}, "Unmatched &#39;{&#39; at character 8"),
        ({"output_column": "  "}, "Name the output column"),
        ({"output_column": "id"}, "id is a primary key of articles"),
        ({"rows": "some"}, "Unknown choice of rows &#39;some&#39;"),
    ],
)
async def test_form_mistakes_are_messages(make_datasette, db_path, fields, message):
    ds = await make_datasette()
    response = await start_job(ds, **fields)
    assert response.status_code == 400
    assert message in response.text
    assert "summary" not in columns_of(db_path)
    # What was typed is kept
    if "template" in fields:
        assert f">{fields['template']}</textarea>" in response.text


async def test_cancel_stops_the_job(make_datasette, db_path):
    with fake_models(HeldModel("summariser", free=2)) as model:
        ds = await make_datasette(SUMMARISER, {"concurrency": 2})
        job_id = job_id_of(await start_job(ds, model="summariser"))
        await wait_for(ds, job_id, lambda job: job["done"] == 2, "2 rows done")
        await until(lambda: model.waiting == 2, "two prompts held")
        response = await job_action(ds, job_id, "cancel")
        assert response.status_code == 302
        job = await job_json(ds, job_id)
        assert (job["status"], job["done"], job["remaining"]) == ("cancelled", 2, 6)
        assert job["events"][-1]["message"] == "Cancelled by root"
        # The held prompts were dropped, nothing else was prompted or written
        model.release()
        await asyncio.sleep(0.05)
        assert len(model.prompts) == 2
        assert summaries(db_path) == {**expected([1, 2]), **dict.fromkeys(range(3, 9))}
        # A cancelled job stays cancelled
        page = await ds.client.get(f"/-/llm-enrichments/{job_id}", cookies=cookies_for(ds, "root"))
        assert "Cancel the job" not in page.text and ">Resume<" not in page.text
        response = await job_action(ds, job_id, "resume")
        assert (await job_json(ds, job_id))["status"] == "cancelled"


class Budget:
    """A budget plugin: allows ``allowance`` prompts, then refuses every prompt."""

    def __init__(self, allowance):
        self.allowance = allowance

    @hookimpl
    def llm_prompt_context(self, purpose):
        @asynccontextmanager
        async def check(result):
            if self.allowance <= 0:
                raise RuntimeError("the enrichments budget is used up")
            self.allowance -= 1
            yield

        return check


async def test_a_refused_group_pauses_the_job_with_the_reason(
    make_datasette, db_path, register_plugin
):
    budget = register_plugin(Budget(allowance=3))
    with fake_models(FakeModel("summariser")) as model:
        ds = await make_datasette(SUMMARISER, {"concurrency": 1})
        job_id = job_id_of(await start_job(ds, model="summariser"))
        job = await wait_until_ended(ds, job_id)
        assert (job["status"], job["done"], job["failed"], job["remaining"]) == ("paused", 3, 0, 5)
        assert job["reason"] == "The prompt was refused: the enrichments budget is used up"
        page = await ds.client.get(f"/-/llm-enrichments/{job_id}", cookies=cookies_for(ds, "root"))
        assert "Paused: The prompt was refused: the enrichments budget is used up" in page.text
        assert ">Resume<" not in page.text and 'value="Resume"' in page.text
        # More budget: resuming carries on with the rows not done
        budget.allowance = 100
        await job_action(ds, job_id, "resume")
        job = await wait_until_ended(ds, job_id)
    assert (job["status"], job["done"], job["failed"]) == ("finished", 8, 0)
    assert len(model.prompts) == 8
    assert summaries(db_path) == expected(range(1, 9))


class Revocable:
    """An llm_filter_models plugin that can withdraw every model."""

    allow = True

    @hookimpl
    def llm_filter_models(self, models):
        return models if self.allow else []


async def test_a_model_refused_at_resume_pauses_the_job(make_datasette, db_path, register_plugin):
    budget = register_plugin(Budget(allowance=1))
    policy = register_plugin(Revocable())
    with fake_models(FakeModel("summariser")):
        ds = await make_datasette(SUMMARISER, {"concurrency": 1})
        job_id = job_id_of(await start_job(ds, model="summariser"))
        assert (await wait_until_ended(ds, job_id))["status"] == "paused"
        budget.allowance = 100
        policy.allow = False
        await job_action(ds, job_id, "resume")
        job = await wait_until_ended(ds, job_id)
    assert (job["status"], job["done"]) == ("paused", 1)
    assert "summariser" in job["reason"]


async def test_no_api_key_pauses_the_job(make_datasette, db_path):
    keyed = FakeModel("summariser", needs_key="acme", key_env_var="ACME_TEST_KEY_UNSET")
    with fake_models(keyed):
        ds = await make_datasette({**SUMMARISER, "require_keys": False})
        job_id = job_id_of(await start_job(ds, model="summariser"))
        job = await wait_until_ended(ds, job_id)
    assert (job["status"], job["done"], job["failed"]) == ("paused", 0, 0)
    assert job["reason"].startswith("No API key for summariser")


def interrupt(job_id):
    """What a stopping Datasette does to a running job: its task just ends."""
    for task in asyncio.all_tasks():
        if task.get_name() == f"llm-enrichment-job-{job_id}":
            task.cancel()


@pytest.mark.parametrize(
    "where",
    [
        pytest.param(
            "internal",
            marks=pytest.mark.skipif(
                not IS_DATASETTE_1, reason="Datasette 0.65 has no persistent internal database"
            ),
        ),
        "configured",
    ],
)
async def test_an_interrupted_job_resumes_without_redoing_done_rows(
    make_datasette, db_path, tmp_path, where
):
    if where == "internal":
        settings = {"plugin_config": None, "kwargs": {"internal": str(tmp_path / "internal.db")}}
    else:
        jobs = tmp_path / "jobs.db"
        sqlite3.connect(jobs).close()
        settings = {"plugin_config": {"database": "jobs"}, "kwargs": {"files": [jobs]}}
    with fake_models(HeldModel("summariser", free=3)) as model:
        first = await make_datasette(SUMMARISER, settings["plugin_config"], **settings["kwargs"])
        job_id = job_id_of(await start_job(first, model="summariser"))
        await wait_for(first, job_id, lambda job: job["done"] == 3, "3 rows done")
        interrupt(job_id)
        assert (await job_json(first, job_id))["status"] == "running"

        # Datasette starts again on the same files
        second = await make_datasette(SUMMARISER, settings["plugin_config"], **settings["kwargs"])
        job = await job_json(second, job_id)
        assert (job["status"], job["done"], job["remaining"]) == ("interrupted", 3, 5)
        assert job["reason"] == "Datasette stopped while this job was running"
        page = await second.client.get(
            f"/-/llm-enrichments/{job_id}", cookies=cookies_for(second, "root")
        )
        assert "Interrupted: Datasette stopped while this job was running" in page.text
        table_page = await second.client.get("/news/articles", cookies=cookies_for(second, "root"))
        assert f"LLM enrichment {job_id}: interrupted, 37%" in table_page.text

        model.release()
        prompted_before = len(model.prompts)
        assert prompted_before == 3
        response = await job_action(second, job_id, "resume")
        assert response.status_code == 302
        job = await wait_until_ended(second, job_id)
    assert (job["status"], job["done"], job["failed"]) == ("finished", 8, 0)
    done_first = set(model.prompt_texts[:3])
    assert done_first.isdisjoint(model.prompt_texts[3:])  # no row prompted twice
    assert len(model.prompts) == 8
    assert summaries(db_path) == expected(range(1, 9))
    assert [e["message"] for e in job["events"]][-3:] == [
        "Interrupted: Datasette stopped while this job was running",
        "Resumed by root",
        "Finished: 8 row(s) done, 0 failed",
    ]


async def test_job_pages_are_for_those_who_may_enrich_the_table(make_datasette):
    ds = await make_datasette()
    job_id = job_id_of(await start_job(ds))
    await wait_until_ended(ds, job_id)
    for path in (f"/-/llm-enrichments/{job_id}", f"/-/llm-enrichments/{job_id}.json"):
        assert (await ds.client.get(path, cookies=cookies_for(ds, "alice"))).status_code == 403
        assert (await ds.client.get(path)).status_code == 403
    assert (
        await ds.client.get("/-/llm-enrichments/999", cookies=cookies_for(ds, "root"))
    ).status_code == 404
    listing = await ds.client.get("/-/llm-enrichments", cookies=cookies_for(ds, "alice"))
    assert "No enrichment jobs you may see" in listing.text
    listing = await ds.client.get(
        "/-/llm-enrichments?database=news&table=articles", cookies=cookies_for(ds, "root")
    )
    assert f'<a href="/-/llm-enrichments/{job_id}">{job_id}</a>' in listing.text
    # Actions are POST only, and refused to others
    response = await ds.client.get(
        f"/-/llm-enrichments/{job_id}/cancel", cookies=cookies_for(ds, "root")
    )
    assert response.status_code == 405
    response = await job_action(ds, job_id, "retry", actor_id="alice")
    assert response.status_code == 403


async def test_cross_site_post_is_refused(make_datasette, db_path):
    ds = await make_datasette()
    # A forged form post: the victim's cookie, no CSRF token, a cross-site browser header
    response = await ds.client.post(
        FORM,
        data={"template": "{title}", "output_column": "summary", "model": "echo", "rows": "all"},
        cookies=cookies_for(ds, "root"),
        headers={"sec-fetch-site": "cross-site", "origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert "summary" not in columns_of(db_path)


async def test_missing_database_and_table_are_404(make_datasette):
    ds = await make_datasette()
    for path in ("/news/nope/-/enrich-with-llm", "/nope/articles/-/enrich-with-llm"):
        assert (await ds.client.get(path, cookies=cookies_for(ds, "root"))).status_code == 404


@pytest.mark.parametrize(
    "config, message",
    [
        (
            {"concurrency": 0},
            f"plugins.{PLUGIN}.concurrency: expected a positive integer, got 0",
        ),
        ({"concurrency": True}, "concurrency: expected a positive integer, got True"),
        (
            {"allow": True},
            f"plugins.{PLUGIN}.allow: unknown key, expected one of: "
            "concurrency, max_consecutive_failures, database",
        ),
        (
            {"database": "jobs"},
            f"plugins.{PLUGIN}.database: no database named 'jobs' is attached",
        ),
    ],
)
async def test_config_mistakes_stop_startup(make_datasette, config, message):
    with pytest.raises(ValueError) as error:
        await make_datasette(plugin_config=config)
    assert message in str(error.value)


async def test_rowid_compound_key_and_oddly_named_tables(make_datasette, db_path):
    conn = sqlite3.connect(db_path)
    conn.execute("create table notes (body text)")
    conn.executemany("insert into notes values (?)", [("first",), ("second",)])
    conn.execute("create table pairs (a text, b integer, body text, primary key (a, b))")
    conn.executemany("insert into pairs values (?, ?, ?)", [("x", 1, "one"), ("x", 2, "two")])
    conn.execute('create table "odd/table name" ("the id" integer primary key, "the body" text)')
    conn.executemany('insert into "odd/table name" values (?, ?)', [(1, "uno"), (2, "dos")])
    conn.commit()
    conn.close()
    ds = await make_datasette()
    for table, template in (
        ("notes", "Shout {body}"),
        ("pairs", "Shout {body}"),
        ("odd/table name", "Shout {the body}"),
    ):
        path = ds.urls.table("news", table) + "/-/enrich-with-llm"
        fields = {"template": template, "output_column": "loud out", "model": "echo", "rows": "all"}
        job = await wait_until_ended(ds, job_id_of(await post_form(ds, path, fields)))
        assert (job["status"], job["done"], job["table"]) == ("finished", 2, table)
    conn = sqlite3.connect(db_path)
    written = [
        *conn.execute('select body, "loud out" from notes order by rowid'),
        *conn.execute('select body, "loud out" from pairs order by a, b'),
        *conn.execute('select "the body", "loud out" from "odd/table name" order by 1'),
    ]
    conn.close()
    assert len(written) == 6
    for body, loud in written:
        assert f'"prompt": "Shout {body}"' in loud
