"""How gradviz scales: big graphs, long loops, memory and file sizes (issue 8's table, in one run).

Run from the repository root::

    python benchmarks/bench_scale.py             # everything (several minutes on 2 cores)
    python benchmarks/bench_scale.py --quick     # small workloads, 2,000-step loop, 1 repeat
    python benchmarks/bench_scale.py --only graphs --repeat 7
    python benchmarks/bench_scale.py --only graphs --workloads mlp100,cnn,tf12 --repeat 5
    python benchmarks/bench_scale.py --only memory --workloads mlp1000

It prints, side by side in one process where that makes sense:

1. Per workload (tutorial chain, MLPs of 100 and 1000 layers, TransformerEncoders of 2 and 12 layers,
   a ResNet-like CNN): node count; forward+backward inside ``gradviz.trace()`` (the call captured in
   full) against the same without gradviz; ``gradviz.graph`` per node; torchviz's ``make_dot`` per node
   (when torchviz is importable, "n/a" otherwise); a bare ``next_functions`` walk per node.
2. Whole scripts, plain ``python`` against ``gradviz trace`` (default options): a 10,000-step loop
   (Linear(4,8), ReLU, Linear(8,1), SGD, MSE, batch 16) and examples/05_training_loop.py, with each
   process's peak RSS and the size of the trace.json written; and a script whose graph holds
   a 50M-float leaf (peak RSS only). The same loop is also timed inside one process (loop only, no
   start-up, CPU time of the process), plain against ``gradviz.trace()``, to show what a call past the
   budget costs per step (``--only budget``).
   ``--only sizes``: trace.json per workload and for a chain of 25,000 multiplications with 3 captured
   calls (not timed), with what its 20 MB bound thinned or left out. ``--only memory``: peak RSS per
   workload and for two scripts holding a 200 MB tensor, each against issue 8's bound (plain + 10% of
   the largest tensor), met or not, with the extra split into start-up, records and the rest
   (``benchmarks/bench_memory.py``).

3. Issue 8's cost targets (captured fwd+bwd / plain on the 12-layer transformer, the CNN and mlp100;
   whole scripts traced / plain) against this run's figures, one line each.

Figures are medians of ``--repeat`` runs, plain and traced interleaved so that load from other processes
hits both alike. They are wall times on a shared machine: read them as ratios, not absolutes. torch runs
one intra-op thread (here and in the scripts, through OMP_NUM_THREADS=1).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "05_training_loop.py"

LOOP_SCRIPT = """\
import torch
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
loss_fn = nn.MSELoss()
inputs, targets = torch.randn(16, 4), torch.randn(16, 1)
for step in range({steps}):
    optimizer.zero_grad()
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    optimizer.step()
print(f"final loss {{loss.item():.4f}}")
"""

BIG_LEAF_SCRIPT = """\
import torch

