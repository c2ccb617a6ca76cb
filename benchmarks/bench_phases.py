"""Where one captured call's time goes: plan, hooks, engine, finish, per workload.

Run from the repository root::

    python benchmarks/bench_phases.py mlp100 tf12     # any of bench_scale's workloads
    python benchmarks/bench_phases.py cnn --rounds 9

For each workload it times a plain forward+backward, the same inside ``gradviz.trace()`` (one call
captured), and, within that captured call, the phases `CallCapture` runs: planning (walk, the leaves'
``.grad`` before, describing the nodes), attaching the hooks, the engine with gradviz's hooks, detaching,
and finishing the record (``to_call``, accumulation findings, the ledger, the timeline links). What is
neither is the forward recording, entering and leaving the trace, and the collector's pass after it.
Wall time, medians of rounds of 10 calls; one torch thread, as in bench_scale. The phases are timed by
wrapping gradviz's own functions, which costs about a microsecond per wrapped call.
"""

from __future__ import annotations

import argparse
import functools
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: (module, attribute, phase name) of each function timed; a dotted name is a part of the phase before it.
PHASES = (
    ("gradviz.capture.callcapture", "CallCapture._capture", "capture"),
    ("gradviz.capture.callcapture", "CallCapture.plan", "plan"),
    ("gradviz.capture.callcapture", "walk", "plan.walk"),
    ("gradviz.capture.callcapture", "leaf_grad_values", "plan.leaf_grads_before"),
    ("gradviz.capture.callcapture", "describe", "plan.describe"),
    ("gradviz.capture.backward", "StepRecorder.attach", "attach"),
    ("gradviz.capture.backward", "StepRecorder.detach", "detach"),
    ("gradviz.capture.callcapture", "CallCapture.finish", "finish"),
    ("gradviz.capture.call", "CallPlan.to_call", "finish.to_call"),
    ("gradviz.capture.callcapture", "LeafLedger.accumulation_findings", "finish.accumulation"),
    ("gradviz.capture.callcapture", "LedgerBook.captured", "finish.ledger"),
    ("gradviz.capture.callcapture", "with_timeline", "finish.timeline"),
)


def wrap_phases(totals: dict[str, float]) -> None:
    """Wrap each function of `PHASES` so that its wall time adds up in `totals` under its phase."""
    import importlib

    for module_name, attribute, phase in PHASES:
        owner: Any = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        original = getattr(owner, name)

        setattr(owner, name, _timed(original, phase, totals))


def _timed(original: Callable[..., Any], phase: str, totals: dict[str, float]) -> Callable[..., Any]:
    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[phase] = totals.get(phase, 0.0) + time.perf_counter() - start

    return timed


def measure(name: str, rounds: int, totals: dict[str, float], calls: int = 10) -> None:
    """Print one workload's plain and captured times and the captured call's phases (ms, medians).

    Args:
        name: A workload of bench_scale.
        rounds: Rounds of `calls` plain calls, then `calls` captured ones.
        totals: Where the wrapped phases add up their time (`wrap_phases`).
        calls: Calls per round.
    """
    import bench_scale

    import gradviz

    workload = bench_scale.workloads(False, [name])[0]

    def plain() -> None:
        workload.run().backward()

    def captured() -> None:
        with gradviz.trace():
            workload.run().backward()

    plain_ms: list[float] = []
    captured_ms: list[float] = []
    phases: list[dict[str, float]] = []
    plain(), captured()  # first calls allocate and fill caches
    for _ in range(rounds):
        for function, times in ((plain, plain_ms), (captured, captured_ms)):
            gc.collect()
            totals.clear()
            start = time.perf_counter()
            for _ in range(calls):
                function()
            times.append((time.perf_counter() - start) / calls * 1e3)
        phases.append({phase: seconds / calls * 1e3 for phase, seconds in totals.items()})
    plain_median, captured_median = statistics.median(plain_ms), statistics.median(captured_ms)
    print(
        f"## {workload.name}: plain {plain_median:.2f} ms, captured {captured_median:.2f} ms "
        f"({captured_median / plain_median:.1f}x), medians of {rounds} rounds of {calls} calls"
    )
    medians = {}
    for _, _, phase in PHASES:
        values = [round_[phase] for round_ in phases if phase in round_]
        if values:
            medians[phase] = statistics.median(values)
            indent = "    " if "." in phase else "  "
            print(f"{indent}{phase:28s} {medians[phase]:8.2f} ms")
    if "capture" in medians:
        steps = ("plan", "attach", "detach", "finish")
        engine = medians["capture"] - sum(medians.get(step, 0.0) for step in steps)
        print(f"  {'engine with the hooks':28s} {engine:8.2f} ms  (capture less the four phases above)")
        print(
            f"  {'outside the captured call':28s} {captured_median - medians['capture']:8.2f} ms  "
            "(forward recording, trace enter/exit, collector)"
        )
    print()


def main() -> int:
    """Time the chosen workloads."""
    import bench_scale

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("workloads", nargs="+", choices=list(bench_scale.WORKLOADS), help="workloads to time")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of 10 calls each (default: 5)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(
        1
    )  # as bench_scale does: two spinning threads on a busy machine swing plain timings
    totals: dict[str, float] = {}
    wrap_phases(totals)
    for name in args.workloads:
        measure(name, args.rounds, totals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
