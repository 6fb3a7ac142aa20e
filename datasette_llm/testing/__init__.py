"""Test helpers for plugins that use datasette-llm: fake models, fake secrets, a hook
recorder, cassettes of real model calls, and pytest fixtures (``fake_model``,
``hook_recorder``, ``datasette_llm_config``, ``llm_user_dir``, ``llm_cassette``) with
the ``llm_models`` and ``llm_cassette`` markers."""

from ._cassette import (
    DEFAULT_MATCH_ON,
    MATCHERS,
    RECORD_MODES,
    Cassette,
    CassetteFileError,
    UnrecordedPromptError,
)
from ._fake_model import FakeModel
from ._fake_secrets import fake_secrets
from ._hook_recorder import HOOK_NAMES, HookCall, HookRecorder
from ._registry import fake_models

__all__ = [
    "FakeModel",
    "fake_models",
    "fake_secrets",
    "HookRecorder",
    "HookCall",
    "HOOK_NAMES",
    "Cassette",
    "CassetteFileError",
    "UnrecordedPromptError",
    "RECORD_MODES",
    "MATCHERS",
    "DEFAULT_MATCH_ON",
]