weight = torch.randn(50_000_000, requires_grad=True)
loss = (weight * 2.0).sum()
loss.backward()
print(float(weight.grad[0]))
"""


# ----- workloads ------------------------------------------------------------------------------------


@dataclass
class Workload:
    """A forward pass to time: `run()` returns the scalar loss whose graph is measured."""

    name: str
    run: Callable[[], Any]
    key: str = ""


def _tutorial() -> Callable[[], Any]:
    import torch

    def run() -> Any:
        x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x**2
        z = 3 * y * y
        return z.mean()

    return run


def _mlp(layers: int) -> Callable[[], Any]:
    import torch
    from torch import nn

    torch.manual_seed(0)
    blocks: list[nn.Module] = []
    for _ in range(layers):
        blocks += [nn.Linear(64, 64), nn.ReLU()]
    model = nn.Sequential(*blocks)
    inputs = torch.randn(32, 64)
    return lambda: model(inputs).mean()


def _transformer(layers: int) -> Callable[[], Any]:
    import torch
    from torch import nn

    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model=128, nhead=4, dim_feedforward=256, batch_first=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "enable_nested_tensor is True, but ..." is about inference
        model = nn.TransformerEncoder(layer, num_layers=layers)
    inputs = torch.randn(8, 16, 128)
    return lambda: model(inputs).mean()


def _cnn(blocks: int) -> Callable[[], Any]:
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(channels)
            self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(channels)

        def forward(self, x: Any) -> Any:
            out = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(x + self.bn2(self.conv2(out)))

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        *[Block(32) for _ in range(blocks)],
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )
    inputs = torch.randn(4, 3, 16, 16)
    return lambda: model(inputs).mean()


#: Each workload by its short name (``--workloads``): row label, builder, whether --quick runs it.
WORKLOADS: dict[str, tuple[str, Callable[[], Callable[[], Any]], bool]] = {
    "tutorial": ("tutorial chain", _tutorial, True),
    "mlp100": ("MLP 100 layers (Linear 64 + ReLU)", partial(_mlp, 100), True),
    "tf2": ("TransformerEncoder 2 layers (d=128)", partial(_transformer, 2), True),
    "cnn": ("ResNet-like CNN (8 blocks, 32 ch)", partial(_cnn, 8), True),
    "tf12": ("TransformerEncoder 12 layers", partial(_transformer, 12), False),
    "mlp1000": ("MLP 1000 layers", partial(_mlp, 1000), False),
}

#: Issue 8's targets: captured fwd+bwd / plain per workload, and whole-script traced / plain.
CAPTURE_TARGETS = {"tf12": 2.0, "cnn": 2.0, "mlp100": 4.0}
SCRIPT_TARGET = 1.3


def workloads(quick: bool, names: list[str] | None = None) -> list[Workload]:
    """The workloads of issue 8's table: those named, else all (the small ones only with `quick`)."""
    chosen = names if names else [name for name, (_, _, small) in WORKLOADS.items() if small or not quick]
    return [Workload(WORKLOADS[name][0], WORKLOADS[name][1](), name) for name in chosen]


# ----- timing helpers --------------------------------------------------------------------------------


def _timed(function: Callable[[], Any]) -> float:
    gc.collect()
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def _timed_cpu(function: Callable[[], Any], cpu: list[float]) -> float:
    """Wall time of one call; its CPU time (this process) is appended to `cpu`."""
    gc.collect()
    start, start_cpu = time.perf_counter(), time.process_time()
    function()
    cpu.append(time.process_time() - start_cpu)
    return time.perf_counter() - start


def bare_walk(root: Any) -> int:
    """Every node reachable through next_functions, once: the least any graph snapshot must do."""
    seen = {id(root)}
    stack = [root]
    while stack:
        for next_fn, _ in stack.pop().next_functions:
            if next_fn is not None and id(next_fn) not in seen:
                seen.add(id(next_fn))
                stack.append(next_fn)
    return len(seen)


def _make_dot() -> Callable[[Any], Any] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torchviz imports torch internals that warn without numpy
            from torchviz import make_dot  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    return make_dot  # type: ignore[no-any-return]


def _leaves(loss: Any) -> list[Any]:
    """The leaf tensors of a loss's graph (the variables of its AccumulateGrad nodes)."""
    from gradviz.capture.graph import walk

    return [fn.variable for fn in walk([loss]).fns if type(fn).__name__ == "AccumulateGrad"]


def _cpu_per_call(function: Callable[[], Any], calls: int) -> float:
    """CPU seconds per call over a batch of `calls` calls, after a full collection (not timed)."""
    gc.collect()
    start = time.process_time()
    for _ in range(calls):
        function()
    return (time.process_time() - start) / calls


#: What each snapshot column measures (printed under the table).
SNAPSHOT_NOTES = (
    "gradviz.graph: walk of next_functions, the caller's names, each leaf's .grad summary (values or",
    "  min/max/mean/norm), saved tensors (shape, dtype, small values) and non-tensor saved values,",
    "  module paths, as frozen model records; no DOT text, no layout.",
    "torchviz make_dot(t) with its defaults: walk of next_functions and a graphviz.Digraph holding one",
    "  DOT line per node (type name, or the leaf's size) and per edge; no saved tensors, no layout.",
    "bare walk: every node reachable through next_functions, once (the floor for any snapshot).",
    "graph().to_dot(): DOT text from gradviz's model (the default drawing: collapsed above 300 nodes).",
    "CPU time per call over batches of about 300 nodes, each batch after gc.collect(); medians of batches,",
    "interleaved. 'gradviz.graph' runs with every parameter holding a .grad (one backward ran), so each",
    "leaf's .grad is summarised; 'no .grad' after setting them to None, as optimizer.zero_grad() leaves",
    "them when a loop calls graph(loss) (make_dot reads no .grad; its column pools both halves).",
)


