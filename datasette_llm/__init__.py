"""datasette-llm: the layer through which Datasette plugins use LLM models."""

from . import hookspecs
from ._errors import (
    ConfigError,
    GroupExitedError,
    HookResultError,
    KeyUnavailableError,
    ModelNotAllowedError,
    ModelNotFoundError,
)
from ._group import Group
from ._llm import LLM
from ._prompting import PromptResult, WrappedAsyncModel, WrappedConversation
from ._purposes import Purpose, get_purposes

# Last, once every public name above is bound: importing datasette.plugins loads every
# installed Datasette plugin, and a plugin that does ``from datasette_llm import LLM``
# at import time must find it even when datasette_llm was imported first.
from datasette.plugins import pm  # noqa: E402

pm.add_hookspecs(hookspecs)

__all__ = [
    "LLM",
    "ConfigError",
    "Group",
    "GroupExitedError",
    "HookResultError",
    "KeyUnavailableError",
    "ModelNotAllowedError",
    "ModelNotFoundError",
    "PromptResult",
    "Purpose",
    "WrappedAsyncModel",
    "WrappedConversation",
    "get_purposes",
    "hookspecs",
]
