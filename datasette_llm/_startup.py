"""Checks of the config against the installed models, run at Datasette startup."""

from __future__ import annotations

from ._catalog import Catalog
from ._errors import ConfigError
from ._llm import plugin_config



def check_config(datasette) -> list[str]:
    """Validate the config (raising ``ConfigError``) and return warnings: model IDs no
    installed llm plugin provides. Options of installed models are validated against
    the model's own ``Options``."""
    config = plugin_config(datasette)
    catalog = Catalog.current()
    warnings = []
    for path, model_id in config.model_ids():
        if catalog.get(model_id) is None:
            warnings.append(
                f"{path}: model {model_id!r} is not provided by any installed llm plugin"
            )
    for path, ref in config.refs():
        model = catalog.get(ref.model_id)
        if model is None or not ref.options:
            continue
        try:
            model.Options(**ref.options)
        except Exception as exc:  # pydantic's ValidationError, or TypeError
            raise ConfigError(f"{path}.options", f"invalid options for {ref.model_id!r}: {_first_line(exc)}") from None
    return warnings


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return " ".join(line.strip() for line in text.splitlines()[:3])