#: Ratios measured in this run, for the targets summary: (what, measured, target).
RESULTS: list[tuple[str, float, float]] = []


def bench_graphs(chosen: list[Workload], repeat: int) -> None:
    """Table 1: per workload, capture cost and snapshot cost per node."""
    import gradviz

    make_dot = _make_dot()
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 100_000))  # make_dot recurses once per node
    print(f"## graphs: medians of {repeat} (plain and captured interleaved)")
    header = (
        f"| {'workload':38s} | {'nodes':>5s} | {'fwd+bwd plain ms':>16s} | {'captured ms':>11s} "
        f"| {'captured / plain':>16s} | {'CPU ratio':>9s} | {'gradviz.graph us/node':>21s} "
        f"| {'torchviz make_dot us/node':>25s} | {'graph / make_dot':>16s} | {'graph, no .grad us':>19s} "
        f"| {'no .grad / dot':>16s} | {'bare walk us/node':>17s} | {'to_dot us/node':>14s} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(cell) + 0) for cell in header.split("|")[1:-1]) + "|")

    for workload in chosen:
        workload.run().backward()  # warm up: first calls allocate, JIT-select kernels, fill caches
        plain, captured, snapshot, torchviz, bare, dot, no_grads = [], [], [], [], [], [], []
        plain_cpu: list[float] = []
        captured_cpu: list[float] = []

        def captured_run(workload: Workload = workload) -> None:
            with gradviz.trace():
                workload.run().backward()

        captured_run()
        for _ in range(repeat):
            plain.append(_timed_cpu(lambda workload=workload: workload.run().backward(), plain_cpu))
            captured.append(_timed_cpu(captured_run, captured_cpu))
        loss = workload.run()
        root = loss.grad_fn
        taken = gradviz.graph(loss)
        nodes = len(taken.nodes)
        calls = max(1, 300 // nodes)
        for _ in range(max(repeat, 5)):
            snapshot.append(_cpu_per_call(partial(gradviz.graph, loss), calls))
            bare.append(_cpu_per_call(partial(bare_walk, root), calls))
            if make_dot is not None:
                torchviz.append(_cpu_per_call(partial(make_dot, loss), calls))
            dot.append(_cpu_per_call(taken.to_dot, calls))
        for leaf in _leaves(loss):  # as after optimizer.zero_grad(), where a loop calls graph(loss)
            leaf.grad = None
        for _ in range(max(repeat, 5)):
            no_grads.append(_cpu_per_call(partial(gradviz.graph, loss), calls))
            if make_dot is not None:
                torchviz.append(_cpu_per_call(partial(make_dot, loss), calls))
        per_node = 1e6 / nodes
        ours = statistics.median(snapshot) * per_node
        fresh = statistics.median(no_grads) * per_node
        theirs = statistics.median(torchviz) * per_node if torchviz else None
        dot_cell = f"{theirs:.1f}" if theirs is not None else "n/a"
        versus = f"{ours / theirs:.2f}x" if theirs is not None else "n/a"
        versus_fresh = f"{fresh / theirs:.2f}x" if theirs is not None else "n/a"
        ratio = statistics.median(captured) / statistics.median(plain)
        cpu_ratio = statistics.median(captured_cpu) / statistics.median(plain_cpu)
        if workload.key in CAPTURE_TARGETS:
            target = CAPTURE_TARGETS[workload.key]
            RESULTS.append((f"captured fwd+bwd / plain (CPU time), {workload.name}", cpu_ratio, target))
        print(
            f"| {workload.name:38s} | {nodes:5d} | {statistics.median(plain) * 1e3:16.2f} "
            f"| {statistics.median(captured) * 1e3:11.2f} | {ratio:15.1f}x | {cpu_ratio:8.1f}x "
            f"| {ours:21.1f} | {dot_cell:>25s} | {versus:>16s} | {fresh:19.1f} | {versus_fresh:>16s} "
            f"| {statistics.median(bare) * per_node:17.2f} | {statistics.median(dot) * per_node:14.1f} |",
            flush=True,
        )
    print()
    print("\n".join(SNAPSHOT_NOTES))
    print()


#: The chain of the sizes table's last row: ``y = y * 1.0001`` this many times, three captured calls.
CHAIN_LENGTH = 25_000


def _chain_steps(calls: int) -> None:
    import torch

    x = torch.ones(4, requires_grad=True)
    for _ in range(calls):
        y = x
        for _ in range(CHAIN_LENGTH):
            y = y * 1.0001
        y.sum().backward()


def bench_trace_sizes(chosen: list[Workload], steps: int) -> None:
    """Table 4: trace.json as `gradviz trace` writes it, per workload, for a few training steps (not timed).

    The last row is a chain of `CHAIN_LENGTH` multiplications backpropagated three times: more captured
    nodes than trace.json's bound holds whole.
    """
    import gradviz
    from gradviz.render.callcap import MAX_BYTES, bounded_trace
    from gradviz.render.json import json_chunks

    def megabytes(trace: Any) -> float:
        return sum(len(piece.encode()) for piece in json_chunks(trace)) / 1e6

    print(f"## trace.json per workload: {steps} forward+backward steps inside gradviz.trace() (3 captured)")
    print(
        f"| {'workload':38s} | {'nodes':>6s} | {'events':>7s} | {'kept':>6s} | {'trace.json MB':>13s} "
        f"| {'whole MB':>8s} | {'calls thinned / left out':>24s} | {'<= 20 MB':>8s} |"
    )
    print(f"|{'-' * 40}|{'-' * 8}|{'-' * 9}|{'-' * 8}|{'-' * 15}|{'-' * 10}|{'-' * 26}|{'-' * 10}|")
    rows: list[tuple[str, Callable[[], None]]] = [
        (w.name, lambda w=w: [w.run().backward() for _ in range(steps)]) for w in chosen
    ]
    rows.append((f"chain of {CHAIN_LENGTH:,} multiplications", partial(_chain_steps, 3)))
    for name, body in rows:
        with gradviz.trace() as recording:
            body()
        trace = recording.result()
        written = bounded_trace(trace)
        size = megabytes(written)
        whole = megabytes(dataclasses.replace(written, backwards=trace.backwards, calls_left_out=()))
        thinned = sum(call.thinned for call in written.backwards)
        cut = f"{thinned} / {len(written.calls_left_out)}"
        nodes = max((len(call.graph.nodes) for call in trace.backwards), default=0)
        met = "met" if size * 1e6 <= MAX_BYTES else "NOT met"
        print(
            f"| {name:38s} | {nodes:6d} | {len(trace.events):7d} | {len(written.events):6d} | {size:13.2f} "
            f"| {whole:8.2f} | {cut:>24s} | {met:>8s} |",
            flush=True,
        )
        del recording, trace, written
    print()


def bench_after_budget(steps: int, repeat: int) -> None:
    """Table 3: the loop of table 2 inside one process, plain against a tracer whose budget is spent."""
    import torch
    from torch import nn

    import gradviz

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    inputs, targets = torch.randn(16, 4), torch.randn(16, 1)

    def loop() -> None:
        for _ in range(steps):
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(inputs), targets)
            loss.backward()
            optimizer.step()

    def traced() -> None:
        with gradviz.trace():  # 3 calls captured, the rest counted
            loop()

    loop()
    plain_times: list[float] = []
    traced_times: list[float] = []
    for _ in range(repeat):  # CPU time of this process: other load on the machine moves it less
        _timed_cpu(loop, plain_times)
        _timed_cpu(traced, traced_times)
    plain, spent = statistics.median(plain_times), statistics.median(traced_times)
    print(f"## the same loop in one process ({steps:,} steps, loop only), CPU time, medians of {repeat}")
    per_step = (spent - plain) / steps * 1e6
    print(
        f"plain {plain:.2f} s, under gradviz.trace() {spent:.2f} s: "
        f"{spent / plain:.2f}x ({per_step:.0f} us a step)"
    )
    RESULTS.append((f"{steps:,}-step loop in one process, loop only, CPU (no target)", spent / plain, 0.0))
    print()


# ----- whole scripts ---------------------------------------------------------------------------------


@dataclass
class Run:
    """One finished process: wall time (s), peak resident set size (MiB) and CPU time (s)."""

    seconds: float
    peak_mib: float
    cpu: float = 0.0


#: Runs a command and writes its peak RSS (KiB) to a file. Linux carries a process's RSS high-water mark
#: over fork and exec, so a child of this (large) benchmark process would report at least our own size;
#: this small launcher starts the measured command instead.
LAUNCHER = """\
import resource, subprocess, sys
code = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL).returncode
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
sys.exit(code)
"""


def run_process(command: list[str], cwd: Path) -> Run:
    """Run a command to its end: wall time, and its own peak RSS (children of it are not counted)."""
    with tempfile.NamedTemporaryFile(suffix=".rss") as rss:
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", LAUNCHER, rss.name, *command], cwd=cwd, stderr=subprocess.PIPE
        )
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} exited {done.returncode}:\n{done.stderr.decode()[-2000:]}"
            )
        peak_kib, cpu = Path(rss.name).read_text().split()
    return Run(seconds=seconds, peak_mib=int(peak_kib) / 1024, cpu=float(cpu))


