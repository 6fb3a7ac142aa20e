"""``HookRecorder``: record every datasette-llm hook call while the real hooks run."""

from __future__ import annotations

import itertools
from contextlib import asynccontextmanager
from typing import Any, Optional

from datasette import hookimpl
from datasette.plugins import pm as datasette_pm

HOOK_ARGUMENTS = {
    "register_llm_purposes": ("datasette",),
    "llm_filter_models": ("datasette", "models", "actor", "purpose"),
    "llm_default_model": ("datasette", "purpose", "actor"),
    "llm_prompt_context": ("datasette", "model_id", "prompt", "purpose", "actor"),
    "llm_group_exit": ("datasette", "group"),
}
HOOK_NAMES = tuple(HOOK_ARGUMENTS)
_counter = itertools.count()
active_recorders: list = []  # read by the pytest plugin's leak check


class HookCall:
    """One hook call: ``name``, the ``kwargs`` it was called with (``models`` copied as
    passed in) and, for ``llm_prompt_context``, the ``PromptResult`` as ``result``."""

    __slots__ = ("name", "kwargs", "result")

    def __init__(self, name: str, kwargs: dict, result: Any = None):
        self.name = name
        self.kwargs = kwargs
        self.result = result

    def __getitem__(self, key):
        return self.kwargs[key]

    def __iter__(self):
        # ``name, kwargs = call``
        return iter((self.name, self.kwargs))

    def __eq__(self, other):
        if not isinstance(other, HookCall):
            return NotImplemented
        return (self.name, self.kwargs) == (other.name, other.kwargs)

    __hash__ = None

    def __repr__(self):
        shown = {
            k: ([getattr(m, "model_id", m) for m in v] if k == "models" else v)
            for k, v in self.kwargs.items()
            if k != "datasette"
        }
        return f"HookCall({self.name!r}, {shown!r})"


class _RecordingPlugin:
    def __init__(self, recorder, name):
        self.recorder = recorder
        self.__name__ = name  # Datasette 0.65's plugin listing reads __name__

    @hookimpl(tryfirst=True)
    def register_llm_purposes(self, datasette):
        self.recorder._record("register_llm_purposes", datasette=datasette)

    @hookimpl(tryfirst=True)
    def llm_filter_models(self, datasette, models, actor, purpose):
        self.recorder._record(
            "llm_filter_models",
            datasette=datasette,
            models=list(models),
            actor=actor,
            purpose=purpose,
        )

    @hookimpl(tryfirst=True)
    def llm_default_model(self, datasette, purpose, actor):
        self.recorder._record(
            "llm_default_model", datasette=datasette, purpose=purpose, actor=actor
        )

    @hookimpl(tryfirst=True)
    def llm_prompt_context(self, datasette, model_id, prompt, purpose, actor):
        call = self.recorder._record(
            "llm_prompt_context",
            datasette=datasette,
            model_id=model_id,
            prompt=prompt,
            purpose=purpose,
            actor=actor,
        )

        @asynccontextmanager
        async def capture(result):
            call.result = result
            yield

        return capture

    @hookimpl(tryfirst=True)
    def llm_group_exit(self, datasette, group):
        self.recorder._record("llm_group_exit", datasette=datasette, group=group)


class HookRecorder:
    """Records every call of every datasette-llm hook, in order, as ``HookCall`` objects.

    ``with HookRecorder() as hooks: ...`` then ``hooks.calls``, ``hooks.called(name)``,
    ``hooks.assert_called(name, times=None, **kwargs)``, ``hooks.assert_not_called(name)``.
    """

    def __init__(self):
        self.calls: list[HookCall] = []
        self._plugin = None

    def _record(self, name, **kwargs) -> HookCall:
        call = HookCall(name, kwargs)
        self.calls.append(call)
        return call

    def __enter__(self):
        import datasette_llm  # noqa: F401  (adds the hookspecs)

        if self._plugin is not None:
            raise RuntimeError(f"{self!r} is already active")
        name = f"datasette-llm-hook-recorder-{next(_counter)}"
        self._plugin = _RecordingPlugin(self, name)
        datasette_pm.register(self._plugin, name=name)
        active_recorders.append(self)
        return self

    def __exit__(self, *exc_info):
        if self._plugin is None:  # never entered, or already exited
            return False
        datasette_pm.unregister(self._plugin)
        self._plugin = None
        active_recorders.remove(self)
        return False

    def clear(self) -> None:
        self.calls.clear()

    def called(self, name: str) -> list[HookCall]:
        """The calls of one hook, in order."""
        _check_name(name)
        return [call for call in self.calls if call.name == name]

    def last(self, name: str) -> HookCall:
        calls = self.called(name)
        if not calls:
            raise AssertionError(f"{name} was never called.{self._summary()}")
        return calls[-1]

    def assert_called(self, name: str, times: Optional[int] = None, **expected) -> list[HookCall]:
        """Assert ``name`` was called (exactly ``times`` times, if given) and, with
        keyword arguments, that at least one call had all of them; return the calls that
        matched. Model lists compare by model ID: ``models=["echo"]`` works."""
        _check_arguments(name, expected)
        calls = self.called(name)
        if times is not None and len(calls) != times:
            raise AssertionError(
                f"Expected {name} to be called {times} time(s); it was called "
                f"{len(calls)} time(s).{self._summary()}"
            )
        if times == 0:
            return []
        if not calls:
            raise AssertionError(f"Expected {name} to be called; it never was.{self._summary()}")
        matching = [
            c for c in calls if all(_matches(c.kwargs.get(k), v) for k, v in expected.items())
        ]
        if not matching:
            raise AssertionError(
                f"Expected a call of {name} with {_show(expected)}; none of its "
                f"{len(calls)} call(s) matched:\n" + "\n".join(f"  {c!r}" for c in calls)
            )
        return matching

    def assert_not_called(self, name: str) -> None:
        """Assert ``name`` was never called."""
        calls = self.called(name)
        if calls:
            raise AssertionError(
                f"Expected {name} not to be called; it was called {len(calls)} time(s):\n"
                + "\n".join(f"  {c!r}" for c in calls)
            )

    def _summary(self) -> str:
        if not self.calls:
            return " No datasette-llm hook was called."
        return " Hook calls recorded:\n" + "\n".join(f"  {c!r}" for c in self.calls)

    def __repr__(self):
        return f"<HookRecorder {len(self.calls)} calls>"


def _check_arguments(name: str, expected: dict) -> None:
    _check_name(name)
    unknown = sorted(set(expected) - set(HOOK_ARGUMENTS[name]))
    if unknown:
        raise TypeError(
            f"{name} has no argument(s) {', '.join(unknown)}; "
            f"its arguments are {', '.join(HOOK_ARGUMENTS[name])}"
        )


def _show(expected: dict) -> str:
    return ", ".join(
        f"{k}={_model_ids(v) if isinstance(v, list) else v!r}" for k, v in expected.items()
    )


def _check_name(name: str) -> None:
    if name not in HOOK_NAMES:
        raise ValueError(
            f"{name!r} is not a datasette-llm hook; hooks are: {', '.join(HOOK_NAMES)}"
        )


def _matches(actual, expected) -> bool:
    """Equal, or lists naming the same models (model objects or model ID strings)."""
    if actual == expected:
        return True
    if isinstance(actual, list) and isinstance(expected, (list, tuple)):
        return _model_ids(actual) == _model_ids(expected)
    return False


def _model_ids(models) -> list:
    return [getattr(m, "model_id", m) for m in models]
