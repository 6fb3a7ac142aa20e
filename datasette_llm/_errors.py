"""Exceptions raised by datasette-llm. All are exported from ``datasette_llm``."""

import llm


class ModelNotFoundError(llm.UnknownModelError):
    """No model could be resolved: an unknown model ID, or no default configured.

    A subclass of llm's ``UnknownModelError`` (itself a ``KeyError``), so code written
    for llm's ``get_async_model()`` catches it too.
    """

    def __str__(self):
        # KeyError would show its message quoted, as a key
        return str(self.args[0]) if self.args else ""


class ModelNotAllowedError(ModelNotFoundError):
    """The model exists but policy refuses it for this actor and purpose.

    ``model_id`` is the refused model, ``rule`` a short name for the rule that
    refused it (``"plugins.datasette-llm.blocked_models"``, ``"hook:<plugin>"`` ...).
    """

    def __init__(self, model_id, rule, message):
        super().__init__(message)
        self.model_id = model_id
        self.rule = rule


class ConfigError(ValueError):
    """The ``datasette-llm`` plugin configuration is invalid.

    ``path`` is the full path of the offending value, for example
    ``plugins.datasette-llm.purposes.enrichments.models[2]``.
    """

    def __init__(self, path, problem):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class HookResultError(TypeError):
    """A plugin's implementation of a datasette-llm hook returned something unusable."""

    def __init__(self, hook_name, plugin_name, problem):
        super().__init__(f"{plugin_name}: {hook_name}() {problem}")
        self.hook_name = hook_name
        self.plugin_name = plugin_name


class GroupExitedError(RuntimeError):
    """A model, conversation or chain of a ``group()`` block was used after the block
    exited: its prompts would be charged to a group that has already settled."""


class KeyUnavailableError(RuntimeError):
    """Secrets that hold API keys are set but could not be read (for example the
    database was locked), so no key is handed out rather than another one.

    ``secret_names`` are the datasette-secrets secrets; keys are never in the message.
    """

    def __init__(self, secret_names, problem):
        names = tuple(secret_names)
        which = (
            f"secret {names[0]!r}" if len(names) == 1
            else "secrets " + ", ".join(map(repr, names))
        )
        super().__init__(
            f"datasette-secrets {which} could not be read ({problem}); refusing to fall "
            "back to another key"
        )
        self.secret_names = names