def _median_run(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.seconds for r in runs),
        statistics.median(r.peak_mib for r in runs),
        statistics.median(r.cpu for r in runs),
    )


def bench_script(
    label: str, script: Path, repeat: int, out_dir: Path, *, workdir: Path, target: bool = True
) -> None:
    """One row of table 2: a script under plain python and under default ``gradviz trace``."""
    plain_runs, traced_runs = [], []
    trace_command = [sys.executable, "-m", "gradviz", "trace", "--quiet", "--out", str(out_dir), str(script)]
    for _ in range(repeat):
        plain_runs.append(run_process([sys.executable, str(script)], workdir))
        traced_runs.append(run_process(trace_command, workdir))
    plain, traced = _median_run(plain_runs), _median_run(traced_runs)
    trace_json = out_dir / "trace.json"
    size = f"{trace_json.stat().st_size / 1e6:.2f}" if trace_json.exists() else "none"
    ratio = traced.seconds / plain.seconds
    cpu_ratio = traced.cpu / plain.cpu if plain.cpu else float("nan")
    if target:
        RESULTS.append((f"whole script traced / plain (CPU time), {label}", cpu_ratio, SCRIPT_TARGET))
    print(
        f"| {label:38s} | {plain.seconds:8.2f} | {traced.seconds:9.2f} | {ratio:6.2f}x | {cpu_ratio:9.2f}x "
        f"| {plain.peak_mib:9.0f} | {traced.peak_mib:10.0f} | {size:>13s} |",
        flush=True,
    )


