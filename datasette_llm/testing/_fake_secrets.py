"""``fake_secrets()``: make datasette-secrets return chosen values for chosen names."""

from __future__ import annotations

import inspect
import itertools
from typing import Callable, Mapping, Optional, Union

from datasette import hookimpl
from datasette.plugins import pm as datasette_pm

SecretValue = Union[str, None, Callable[[Optional[str]], Optional[str]]]
_counter = itertools.count()
active_fakes: list = []  # read by the pytest plugin's leak check


class _SecretsPlugin:
    def __init__(self, names, name):
        self.names = names
        self.__name__ = name  # Datasette 0.65's plugin listing reads __name__

    @hookimpl
    def register_secrets(self):
        from datasette_secrets import Secret

        return [Secret(name=name, description="fake secret for tests") for name in self.names]


class fake_secrets:
    """Within the block, ``datasette_secrets.get_secret(datasette, name, actor_id)``
    returns ``mapping[name]`` for the names in ``mapping`` (registering them as secrets);
    other names resolve as usual. A value may be a string, ``None`` (unset) or a
    callable taking the actor ID, for per-actor keys.

    ``.lookups`` records every ``(name, actor_id)`` asked for, faked or not.
    """

    def __init__(self, mapping: Mapping[str, SecretValue]):
        for name, value in mapping.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"fake_secrets() secret names must be strings, got {name!r}")
            if value is not None and not isinstance(value, str) and not callable(value):
                raise TypeError(
                    f"fake_secrets() value for {name!r} must be a string, None or a callable"
                )
        self.mapping = dict(mapping)
        self.lookups: list = []
        self._original = None
        self._plugin = None

    def __enter__(self):
        if self._plugin is not None:
            raise RuntimeError(f"{self!r} is already active")
        import datasette_secrets

        self._original = datasette_secrets.get_secret
        original = self._original
        mapping = self.mapping
        lookups = self.lookups

        async def get_secret(datasette, secret_name, actor_id=None):
            lookups.append((secret_name, actor_id))
            if secret_name not in mapping:
                return await original(datasette, secret_name, actor_id)
            value = mapping[secret_name]
            if callable(value):
                value = value(actor_id)
                if inspect.isawaitable(value):
                    value = await value
            return value

        datasette_secrets.get_secret = get_secret
        name = f"datasette-llm-fake-secrets-{next(_counter)}"
        self._plugin = _SecretsPlugin(list(mapping), name)
        datasette_pm.register(self._plugin, name=name)
        active_fakes.append(self)
        return self

    def __exit__(self, *exc_info):
        if self._plugin is None:  # never entered, or already exited
            return False
        import datasette_secrets

        datasette_secrets.get_secret = self._original
        datasette_pm.unregister(self._plugin)
        self._plugin = None
        active_fakes.remove(self)
        return False

    def __repr__(self):
        # Names only: never the values
        return f"<fake_secrets {sorted(self.mapping)}>"
