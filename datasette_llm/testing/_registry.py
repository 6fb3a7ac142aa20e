"""Registering models with llm for a while: ``fake_models()``."""

from __future__ import annotations

import functools
import inspect
import itertools

import llm
from llm.plugins import load_plugins, pm as llm_pm

_counter = itertools.count()
active_registrations: list = []  # read by the pytest plugin's leak check


class _ModelsPlugin:
    """An llm plugin object whose ``register_models`` registers the given models."""

    def __init__(self, models):
        self.models = models

    @llm.hookimpl
    def register_models(self, register):
        for model in self.models:
            register(getattr(model, "sync", None) or _no_sync(model), model)


def _no_sync(model):
    raise TypeError(f"{model!r} has no sync twin (.sync); use FakeModel or register it yourself")


class fake_models:
    """Register llm models for the duration of a ``with`` block (or a decorated test).

    ``with fake_models(FakeModel("a"), FakeModel("b")) as (a, b): ...``; a single model is
    returned on its own. Uses llm's own ``register_models`` hook; nests freely.
    """

    def __init__(self, *models):
        if not models:
            raise TypeError("fake_models() needs at least one model")
        for model in models:
            if not hasattr(model, "model_id") or not hasattr(model, "execute"):
                raise TypeError(f"fake_models() takes llm models, got {model!r}")
        self.models = models
        self._plugin = None

    def __enter__(self):
        if self._plugin is not None:
            raise RuntimeError("this fake_models() block is already active")
        load_plugins()
        self._plugin = _ModelsPlugin(self.models)
        llm_pm.register(self._plugin, name=f"datasette-llm-fake-models-{next(_counter)}")
        active_registrations.append(self)
        return self.models[0] if len(self.models) == 1 else self.models

    def __exit__(self, *exc_info):
        llm_pm.unregister(self._plugin)
        self._plugin = None
        active_registrations.remove(self)
        return False

    def __call__(self, func):
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def async_wrapper(*args, **kwargs):
                with fake_models(*self.models):
                    return await func(*args, **kwargs)

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with fake_models(*self.models):
                return func(*args, **kwargs)

        return wrapper

    def __repr__(self):
        return f"<fake_models {[m.model_id for m in self.models]}>"
