"""How much datasette-llm adds on top of raw llm: ``python benchmarks/run.py``.

Every row of the table is measured against raw ``llm`` in the same process.
Both sides run the same operations in small batches, interleaved and alternating which
goes first, so that other load on the machine falls on both alike; each batch is timed
in CPU time (``time.process_time``, which includes Datasette's SQL threads) with the
garbage collector paused, as ``timeit`` does. The table shows each side's median per
operation and the median of the per-repeat ratios. Peak memory is ``tracemalloc``'s.

Setup: 300 fake models (``datasette_llm.testing.FakeModel``) in 30 providers of ten
models each, registered through llm's own ``register_models`` hook, next to llm's own
OpenAI models and llm-echo's ``echo`` and ``echo-needs-key``. Prompt rows use ``echo``.
Keys come from ``DATASETTE_SECRETS_<NAME>`` environment variables, or from
datasette-secrets' encrypted table, saved through its own web form
(``POST /-/secrets/<NAME>``). Installed plugins that implement datasette-llm's hooks
are set aside for the run (``--keep-plugins`` keeps them).

Options: ``--quick`` (5 repeats, a smoke run), ``--repeats N`` (default 21),
``--only row,row``. Not part of the test suite: the counting assertions (registry
enumerations, secret look-ups, database writes, group memory) are in
tests/test_performance_counts.py.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from contextlib import asynccontextmanager, contextmanager, nullcontext

import llm
from llm.plugins import pm as llm_pm
from cryptography.fernet import Fernet
from datasette import hookimpl
from datasette.app import Datasette
from datasette.plugins import pm as datasette_pm

from datasette_llm import LLM
from datasette_llm.testing import FakeModel, fake_models

PROVIDERS = 30
MODELS_PER_PROVIDER = 10
PURPOSE = "bench"
KEYED_MODEL = "prov07-m3"
LLM_CONFIG = {"purposes": {PURPOSE: {"model": "echo"}}}


def provider(i: int) -> str:
    return f"prov{i:02d}"


def secret_name(i: int) -> str:
    return f"{provider(i).upper()}_API_KEY"


def make_models() -> list:
    return [
        FakeModel(
            f"{provider(p)}-m{m}",
            needs_key=provider(p),
            key_env_var=f"BENCH_UNSET_{provider(p).upper()}_KEY",
        )
        for p in range(PROVIDERS)
        for m in range(MODELS_PER_PROVIDER)
    ]


# Timing


async def _cpu(run, batch: int, setup=None) -> float:
    """CPU seconds of ``await run(batch)``, after one untimed operation so that both
    sides are timed warm (as in timeit's steady state) rather than right after the
    other side has filled the CPU caches; ``setup()`` (a context manager) is entered
    and exited outside the timing."""
    with setup() if setup else nullcontext():
        gc.disable()
        try:
            await run(1)
            start = time.process_time()
            await run(batch)
            return time.process_time() - start
        finally:
            gc.enable()


class Timing:
    """Per-operation CPU seconds of both sides, one entry per repeat (paired)."""

    def __init__(self, ours: list, raw: list):
        self.ours_times = ours
        self.raw_times = raw

    @property
    def ours(self) -> float:
        return statistics.median(self.ours_times)

    @property
    def raw(self) -> float:
        return statistics.median(self.raw_times)

    @property
    def ratio(self) -> float:
        """The median of the per-repeat ratios (robust to load drifting between repeats)."""
        return statistics.median(o / r for o, r in zip(self.ours_times, self.raw_times))

    @property
    def difference(self) -> float:
        return statistics.median(o - r for o, r in zip(self.ours_times, self.raw_times))


async def compare(
    ours, raw, *, batch: int, repeats: int, ours_setup=None, raw_setup=None
) -> Timing:
    """Time ``ours(batch)`` and ``raw(batch)`` ``repeats`` times each, interleaved,
    alternating which goes first. Small batches and many repeats keep both sides under
    the same load when other processes come and go."""
    for _ in range(3):  # warm up both
        await _cpu(ours, batch, ours_setup)
        await _cpu(raw, batch, raw_setup)
    ours_times, raw_times = [], []
    for repeat in range(repeats):
        if repeat % 16 == 0:
            gc.collect()  # outside the timings, the same for both sides
        pair = [(ours, ours_times, ours_setup), (raw, raw_times, raw_setup)]
        if repeat % 2:
            pair.reverse()
        for run, times, setup in pair:
            times.append(await _cpu(run, batch, setup) / batch)
    return Timing(ours_times, raw_times)


# Fixtures of the benchmark


class _RegistryCounter:
    """An llm plugin counting registry enumerations (calls of ``register_models``)."""

    def __init__(self):
        self.count = 0

    @llm.hookimpl
    def register_models(self, register):
        self.count += 1


class _PromptContextPlugin:
    """A typical ``llm_prompt_context`` implementation: a wrapper that does nothing."""

    @staticmethod
    @hookimpl
    def llm_prompt_context(datasette, model_id, prompt, purpose, actor):
        return _noop_wrapper


@asynccontextmanager
async def _noop_wrapper(result):
    yield


@contextmanager
def prompt_context_plugins(n: int):
    names = [f"bench-prompt-context-{i}" for i in range(n)]
    plugins = [_PromptContextPlugin() for _ in range(n)]
    for plugin, name in zip(plugins, names):
        datasette_pm.register(plugin, name=name)
    try:
        yield
    finally:
        for plugin in plugins:
            datasette_pm.unregister(plugin)


@contextmanager
def env_keys():
    names = [f"DATASETTE_SECRETS_{secret_name(i)}" for i in range(PROVIDERS)]
    for name in names:
        os.environ[name] = f"env-key-{name}"
    try:
        yield
    finally:
        for name in names:
            os.environ.pop(name, None)


class SecretReads:
    """What one call asked of datasette-secrets: ``get_secret()`` calls (counted through
    the ``get_secrets()`` each of them makes, since replacing ``get_secret`` itself
    would turn off datasette-llm's one-query read) and one-query reads, with the names
    they covered."""

    def __init__(self):
        self.get_secret_calls = 0
        self.one_query_reads = 0
        self.names_read = 0

    def describe(self) -> str:
        return (
            f"get_secret() calls {self.get_secret_calls}, one-query reads "
            f"{self.one_query_reads} ({self.names_read} names)"
        )


@contextmanager
def count_secret_reads():
    import datasette_secrets
    from datasette_llm._datasette_secrets_internals import Snapshot

    reads = SecretReads()
    original_get_secrets = datasette_secrets.get_secrets
    original_read = Snapshot.read.__func__

    async def get_secrets(datasette):
        reads.get_secret_calls += 1
        return await original_get_secrets(datasette)

    async def read(cls, datasette_secrets, datasette, names):
        names = list(names)
        reads.one_query_reads += 1
        reads.names_read += len(names)
        return await original_read(cls, datasette_secrets, datasette, names)

    datasette_secrets.get_secrets = get_secrets
    Snapshot.read = classmethod(read)
    try:
        yield reads
    finally:
        datasette_secrets.get_secrets = original_get_secrets
        Snapshot.read = classmethod(original_read)


async def make_datasette(secrets_config=None, **kwargs) -> Datasette:
    plugins = {"datasette-llm": LLM_CONFIG}
    config = {"plugins": plugins}
    if secrets_config:
        plugins["datasette-secrets"] = secrets_config
        config["permissions"] = {"manage-secrets": {"id": "root"}}
    datasette = Datasette(memory=True, config=config, **kwargs)
    await datasette.invoke_startup()
    return datasette


async def save_secrets_through_web_form(datasette, names) -> None:
    """Store each secret the way datasette-secrets' own UI does: its update form."""
    cookies = {"ds_actor": datasette.client.actor_cookie({"id": "root"})}
    for name in names:
        response = await datasette.client.post(
            f"/-/secrets/{name}",
            data={"secret": f"db-key-{name}", "note": "benchmark"},
            cookies=cookies,
        )
        if response.status_code != 302:
            raise RuntimeError(
                f"saving secret {name} failed: {response.status_code} {response.text[:300]}"
            )


async def add_write_counter(datasette) -> None:
    """A trigger counting row updates of datasette-secrets' table (its last_used_at writes)."""
    from datasette_secrets import get_database

    db = get_database(datasette)
    await db.execute_write_script(
        """
        create table if not exists bench_secret_writes (n integer);
        create trigger if not exists bench_count_secret_writes
        after update on datasette_secrets begin
            insert into bench_secret_writes values (1);
        end;
        """
    )


async def secret_writes(datasette) -> int:
    from datasette_secrets import get_database

    rows = await get_database(datasette).execute("select count(*) from bench_secret_writes")
    return rows.first()[0]


# Rows


class Row:
    def __init__(self, what, target, timing=None, *, ours=None, raw=None, ratio=None,
                 unit="x", note=""):
        self.what = what
        self.target = target
        self.ours = timing.ours if timing else ours
        self.raw = timing.raw if timing else raw
        self.ratio = timing.ratio if timing else ratio
        self.unit = unit
        self.note = note


def us(seconds: float) -> str:
    value = seconds * 1e6
    if value >= 1000:
        return f"{value / 1000:.2f} ms"
    return f"{value:.1f} us"


async def bench_prompt(datasette, repeats: int) -> Row:
    raw_model = llm.get_async_model("echo")
    wrapped = await LLM(datasette).model("echo")

    async def ours(n):
        for _ in range(n):
            response = await wrapped.prompt("hi")
            await response.text()

    async def raw(n):
        for _ in range(n):
            response = raw_model.prompt("hi")
            await response.text()

    timing = await compare(ours, raw, batch=50, repeats=repeats * 20)
    return Row("one prompt, no hook implementations, vs raw llm", "<= 1.05x", timing)


async def bench_prompt_context(datasette, repeats: int, impls: int = 5) -> Row:
    """The cost of each ``llm_prompt_context`` implementation to datasette-llm: prompts
    with ``impls`` no-op implementations installed, against raw llm prompts running the
    very same plugin code by hand (call the implementation, call the wrapper it
    returns, nest the ``@asynccontextmanager`` contexts around the prompt), so that
    only datasette-llm's own work differs between the sides."""
    assert impls == 5  # the raw side is written out for five
    wrapped = await LLM(datasette).model("echo")
    raw_model = llm.get_async_model("echo")
    impl = _PromptContextPlugin.llm_prompt_context

    async def prompts(n):
        for _ in range(n):
            response = await wrapped.prompt("hi")
            await response.text()

    def wrapper():
        return impl(datasette=datasette, model_id="echo", prompt="hi", purpose=None, actor=None)

    async def by_hand_five(n):
        for _ in range(n):
            w1, w2, w3, w4, w5 = wrapper(), wrapper(), wrapper(), wrapper(), wrapper()
            async with w1(None), w2(None), w3(None), w4(None), w5(None):
                response = raw_model.prompt("hi")
            await response.text()

    async def by_hand_one(n):
        for _ in range(n):
            w1 = wrapper()
            async with w1(None):
                response = raw_model.prompt("hi")
            await response.text()

    async def raw_prompts(n):
        for _ in range(n):
            response = raw_model.prompt("hi")
            await response.text()

    def installed(count):
        return lambda: prompt_context_plugins(count)

    many = await compare(
        prompts, by_hand_five, batch=50, repeats=repeats * 10, ours_setup=installed(impls)
    )
    one = await compare(
        prompts, by_hand_one, batch=50, repeats=repeats * 10, ours_setup=installed(1)
    )
    plain = await compare(prompts, raw_prompts, batch=50, repeats=repeats * 10)
    plugin = await compare(by_hand_five, raw_prompts, batch=50, repeats=repeats * 10)
    # What the implementations add to our prompts beyond the plugin code itself (our
    # cost with no implementation, plain.difference, is the first row of the table)
    per_impl = (many.difference - plain.difference) / impls
    plugin_code = plugin.difference / impls
    return Row(
        f"each llm_prompt_context implementation ({impls} installed, no-op wrappers)",
        "<= +2.5 us",
        ours=per_impl,
        unit="us",
        note=f"datasette-llm's own cost per implementation, beyond what the plugin's code "
        f"costs without it: with {impls} implementations a prompt costs {us(many.ours)} "
        f"against {us(many.raw)} for raw llm running the same plugin code by hand "
        f"({many.ratio:.3f}x; the plugin's code is {us(plugin_code)} per implementation); "
        f"with one implementation {us(one.ours)} against {us(one.raw)} "
        f"({one.ratio:.3f}x), with none {us(plain.ours)} against {us(plain.raw)}",
    )


async def bench_model_purpose(datasette, repeats: int, counter) -> Row:
    llm_obj = LLM(datasette)

    async def ours(n):
        for _ in range(n):
            await llm_obj.model(purpose=PURPOSE)

    async def raw(n):
        for _ in range(n):
            llm.get_async_model("echo")

    before = counter.count
    await ours(1)
    enumerations = counter.count - before
    timing = await compare(ours, raw, batch=4, repeats=repeats * 5)
    return Row(
        "model(purpose=...) (no key) vs llm.get_async_model", "<= 1.05x", timing,
        note=f"registry enumerations per call: {enumerations}",
    )


async def bench_model_keyed(datasette, repeats: int, counter) -> Row:
    llm_obj = LLM(datasette)

    async def ours(n):
        for _ in range(n):
            await llm_obj.model(KEYED_MODEL)

    async def raw(n):
        for _ in range(n):
            llm.get_async_model(KEYED_MODEL)

    with env_keys():
        before = counter.count
        with count_secret_reads() as reads:
            await ours(1)
        enumerations = counter.count - before
        timing = await compare(ours, raw, batch=4, repeats=repeats * 5)
    return Row(
        f"model() for a keyed model, {PROVIDERS * MODELS_PER_PROVIDER} models installed, "
        "vs llm.get_async_model", "<= 1.15x", timing,
        note=f"registry enumerations per call: {enumerations}, {reads.describe()}",
    )


async def bench_models(
    datasette, repeats: int, counter, *, label, target, setup=None, count_writes=False
) -> Row:
    llm_obj = LLM(datasette)

    async def ours(n):
        for _ in range(n):
            await llm_obj.models()

    async def raw(n):
        for _ in range(n):
            llm.get_async_models()

    with setup() if setup else nullcontext():
        before = counter.count
        with count_secret_reads() as reads:
            listed = await llm_obj.models()
        enumerations = counter.count - before
        note = (
            f"listed {len(listed)} models; per call: registry enumerations {enumerations}, "
            f"{reads.describe()}"
        )
        if count_writes:
            writes_before = await secret_writes(datasette)
            await llm_obj.models()
            note += f", database writes {await secret_writes(datasette) - writes_before}"
            timing = await compare(ours, raw, batch=1, repeats=repeats * 2)
            note += "; " + await database_look_up_costs(datasette, timing.raw, repeats)
        else:
            timing = await compare(ours, raw, batch=2, repeats=repeats * 5)
    return Row(label, target, timing, note=note)


class _DeclareSecrets:
    """A bare ``register_secrets`` implementation, standing in for datasette-llm's."""

    def __init__(self, names):
        from datasette_secrets import Secret

        self.secrets = [Secret(name=name) for name in names]

    @hookimpl
    def register_secrets(self):
        return self.secrets


async def database_look_up_costs(datasette, raw_listing: float, repeats: int) -> str:
    """datasette-secrets' own cost for the keys of one listing: ``get_secret()`` for
    each of the 30 keys in a row with datasette-llm set aside (a bare hook declares the
    names), interleaved with our ``models()``; then what one such call does, timed
    piece by piece with its own statements: one SELECT, one Fernet decrypt, one UPDATE
    of last_used_at."""
    from datasette_secrets import get_config, get_database, get_secret

    names = [secret_name(i) for i in range(PROVIDERS)]
    llm_obj = LLM(datasette)

    @contextmanager
    def datasette_llm_set_aside():
        ours = datasette_pm.get_plugin("datasette-llm")
        stand_in = _DeclareSecrets(names)
        datasette_pm.unregister(ours)
        datasette_pm.register(stand_in, name="bench-declare-secrets")
        try:
            yield
        finally:
            datasette_pm.unregister(stand_in)
            datasette_pm.register(ours, name="datasette-llm")

    async def listing(n):
        for _ in range(n):
            await llm_obj.models()

    async def look_ups(n):
        for _ in range(n):
            for name in names:
                await get_secret(datasette, name)

    timing = await compare(
        listing, look_ups, batch=1, repeats=repeats * 2, raw_setup=datasette_llm_set_aside
    )

    db = get_database(datasette)
    fernet = Fernet(get_config(datasette)["encryption_key"].encode("utf-8"))
    sql = (
        "select id, encrypted from datasette_secrets where name = ? "
        "order by version desc limit 1"
    )
    row = (await db.execute(sql, (names[7],))).first()

    async def read(n):
        for _ in range(n):
            await db.execute(sql, (names[7],))

    async def decrypt(n):
        for _ in range(n):
            fernet.decrypt(row["encrypted"])

    async def write(n):
        for _ in range(n):
            await db.execute_write(
                "update datasette_secrets set last_used_at = datetime('now'), "
                "last_used_by = null where id = ?",
                (row["id"],),
            )

    async def nothing(n):
        pass

    pieces = []
    for label, run in (("SELECT", read), ("decrypt", decrypt), ("UPDATE", write)):
        cost = (await compare(run, nothing, batch=10, repeats=max(5, repeats))).ours
        pieces.append(f"{label} {us(cost)}")
    return (
        f"for comparison, datasette-secrets' get_secret() for these {PROVIDERS} keys, one "
        f"by one (datasette-llm set aside, interleaved with models()): {us(timing.raw)} "
        f"CPU, {timing.raw / raw_listing:.0f}x llm.get_async_models() on its own, and "
        f"{1 / timing.ratio:.1f}x our whole models() (each call: {', '.join(pieces)}, "
        "timed back to back); a listing reads all keys in one SELECT instead"
    )


async def bench_group(datasette, repeats: int, size: int = 2000) -> Row:
    llm_obj = LLM(datasette)

    async def ours(n):
        for _ in range(n):
            async with llm_obj.group("echo") as model:
                for _ in range(size):
                    response = await model.prompt("hi")
                    await response.text()

    async def raw(n):
        for _ in range(n):
            model = llm.get_async_model("echo")
            for _ in range(size):
                response = model.prompt("hi")
                await response.text()

    timing = await compare(ours, raw, batch=1, repeats=repeats * 2)
    return Row(f"group() of {size} prompts vs {size} raw prompts", "<= 1.15x", timing)


async def _peak(run) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        await run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def bench_group_memory(datasette, size: int = 10_000) -> Row:
    llm_obj = LLM(datasette)

    def ours_of(count):
        async def ours():
            async with llm_obj.group("echo") as model:
                for _ in range(count):
                    response = await model.prompt("hi")
                    await response.text()
        return ours

    def raw_of(count):
        async def raw():
            model = llm.get_async_model("echo")
            for _ in range(count):
                response = model.prompt("hi")
                await response.text()
        return raw

    await ours_of(100)()
    await raw_of(100)()
    small, raw_small = await _peak(ours_of(size // 10)), await _peak(raw_of(size // 10))
    o, r = await _peak(ours_of(size)), await _peak(raw_of(size))
    extra = size - size // 10
    return Row(
        f"peak memory, group of {size:,} prompts vs raw", "<= 2x", ours=o, raw=r, ratio=o / r,
        unit="bytes",
        note=f"with {size // 10:,} prompts: ours {small / 1024:.1f} kB, "
        f"raw {raw_small / 1024:.1f} kB; "
        f"each further prompt adds {(o - small) / extra:.1f} bytes to ours and "
        f"{(r - raw_small) / extra:.1f} to raw (llm's responses wait for the garbage "
        "collector; the group keeps none)",
    )


# Output


def render(rows: list[Row]) -> str:
    lines = [
        "| what | ours | raw llm | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        if row.unit == "us":
            lines.append(f"| {row.what} | +{row.ours * 1e6:.1f} us | | | {row.target} |")
        elif row.unit == "bytes":
            lines.append(
                f"| {row.what} | {row.ours / 1024:.1f} kB | {row.raw / 1024:.1f} kB | "
                f"{row.ratio:.2f}x | {row.target} |"
            )
        else:
            lines.append(
                f"| {row.what} | {us(row.ours)} | {us(row.raw)} | {row.ratio:.3f}x | "
                f"{row.target} |"
            )
    notes = [f"- {row.what}: {row.note}" for row in rows if row.note]
    return "\n".join(lines) + ("\n\n" + "\n".join(notes) if notes else "")


HOOKS = (
    "register_llm_purposes", "llm_filter_models", "llm_default_model", "llm_prompt_context",
    "llm_group_exit",
)


@contextmanager
def other_hook_plugins_set_aside(keep: bool):
    """Unregister, for the run, installed plugins (other than datasette-llm itself)
    that implement datasette-llm's hooks: the rows measure datasette-llm, not them."""
    names = sorted({
        impl.plugin_name
        for hook in HOOKS
        for impl in getattr(datasette_pm.hook, hook).get_hookimpls()
        if impl.plugin_name != "datasette-llm"
    })
    if keep:
        yield []
        return
    plugins = [(name, datasette_pm.get_plugin(name)) for name in names]
    for _, plugin in plugins:
        datasette_pm.unregister(plugin)
    try:
        yield names
    finally:
        for name, plugin in plugins:
            datasette_pm.register(plugin, name=name)


ROWS = ("prompt", "prompt_context", "model_purpose", "model_keyed", "models_env", "models_db",
        "group", "memory")


async def main(repeats: int, only: set, keep_plugins: bool) -> None:
    counter = _RegistryCounter()
    llm_pm.register(counter, name="bench-registry-counter")
    rows = []
    previous_user_path = os.environ.get("LLM_USER_PATH")
    with tempfile.TemporaryDirectory() as user_dir, \
            other_hook_plugins_set_aside(keep_plugins) as set_aside:
        os.environ["LLM_USER_PATH"] = user_dir  # no real keys.json or aliases.json
        datasette = await make_datasette()
        if "prompt" in only:
            rows.append(await bench_prompt(datasette, repeats))
        if "prompt_context" in only:
            rows.append(await bench_prompt_context(datasette, repeats))
        with fake_models(*make_models()):
            if "model_purpose" in only:
                rows.append(await bench_model_purpose(datasette, repeats, counter))
            if "model_keyed" in only:
                rows.append(await bench_model_keyed(datasette, repeats, counter))
            if "models_env" in only:
                rows.append(await bench_models(
                    datasette, repeats, counter, setup=env_keys,
                    label=f"models(), {PROVIDERS * MODELS_PER_PROVIDER} models in {PROVIDERS} "
                    "providers, keys from env, vs llm.get_async_models()",
                    target="<= 2.5x",
                ))
            if "models_db" in only:
                secrets_datasette = await make_datasette(
                    {"encryption-key": Fernet.generate_key().decode("utf-8")},
                )
                await save_secrets_through_web_form(
                    secrets_datasette, [secret_name(i) for i in range(PROVIDERS)]
                )
                await add_write_counter(secrets_datasette)
                rows.append(await bench_models(
                    secrets_datasette, repeats, counter,
                    label="models(), keys in the datasette-secrets encrypted database, "
                    "vs llm.get_async_models()",
                    target="<= 6x", count_writes=True,
                ))
        if "group" in only:
            rows.append(await bench_group(datasette, repeats))
        if "memory" in only:
            rows.append(await bench_group_memory(datasette))
    if previous_user_path is None:
        os.environ.pop("LLM_USER_PATH", None)
    else:
        os.environ["LLM_USER_PATH"] = previous_user_path
    llm_pm.unregister(counter)
    print(
        f"datasette-llm benchmarks: Python {sys.version.split()[0]}, llm {_version('llm')}, "
        f"Datasette {_version('datasette')}, datasette-secrets {_version('datasette-secrets')}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}.\n"
        "CPU time (time.process_time), both sides interleaved; ratio = median of per-repeat "
        "ratios."
        + (f" Set aside for the run: {', '.join(set_aside)}." if set_aside else "")
        + "\n"
    )
    print(render(rows))


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21, help="repeats per row (default 21)")
    parser.add_argument("--quick", action="store_true", help="5 repeats: a smoke run")
    parser.add_argument(
        "--only", default=",".join(ROWS), help="comma-separated rows: " + ", ".join(ROWS)
    )
    parser.add_argument(
        "--keep-plugins", action="store_true",
        help="keep installed plugins that implement datasette-llm hooks (set aside by default)",
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    if only - set(ROWS):
        parser.error(f"unknown rows: {sorted(only - set(ROWS))}")
    asyncio.run(main(5 if args.quick else args.repeats, only, args.keep_plugins))
