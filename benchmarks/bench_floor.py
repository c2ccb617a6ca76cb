"""The floor under a captured call: what the least Python recorder of forward and backward would cost.

Run from the repository root::

    python benchmarks/bench_floor.py mlp100 cnn tf12     # any of bench_scale's workloads
    python benchmarks/bench_floor.py tf12 --rounds 9

gradviz records the forward with a ``TorchFunctionMode`` and each backward step with a Python hook on
every autograd Node. This prints, per workload, one forward+backward with recorders that do less and
less beside that design's unavoidable parts, next to gradviz's own captured call:

1. plain: no recorder;
2. an empty ``TorchFunctionMode`` (each op passes through one Python handler);
3. a mode that notes each op's function and calling line (the least a forward timeline needs);
4. that mode, then a walk of ``next_functions`` and one empty Python post-hook per Node, removed after;
5. as 4, with one ``vector_norm`` of every vJ in the hook (the least a step record needs; not read back);
6. gradviz: the same call inside ``gradviz.trace()``, as bench_scale times it.

The gap between 5 and 6 is what gradviz's records cost beyond that floor: min/max/mean and small values,
the leaves' ``.grad`` before and after, saved tensors, names, module paths, findings and the records.
CPU time per call (``time.process_time``), medians of rounds run interleaved, one torch thread.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _modes() -> tuple[type[Any], type[Any]]:
    from torch.overrides import TorchFunctionMode

    class PassThrough(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            return func(*args, **(kwargs or {}))

    class OpsAndLines(TorchFunctionMode):
        def __init__(self) -> None:
            super().__init__()
            self.ops: list[tuple[Any, Any, int]] = []

        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            result = func(*args, **(kwargs or {}))
            caller = sys._getframe(1)
            self.ops.append((func, caller.f_code, caller.f_lineno))
            return result

    return PassThrough, OpsAndLines


def _nodes(root: Any) -> list[Any]:
    """Every Node reachable from `root` through ``next_functions``, once."""
    nodes, seen, at = [root], {id(root)}, 0
    while at < len(nodes):
        for node, _ in nodes[at].next_functions:
            if node is not None and id(node) not in seen:
                seen.add(id(node))
                nodes.append(node)
        at += 1
    return nodes


def recorders(run: Callable[[], Any]) -> dict[str, Callable[[], None]]:
    """The forward+backward of `run` under each recorder of the module's list, by row label."""
    import torch

    import gradviz

    pass_through, ops_and_lines = _modes()
    norm = torch.linalg.vector_norm

    def plain() -> None:
        run().backward()

    def empty_mode() -> None:
        with pass_through():
            loss = run()
        loss.backward()

    def noted_ops() -> None:
        with ops_and_lines():
            loss = run()
        loss.backward()

    def hooked(reduce: bool) -> Callable[[], None]:
        def call() -> None:
            with ops_and_lines():
                loss = run()
            seen: list[Any] = []

            def empty(grad_inputs: Any, grad_outputs: Any) -> None:
                seen.append(grad_inputs)

            def normed(grad_inputs: Any, grad_outputs: Any) -> None:
                with torch.no_grad():
                    seen.append([norm(grad) for grad in grad_inputs if grad is not None])

            hook = normed if reduce else empty
            handles = [node.register_hook(hook) for node in _nodes(loss.grad_fn)]
            loss.backward()
            for handle in handles:
                handle.remove()

        return call

    def captured() -> None:
        with gradviz.trace():
            run().backward()

    return {
        "plain": plain,
        "empty TorchFunctionMode": empty_mode,
        "mode noting each op and its line": noted_ops,
        "+ walk, one empty post-hook per Node": hooked(False),
        "+ one vector_norm per vJ in the hook": hooked(True),
        "gradviz.trace(), one captured call": captured,
    }


def measure(name: str, rounds: int, calls: int = 5) -> None:
    """Print one workload's rows: CPU ms per call and the ratio to plain (medians of `rounds`)."""
    import bench_scale

    workload = bench_scale.workloads(False, [name])[0]
    rows = recorders(workload.run)
    for function in rows.values():  # first calls allocate and fill caches
        function()
    times: dict[str, list[float]] = {label: [] for label in rows}
    for _ in range(rounds):
        for label, function in rows.items():
            gc.collect()
            start = time.process_time()
            for _ in range(calls):
                function()
            times[label].append((time.process_time() - start) / calls * 1e3)
    medians = {label: statistics.median(values) for label, values in times.items()}
    plain = medians["plain"]
    print(f"## {workload.name}: CPU ms per forward+backward, medians of {rounds} rounds of {calls} calls")
    for label, value in medians.items():
        print(f"  {label:40s} {value:8.2f} ms  {value / plain:5.2f}x")
    print()


def main() -> int:
    """Time the chosen workloads."""
    import bench_scale

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("workloads", nargs="+", choices=list(bench_scale.WORKLOADS), help="workloads to time")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of 5 calls each (default: 7)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # as bench_scale does
    for name in args.workloads:
        measure(name, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
