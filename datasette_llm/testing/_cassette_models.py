"""The llm side of ``Cassette``: models that answer from a cassette or record the real one.

While a cassette is active, one llm plugin wraps llm's ``register_models`` hook
(``hookwrapper``: it runs after every other plugin, whatever their order) and, for every
model the other plugins registered, registers a stand-in with the same model ID, aliases,
key settings, ``Options`` and capabilities; llm takes the later registration of an ID,
so the stand-in is what ``llm.get_async_model()`` and datasette-llm find. Models the
cassette recorded that are not installed are registered from their description in the
file, so a replay needs neither the model's plugin nor its API key.

A stand-in answers from the cassette when it can. Otherwise, when recording, it passes
the prompt to the real model's own ``execute()`` and records what came back: each chunk
as yielded (text or llm ``StreamEvent``), and, once the response is done (llm's
``on_done()``), its tool calls, usage and resolved model.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import json
from typing import Any, Optional

import llm
from llm.plugins import load_plugins, pm as llm_pm

from ._fake_model import _options_class

try:  # llm 0.32 and later: models may yield typed stream events
    from llm.parts import StreamEvent
except ImportError:  # pragma: no cover - older llm: text chunks only
    StreamEvent = None

_PLUGIN_NAME = "datasette-llm-cassette"
# The capability attributes of an llm model (can_stream, supports_tools, needs_key, ...):
# the public class-level settings of llm.Model. ``key`` is left out: it may hold a key.
_CAPABILITIES = tuple(
    name
    for name in dir(llm.Model)
    if not name.startswith("_")
    and name != "key"
    and not callable(getattr(llm.Model, name))
    and not isinstance(inspect.getattr_static(llm.Model, name), property)
)
_JSON_TYPES = {"number": float, "integer": int, "string": str, "boolean": bool}
_active = None  # the active Cassette


def activate(cassette) -> None:
    global _active
    load_plugins()
    _active = cassette
    llm_pm.register(_plugin, name=_PLUGIN_NAME)


def deactivate(cassette) -> None:
    global _active
    if _active is cassette:
        _active = None
        llm_pm.unregister(_plugin)


class _CassettePlugin:
    __name__ = _PLUGIN_NAME  # llm's and Datasette's plugin listings read __name__

    @llm.hookimpl(hookwrapper=True)
    def register_models(self, register, model_aliases):
        yield
        cassette = _active
        if cassette is None:
            return
        installed = set()
        for entry in list(model_aliases):
            sync_model = _CassetteSyncModel(cassette, entry.model.model_id, entry.model)
            async_model = None
            if entry.async_model is not None:
                async_model = _CassetteAsyncModel(
                    cassette, entry.async_model.model_id, entry.async_model
                )
            register(sync_model, async_model, aliases=list(entry.aliases))
            installed.add(entry.model.model_id)
            installed.update(entry.aliases)
        for model_id, description in cassette.models.items():
            if model_id not in installed:
                register(
                    _CassetteSyncModel(cassette, model_id, None, description),
                    _CassetteAsyncModel(cassette, model_id, None, description),
                )


_plugin = _CassettePlugin()


# What is written down


def describe_model(model) -> dict:
    """A model's ID-independent settings: capabilities, key settings, option types."""
    description = {}
    for name in _CAPABILITIES:
        value = getattr(model, name, None)
        if isinstance(value, (set, frozenset, tuple, list)):
            value = sorted(value)
        if value is not None:
            description[name] = value
    description["options"] = _option_types(model.Options)
    return description


def _option_types(options_class) -> dict:
    try:
        properties = options_class.model_json_schema().get("properties", {})
    except Exception:  # an option type pydantic cannot describe
        properties = {}
    types = {}
    for name in options_class.model_fields:
        schema = properties.get(name, {})
        kinds = [schema.get("type")] + [s.get("type") for s in schema.get("anyOf", ())]
        kinds = [kind for kind in kinds if kind in _JSON_TYPES]
        types[name] = kinds[0] if len(kinds) == 1 else "any"
    return types


