"""datasette-secrets' values for a listing, read in one query and without writing.

``models()`` has to know, for every provider, whether a key is set. datasette-secrets
answers one name at a time: ``get_secret()`` lists every plugin's secrets, runs a
SELECT, decrypts, and UPDATEs ``last_used_at``, about 0.8 ms of CPU per name on a
machine where llm lists 300 models in 0.45 ms. Listing is not using a key, so here a
listing reads every name it may need in one SELECT and records no use. ``model()``,
which hands a key to a prompt, still calls ``get_secret()`` for a key stored in the
database (which records the use); a key in a ``DATASETTE_SECRETS_*`` environment
variable, where ``get_secret()`` records nothing, is read from the environment.

The answer for each name is the one ``get_secret()`` would give (``Snapshot.value``
follows it line by line: environment variable, then configuration, then the newest
stored version, decrypted), and exceptions are the same (a secret stored under another
encryption key raises ``InvalidToken`` when the listing reaches it). This reads the
table of datasette-secrets' own ``get_database()``, which is not a documented interface,
so it is used only when all of these hold, and ``get_secret()`` answers otherwise:

- the installed datasette-secrets is a release whose ``get_secret()`` we have read and
  test against (``VERIFIED_RELEASES``);
- ``datasette_secrets.get_secret`` is that module's own function (tests and
  ``datasette_llm.testing.fake_secrets`` replace it);
- our ``register_secrets`` hook is registered, and the name is one it declares (the
  caller says so).
"""

from __future__ import annotations

import os
from typing import Iterable, Optional

from ._hooks import hook_caller

# Releases whose get_secret() reads exactly what Snapshot.value() reads. Add a release
# here only after reading its get_secret() and running tests/test_stored_secrets.py.
VERIFIED_RELEASES = frozenset({"0.2", "0.3a0"})
_ENV_PREFIX = "DATASETTE_SECRETS_"
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
    """True if a Snapshot answers for this datasette-secrets exactly as its
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


def _from_env(name: str) -> Optional[str]:
    """The ``DATASETTE_SECRETS_<name>`` value, which get_secret() returns if it is set."""
    return os.environ.get(_ENV_PREFIX + name) or None


def from_environment(datasette_secrets, name: str) -> Optional[str]:
    """``get_secret(name)`` when its answer comes from the environment (where it reads
    nothing else and records nothing), without listing every plugin's secrets; None
    when it would look further, or when we cannot answer for it (``usable()``)."""
    value = _from_env(name)
    if value and usable(datasette_secrets):
        return value
    return None


class Snapshot:
    """What datasette-secrets held for some names at one moment of one listing."""

    __slots__ = ("_stored", "_fernet")

    def __init__(self, stored: dict, fernet) -> None:
        self._stored = stored  # name -> newest encrypted value, or _NO_ROW
        self._fernet = fernet  # None when datasette-secrets has no encryption key

    @classmethod
    async def read(cls, datasette_secrets, datasette, names: Iterable[str]) -> "Snapshot":
        """One SELECT for the ``names`` not set in the environment (those never reach
        the database in ``get_secret()``), none if datasette-secrets is not configured."""
        wanted = [name for name in dict.fromkeys(names) if not _from_env(name)]
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
        except sqlite3.OperationalError:
            # get_secret() answers None when its table cannot be read
            return cls(dict.fromkeys(wanted, _NO_ROW), None)
        from cryptography.fernet import Fernet

        return cls(stored, Fernet(config["encryption_key"].encode("utf-8")))

    def value(self, name: str):
        """``get_secret(name)`` as of this snapshot, or ``NOT_READ``."""
        from_env = _from_env(name)
        if from_env:
            return from_env
        encrypted = self._stored.get(name, NOT_READ)
        if encrypted is NOT_READ:
            return NOT_READ
        if encrypted is _NO_ROW or self._fernet is None:
            return None
        return self._fernet.decrypt(encrypted).decode("utf-8")