def compile_gradviz() -> None:
    """Write gradviz's bytecode, as installing a package does, before its start-up is timed.

    Python reads a module's cached bytecode even where it may not write it (``PYTHONDONTWRITEBYTECODE``,
    set on some machines): without this, every traced run would compile gradviz's sources again
    (about 0.2 s here), a cost no installed copy pays after its first run.
    """
    import gradviz

    package = Path(gradviz.__file__).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)


def bench_scripts(repeat: int, quick: bool) -> None:
    """Table 2: whole scripts, plain against traced, with peak RSS and trace.json size."""
    steps = 2_000 if quick else 10_000
    compile_gradviz()
    print(f"## whole scripts: medians of {repeat} (plain and traced interleaved), default `gradviz trace`")
    print(
        f"| {'script':38s} | {'plain s':>8s} | {'traced s':>9s} | {'ratio':>7s} | {'CPU ratio':>10s} "
        f"| {'plain MiB':>9s} | {'traced MiB':>10s} | {'trace.json MB':>13s} |"
    )
    print(f"|{'-' * 40}|{'-' * 10}|{'-' * 11}|{'-' * 9}|{'-' * 12}|{'-' * 11}|{'-' * 12}|{'-' * 15}|")
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        loop = folder / "loop.py"
        loop.write_text(LOOP_SCRIPT.format(steps=steps))
        bench_script(
            f"{steps:,}-step loop (Linear 4-8-1, SGD)", loop, repeat, folder / "loop-out", workdir=folder
        )
        bench_script("examples/05_training_loop.py", EXAMPLE, repeat, folder / "ex05-out", workdir=ROOT)
        if not quick:
            big = folder / "big_leaf.py"
            big.write_text(BIG_LEAF_SCRIPT)
            bench_script("50M-float leaf (200 MB)", big, 1, folder / "big-out", workdir=folder, target=False)
    print(
        "\nPeak RSS is the traced process itself; a layout-engine child it starts is not included. "
        "Ratios include starting Python and importing torch in both columns, with gradviz's bytecode "
        "compiled first, as an installed copy has it; the CPU ratio (the process and its children) moves "
        "less with other load on the machine."
    )
    print()


