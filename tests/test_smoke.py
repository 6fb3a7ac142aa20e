import pytest
from datasette_llm import LLM
from datasette_llm.testing import FakeModel, fake_models


@pytest.mark.asyncio
async def test_default_model_prompt(datasette_llm_config):
    ds = await datasette_llm_config({"default_model": "echo"})
    model = await LLM(ds).model()
    assert model.model_id == "echo"
    response = await model.prompt("hello")
    assert '"prompt": "hello"' in await response.text()


@pytest.mark.asyncio
@pytest.mark.llm_models(FakeModel("scripted", responses=["one", "two"]))
async def test_marker(datasette_llm_config, llm_models):
    ds = await datasette_llm_config({"default_model": "scripted"})
    model = await LLM(ds).model()
    assert await (await model.prompt("a")).text() == "one"
    assert await (await model.prompt("b")).text() == "two"
    assert llm_models["scripted"].prompt_texts == ["a", "b"]
