"""``torchrun -m gradviz trace``: DistributedDataParallel on CPU (gloo), two processes on localhost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gradviz.cli import main
from gradviz.cli.options import rank_folder

from .harness import HERE, environment

DDP_SCRIPT = HERE / "ddp_train.py"


def torchrun(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    """Start ``torchrun --standalone --nproc_per_node 2 ARGS``: the rendezvous takes a free port itself."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    return subprocess.Popen(
        command, cwd=cwd, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def leaf_grads(call: dict[str, object]) -> list[object]:
    """The ``.grad`` after a captured call of every leaf in it, in node order."""
    nodes = call["nodes"]
    assert isinstance(nodes, list)
    return [node["tensor"]["grad_after"] for node in nodes if node["name"] == "AccumulateGrad"]


def test_ddp_under_torchrun_runs_the_same_and_writes_one_trace_per_rank(tmp_path: Path) -> None:
    # Given: the same DDP training run plain and traced under torchrun, one after the other (two
    # --standalone rendezvous started at once can race for the free port each picks).
    plain_dir, traced_dir = tmp_path / "plain", tmp_path / "traced"
    plain_dir.mkdir()
    traced_dir.mkdir()
    plain = torchrun(str(DDP_SCRIPT), cwd=plain_dir)
    plain_out, plain_err = plain.communicate(timeout=600)
    traced = torchrun("-m", "gradviz", "trace", str(DDP_SCRIPT), cwd=traced_dir)
    traced_out, traced_err = traced.communicate(timeout=600)

    # Then: both succeed and rank 0 prints the same losses and the same checksum of the final weights,
    # so DDP's gradient all-reduce kept every replica in step under gradviz as without it.
    assert plain.returncode == 0, plain_err.decode(errors="replace")
    assert traced.returncode == 0, traced_err.decode(errors="replace")
    assert b"replicas equal: True" in plain_out
    assert b"checksum " in plain_out
    assert traced_out == plain_out, traced_err.decode(errors="replace")

    # Then: each rank wrote its own trace, and the gradients it shows are the all-reduced ones.
    traces = [
        json.loads((traced_dir / "gradviz-out" / "ddp_train" / f"rank-{rank}" / "trace.json").read_text())
        for rank in (0, 1)
    ]
    assert [trace["backward_calls"] for trace in traces] == [12, 12]
    assert leaf_grads(traces[0]["backwards"][0]) == leaf_grads(traces[1]["backwards"][0])
    assert leaf_grads(traces[0]["backwards"][0])

    # Then: the calls past the budget are summarised with the all-reduced .grad too (read after
    # backward, not as each gradient accumulates), the same on both ranks as the script prints them.
    printed = next(line for line in plain_out.decode().splitlines() if line.startswith("last .grad norms"))
    expected = sorted(printed.split()[3:])
    for trace in traces:
        shown = sorted(f"{leaf['grad_after']['norm']:.5f}" for leaf in trace["uncaptured"])
        assert shown == expected


def test_explicit_out_gets_a_rank_folder_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given: the environment torchrun gives rank 1 of 2, and a tiny script.
    script = tmp_path / "tiny.py"
    script.write_text("import torch\nw = torch.ones(2, requires_grad=True)\n(w * 3).sum().backward()\n")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")

    # When: it is traced with --out.
    status = main(["trace", "--quiet", "--format", "dot", "--out", str(tmp_path / "out"), str(script)])

    # Then: the trace is in the rank's folder under DIR.
    assert status == 0
    assert json.loads((tmp_path / "out" / "rank-1" / "trace.json").read_text())["backward_calls"] == 1


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"RANK": "3", "WORLD_SIZE": "4"}, "out/rank-3"),
        ({"RANK": "0", "WORLD_SIZE": "1"}, "out"),
        ({}, "out"),
        ({"RANK": "x", "WORLD_SIZE": "2"}, "out"),
    ],
)
def test_rank_folder_only_in_a_multi_process_run(environ: dict[str, str], expected: str) -> None:
    assert Path(rank_folder("out", environ)) == Path(expected)
