"""Peak RSS per workload, plain ``python`` against ``gradviz trace``, and what the difference is made of.

Run through ``python benchmarks/bench_scale.py --only memory`` (this module holds that table).

Each workload runs as a script of its own (4 training steps: forward, ``backward()``), under plain
``python`` and under default ``gradviz trace`` (3 calls captured step by step), interleaved, medians of
up to 3 runs, each in a fresh process whose own peak RSS is read (``ru_maxrss`` of a small launcher's
child). Both sides start Python and import torch and the workload's builder; only the traced side imports
gradviz. The extra RSS is split into:

- start-up: ``gradviz trace`` on a script that only imports torch, against plain ``python`` on it
  (gradviz's modules, the CLI);
- records: the Python objects a finished ``gradviz.trace()`` of the same 4 steps keeps (tracemalloc, in
  this process, after a warm-up trace so that no first import is counted);
- the rest: what neither explains: memory used only during a captured call (hooks, summaries of the
  gradients) and memory the C allocator and Python's keep after it was freed (RSS never goes back down).
"""

from __future__ import annotations

import gc
import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_scale import BIG_LEAF_SCRIPT, ROOT, Run, Workload, _median_run, run_process

WORKLOAD_SCRIPT = """\
import sys
sys.path.insert(0, {folder!r})
import torch
torch.set_num_threads(1)
from bench_scale import {builder}
run = {call}
for _ in range({steps}):
    run().backward()
"""

#: The start-up row's script: what every workload script does before building its model.
START_SCRIPT = "import torch\ntorch.set_num_threads(1)\n"

#: How the memory table's script builds each workload alone, by row label (it builds no other model).
BUILD_CALLS = {
    "tutorial chain": ("_tutorial", "_tutorial()"),
    "MLP 100 layers (Linear 64 + ReLU)": ("_mlp", "_mlp(100)"),
    "TransformerEncoder 2 layers (d=128)": ("_transformer", "_transformer(2)"),
    "ResNet-like CNN (8 blocks, 32 ch)": ("_cnn", "_cnn(8)"),
    "TransformerEncoder 12 layers": ("_transformer", "_transformer(12)"),
    "MLP 1000 layers": ("_mlp", "_mlp(1000)"),
}

BIG_TRANSPOSED_SCRIPT = """\
import torch

weight = torch.randn(5_000, 10_000, requires_grad=True)
inputs = torch.randn(4, 10_000)
loss = (inputs @ weight.t()).sum()
loss.backward()
print(float(weight.grad[0, 0]))
"""

#: Scripts whose graph holds one big tensor (its size in MiB): where issue 8's memory bound means most.
BIG_SCRIPTS = {
    "50M-float leaf (200 MB)": (BIG_LEAF_SCRIPT, 50_000_000 * 4 / 2**20),
    "50M-float weight saved transposed": (BIG_TRANSPOSED_SCRIPT, 50_000_000 * 4 / 2**20),
}
#: Issue 8: peak RSS at most plain + this share of the largest tensor.
MEMORY_SHARE = 0.10
#: Peak RSS measured in this run, for the targets summary: (workload, extra MiB, bound MiB).
MEMORY_RESULTS: list[tuple[str, float, float]] = []


def largest_tensor_mib(loss: Any) -> float:
    """The biggest tensor in a loss's graph (a leaf or a saved tensor), in MiB."""
    from gradviz.capture.graph import walk
    from gradviz.capture.saved import read_saved

    sizes = [0]
    for fn in walk([loss]).fns:
        tensors = [fn.variable] if type(fn).__name__ == "AccumulateGrad" else [t for _, t in read_saved(fn)]
        sizes.extend(t.numel() * t.element_size() for t in tensors)
    return max(sizes) / 2**20


def records_mib(run: Callable[[], Any], steps: int) -> float:
    """MiB of Python objects that a finished ``gradviz.trace()`` of `steps` training steps keeps."""
    import torch

    import gradviz

    with gradviz.trace():  # warm-up: gradviz's lazy imports are start-up, not records
        torch.ones(2, requires_grad=True).sum().backward()
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    with gradviz.trace() as recording:
        for _ in range(steps):
            run().backward()
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del recording
    return kept / 2**20


