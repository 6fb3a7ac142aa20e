"""This plugin's config (``plugins: datasette-llm-example-sql-assistant:``), validated
once per read; a mistake names the offending key."""

from __future__ import annotations

from typing import Optional

PLUGIN = "datasette-llm-example-sql-assistant"
DEFAULT_SYSTEM_PROMPT = (
    "You write SQLite queries. Reply with one SQL query in a ```sql fenced block and "
    "nothing else.\n\nThe database schema:\n\n{schema}"
)
DEFAULT_SCHEMA_MAX_CHARS = 6000
MIN_SCHEMA_MAX_CHARS = 200
OPTIONS = ("system_prompt", "schema_max_chars", "example_rows", "exclude_tables")


class Config:
    """- ``system_prompt``: the system prompt; ``{schema}`` is replaced by the schema
    - ``schema_max_chars``: the schema is cut to about this many characters (tables that
      do not fit are counted in a final comment)
    - ``example_rows``: rows of each table shown to the model (default 0: no row data)
    - ``exclude_tables``: more tables to leave out of the schema, beyond hidden tables,
      Datasette's ``_internal``-style tables and SQLite's own
    """

    def __init__(self, raw: Optional[dict]):
        raw = {} if raw is None else raw
        if not isinstance(raw, dict):
            raise ValueError(_error("", f"expected a mapping of options, got {raw!r}"))
        unknown = sorted(set(raw) - set(OPTIONS))
        if unknown:
            raise ValueError(
                _error(unknown[0], f"unknown option, expected one of: {', '.join(OPTIONS)}")
            )
        self.system_prompt = raw.get("system_prompt", DEFAULT_SYSTEM_PROMPT)
        if not isinstance(self.system_prompt, str) or "{schema}" not in self.system_prompt:
            raise ValueError(_error("system_prompt", "must be a string containing {schema}"))
        self.schema_max_chars = raw.get("schema_max_chars", DEFAULT_SCHEMA_MAX_CHARS)
        if not _whole_number(self.schema_max_chars, MIN_SCHEMA_MAX_CHARS):
            raise ValueError(
                _error(
                    "schema_max_chars",
                    f"expected a whole number of {MIN_SCHEMA_MAX_CHARS} or more, "
                    f"got {self.schema_max_chars!r}",
                )
            )
        self.example_rows = raw.get("example_rows", 0)
        if not _whole_number(self.example_rows, 0):
            raise ValueError(
                _error(
                    "example_rows",
                    f"expected a whole number of 0 or more, got {self.example_rows!r}",
                )
            )
        self.exclude_tables = raw.get("exclude_tables", [])
        if not isinstance(self.exclude_tables, list) or not all(
            isinstance(name, str) for name in self.exclude_tables
        ):
            raise ValueError(
                _error(
                    "exclude_tables", f"expected a list of table names, got {self.exclude_tables!r}"
                )
            )

    @classmethod
    def of(cls, datasette) -> "Config":
        return cls(datasette.plugin_config(PLUGIN))


def _whole_number(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _error(key: str, message: str) -> str:
    path = f"plugins.{PLUGIN}" + (f".{key}" if key else "")
    return f"{path}: {message}"
