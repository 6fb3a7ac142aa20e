"""``Cassette``: record a test's real llm prompts and responses to a YAML file, and answer
from it later without the model, its plugin or an API key.

The cassette works at the llm layer (see ``_cassette_models``): every llm model is
shadowed, through llm's own ``register_models`` hook, by a model that answers from the
file or, when recording, passes the prompt to the real model and writes down what came
back. It knows nothing of any provider's API, so it works for every model plugin.

Record modes, as in VCR.py and pytest-recording:

- ``none``: answer from the file only; a prompt with no recording raises
  ``UnrecordedPromptError`` naming the nearest recorded prompt and how it differs.
- ``once``: record everything if the file does not exist yet; then as ``none``.
- ``new_episodes``: answer what is recorded, record what is not.
- ``all``: record everything again, replacing the file.

Each recording answers one prompt: a test that sends the same prompt twice records
two exchanges and replays them in order.
"""

from __future__ import annotations

import difflib
import os
import threading
from pathlib import Path
from typing import Iterable, Optional

import yaml

from ._key_scrub import SHORTEST_KEY, environment_keys, find_key, scrub, strings

RECORD_MODES = ("none", "once", "new_episodes", "all")
# What a prompt is matched on. "tools" are the tool definitions sent; "tool_results"
# the results sent back in a chain (their call IDs are left out: providers make new ones)
MATCHERS = (
    "model", "prompt", "system", "options", "tools", "tool_results", "schema",
    "attachments", "history",
)
DEFAULT_MATCH_ON = ("model", "prompt", "system", "options", "tools", "tool_results", "schema")
FORMAT_VERSION = 1
_HEADER = (
    "# llm prompts and responses recorded by datasette-llm's Cassette\n"
    "# (re-record with: pytest --llm-record-mode=all)\n"
)
active_cassettes: list = []  # read by the pytest plugin's leak check


class UnrecordedPromptError(AssertionError):
    """A prompt the cassette has no recording for, in a mode that may not record it."""


class CassetteFileError(ValueError):
    """A cassette file that cannot be read."""