def describe_prompt(model_id: str, prompt, conversation) -> dict:
    """What a prompt sends, as plain data (the request half of an exchange)."""
    request: dict = {"model": model_id, "prompt": prompt.prompt}
    previous = getattr(conversation, "responses", None) if conversation is not None else None
    # The system prompt in effect: a conversation's earlier one when this prompt gives none
    # (as providers send it; llm 0.30 leaves it off a chain's follow-up prompts, later
    # llm versions repeat it, and the recording is the same on both)
    system = prompt.system or next(
        (r.prompt.system for r in reversed(previous or ()) if r.prompt.system), None
    )
    if system:
        request["system"] = system
    options = prompt.options
    if hasattr(options, "model_dump"):
        options = options.model_dump(mode="json", exclude_none=True)
    options = {name: value for name, value in dict(options or {}).items() if value is not None}
    if options:
        request["options"] = options
    if prompt.attachments:
        request["attachments"] = [
            _without_none({"type": a.type, "url": a.url, "id": a.id()}) for a in prompt.attachments
        ]
    schema = prompt.schema
    if schema is not None and not isinstance(schema, dict):
        schema = schema.model_json_schema()
    if schema:
        request["schema"] = schema
    if prompt.tools:
        request["tools"] = [_tool(tool) for tool in prompt.tools]
    if prompt.tool_results:
        request["tool_results"] = [
            _without_none({"name": r.name, "output": r.output, "tool_call_id": r.tool_call_id})
            for r in prompt.tool_results
        ]
    if previous:
        request["history"] = [response.prompt.prompt for response in previous]
    return request


def _tool(tool) -> dict:
    if isinstance(tool, llm.Tool):
        return _without_none(
            {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}
        )
    return {"server_side": type(tool).__name__}  # a provider-side tool (llm 0.36)


def _chunk(chunk):
    """A chunk as yielded: a string, or a stream event's fields (not their defaults)."""
    if isinstance(chunk, str) or StreamEvent is None or not isinstance(chunk, StreamEvent):
        return chunk
    event = {"type": chunk.type, "chunk": chunk.chunk}
    for field in dataclasses.fields(chunk):
        value = getattr(chunk, field.name)
        if field.name not in event and value != field.default:
            event[field.name] = value
    return event


def _response(response, chunks: list) -> dict:
    """The response half of an exchange, read once llm has finished the response."""
    recorded: dict = {"chunks": chunks}
    tool_calls = [
        _without_none({"name": c.name, "arguments": c.arguments, "tool_call_id": c.tool_call_id})
        for c in response.tool_calls_or_raise()
    ]
    if tool_calls:
        recorded["tool_calls"] = tool_calls
    usage = _without_none(
        {"input": response.input_tokens, "output": response.output_tokens,
         "details": response.token_details}
    )
    if usage:
        recorded["usage"] = _json_safe(usage)
    if response.resolved_model:
        recorded["resolved_model"] = response.resolved_model
    return recorded


def _without_none(mapping: dict) -> dict:
    return {name: value for name, value in mapping.items() if value is not None}


def _json_safe(value):
    return json.loads(json.dumps(value, default=str))


# Answering from a recording


@functools.lru_cache(maxsize=None)
def _replayed_options(model_id: str, option_types: tuple):
    """The ``Options`` class of a model known only from a cassette (built once: llm
    lists its models, stand-ins included, on every look-up)."""
    return _options_class(model_id, {name: _JSON_TYPES.get(kind, Any) for name, kind in option_types})


def _replay_chunks(recorded: dict) -> list:
    chunks = []
    for chunk in recorded.get("chunks") or ():
        if isinstance(chunk, str):
            chunks.append(chunk)
        elif StreamEvent is not None:
            chunks.append(StreamEvent(**chunk))
        elif chunk.get("type") == "text":  # older llm: text events as plain text
            chunks.append(chunk.get("chunk", ""))
    return chunks


