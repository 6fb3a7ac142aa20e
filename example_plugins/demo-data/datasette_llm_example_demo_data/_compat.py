"""What differs between Datasette 0.65.x and the 1.0 alphas, for this plugin: signing an
actor in (``set_actor_cookie()`` from 1.0a1; 0.65 sets the signed cookie itself)."""

from __future__ import annotations


def sign_in(datasette, response, actor: dict) -> None:
    if hasattr(datasette, "set_actor_cookie"):
        datasette.set_actor_cookie(response, actor)
    else:
        response.set_cookie("ds_actor", datasette.sign({"a": actor}, "actor"))
