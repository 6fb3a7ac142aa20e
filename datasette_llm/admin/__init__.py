"""The operator's side of datasette-llm: the ``/-/llm`` page and its JSON twin, assigning
a model to a purpose, the "try it" stream, the ``llm-admin`` permission and the
``datasette llm status`` command.

Everything shown is computed by ``_status`` from the same selection code that
``LLM.model()`` and ``LLM.models()`` run, so the page cannot disagree with what plugins
get. The hook implementations live in ``_hooks`` and are imported by
``datasette_llm._plugin``.
"""
