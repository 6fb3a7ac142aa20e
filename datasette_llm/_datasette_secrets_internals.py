"""Every reach of ours into datasette-secrets beyond its documented ``get_secret()``.

datasette-secrets documents one way to read a secret: ``get_secret(datasette, name,
actor_id)``. It answers one name at a time: it lists every plugin's secrets, runs a
SELECT, decrypts, and UPDATEs ``last_used_at`` (about 0.8 ms of CPU per name, on a
machine where llm lists 300 models in 0.45 ms), and it answers ``None`` both for a
secret that is unset and for one it could not read (it catches every
``sqlite3.OperationalError``, "database table is locked" included). Two things we need
are not in that interface, so this module reads datasette-secrets' own table:

- **Listings** (``models()``) only ask whether keys exist. ``Snapshot.read`` reads every
  name a listing may need in one SELECT and records no use; ``Snapshot.value`` answers
  for each name what ``get_secret()`` would (environment variable, then configuration,
  then the newest stored version, decrypted; the same exceptions for a value stored
  under another encryption key).
- **Unset or unreadable?** When ``get_secret()`` answers ``None`` for a name,
  ``stored_value_exists`` tells whether a value is stored: if it is, the read failed,
  and the caller must not fall through to another key.

Checked against datasette-secrets 0.2 (Datasette 0.65.x) and 0.3a0 (Datasette 1.0
alphas), whose ``get_secret()``, ``get_config()``, ``get_database()`` and table are the
same. On any other release (``usable()`` is false) nothing here is used: listings call
``get_secret()`` name by name (slower, same answers), and a ``None`` from
``get_secret()`` is taken as unset, as that release says. The same holds while
``datasette_secrets.get_secret`` is not the module's own function (tests and
``datasette_llm.testing.fake_secrets`` replace it) and while our own
``register_secrets`` hook is not registered (datasette-secrets then knows none of our
names).
"""

from __future__ import annotations

import os
from typing import Iterable, Optional

from ._hooks import hook_caller

# Releases whose get_secret() reads exactly what Snapshot.value() reads. Add a release
# here only after reading its get_secret() and running tests/test_datasette_secrets_internals.py.
VERIFIED_RELEASES = frozenset({"0.2", "0.3a0"})
ENV_PREFIX = "DATASETTE_SECRETS_"
_MAX_PARAMETERS = 500  # per SELECT, well under SQLite's limit
NOT_READ = object()  # Snapshot.value(): this name was not read; ask get_secret()
_NO_ROW = object()

_release: Optional[str] = None


def installed_release() -> str:
    """The installed datasette-secrets version (read once: an upgrade needs a restart
    to take effect anyway, since the imported module is the old one)."""
    global _release
    if _release is None:
        from importlib.metadata import version

        _release = version("datasette-secrets")
    return _release


def usable(datasette_secrets) -> bool:
    """True if this module answers for this datasette-secrets exactly as its
    ``get_secret()`` would, for the names our register_secrets declares."""
    get_secret = datasette_secrets.get_secret
    return (
        getattr(get_secret, "__module__", None) == "datasette_secrets"
        and getattr(get_secret, "__name__", None) == "get_secret"
        and not hasattr(get_secret, "__wrapped__")  # functools.wraps copies the names
        and installed_release() in VERIFIED_RELEASES
        and _our_register_secrets_is_registered()
    )


def _our_register_secrets_is_registered() -> bool:
    """Without it, datasette-secrets knows none of our names: get_secret() answers None."""
    ours = ("datasette_llm._plugin", "register_secrets")
    for impl in hook_caller("register_secrets").get_hookimpls():
        if (impl.function.__module__, impl.function.__name__) == ours:
            return True
    return False


def environment_value(name: str) -> Optional[str]:
    """The ``DATASETTE_SECRETS_<name>`` value, which get_secret() returns if it is set
    (reading nothing else and recording nothing)."""
    return os.environ.get(ENV_PREFIX + name) or None


def _is_missing_table(error: Exception) -> bool:
    """get_secret() answers None when datasette-secrets' table does not exist yet; any
    other OperationalError ("database table is locked") is a failed read."""
    return "no such table" in str(error)


async def stored_value_exists(datasette_secrets, datasette, name: str) -> bool:
    """True if a value for ``name`` is stored in datasette-secrets' table (so a ``None``
    from get_secret() means it could not be read). Raises ``sqlite3.OperationalError``
    if the table cannot be read now."""
    if datasette_secrets.get_config(datasette) is None:
        return False  # no encryption key: get_secret() never reads the table
    from datasette.utils import sqlite3

    db = datasette_secrets.get_database(datasette)
    try:
        rows = await db.execute(
            "select 1 from datasette_secrets where name = ? limit 1", [name]
        )
    except sqlite3.OperationalError as error:
        if _is_missing_table(error):
            return False
        raise
    return bool(rows.rows)


class Snapshot:
    """What datasette-secrets held for some names at one moment of one listing."""

    __slots__ = ("_stored", "_fernet")

    def __init__(self, stored: dict, fernet) -> None:
        self._stored = stored  # name -> newest encrypted value, or _NO_ROW
        self._fernet = fernet  # None when datasette-secrets has no encryption key

    @classmethod
    async def read(cls, datasette_secrets, datasette, names: Iterable[str]) -> "Snapshot":
        """One SELECT for the ``names`` not set in the environment (those never reach
        the database in ``get_secret()``), none if datasette-secrets is not configured.
        Raises ``sqlite3.OperationalError`` if the table exists but cannot be read now
        (locked): an unread key is not an unset key."""
        wanted = [name for name in dict.fromkeys(names) if not environment_value(name)]
        stored = dict.fromkeys(wanted, _NO_ROW)
        config = datasette_secrets.get_config(datasette)
        if config is None or not wanted:
            return cls(stored, None)
        from datasette.utils import sqlite3  # the sqlite3 get_secret() catches errors of

        db = datasette_secrets.get_database(datasette)
        try:
            for start in range(0, len(wanted), _MAX_PARAMETERS):
                chunk = wanted[start:start + _MAX_PARAMETERS]
                rows = await db.execute(
                    "select name, encrypted from datasette_secrets where name in ({}) "
                    "order by version".format(", ".join("?" * len(chunk))),
                    chunk,
                )
                for name, encrypted in rows.rows:
                    stored[name] = encrypted  # ascending versions: the newest wins
        except sqlite3.OperationalError as error:
            if not _is_missing_table(error):
                raise
            return cls(dict.fromkeys(wanted, _NO_ROW), None)
        from cryptography.fernet import Fernet

        return cls(stored, Fernet(config["encryption_key"].encode("utf-8")))

    def value(self, name: str):
        """``get_secret(name)`` as of this snapshot, or ``NOT_READ``."""
        from_env = environment_value(name)
        if from_env:
            return from_env
        encrypted = self._stored.get(name, NOT_READ)
        if encrypted is NOT_READ:
            return NOT_READ
        if encrypted is _NO_ROW or self._fernet is None:
            return None
        return self._fernet.decrypt(encrypted).decode("utf-8")