def main() -> int:
    """Run the chosen benchmarks and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small workloads, 2,000-step loop, 1 repeat")
    parser.add_argument(
        "--repeat", type=int, default=None, help="runs per measurement (default: 5, quick: 1)"
    )
    parser.add_argument(
        "--only", choices=["graphs", "scripts", "budget", "sizes", "memory"], help="run one table only"
    )
    parser.add_argument(
        "--workloads",
        type=lambda text: [name for name in text.split(",") if name],
        help=f"comma-separated workloads for the graphs and memory tables ({', '.join(WORKLOADS)})",
    )
    args = parser.parse_args()
    unknown = [name for name in args.workloads or [] if name not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload {unknown[0]!r}; choose from {', '.join(WORKLOADS)}")
    repeat = args.repeat or (1 if args.quick else 5)
    import torch

    # One intra-op thread here and in every child: on a shared, oversubscribed machine two spinning
    # OpenMP threads make plain timings swing by 100x, which no ratio survives.
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    print(
        f"python {sys.version.split()[0]}, torch {torch.__version__}, {os.cpu_count()} CPUs, 1 torch thread"
    )
    print(f"load average at start: {' '.join(f'{load:.2f}' for load in os.getloadavg())}\n")
    if args.only in (None, "graphs"):
        bench_graphs(workloads(args.quick, args.workloads), repeat)
    if args.only in (None, "sizes"):
        bench_trace_sizes(workloads(args.quick), 4)
    if args.only in (None, "memory"):
        from bench_memory import bench_workload_memory

        chosen, big = workloads(args.quick, args.workloads), not args.quick and not args.workloads
        bench_workload_memory(chosen, big=big, repeat=max(1, min(repeat, 3)))
    if args.only in (None, "scripts", "budget"):
        bench_after_budget(2_000 if args.quick else 10_000, max(1, min(repeat, 5)))
    if args.only in (None, "scripts"):
        bench_scripts(max(1, min(repeat, 3)), args.quick)
    print_targets()
    print(f"load average at end: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    return 0


def print_targets() -> None:
    """Issue 8's cost targets against this run's figures, one line each."""
    memory = sys.modules.get("bench_memory")
    memory_results: list[tuple[str, float, float]] = memory.MEMORY_RESULTS if memory else []
    if not RESULTS and not memory_results:
        return
    print("## cost targets (issue 8), this run")
    for what, measured, target in RESULTS:
        verdict = "" if not target else ("  met" if measured <= target else "  NOT met")
        limit = f" (target <= {target:.1f}x)" if target else ""
        print(f"{what}: {measured:.2f}x{limit}{verdict}")
    for name, extra, bound in memory_results:
        verdict = "met" if extra <= bound else "NOT met"
        print(f"peak RSS over plain, {name}: {extra:+.0f} MiB (bound {bound:.2f} MiB)  {verdict}")
    print()


if __name__ == "__main__":
    sys.exit(main())