class Cassette:
    """Record and replay llm prompts in the ``with`` block (see the module docstring).

    ``with Cassette("tests/cassettes/test_x/test_y.yaml", record_mode="once") as cassette:``
    then prompt any llm model, directly or through datasette-llm. On exit, new
    recordings are written to the file. ``cassette.errors`` holds the messages of the
    prompts that found no recording.
    """

    def __init__(
        self,
        path,
        *,
        record_mode: str = "none",
        match_on: Iterable[str] = DEFAULT_MATCH_ON,
    ):
        if record_mode not in RECORD_MODES:
            raise ValueError(
                f"Cassette record_mode={record_mode!r} is not one of {', '.join(RECORD_MODES)}"
            )
        if isinstance(match_on, str):
            raise TypeError(f"Cassette match_on= takes a list of names, not the string {match_on!r}")
        match_on = tuple(match_on)
        unknown = [name for name in match_on if name not in MATCHERS]
        if unknown:
            raise ValueError(
                f"Cassette match_on= has unknown name(s) {', '.join(map(repr, unknown))}; "
                f"choose from {', '.join(MATCHERS)}"
            )
        self.path = Path(path)
        self.record_mode = record_mode
        self.match_on = match_on
        self.existed = self.path.exists()
        self.recorded: list = []  # exchanges read from the file
        self.models: dict = {}  # model ID -> description, read from the file
        if self.existed and record_mode != "all":
            self._load()
        self.new: list = []  # exchanges recorded in this block
        self._new_models: dict = {}
        self.played: list = []  # indexes into .recorded, in the order they answered
        self.errors: list = []
        self._keys: set = set()
        self._lock = threading.Lock()
        self._active = False

    # What this cassette may do

    @property
    def can_record(self) -> bool:
        return self.record_mode in ("all", "new_episodes") or (
            self.record_mode == "once" and not self.existed
        )

    @property
    def can_replay(self) -> bool:
        return self.record_mode != "all"

    # Entering and leaving

    def __enter__(self):
        from . import _cassette_models

        if self._active:
            raise RuntimeError(f"{self!r} is already active")
        if active_cassettes:
            raise RuntimeError(
                f"{active_cassettes[-1]!r} is already active: use one cassette at a time"
            )
        _cassette_models.activate(self)
        self._active = True
        active_cassettes.append(self)
        return self

    def __exit__(self, *exc_info):
        from . import _cassette_models

        if not self._active:
            return False
        self._active = False
        active_cassettes.remove(self)
        _cassette_models.deactivate(self)
        if self.new:
            self.save()
        return False

    # Used by the recording models

    def answer(self, request: dict, model_id: str) -> Optional[dict]:
        """The recorded response for ``request``, or None if it is to be recorded.
        Raises ``UnrecordedPromptError`` if it has no recording and may not be recorded."""
        with self._lock:
            if self.can_replay:
                # Recordings were scrubbed of keys: compare the prompt scrubbed the same way
                wanted = self._view(scrub(request, self._keys))
                for index, exchange in enumerate(self.recorded):
                    if index not in self.played and self._view(exchange["request"]) == wanted:
                        self.played.append(index)
                        return exchange["response"]
            if self.can_record:
                return None
        raise self.refuse(self._no_recording_message(request, model_id))

    def refuse(self, message: str) -> UnrecordedPromptError:
        """Note a prompt that can be neither answered nor recorded; the error to raise."""
        with self._lock:
            self.errors.append(message)
        return UnrecordedPromptError(message)

    def note_key(self, key) -> None:
        """A key a recorded prompt was sent with: never written."""
        if isinstance(key, str) and len(key) >= SHORTEST_KEY:
            self._keys.add(key)

    def add(self, description: dict, request: dict, response: dict) -> None:
        """Record one exchange (keys are removed when the file is written)."""
        with self._lock:
            self.new.append({"request": request, "response": response})
            self._new_models[request["model"]] = description

    # The file

    @property
    def exchanges(self) -> list:
        """Every exchange this cassette holds now: read from the file, then recorded."""
        return self.recorded + self.new

    def save(self) -> None:
        """Write the file (the recorded exchanges, then the new ones; in mode ``all``,
        only the new ones). Any API key a recorded prompt used, and anything shaped like
        one, is replaced by ``<redacted>``."""
        exchanges = self.exchanges
        models = {**self.models, **self._new_models}
        used = {exchange["request"]["model"] for exchange in exchanges}
        keys = set(self._keys) | environment_keys(
            d.get("key_env_var") for d in models.values() if d.get("key_env_var")
        )
        document = {
            "version": FORMAT_VERSION,
            "models": {
                model_id: scrub(models[model_id], keys)
                for model_id in sorted(used) if model_id in models
            },
            "exchanges": [_scrub_exchange(exchange, keys) for exchange in exchanges],
        }
        # scrub() removed them all: this is a last line of defence
        if any(find_key(text, keys) for text in strings(document)):
            raise RuntimeError(f"refusing to write an API key to cassette {self.path}")
        text = _HEADER + _dump(document)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(text, encoding="utf-8")

    def _load(self) -> None:
        where = f"cassette {self.path}"
        try:
            document = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise CassetteFileError(f"{where} is not valid YAML: {error}") from None
        if not isinstance(document, dict):
            raise CassetteFileError(f"{where} must be a mapping with 'version' and 'exchanges'")
        if document.get("version") != FORMAT_VERSION:
            raise CassetteFileError(
                f"{where} has version {document.get('version')!r}; this datasette-llm "
                f"reads version {FORMAT_VERSION} (re-record it with --llm-record-mode=all)"
            )
        exchanges = document.get("exchanges") or []
        models = document.get("models") or {}
        if not isinstance(exchanges, list) or not isinstance(models, dict):
            raise CassetteFileError(f"{where}: 'exchanges' must be a list and 'models' a mapping")
        for index, exchange in enumerate(exchanges):
            if (
                not isinstance(exchange, dict)
                or not isinstance(exchange.get("request"), dict)
                or not isinstance(exchange.get("response"), dict)
                or not isinstance(exchange["request"].get("model"), str)
            ):
                raise CassetteFileError(
                    f"{where}: exchanges[{index}] needs a 'request' with a 'model' and a 'response'"
                )
        self.recorded = exchanges
        self.models = models

    # Matching

    def _view(self, request: dict) -> dict:
        """The parts of a request this cassette matches on (empty values as None)."""
        view = {}
        for name in self.match_on:
            value = request.get(name) or None
            if name == "tool_results" and value:
                value = [{k: v for k, v in r.items() if k != "tool_call_id"} for r in value]
            view[name] = value
        return view

    def _shown(self, request: dict) -> str:
        """The matched parts of a request as YAML, for a diff (empty parts left out)."""
        return _dump({k: v for k, v in self._view(request).items() if v is not None})

    def _no_recording_message(self, request: dict, model_id: str) -> str:
        where = _shown_path(self.path)
        head = (
            f"No recording in {where} matches this prompt to {model_id!r} "
            f"(record mode {self.record_mode!r}; matching on {', '.join(self.match_on)})."
        )
        how = (
            "To record it, run pytest with --llm-record-mode=new_episodes and the "
            "provider's API key in the environment."
        )
        if not self.existed:
            return (
                f"No cassette at {where} (record mode {self.record_mode!r}): this prompt to "
                f"{model_id!r} has no recording. To record the test, run pytest with "
                "--llm-record-mode=once and the provider's API key in the environment."
            )
        if not self.recorded:
            return f"{head}\nThe cassette holds no recordings. {how}"
        live = self._view(scrub(request, self._keys))
        wanted = self._shown(scrub(request, self._keys))
        same = [
            index for index, exchange in enumerate(self.recorded)
            if self._view(exchange["request"]) == live
        ]
        if same:
            shown = ", ".join(str(index + 1) for index in same)
            return (
                f"{head}\nIts recording{'s' if len(same) > 1 else ''} (exchange "
                f"{shown} of {len(self.recorded)}) already answered earlier prompts: each "
                "recording answers one prompt. " + how
            )
        # Nearest: the same model, then the same prompt text, then the most parts
        # alike, then the most alike as text
        scored = []
        for index, exchange in enumerate(self.recorded):
            view = self._view(exchange["request"])
            text = self._shown(exchange["request"])
            scored.append((
                exchange["request"]["model"] == request["model"],
                view.get("prompt") == live.get("prompt"),
                sum(view[name] == live[name] for name in self.match_on),
                difflib.SequenceMatcher(None, text, wanted).ratio(),
                -index,
                text,
            ))
        *_, minus_index, nearest = max(scored)
        index = -minus_index
        diff = "".join(
            difflib.unified_diff(
                nearest.splitlines(keepends=True),
                wanted.splitlines(keepends=True),
                fromfile=f"recorded (exchange {index + 1} of {len(self.recorded)})",
                tofile="this prompt",
            )
        )
        return f"{head}\nThe nearest recorded prompt differs:\n{diff}{how}"

    def __repr__(self):
        return f"<Cassette {_shown_path(self.path)} record_mode={self.record_mode!r}>"


def _scrub_exchange(exchange: dict, keys: set) -> dict:
    exchange = scrub(exchange, keys)
    # A key split across two chunks survives scrubbing chunk by chunk: join them then
    chunks = exchange["response"].get("chunks") or []
    if all(isinstance(c, str) for c in chunks) and find_key("".join(chunks), keys) is not None:
        exchange["response"]["chunks"] = [scrub("".join(chunks), keys)]
    return exchange


def _shown_path(path: Path) -> str:
    """Relative to the working directory when it is inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return str(path) if relative.startswith("..") else relative


class _Dumper(yaml.SafeDumper):
    """Block style, keys in the order written, multi-line strings as ``|`` blocks."""


def _represent_str(dumper, value):
    style = "|" if "\n" in value and value == value.strip(" ") and "\r" not in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _dump(value) -> str:
    return yaml.dump(
        value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
        width=100,
    )

