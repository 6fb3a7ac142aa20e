"""What the /-/llm page shows is what plugins get: every installed model's verdict, the
default and where it came from, and purpose assignments."""

import logging

import pytest
from datasette import hookimpl
from datasette.version import __version__ as datasette_version

from datasette_llm import LLM, ModelNotFoundError
from datasette_llm import _assignments
from datasette_llm.testing import FakeModel, fake_models


@pytest.fixture
def models():
    with fake_models(
        FakeModel("m-open"),
        FakeModel("m-blocked"),
        FakeModel("m-purpose-blocked"),
        FakeModel("m-keyless", needs_key="nokey"),
        FakeModel("m-hooked"),
        FakeModel("m-outside"),
    ) as fakes:
        yield fakes


CONFIG = {
    "models": ["m-open", "m-blocked", "m-purpose-blocked", "m-keyless", "m-hooked"],
    "blocked_models": ["m-blocked"],
    "purposes": {"p": {"model": "m-open", "blocked_models": ["m-purpose-blocked"]}},
}


async def test_every_excluded_model_has_the_rule_that_excluded_it(
    datasette_llm_config, models, register_plugin
):
    from datasette.plugins import pm

    class NoHooked:
        @hookimpl
        def llm_filter_models(self, models):
            return [m for m in models if m.model_id != "m-hooked"]

    hook_plugin = pm.get_name(register_plugin(NoHooked()))
    ds = await datasette_llm_config(CONFIG)
    explanation = await LLM(ds)._explain(purpose="p")
    rules = {
        v.model.model_id: (v.refusal.rule if v.refusal else None)
        for v in explanation.verdicts
        if v.model.model_id.startswith("m-")
    }
    assert rules == {
        "m-open": None,
        "m-blocked": "plugins.datasette-llm.blocked_models",
        "m-purpose-blocked": "plugins.datasette-llm.purposes.p.blocked_models",
        "m-keyless": "plugins.datasette-llm.require_keys",
        "m-hooked": f"hook:{hook_plugin}",
        "m-outside": "plugins.datasette-llm.models",
    }
    assert explanation.default.model_id == "m-open"
    assert explanation.default_source == "plugins.datasette-llm.purposes.p.model"
    assert [m.model_id for m in await LLM(ds).models(purpose="p")] == [
        v.model.model_id for v in explanation.verdicts if v.refusal is None
    ]


async def test_a_skipped_default_says_why(datasette_llm_config, models):
    ds = await datasette_llm_config(
        {"default_model": "m-open", "purposes": {"p": {"model": "m-blocked"}},
         "blocked_models": ["m-blocked"]}
    )
    explanation = await LLM(ds)._explain(purpose="p")
    assert explanation.default.model_id == "m-open"
    assert explanation.default_source == "plugins.datasette-llm.default_model"
    assert explanation.skipped_defaults == [(
        "m-blocked", "plugins.datasette-llm.purposes.p.model",
        "refused by plugins.datasette-llm.blocked_models: it is in the global blocklist",
    )]


async def test_an_assignment_beats_the_purpose_model_and_is_seen_at_once(
    datasette_llm_config, models
):
    ds = await datasette_llm_config({"purposes": {"p": {"model": "m-open"}}})
    llm_ = LLM(ds)
    assert (await llm_.model(purpose="p")).model_id == "m-open"
    await _assignments.assign(ds, None, "p", "m-hooked", "root")
    assert (await llm_.model(purpose="p")).model_id == "m-hooked"
    explanation = await llm_._explain(purpose="p")
    assert explanation.default_source.startswith("the assignment on /-/llm by root at ")
    with pytest.raises(ModelNotFoundError):  # other purposes are not affected
        await llm_.model(purpose="other")
    assert await _assignments.clear(ds, None, "p") is True
    assert (await llm_.model(purpose="p")).model_id == "m-open"


async def test_an_assignment_policy_refuses_is_skipped(datasette_llm_config, models, caplog):
    ds = await datasette_llm_config(
        {"purposes": {"p": {"model": "m-open"}}, "blocked_models": ["m-blocked"]}
    )
    await _assignments.assign(ds, None, "p", "m-blocked", "root")
    with caplog.at_level(logging.WARNING, logger="datasette_llm"):
        assert (await LLM(ds).model(purpose="p")).model_id == "m-open"
    assert "'m-blocked' from the assignment on /-/llm by root" in caplog.text


@pytest.mark.skipif(
    datasette_version.startswith("0."), reason="Datasette 0.65 has no persistent internal database"
)
async def test_an_assignment_persists_in_the_internal_database_file(models, tmp_path):
    from datasette.app import Datasette

    internal = str(tmp_path / "internal.db")

    async def datasette():
        ds = Datasette(
            memory=True, internal=internal,
            config={"plugins": {"datasette-llm": {"purposes": {"p": {"model": "m-open"}}}}},
        )
        await ds.invoke_startup()
        return ds

    await _assignments.assign(await datasette(), None, "p", "m-hooked", "root")
    assert (await LLM(await datasette()).model(purpose="p")).model_id == "m-hooked"


async def test_assignments_in_a_database_the_config_names(datasette_llm_config, models, tmp_path):
    import sqlite3

    path = tmp_path / "llm_admin.db"
    sqlite3.connect(path).close()
    ds = await datasette_llm_config(
        {"purposes": {"p": {"model": "m-open"}}, "assignments_database": "llm_admin"},
        files=[str(path)],
    )
    await _assignments.assign(ds, "llm_admin", "p", "m-hooked", "root")
    assert (await LLM(ds).model(purpose="p")).model_id == "m-hooked"
    rows = sqlite3.connect(path).execute(f"select purpose, model_id from {_assignments.TABLE}")
    assert rows.fetchall() == [("p", "m-hooked")]
