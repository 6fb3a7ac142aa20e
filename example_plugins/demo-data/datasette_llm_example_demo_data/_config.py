"""The demo plugin's config (``plugins: datasette-llm-example-demo-data:``).

- ``database``: the in-memory database to create (default ``demo``)
- ``personas``: actor ID -> ``{models: [...], default_model: ...}``: demo actors anyone
  may become at ``/-/demo-personas``, with the models the per-user filter allows them
  and their stored default-model preference. Without it the page does not exist.
- ``guide``: ``true`` prints what to open and click once the server is up
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

PLUGIN = "datasette-llm-example-demo-data"
OPTIONS = ("database", "personas", "guide")
PERSONA_OPTIONS = ("models", "default_model")


@dataclass
class Persona:
    actor_id: str
    models: list = field(default_factory=list)
    default_model: Optional[str] = None


class Config:
    def __init__(self, raw: dict):
        if not isinstance(raw, dict):
            raise ValueError(_error("", f"expected a mapping of options, got {raw!r}"))
        unknown = sorted(set(raw) - set(OPTIONS))
        if unknown:
            raise ValueError(
                _error(unknown[0], f"unknown option, expected one of: {', '.join(OPTIONS)}")
            )
        self.database = raw.get("database", "demo")
        if not isinstance(self.database, str) or not self.database:
            raise ValueError(_error("database", f"expected a database name, got {self.database!r}"))
        self.guide = raw.get("guide", False)
        if not isinstance(self.guide, bool):
            raise ValueError(_error("guide", f"expected true or false, got {self.guide!r}"))
        personas = raw.get("personas", {})
        if not isinstance(personas, dict):
            raise ValueError(
                _error("personas", f"expected a mapping of actor IDs, got {personas!r}")
            )
        self.personas = [_persona(actor_id, value) for actor_id, value in personas.items()]

    @classmethod
    def of(cls, datasette) -> Optional["Config"]:
        raw = datasette.plugin_config(PLUGIN)
        return None if raw is None else cls(raw)

    def persona(self, actor_id) -> Optional[Persona]:
        return next((p for p in self.personas if p.actor_id == actor_id), None)


def _persona(actor_id, value) -> Persona:
    path = f"personas.{actor_id}"
    if not isinstance(actor_id, str) or not actor_id:
        raise ValueError(_error("personas", f"persona IDs are strings, got {actor_id!r}"))
    if actor_id == "root":
        # Anyone may become a persona: never the all-powerful root actor
        raise ValueError(_error(path, "root cannot be a persona"))
    value = value or {}
    if not isinstance(value, dict):
        raise ValueError(_error(path, f"expected {{models, default_model}}, got {value!r}"))
    unknown = sorted(set(value) - set(PERSONA_OPTIONS))
    if unknown:
        raise ValueError(
            _error(
                f"{path}.{unknown[0]}",
                f"unknown option, expected one of: {', '.join(PERSONA_OPTIONS)}",
            )
        )
    models = value.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise ValueError(_error(f"{path}.models", f"expected a list of model IDs, got {models!r}"))
    default_model = value.get("default_model")
    if default_model is not None and not isinstance(default_model, str):
        raise ValueError(
            _error(f"{path}.default_model", f"expected a model ID, got {default_model!r}")
        )
    return Persona(actor_id, models, default_model)


def _error(key: str, message: str) -> str:
    return f"plugins.{PLUGIN}" + (f".{key}" if key else "") + f": {message}"
