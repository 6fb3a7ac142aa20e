"""The llm-admin permission guards every view of /-/llm, and the menu link."""

import pytest

from datasette_llm.testing import FakeModel
from llm_admin_support import DATASETTE_1, form_post, grant, signed_in, started

CONFIG = {"purposes": {"p": {"model": "m"}}}
ENDPOINTS = [
    ("GET", "/-/llm", None),
    ("GET", "/-/llm.json", None),
    ("GET", "/-/llm/assign", None),
    ("GET", "/-/llm/try", None),
    ("POST", "/-/llm/assign", {"json": {"purpose": "p", "model": "m"}}),
    ("POST", "/-/llm/assign", {"data": {"purpose": "p", "model": "m"}}),
    ("POST", "/-/llm/try", {"data": {"purpose": "p", "prompt": "hi"}}),
    (
        "POST", "/-/llm/try",
        {"data": {"purpose": "p", "prompt": "hi"}, "headers": {"accept": "text/event-stream"}},
    ),
]


async def request(ds, method, path, kwargs, who):
    if method == "GET":
        return await ds.client.get(path, cookies=signed_in(ds, who) if who else {})
    if "data" in kwargs:  # a form: with its CSRF token, so the permission is what refuses
        return await form_post(ds, path, kwargs["data"], who, headers=kwargs.get("headers"))
    return await ds.client.post(path, cookies=signed_in(ds, who) if who else {}, **kwargs)


@pytest.mark.llm_models(FakeModel("m"))
@pytest.mark.parametrize("method,path,kwargs", ENDPOINTS)
@pytest.mark.parametrize("who", [None, "alice"])
async def test_anonymous_and_other_actors_get_403(
    llm_models, method, path, kwargs, who
):
    ds = await started(CONFIG)
    response = await request(ds, method, path, kwargs, who)
    assert response.status_code == 403
    assert "llm-admin permission" in response.text
    assert llm_models["m"].prompts == []  # nothing was sent for them
    assert "datasette_llm_assignments" not in response.text


@pytest.mark.llm_models(FakeModel("m"))
async def test_a_403_is_a_message_page_for_html_and_json_for_json():
    ds = await started(CONFIG)
    page = await ds.client.get("/-/llm")
    assert page.headers["content-type"].startswith("text/html")
    assert "The llm-admin permission is needed" in page.text
    data = await ds.client.get("/-/llm.json")
    assert data.json() == {
        "ok": False, "error": "The llm-admin permission is needed to see and change LLM models",
    }


@pytest.mark.llm_models(FakeModel("m"))
async def test_root_may():
    ds = await started(CONFIG)
    root = signed_in(ds, "root")
    assert (await ds.client.get("/-/llm", cookies=root)).status_code == 200
    assert (await ds.client.get("/-/llm.json", cookies=root)).status_code == 200
    response = await ds.client.post(
        "/-/llm/assign", json={"purpose": "p", "model": "m"}, cookies=root
    )
    assert response.status_code == 200


@pytest.mark.skipif(not DATASETTE_1, reason="0.65 has no --root switch: root is root")
@pytest.mark.llm_models(FakeModel("m"))
async def test_root_without_the_root_switch_may_not(datasette_llm_config):
    ds = await datasette_llm_config(CONFIG)
    response = await ds.client.get("/-/llm", cookies=signed_in(ds, "root"))
    assert response.status_code == 403


@pytest.mark.llm_models(FakeModel("m"))
async def test_granted_in_config():
    ds = await started(CONFIG, **grant({"llm-admin": {"id": "alice"}}))
    assert (await ds.client.get("/-/llm", cookies=signed_in(ds, "alice"))).status_code == 200
    assert (await ds.client.get("/-/llm", cookies=signed_in(ds, "bob"))).status_code == 403
    response = await form_post(
        ds, "/-/llm/assign", {"purpose": "p", "model": "m"}, "alice", page_as="alice"
    )
    assert response.status_code == 302
    # A block replaces the default, on both Datasette lines: root is in it or not
    assert (await ds.client.get("/-/llm", cookies=signed_in(ds, "root"))).status_code == 403
    ds = await started(CONFIG, **grant({"llm-admin": {"id": ["root", "alice"]}}))
    assert (await ds.client.get("/-/llm", cookies=signed_in(ds, "root"))).status_code == 200


@pytest.mark.llm_models(FakeModel("m"))
async def test_the_menu_link_is_for_admins_only():
    ds = await started(CONFIG)
    link = 'href="/-/llm">LLM models</a>'
    as_root = await ds.client.get("/", cookies=signed_in(ds, "root"))
    as_alice = await ds.client.get("/", cookies=signed_in(ds, "alice"))
    assert link in as_root.text
    assert link not in as_alice.text
