"""Plugin hook specifications for datasette-llm.

Every hook is called with keyword arguments only, so an implementation may accept any
subset of the arguments listed here, and implementations run in pluggy's call order
(``tryfirst`` first, then the most recently registered).

Sync or async: ``llm_filter_models``, ``llm_default_model`` and ``llm_group_exit`` may
be plain functions or return an awaitable (``async def`` works); datasette-llm awaits
it. ``register_llm_purposes`` is called synchronously by ``get_purposes()`` and must
return its list directly. ``llm_prompt_context`` must return its callable directly (the
wrapper it returns is async).

Wrappers: ``@hookimpl(wrapper=True)`` (and old-style ``hookwrapper=True``)
implementations wrap the whole hook call as in pluggy. Their code runs synchronously
before and after the other implementations and receives what datasette-llm makes of
the hook: for ``llm_filter_models`` the composed list of models (a wrapper may narrow
it, never widen it), for the other hooks the list of the implementations' answers (for
``llm_default_model`` the model IDs). Unlike pluggy, an exception an
``llm_prompt_context`` implementation raises (a denial) reaches the caller even if a
wrapper catches it and returns: a wrapper may replace it, never swallow it.
"""

from pluggy import HookspecMarker

hookspec = HookspecMarker("datasette")


@hookspec
def register_llm_purposes(datasette):
    """Describe the purposes your plugin uses models for.

    Called (synchronously) by ``get_purposes(datasette)``, which the ``/-/llm`` page
    and startup checks use. Return a list of ``datasette_llm.Purpose`` objects (or
    ``None`` for none), not a coroutine. When two plugins register the same name, the
    first registration wins; ``get_purposes()`` fills in each purpose's ``plugin``.
    """


@hookspec
def llm_filter_models(datasette, models, actor, purpose):
    """Narrow the models an actor may use for a purpose.

    Called by ``LLM.models()``, and by ``LLM.model()`` and ``LLM.group()`` to check the
    model they hand out: a model you filter out is neither listed nor handed out.

    ``models`` is the list of llm async model objects that the operator's configuration
    allows for this actor and purpose (allowlists, blocklists, ``require_keys``), the
    same list whichever of those calls asks, so a hook may decide on the list as a
    whole (``models[:3]``). ``actor`` is the actor dict or ``None``; ``purpose`` is the
    purpose string or ``None``.

    Implementations compose: each receives the list the previous one returned, in
    pluggy's call order (``tryfirst`` implementations first). Return the models to keep,
    or ``None`` to keep them all. Models you return that were not in ``models`` are
    ignored: no hook can add a model that configuration or an earlier hook excluded.
    """


@hookspec
def llm_default_model(datasette, purpose, actor):
    """Choose the default model when ``model()`` or ``group()`` is called without a model ID.

    Return a model ID (or alias) string, or ``None`` to defer to the next implementation
    and then to configuration (``purposes.<name>.model``, then ``default_model``).
    The first non-``None`` answer is used if policy allows it for this actor and purpose;
    a model that policy refuses is skipped (with a warning in the log) and the next
    candidate is tried.
    """


@hookspec
def llm_prompt_context(datasette, model_id, prompt, purpose, actor):
    """Wrap each prompt: accounting, auditing, budgets, policy.

    Called for every ``prompt()`` of a model from ``LLM.model()``, ``LLM.group()`` or a
    conversation of one, and once per ``chain()``. Return ``None`` to stay out of this
    prompt, or a callable that takes a ``PromptResult`` and returns an async context
    manager (an ``@asynccontextmanager`` function is the usual choice).

    The code before ``yield`` runs before the prompt is sent. Raising there denies the
    prompt: the exception propagates unchanged out of ``prompt()`` (or out of the first
    iteration of a chain), and wrappers already entered are exited with it. A wrapper
    sees any exception on its way out but cannot swallow it: it still reaches the caller.

    For ``prompt()`` the context exits as soon as the response object exists; the model
    may still be streaming. To act on the finished response, call
    ``await result.on_response_done(callback)``; a callback that raises is logged with
    your plugin's name and does not take the response from the caller. For ``chain()``
    the context stays open until the chain has been iterated to the end (it exits with
    the chain's exception if it fails); ``result.responses`` grows as it goes and
    ``result.is_chain`` is true.
    """


@hookspec
def llm_group_exit(datasette, group):
    """Called once when a ``group()`` block exits, however it exits (normally, raising,
    cancelled in the block, or cancelled while the group exits).

    By then every response of the group has been completed (normal exit) or closed (the
    block raised or was cancelled; ``group.error`` holds the exception). ``group`` has
    ``model_id``, ``purpose``, ``actor``, ``prompt_count``, ``usage`` (input and output
    tokens summed over completed responses) and ``error``. Response objects are released
    as they complete, so a hook that needs them should collect them itself with
    ``llm_prompt_context`` and ``result.on_response_done``. May return an awaitable.
    """
