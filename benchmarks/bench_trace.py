"""How much gradviz costs: a traced training loop, and the graph walk per node.

Run from the repository root::

    python benchmarks/bench_trace.py            # full run (a minute or two)
    python benchmarks/bench_trace.py --quick    # one repeat, smaller chains

It prints three tables:

1. Wall time of ``python examples/05_training_loop.py`` against ``gradviz trace`` on the same script
   (2,000 iterations; the first 3 backward calls captured, the rest counted), and their ratio. Both
   include starting Python and importing torch, which the bare ``import torch`` line shows.
2. Cost per node of snapshotting the graph behind chains of 100, 1k and 10k multiplications:
   ``gradviz.graph(t)`` (walk, names, tensor summaries, model objects), the bare walk of
   ``next_functions`` inside it, and torchviz's ``make_dot`` when torchviz is importable (the column
   is left out otherwise; make_dot recurses, so long chains hit Python's recursion limit).
3. CPU time per torch op of the forward timeline, in this process: plain, recorded, and with the mode
   pushed but not recording (after the capture budget). CPU time, not wall time, so other work on the
   machine moves it less; this is the per-op path every callback door sits on.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "05_training_loop.py"


def best_wall_time(command: list[str], repeat: int) -> float:
    """The fastest of `repeat` runs of a command, in seconds (output discarded, failure raised)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def best_call_time(function: Callable[[], Any], repeat: int) -> float:
    """The fastest of `repeat` calls of a function, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def bench_training_loop(repeat: int) -> None:
    """Table 1: the training loop, plain against traced."""
    with tempfile.TemporaryDirectory() as out_dir:
        import_only = best_wall_time([sys.executable, "-c", "import torch"], repeat)
        plain = best_wall_time([sys.executable, str(EXAMPLE)], repeat)
        trace = [sys.executable, "-m", "gradviz", "trace", "--quiet", "--out", out_dir]
        traced = best_wall_time([*trace, str(EXAMPLE)], repeat)
        untimed = best_wall_time([*trace, "--no-timeline", str(EXAMPLE)], repeat)
    print(f"## {EXAMPLE.relative_to(ROOT)} (2,000 iterations), best of {repeat}")
    rows = [
        ("python -c 'import torch'", import_only, "s"),
        ("python examples/05_training_loop.py", plain, "s"),
        ("gradviz trace (default options)", traced, "s"),
        ("ratio traced / plain", traced / plain, "x"),
        ("gradviz trace --no-timeline", untimed, "s"),
        ("ratio --no-timeline / plain", untimed / plain, "x"),
    ]
    if plain > import_only:
        rows.append(("ratio without the torch import", (traced - import_only) / (plain - import_only), "x"))
        rows.append(("  the same, --no-timeline", (untimed - import_only) / (plain - import_only), "x"))
    for label, number, unit in rows:
        print(f"{label:38s} {number:7.2f} {unit}")
    print()


def chain(length: int) -> Any:
    """A tensor at the end of `length` multiplications, so its graph has length + 1 nodes."""
    import torch

    leaf = torch.ones(3, requires_grad=True)
    result = leaf
    for _ in range(length):
        result = result * 1.0001
    return result


def bench_graph_walk(lengths: list[int], repeat: int) -> None:
    """Table 2: cost per node of snapshotting a chain's graph."""
    import gradviz
    from gradviz.capture.graph import walk

    try:
        from torchviz import make_dot  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        make_dot = None
    print(f"## graph snapshot cost per node (microseconds), best of {repeat}")
    header = f"{'nodes':>8s} {'gradviz.graph':>14s} {'bare walk':>10s}"
    if make_dot is not None:
        header += f" {'torchviz.make_dot':>18s}"
    print(header)
    for length in lengths:
        tensor = chain(length)
        nodes = len(gradviz.graph(tensor).nodes)
        snapshot = best_call_time(partial(gradviz.graph, tensor), repeat) / nodes * 1e6
        bare = best_call_time(partial(walk, [tensor]), repeat) / nodes * 1e6
        row = f"{nodes:8d} {snapshot:14.2f} {bare:10.2f}"
        if make_dot is not None:
            try:
                cost = best_call_time(partial(make_dot, tensor), repeat) / nodes * 1e6
                row += f" {cost:18.2f}"
            except RecursionError:
                row += f" {'RecursionError':>18s}"
        print(row)
    print()


def small_ops(iterations: int) -> None:
    """Four small torch ops per iteration, on a leaf that requires grad (as a model's forward)."""
    import torch

    weight = torch.ones(4, requires_grad=True)
    inputs = torch.ones(4)
    for _ in range(iterations):
        (weight * inputs).add(1).tanh().sum()


def best_cpu_time(function: Callable[[], Any], repeat: int) -> float:
    """The least CPU time of `repeat` calls of a function, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        function()
        best = min(best, time.process_time() - start)
    return best


def bench_per_op(iterations: int, repeat: int) -> None:
    """Table 3: CPU time per op, plain, recorded by the forward timeline, and with the mode idle."""
    from gradviz.capture.forward import ForwardRecorder

    def under_recorder(recording: bool) -> None:
        recorder = ForwardRecorder(max_events=10 * iterations)
        recorder.start()
        recorder.recording = recording
        try:
            small_ops(iterations)
        finally:
            recorder.stop()

    ops = 4 * iterations
    rows = [
        ("plain torch", best_cpu_time(partial(small_ops, iterations), repeat)),
        ("recorded on the timeline", best_cpu_time(partial(under_recorder, True), repeat)),
        ("mode pushed, not recording", best_cpu_time(partial(under_recorder, False), repeat)),
    ]
    print(f"## CPU time per torch op (microseconds), {ops:,} small ops, best of {repeat}")
    for label, seconds in rows:
        print(f"{label:38s} {seconds / ops * 1e6:7.2f}")
    print()


def main() -> int:
    """Run both benchmarks and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, chains of 100 and 1k nodes only")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (default: 3)")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    bench_training_loop(repeat)
    bench_graph_walk([100, 1_000] if args.quick else [100, 1_000, 10_000], repeat)
    bench_per_op(500 if args.quick else 2_000, max(repeat, 5))
    return 0


if __name__ == "__main__":
    sys.exit(main())
