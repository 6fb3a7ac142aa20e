"""datasette-llm: the layer through which Datasette plugins use LLM models."""

from datasette.plugins import pm

from . import hookspecs
from ._errors import ConfigError, HookResultError, ModelNotAllowedError, ModelNotFoundError
from ._group import Group
from ._llm import LLM
from ._prompting import PromptResult, WrappedAsyncModel, WrappedConversation
from ._purposes import Purpose, get_purposes

pm.add_hookspecs(hookspecs)

__all__ = [
    "LLM",
    "ConfigError",
    "Group",
    "HookResultError",
    "ModelNotAllowedError",
    "ModelNotFoundError",
    "PromptResult",
    "Purpose",
    "WrappedAsyncModel",
    "WrappedConversation",
    "get_purposes",
    "hookspecs",
]
