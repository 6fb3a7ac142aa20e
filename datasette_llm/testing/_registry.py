"""Registering models with llm for a while: ``fake_models()``.

One llm plugin object, registered through llm's own ``register_models`` hook while any
``fake_models()`` block is active, registers the models of every active block, outermost
first. It runs after every installed llm plugin (``trylast``), so a fake model with the
same ID as an installed one shadows it, and an inner block shadows an outer one.
"""

from __future__ import annotations

import functools
import inspect

import llm
from llm.plugins import load_plugins, pm as llm_pm

_PLUGIN_NAME = "datasette-llm-fake-models"
# Blocks currently entered, outermost first (read by the pytest plugin's leak check)
active_registrations: list = []


class _FakeModelsPlugin:
    """The llm plugin that registers the models of the active ``fake_models()`` blocks."""

    __name__ = _PLUGIN_NAME  # llm's and Datasette's plugin listings read __name__

    @llm.hookimpl(trylast=True)
    def register_models(self, register):
        for registration in active_registrations:
            for model in registration.models:
                register(model.sync, model)


_plugin = _FakeModelsPlugin()


class fake_models:
    """Register llm models for the duration of a ``with`` block (or a decorated function).

    ``with fake_models(FakeModel("a"), FakeModel("b")) as (a, b): ...``; a single model is
    returned on its own. Each model needs a sync twin as ``.sync`` (``FakeModel`` has one).
    Blocks nest; a model shadows any installed or outer model with the same ID.
    """

    def __init__(self, *models):
        if not models:
            raise TypeError("fake_models() needs at least one model")
        for model in models:
            if not isinstance(model, (llm.AsyncModel, llm.AsyncKeyModel)):
                raise TypeError(f"fake_models() takes llm async models (FakeModel), got {model!r}")
            if not isinstance(getattr(model, "sync", None), (llm.Model, llm.KeyModel)):
                raise TypeError(
                    f"{model!r} has no sync twin (.sync, an llm.Model): llm registers models "
                    "in pairs; use FakeModel or give your model one"
                )
        self.models = models
        self._active = False

    def __enter__(self):
        if self._active:
            raise RuntimeError(f"{self!r} is already active")
        load_plugins()
        if not active_registrations:
            llm_pm.register(_plugin, name=_PLUGIN_NAME)
        self._active = True
        active_registrations.append(self)
        return self.models[0] if len(self.models) == 1 else self.models

    def __exit__(self, *exc_info):
        if self._active:
            self._active = False
            active_registrations.remove(self)
            if not active_registrations:
                llm_pm.unregister(_plugin)
        return False

    def __call__(self, func):
        models = self.models
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args, **kwargs):
                with fake_models(*models):
                    return await func(*args, **kwargs)

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with fake_models(*models):
                return func(*args, **kwargs)

        return wrapper

    def __repr__(self):
        return f"fake_models({', '.join(repr(m.model_id) for m in self.models)})"