def _finish_replay(recorded: dict, response) -> None:
    for call in recorded.get("tool_calls") or ():
        response.add_tool_call(
            llm.ToolCall(
                name=call["name"],
                arguments=call.get("arguments") or {},
                tool_call_id=call.get("tool_call_id"),
            )
        )
    usage = recorded.get("usage")
    if usage:
        response.set_usage(
            input=usage.get("input"), output=usage.get("output"), details=usage.get("details")
        )
    if recorded.get("resolved_model"):
        response.set_resolved_model(recorded["resolved_model"])


# The stand-in models


class _StandIn:
    """What the async stand-in and the sync one share."""

    def __init__(self, cassette, model_id: str, real, description: Optional[dict] = None):
        self._cassette = cassette
        self._real = real
        self.model_id = model_id
        if real is not None:
            for name in _CAPABILITIES:
                setattr(self, name, getattr(real, name, None))
            self.key = getattr(real, "key", None)
            self.Options = real.Options
        else:
            for name in _CAPABILITIES:
                if name in description:
                    setattr(self, name, description[name])
            if "attachment_types" in description:
                self.attachment_types = set(description["attachment_types"])
            self.Options = _replayed_options(
                model_id, tuple((description.get("options") or {}).items())
            )

    def get_key(self, explicit_key=None):
        """As llm resolves it; a replay needs no key, so none found is no error then."""
        try:
            return super().get_key(explicit_key)
        except llm.NeedsKeyException:
            if self._real is None or self._cassette.can_replay:
                return None
            raise

    def _start(self, prompt, conversation, key) -> tuple:
        """(request, recorded response or None to record); raises if neither is possible."""
        request = describe_prompt(self.model_id, prompt, conversation)
        recorded = self._cassette.answer(request, self.model_id)
        if recorded is None:
            if self._real is None:
                raise self._cassette.refuse(
                    f"Cannot record this prompt to {self.model_id!r}: the model is not "
                    "installed (it is known only from the cassette)."
                )
            self._cassette.note_key(key)
        return request, recorded

    def _recorder(self, request: dict, chunks: list):
        description = describe_model(self._real)
        cassette = self._cassette

        def done(response):
            cassette.add(description, request, _response(response, chunks))

        return done

    def _real_arguments(self, prompt, stream, response, conversation, key) -> dict:
        arguments = dict(prompt=prompt, stream=stream, response=response, conversation=conversation)
        if isinstance(self._real, (llm.KeyModel, llm.AsyncKeyModel)):
            arguments["key"] = key
        return arguments

    def __str__(self):
        return str(self._real) if self._real is not None else f"{self.model_id} (from cassette)"

    def __repr__(self):
        return f"<cassette stand-in for {self.model_id!r}>"


class _CassetteSyncModel(_StandIn, llm.KeyModel):
    def execute(self, prompt, stream, response, conversation=None, key=None):
        request, recorded = self._start(prompt, conversation, key)
        if recorded is not None:
            yield from _replay_chunks(recorded)
            _finish_replay(recorded, response)
            return
        chunks: list = []
        response.on_done(self._recorder(request, chunks))
        arguments = self._real_arguments(prompt, stream, response, conversation, key)
        for chunk in self._real.execute(**arguments):
            chunks.append(_chunk(chunk))
            yield chunk


class _CassetteAsyncModel(_StandIn, llm.AsyncKeyModel):
    async def execute(self, prompt, stream, response, conversation=None, key=None):
        request, recorded = self._start(prompt, conversation, key)
        if recorded is not None:
            for chunk in _replay_chunks(recorded):
                yield chunk
                # One chunk at a time, letting other tasks run, as the model did
                await asyncio.sleep(0)
            _finish_replay(recorded, response)
            return
        chunks: list = []
        await response.on_done(self._recorder(request, chunks))
        arguments = self._real_arguments(prompt, stream, response, conversation, key)
        async for chunk in self._real.execute(**arguments):
            chunks.append(_chunk(chunk))
            yield chunk
