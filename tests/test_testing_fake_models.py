"""datasette_llm.testing.fake_models: register llm models for a block or a function."""

import llm
import pytest

from datasette_llm import LLM
from datasette_llm.testing import FakeModel, fake_models


def registered_ids():
    return [m.model_id for m in llm.get_models()]


def test_context_manager_registers_then_removes():
    fake = FakeModel("temporary")
    assert "temporary" not in registered_ids()
    with fake_models(fake) as entered:
        assert entered is fake
        assert llm.get_async_model("temporary") is fake
        assert llm.get_model("temporary") is fake.sync
        assert "temporary" in registered_ids()
    assert "temporary" not in registered_ids()
    with pytest.raises(llm.UnknownModelError):
        llm.get_async_model("temporary")


def test_several_models_come_back_as_a_tuple():
    with fake_models(FakeModel("a"), FakeModel("b")) as (a, b):
        assert (a.model_id, b.model_id) == ("a", "b")
        assert llm.get_async_model("b") is b


def test_removed_even_when_the_block_raises():
    with pytest.raises(ZeroDivisionError):
        with fake_models(FakeModel("doomed")):
            1 / 0
    assert "doomed" not in registered_ids()


def test_nesting():
    with fake_models(FakeModel("outer")):
        with fake_models(FakeModel("inner")):
            assert {"outer", "inner"} <= set(registered_ids())
        assert "inner" not in registered_ids()
        assert "outer" in registered_ids()
    assert not {"outer", "inner"} & set(registered_ids())


def test_inner_block_shadows_outer_and_installed_models():
    outer, inner = FakeModel("echo"), FakeModel("echo")
    with fake_models(outer):
        assert llm.get_async_model("echo") is outer
        with fake_models(inner):
            assert llm.get_async_model("echo") is inner
        assert llm.get_async_model("echo") is outer
    assert type(llm.get_async_model("echo")).__name__ != "FakeModel"


async def test_shadowing_an_installed_model_lists_it_once(datasette_llm_config):
    ds = await datasette_llm_config({"default_model": "echo-needs-key", "require_keys": False})
    with fake_models(FakeModel("echo", responses=["fake echo"])) as fake:
        listed = [m for m in await LLM(ds).models() if m.model_id == "echo"]
        assert listed == [fake]
        model = await LLM(ds).model("echo")
        assert await (await model.prompt("hi")).text() == "fake echo"


def test_the_same_block_cannot_be_entered_twice():
    block = fake_models(FakeModel("once"))
    with block:
        with pytest.raises(RuntimeError, match="already active"):
            block.__enter__()
    assert "once" not in registered_ids()


def test_argument_checks():
    with pytest.raises(TypeError, match="at least one model"):
        fake_models()
    with pytest.raises(TypeError, match="takes llm async models"):
        fake_models("a-model-id")
    with pytest.raises(TypeError, match="has no sync twin"):

        class NoTwin(llm.AsyncModel):
            model_id = "no-twin"

            async def execute(self, prompt, stream, response, conversation):
                yield "x"

        fake_models(NoTwin())


DECORATED = FakeModel("decorated", responses=["from the decorator"])


@fake_models(DECORATED)
def test_decorates_a_sync_function():
    assert llm.get_model("decorated").prompt("x").text() == "from the decorator"


@fake_models(FakeModel("decorated-async", responses=["async decorator"]))
async def test_decorates_an_async_function(datasette_llm_config):
    # Fixtures still reach the decorated test: the signature is preserved
    ds = await datasette_llm_config({"default_model": "decorated-async"})
    model = await LLM(ds).model()
    assert await (await model.prompt("x")).text() == "async decorator"


def test_decorated_functions_register_only_while_running():
    state = {}

    @fake_models(FakeModel("while-running"))
    def sync_function(value):
        state["sync"] = "while-running" in registered_ids()
        return value * 2

    assert sync_function(21) == 42
    assert state["sync"] is True
    assert "while-running" not in registered_ids()


async def test_decorated_coroutine_registers_only_while_awaited():
    state = {}

    @fake_models(FakeModel("while-awaited"))
    async def coroutine():
        state["inside"] = "while-awaited" in registered_ids()
        return "done"

    pending = coroutine()
    assert "while-awaited" not in registered_ids()
    assert await pending == "done"
    assert state["inside"] is True
    assert "while-awaited" not in registered_ids()


def test_repr():
    assert repr(fake_models(FakeModel("a"), FakeModel("b"))) == "fake_models('a', 'b')"
