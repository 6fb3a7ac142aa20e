"""This plugin's configuration, read and checked in one place.

```yaml
plugins:
  datasette-llm-example-enrichments:
    concurrency: 4                 # prompts in flight per job (default 4)
    max_consecutive_failures: 10   # pause a job after this many rows fail in a row
    database: jobs                 # where job state lives (default: the internal database)
```
"""

from __future__ import annotations

from typing import Optional

PLUGIN = "datasette-llm-example-enrichments"
DEFAULT_CONCURRENCY = 4
DEFAULT_MAX_CONSECUTIVE_FAILURES = 10
KEYS = ("concurrency", "max_consecutive_failures", "database")


class ConfigError(ValueError):
    """A mistake in this plugin's configuration; the message names the key."""


class Config:
    """``concurrency``, ``max_consecutive_failures`` and ``database`` (``None``: the
    internal database), checked when built."""

    def __init__(self, raw: Optional[dict]):
        raw = {} if raw is None else raw
        if not isinstance(raw, dict):
            raise ConfigError(f"plugins.{PLUGIN}: expected a mapping, got {raw!r}")
        unknown = sorted(set(raw) - set(KEYS))
        if unknown:
            raise ConfigError(
                f"plugins.{PLUGIN}.{unknown[0]}: unknown key, expected one of: {', '.join(KEYS)}"
            )
        self.concurrency = _positive_int(raw, "concurrency", DEFAULT_CONCURRENCY)
        self.max_consecutive_failures = _positive_int(
            raw, "max_consecutive_failures", DEFAULT_MAX_CONSECUTIVE_FAILURES
        )
        self.database = raw.get("database")
        if self.database is not None and (not isinstance(self.database, str) or not self.database):
            raise ConfigError(
                f"plugins.{PLUGIN}.database: expected the name of an attached database, "
                f"got {self.database!r}"
            )

    @classmethod
    def of(cls, datasette) -> "Config":
        return cls(datasette.plugin_config(PLUGIN))


def _positive_int(raw: dict, key: str, default: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"plugins.{PLUGIN}.{key}: expected a positive integer, got {value!r}")
    return value
