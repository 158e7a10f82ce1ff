"""How soon `make run` on a fresh machine's stack shows the demo: from the command to the demo
seeded (tokens written), to the gateway serving the producers' page, and to months of weekly
history served for Lyon (what the page draws), beside the bare stack's own start (Kafka and the
registry formatted and started by deploy/local/stack.py, nothing of ours) measured in the same
run: the ratio is what Vivres adds to what any Kafka stack costs here. The demo's promise
(docs/demo.md): its history within 2 minutes.

    .venv/bin/python -m bench.make_run_ready [--runs 3]

Each run uses fresh stacks of its own (state in a temporary directory, ports moved), so the
local stack may keep running; the CPU it uses is then counted too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.gateway_ingest import machine
from tests.make_run import (
    GUARD_S,
    ctrl_c,
    fresh_env,
    months_of_history,
    served_signals,
    start_make_run,
)
from tests.support import eventually, launched


async def bare_stack(state: Path) -> float:
    """Seconds for the launcher alone to format and start Kafka and the registry."""
    env, _ = fresh_env(state)
    began = time.monotonic()
    launched(env, "start", timeout=GUARD_S)
    took = time.monotonic() - began
    launched(env, "stop")
    return took


async def make_run(state: Path) -> dict[str, float]:
    """Seconds from `make run` to each mark, on a fresh stack; then Ctrl-C."""
    env, port = fresh_env(state / "stack")
    tokens, output = state / "demo-tokens.json", state / "make-run.log"
    began = time.monotonic()
    process = start_make_run(env, tokens, output)
    marks: dict[str, float] = {}
    try:
        def alive() -> None:
            assert process.poll() is None, output.read_text()[-3000:]

        def seeded() -> bool:
            alive()
            return tokens.exists()
        await eventually(seeded, timeout=GUARD_S, interval=0.2, what="the demo seeded")
        marks["seeded"] = time.monotonic() - began
        producer = next(iter(json.loads(tokens.read_text())["producers"].values()))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            async def page() -> bool:
                alive()
                try:
                    return (await http.get("/producteurs")).is_success
                except httpx.HTTPError:
                    return False
            await eventually(page, timeout=GUARD_S, interval=0.2, what="the page served")
            marks["page"] = time.monotonic() - began

            async def history() -> bool:
                alive()
                signals = await served_signals(http, producer)
                return months_of_history([len(s["sold_weeks"]) for s in signals])
            await eventually(history, timeout=GUARD_S, interval=0.5, what="months of history")
            marks["history"] = time.monotonic() - began
    finally:
        await ctrl_c(process)
        launched(env, "stop")  # stopped by make run already, unless it failed before
    return marks


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    bare, runs, ratios = [], [], []
    for n in range(args.runs):
        state = Path(tempfile.mkdtemp(prefix="vivres-bench-make-run-"))
        try:
            bare.append(await bare_stack(state / "bare"))
            runs.append(await make_run(state))
        finally:
            shutil.rmtree(state, ignore_errors=True)
        ratios.append(runs[-1]["history"] / bare[-1])
        print(f"# run {n + 1}: bare stack {bare[-1]:.1f} s; make run: demo seeded "
              f"{runs[-1]['seeded']:.1f} s, page {runs[-1]['page']:.1f} s, history "
              f"{runs[-1]['history']:.1f} s", flush=True)

    def median(mark: str) -> float:
        return statistics.median(run[mark] for run in runs)
    print(f"| {datetime.now(UTC):%Y-%m-%d} | {machine()} | {args.runs} | "
          f"{statistics.median(bare):.0f} s | {median('seeded'):.0f} s | {median('page'):.0f} s "
          f"| {median('history'):.0f} s | {statistics.median(ratios):.1f} |")


if __name__ == "__main__":
    asyncio.run(main())
