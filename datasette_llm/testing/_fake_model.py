"""``FakeModel``: a real llm model (async, with its sync twin) that answers from a script."""

from __future__ import annotations

import asyncio
import numbers
import time
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import llm
import pydantic

# A scripted response: its text, a dict with text and tool calls, or an exception to raise
Scripted = Union[str, Mapping[str, Any], BaseException]
_DEFAULT_OPTIONS = {"temperature": float, "max_tokens": int}


def _options_class(model_id: str, options: Optional[Mapping[str, Any]]):
    """An ``llm.Options`` subclass accepting ``options`` (name -> type), each optional."""
    fields = {name: (Optional[kind], None) for name, kind in (options or _DEFAULT_OPTIONS).items()}
    return pydantic.create_model(
        f"FakeOptions_{abs(hash(model_id))}", __base__=llm.Options, **fields
    )


class _FakeBehaviour:
    """What the async model and its sync twin share: the script and the records."""

    def _setup(
        self, model_id, responses, needs_key, key_env_var, usage, chunks, error, options,
        chunk_delay,
    ):
        if not isinstance(model_id, str) or not model_id:
            raise ValueError(f"FakeModel needs a model ID string, got {model_id!r}")
        if isinstance(responses, (str, bytes)):
            raise TypeError("FakeModel responses= takes a list of strings, not one string")
        if responses is not None:
            responses = list(responses)
            for index, entry in enumerate(responses):
                _check_response(index, entry)
        if isinstance(chunk_delay, bool) or not isinstance(chunk_delay, numbers.Real):
            raise TypeError(
                "FakeModel chunk_delay= takes the seconds to wait before each chunk "
                f"(a number), got {chunk_delay!r}"
            )
        if not chunk_delay >= 0:
            raise ValueError(f"FakeModel chunk_delay= must be 0 or more seconds, got {chunk_delay!r}")
        if error is not None and not isinstance(error, BaseException):
            raise TypeError(f"FakeModel error= takes an exception instance, got {error!r}")
        if usage is not None and (len(usage) != 2):
            raise TypeError(f"FakeModel usage= takes (input_tokens, output_tokens), got {usage!r}")
        if chunks is not None:
            chunks = [chunks] if isinstance(chunks, str) else list(chunks)
            if any(isinstance(c, str) for c in chunks):
                raise TypeError(
                    "FakeModel chunks= takes a list of lists of strings, one per response"
                )
            chunks = [list(c) for c in chunks]
            if not chunks or any(not all(isinstance(p, str) for p in c) for c in chunks):
                raise TypeError(
                    "FakeModel chunks= takes a list of lists of strings, one per response"
                )
            if responses is not None:
                _check_chunks_match(responses, chunks)
        self.model_id = model_id
        self.needs_key = needs_key
        self.key_env_var = key_env_var
        self.responses: Optional[list] = responses
        self.chunks: Optional[list] = chunks
        self.usage = None if usage is None else tuple(usage)
        self.error = error
        self.chunk_delay = chunk_delay
        self.Options = _options_class(model_id, options)
        self.prompts: list = []
        self.keys: list = []

    @property
    def prompt_texts(self) -> list:
        """The prompt string of every prompt received, in order."""
        return [p.prompt for p in self.prompts]

    def assert_all_used(self) -> None:
        """Fail if fewer prompts arrived than responses (or chunk lists) were scripted.
        The pytest plugin calls this at the end of every test."""
        scripted = max(len(self.responses or ()), len(self.chunks or ()))
        if len(self.prompts) < scripted:
            raise AssertionError(
                f"FakeModel {self.model_id!r} was scripted with {scripted} response(s) but "
                f"prompted {len(self.prompts)} time(s)"
                + (f": {self.prompt_texts!r}" if self.prompts else "")
                + "; remove the unused responses, or use "
                "@pytest.mark.llm_models(assert_all_used=False)"
            )

    def reset(self) -> None:
        """Forget the prompts and keys received (the script starts again)."""
        self.prompts.clear()
        self.keys.clear()

    def _answer(self, prompt, key) -> tuple[list, list, tuple]:
        """Record the prompt; return (chunks, tool calls, usage) for it."""
        index = len(self.prompts)
        self.prompts.append(prompt)
        self.keys.append(key)
        if self.error is not None:
            raise self.error
        tool_calls: list = []
        if self.responses:
            scripted = self.responses[min(index, len(self.responses) - 1)]
            if isinstance(scripted, BaseException):
                raise scripted
            if isinstance(scripted, Mapping):
                text = scripted.get("text", "")
                tool_calls = [
                    llm.ToolCall(name=call["name"], arguments=call.get("arguments") or {})
                    for call in scripted.get("tool_calls", ())
                ]
            else:
                text = scripted
        else:
            text = prompt.prompt or ""
        if self.chunks:
            chunks = self.chunks[min(index, len(self.chunks) - 1)]
        else:
            chunks = [text] if text else []
        if self.usage is not None:
            usage = self.usage
        else:
            words_in = len((prompt.prompt or "").split()) + len((prompt.system or "").split())
            usage = (words_in, len("".join(chunks).split()))
        return chunks, tool_calls, usage

    def __repr__(self):
        return f"<{type(self).__name__} {self.model_id!r}>"


