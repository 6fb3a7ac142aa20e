"""Test helpers for plugins that use datasette-llm: fake models, fake secrets, a hook
recorder, and pytest fixtures (``fake_model``, ``hook_recorder``,
``datasette_llm_config``, ``llm_user_dir``) with the ``llm_models`` marker."""

from ._fake_model import FakeModel
from ._fake_secrets import fake_secrets
from ._hook_recorder import HOOK_NAMES, HookCall, HookRecorder
from ._registry import fake_models

__all__ = ["FakeModel", "fake_models", "fake_secrets", "HookRecorder", "HookCall", "HOOK_NAMES"]