def _plain_and_traced(script: Path, out_dir: Path, repeat: int) -> tuple[Run, Run]:
    """Medians of `repeat` runs of a script under plain python and under ``gradviz trace``, interleaved."""
    trace = [sys.executable, "-m", "gradviz", "trace", "--quiet", "--format", "dot", "--out", str(out_dir)]
    plain_runs, traced_runs = [], []
    for _ in range(repeat):
        plain_runs.append(run_process([sys.executable, str(script)], script.parent))
        traced_runs.append(run_process([*trace, str(script)], script.parent))
    return _median_run(plain_runs), _median_run(traced_runs)


def start_up_mib(folder: Path, repeat: int) -> float:
    """Peak RSS of ``gradviz trace`` over plain ``python`` on a script that only imports torch (MiB)."""
    script = folder / "start.py"
    script.write_text(START_SCRIPT)
    plain, traced = _plain_and_traced(script, folder / "start-out", repeat)
    return traced.peak_mib - plain.peak_mib


def _memory_row(
    name: str,
    script: Path,
    out_dir: Path,
    largest: float,
    start_up: float,
    records: float | None,
    repeat: int,
) -> None:
    plain, traced = _plain_and_traced(script, out_dir, repeat)
    size = (out_dir / "trace.json").stat().st_size / 1e6
    extra = traced.peak_mib - plain.peak_mib
    bound = MEMORY_SHARE * largest
    met = "met" if extra <= bound else "NOT met"
    MEMORY_RESULTS.append((name, extra, bound))
    kept = "" if records is None else f"{records:7.1f}"
    rest = "" if records is None else f"{extra - start_up - records:6.0f}"
    print(
        f"| {name:38s} | {plain.peak_mib:9.0f} | {traced.peak_mib:10.0f} | {extra:9.0f} "
        f"| {start_up:8.0f} | {kept:>7s} | {rest:>6s} "
        f"| {largest:18.2f} | {bound:10.2f} | {met:>7s} | {size:13.2f} |",
        flush=True,
    )


def bench_workload_memory(chosen: list[Workload], steps: int = 4, big: bool = True, repeat: int = 3) -> None:
    """Table 5: peak RSS of each workload as a script, plain python against default ``gradviz trace``.

    Each row says whether the extra RSS is within issue 8's bound, 10% of the graph's largest tensor, and
    splits it into start-up, records and the rest (see the module's docstring). The workloads' tensors
    are a few KB, below what the Python objects of any record of them take, so their bound is out of
    reach by construction; the scripts with a 200 MB tensor are where it is meaningful.
    """
    print(
        f"## peak RSS per workload: {steps} training steps as a script, plain against `gradviz trace`, "
        f"medians of {repeat}"
    )
    print(
        f"| {'workload':38s} | {'plain MiB':>9s} | {'traced MiB':>10s} | {'extra MiB':>9s} "
        f"| {'start-up':>8s} | {'records':>7s} | {'rest':>6s} "
        f"| {'largest tensor MiB':>18s} | {'bound MiB':>10s} | {'met':>7s} | {'trace.json MB':>13s} |"
    )
    print(
        f"|{'-' * 40}|{'-' * 11}|{'-' * 12}|{'-' * 11}|{'-' * 10}|{'-' * 9}|{'-' * 8}"
        f"|{'-' * 20}|{'-' * 12}|{'-' * 9}|{'-' * 15}|"
    )
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        start_up = start_up_mib(folder, repeat)
        for number, workload in enumerate(chosen):
            builder, call = BUILD_CALLS[workload.name]
            script = folder / f"workload-{number}.py"
            here = str(ROOT / "benchmarks")
            script.write_text(WORKLOAD_SCRIPT.format(folder=here, builder=builder, call=call, steps=steps))
            largest = largest_tensor_mib(workload.run())
            records = records_mib(workload.run, steps)
            out_dir = folder / f"out-{number}"
            _memory_row(workload.name, script, out_dir, largest, start_up, records, repeat)
        for number, (name, (text, largest)) in enumerate(BIG_SCRIPTS.items() if big else ()):
            script = folder / f"big-{number}.py"
            script.write_text(text)
            _memory_row(name, script, folder / f"big-out-{number}", largest, start_up, None, 1)
    print(
        f"\nbound: {MEMORY_SHARE:.0%} of the largest tensor (issue 8). Peak RSS is the traced process itself "
        "(`--format dot`: no layout engine child); the 200 MB scripts run once.\n"
        "start-up: `gradviz trace` of a script that only imports torch, over plain python. "
        "records: Python objects a finished gradviz.trace() of the same steps keeps (tracemalloc). "
        "rest: extra - start-up - records: memory used only during a captured call, and freed memory "
        "the allocators keep (peak RSS never goes back down)."
    )
    print()
