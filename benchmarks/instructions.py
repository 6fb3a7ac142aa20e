"""Instructions per operation, ours against raw llm, counted by valgrind.

CPU time on a shared machine moves by a few percent from run to run; the number of
instructions a piece of Python executes moves by about 1% (llm gives each response
its random ID). This runs each operation under ``valgrind --tool=callgrind`` twice,
a small and a large number of times (one process each, see ``SIZES``), and divides the
difference in instructions by the difference in repeats, so that start-up cancels out:

    python benchmarks/instructions.py                  # every row, a few minutes
    python benchmarks/instructions.py --only prompt

It needs valgrind (``apt-get install valgrind``). Counts are comparable between two
versions of the code on one machine and Python; they leave out what instructions do
not show (cache misses, allocation), which ``benchmarks/run.py`` measures.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

# (row, ours operation, raw llm operation)
ROWS = {
    "prompt": ("one prompt, no hook implementations", "ours_prompt", "raw_prompt"),
    "prompt_context": (
        "one prompt, 5 no-op llm_prompt_context implementations (raw: the same plugin "
        "code by hand)",
        "ours_prompt_context",
        "raw_prompt_context",
    ),
    "model_purpose": ("model(purpose=...) against llm.get_async_model", "ours_model", "raw_model"),
}
SIZES = {  # (small, large) repeats: valgrind runs Python about 50 times slower
    "prompt": (200, 1200),
    "prompt_context": (200, 700),
    "model_purpose": (50, 300),
}


def count(operation: str, repeats: int) -> int:
    """Instructions of one process running ``operation`` ``repeats`` times."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.setdefault("DATASETTE_LOAD_PLUGINS", "datasette-llm,datasette-secrets")
    completed = subprocess.run(
        [
            "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
            sys.executable, __file__, "--run", operation, str(repeats),
        ],
        env=env, capture_output=True, text=True, check=True,
    )
    found = re.search(r"Collected : (\d+)", completed.stderr)
    if found is None:
        raise RuntimeError(f"valgrind printed no count for {operation}:\n{completed.stderr}")
    return int(found.group(1))


def per_operation(operation: str, small: int, large: int) -> float:
    return (count(operation, large) - count(operation, small)) / (large - small)


def run_operation(operation: str, repeats: int) -> None:
    """The process valgrind counts: set up, then ``operation`` ``repeats`` times."""
    import asyncio
    import gc
    from contextlib import asynccontextmanager

    import llm
    from datasette import hookimpl
    from datasette.app import Datasette
    from datasette.plugins import pm

    from datasette_llm import LLM, _assignments

    # Under valgrind two seconds pass every few hundred calls: no periodic re-read of
    # the /-/llm assignments inside the counts (benchmarks/run.py counts it, in time)
    _assignments.REFRESH_SECONDS = float("inf")

    class PromptContext:
        @hookimpl
        def llm_prompt_context(self, datasette, model_id, prompt, purpose, actor):
            @asynccontextmanager
            async def wrapper(result):
                yield

            return wrapper

    if operation == "ours_prompt_context":
        for i in range(5):
            pm.register(PromptContext(), name=f"instructions-prompt-context-{i}")
    gc.disable()  # as in benchmarks/run.py: no collection inside the counts

    async def main():
        config = {"plugins": {"datasette-llm": {"purposes": {"bench": {"model": "echo"}}}}}
        datasette = Datasette(memory=True, config=config)
        await datasette.invoke_startup()
        llm_obj = LLM(datasette)
        wrapped = await llm_obj.model("echo")
        raw_model = llm.get_async_model("echo")
        await llm_obj.model(purpose="bench")  # config parsed, assignments read
        if operation in ("ours_prompt", "ours_prompt_context"):
            for _ in range(repeats):
                await (await wrapped.prompt("hi")).text()
        elif operation == "raw_prompt":
            for _ in range(repeats):
                await raw_model.prompt("hi").text()
        elif operation == "raw_prompt_context":
            implementation = PromptContext().llm_prompt_context

            def wrapper():
                return implementation(
                    datasette=datasette, model_id="echo", prompt="hi", purpose=None, actor=None
                )

            for _ in range(repeats):
                w1, w2, w3, w4, w5 = wrapper(), wrapper(), wrapper(), wrapper(), wrapper()
                async with w1(None), w2(None), w3(None), w4(None), w5(None):
                    response = raw_model.prompt("hi")
                await response.text()
        elif operation == "ours_model":
            for _ in range(repeats):
                await llm_obj.model(purpose="bench")
        elif operation == "raw_model":
            for _ in range(repeats):
                llm.get_async_model("echo")
        else:
            raise SystemExit(f"unknown operation {operation!r}")

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated rows: " + ", ".join(ROWS))
    parser.add_argument("--run", nargs=2, metavar=("OPERATION", "REPEATS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run_operation(args.run[0], int(args.run[1]))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    only = args.only.split(",") if args.only else list(ROWS)
    unknown = [name for name in only if name not in ROWS]
    if unknown:
        raise SystemExit(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")
    print("| what | ours | raw llm | ratio |\n|---|---|---|---|")
    for name in only:
        label, ours, raw = ROWS[name]
        small, large = SIZES[name]
        ours_count = per_operation(ours, small, large)
        raw_count = per_operation(raw, small, large)
        print(f"| {label} | {ours_count:,.0f} | {raw_count:,.0f} | {ours_count / raw_count:.3f}x |")


if __name__ == "__main__":
    main()