def _check_response(index: int, entry) -> None:
    if isinstance(entry, type) and issubclass(entry, BaseException):
        raise TypeError(
            f"FakeModel responses[{index}] is the exception class {entry.__name__}; "
            f"pass an instance to raise, such as {entry.__name__}('...')"
        )
    if not isinstance(entry, (str, Mapping, BaseException)):
        raise TypeError(
            f"FakeModel responses[{index}] must be a string, a dict or an exception "
            f"instance, got {entry!r}"
        )


def _check_chunks_match(responses, chunks) -> None:
    if len(responses) != len(chunks):
        raise ValueError(
            f"FakeModel got {len(responses)} responses but {len(chunks)} chunk lists; give one "
            "chunk list per response, or chunks= alone"
        )
    for index, (response, parts) in enumerate(zip(responses, chunks)):
        if isinstance(response, BaseException):
            if parts:
                raise ValueError(
                    f"FakeModel chunks[{index}] must be []: responses[{index}] is an "
                    "exception, raised before any chunk"
                )
            continue
        text = response.get("text", "") if isinstance(response, Mapping) else response
        if "".join(parts) != text:
            raise ValueError(
                f"FakeModel chunks[{index}] joins to {''.join(parts)!r}, "
                f"but responses[{index}] is {text!r}"
            )


class _FakeSyncModel(llm.KeyModel):
    can_stream = True
    supports_tools = True
    supports_schema = True

    def __init__(self, twin: "FakeModel"):
        self._twin = twin
        self.model_id = twin.model_id
        self.needs_key = twin.needs_key
        self.key_env_var = twin.key_env_var
        self.Options = twin.Options

    def __str__(self):
        return f"FakeModel (sync): {self.model_id}"

    def execute(self, prompt, stream, response, conversation, key):
        chunks, tool_calls, usage = self._twin._answer(prompt, key)
        for call in tool_calls:
            response.add_tool_call(call)
        delay = self._twin.chunk_delay
        for chunk in chunks:
            if delay:
                time.sleep(delay)
            yield chunk
        response.set_usage(input=usage[0], output=usage[1])


class FakeModel(_FakeBehaviour, llm.AsyncKeyModel):
    """A scripted llm async model for tests, registered with ``fake_models()``.

    - ``responses``: the texts to answer with, in order (after the last, the last
      repeats); an entry may also be ``{"text": ..., "tool_calls": [{"name", "arguments"}]}``
      to drive ``chain()``, or an exception instance, raised when that prompt arrives
      (``responses=[RateLimitError(...), "ok"]`` fails the first prompt only). Default:
      the prompt's own text.
    - ``chunks``: for each response, the list of chunks to stream it in (with
      ``responses``, one list per response, joining to its text; alone, they are the text).
    - ``usage``: ``(input_tokens, output_tokens)`` to report; default: word counts.
    - ``error``: an exception instance to raise whenever prompted.
    - ``chunk_delay``: seconds to wait before each chunk (default 0), for streaming UIs.
    - ``needs_key`` / ``key_env_var``: make it a model that needs an API key.
    - ``options``: option name -> type it accepts (default ``temperature``, ``max_tokens``).

    Records what it received: ``.prompts`` (llm ``Prompt`` objects), ``.prompt_texts``
    and ``.keys`` (the API key each prompt was given), shared with its sync twin ``.sync``.
    """

    can_stream = True
    supports_tools = True
    supports_schema = True

    def __init__(
        self,
        model_id: str,
        *,
        responses: Optional[Sequence[Scripted]] = None,
        needs_key: Optional[str] = None,
        key_env_var: Optional[str] = None,
        usage: Optional[tuple] = None,
        chunks: Optional[Iterable[Sequence[str]]] = None,
        error: Optional[BaseException] = None,
        options: Optional[Mapping[str, Any]] = None,
        chunk_delay: float = 0,
    ):
        self._setup(
            model_id, responses, needs_key, key_env_var, usage, chunks, error, options,
            chunk_delay,
        )
        self.sync = _FakeSyncModel(self)

    async def execute(self, prompt, stream, response, conversation, key):
        chunks, tool_calls, usage = self._answer(prompt, key)
        for call in tool_calls:
            response.add_tool_call(call)
        delay = self.chunk_delay
        for chunk in chunks:
            if delay:
                await asyncio.sleep(delay)
            yield chunk
            # Let other tasks run between chunks, as a network model would
            await asyncio.sleep(0)
        response.set_usage(input=usage[0], output=usage[1])
