"""Exceptions raised by datasette-llm. All are exported from ``datasette_llm``."""


class ModelNotFoundError(Exception):
    """No model could be resolved: an unknown model ID, or no default configured."""


class ModelNotAllowedError(ModelNotFoundError):
    """The model exists but policy refuses it for this actor and purpose.

    ``model_id`` is the refused model, ``rule`` a short name for the rule that
    refused it (``"blocked_models"``, ``"purposes.<name>.models"``, ``"hook:<plugin>"``,
    ``"no key"`` ...).
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
