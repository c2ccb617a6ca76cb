"""The door from torch into gradviz: a fault in gradviz never reaches the user's script.

Each site torch calls into (the function mode, Node hooks, leaf hooks, the engine wrapper, leaf
following) is replaced by one that raises; a small training script must then print exactly what a
plain run prints, exit with the same status, and gradviz must say so once per kind, not once per op.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import re
import runpy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import gradviz
from gradviz.capture.door import Door, UserCall
from gradviz.cli import main

TRAIN = """\
import sys
import torch
from torch import nn

torch.manual_seed(0)
inputs = torch.randn(16, 3)
targets = inputs.sum(dim=1, keepdim=True).sin()
model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(6):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(inputs), targets)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        check = model(inputs).detach().abs().mean()
    print(f"step {step}: loss {loss.item():.6f} check {check.item():.6f}")
print("final", [round(v, 6) for v in model[0].weight.flatten().tolist()])
sys.exit(3)
"""


#: JSON only (no layout engine to run), and leaf following from the third call on.
TRACE_OPTIONS = ["--format", "json", "--max-backward", "2"]


ENGINE = torch.autograd._engine_run_backward


class Injected(RuntimeError):
    """The fault the tests put into gradviz."""


def boom(*args: Any, **kwargs: Any) -> Any:
    raise Injected("injected fault")


def plain_run(script: Path) -> tuple[str, int]:
    """What ``python script.py`` prints and returns, run in this process."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            runpy.run_path(str(script), run_name="__main__")
            status = 0
        except SystemExit as exc:
            status = int(exc.code) if isinstance(exc.code, int) else 1
    return out.getvalue(), status


def break_everywhere(monkeypatch: pytest.MonkeyPatch, module: str, name: str) -> None:
    """Replace a function by one that raises, in its module and wherever it was imported by name."""
    importlib.import_module("gradviz.capture.session")  # everything a trace imports, imported now
    original = getattr(importlib.import_module(module), name)
    for loaded in list(sys.modules.values()):
        if getattr(loaded, "__name__", "").startswith("gradviz") and getattr(loaded, name, None) is original:
            monkeypatch.setattr(loaded, name, boom)


# Each site of the issue: (module or class path, attribute). Classes are patched on the class.
SITES = {
    "frame_location": ("gradviz.capture.location", "frame_location"),
    "user_frame": ("gradviz.capture.location", "user_frame"),
    "opkind.classify": ("gradviz.capture.opkind", "classify"),
    "Locator.here": ("gradviz.capture.locator.Locator", "here"),
    "TimelineMixin._append": ("gradviz.capture.timeline.TimelineMixin", "_append"),
    "grad_switch_name": ("gradviz.capture.opkind", "grad_switch_name"),
    "LeafLedger.settle": ("gradviz.capture.leaves.LeafLedger", "settle"),
    "LeafLedger.follow": ("gradviz.capture.leaves.LeafLedger", "follow"),
    "LeafLedger.before_call": ("gradviz.capture.leaves.LeafLedger", "before_call"),
    "Follower.reached": ("gradviz.capture.leaffollow.Follower", "reached"),
    "StepRecorder._before": ("gradviz.capture.backward.StepRecorder", "_before"),
    "StepRecorder._after": ("gradviz.capture.backward.StepRecorder", "_after"),
    "saved-tensor check": ("gradviz.capture.dataedit.SavedTensorCheck", "wanted"),
    "engine wrapper, before the engine": ("gradviz.capture.callcapture.CallCapture", "plan"),
    "engine wrapper, after the engine": ("gradviz.capture.session.Tracer", "_spent"),
    "call record": ("gradviz.capture.callcapture.CallCapture", "finish"),
    "ledger: optimizer step": ("gradviz.capture.ledgerbook.LedgerBook", "step_starting"),
    "ledger: .grad zeroing": ("gradviz.capture.ledgerbook.LedgerBook", "before_inplace"),
    "ledger: .grad read": ("gradviz.capture.ledgerbook.LedgerBook", "grad_read"),
    "ledger: captured call": ("gradviz.capture.ledgerbook.LedgerBook", "captured"),
}


def inject(monkeypatch: pytest.MonkeyPatch, site: str) -> None:
    where, name = SITES[site]
    module, _, owner = where.rpartition(".")
    if owner[:1].isupper():
        monkeypatch.setattr(getattr(importlib.import_module(module), owner), name, boom)
    else:
        break_everywhere(monkeypatch, where, name)


def problem_lines(stderr: str) -> list[str]:
    """The capture problems of gradviz's summary, one string each (the summary wraps long ones)."""
    problems = stderr.replace("\n    ", " ").splitlines()
    prefix = re.compile(r"  - gradviz: capture problem( \(\S+\))?: ")
    return [prefix.sub("", line, count=1) for line in problems if prefix.match(line)]


def kind_of(problem: str) -> str:
    """What a capture problem is about: the part of capture, and the op for a timeline event lost."""
    part, _, rest = problem.partition(": ")
    return f"{part}: {rest.split(' ran but')[0]}" if " ran but " in rest else part


@pytest.fixture(scope="module")
def train_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("door") / "train.py"
    path.write_text(TRAIN)
    return path


@pytest.fixture(scope="module")
def plain(train_script: Path) -> tuple[str, int]:
    """The script's stdout and exit status without gradviz."""
    out, status = plain_run(train_script)
    assert status == 3 and out.count("step ") == 6
    return out, status


@pytest.mark.parametrize("site", list(SITES))
def test_a_fault_at_each_door_site_leaves_the_script_untouched(
    site: str,
    train_script: Path,
    plain: tuple[str, int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given: what the script prints and returns without gradviz (`plain`)
    # When: the same script is traced with this site of gradviz broken
    inject(monkeypatch, site)
    out_dir = tmp_path / "out"
    status = main(["trace", "--out", str(out_dir), *TRACE_OPTIONS, str(train_script)])
    traced_out, stderr = capsys.readouterr()
    # Then: the script cannot tell, and gradviz says what broke once per kind, not once per op or node
    # (a function shared by the timeline and backward capture switches both off: one line each)
    assert (traced_out, status) == plain
    assert "Traceback" not in stderr
    lines = problem_lines(stderr)
    kinds = [kind_of(line) for line in lines]
    assert len(kinds) == len(set(kinds)) and 1 <= len(lines) <= 3, stderr
    assert any("injected fault" in line for line in lines)
    findings = json.loads((out_dir / "trace.json").read_text())["findings"]
    problems = [finding for finding in findings if finding["kind"] == "capture_problem"]
    assert len(problems) == len(lines)
    assert all(problem["severity"] == "note" for problem in problems)
    assert json.loads((out_dir / "trace.json").read_text())["backward_calls"] == 6
    # and nothing of gradviz is left in torch: no function mode, the engine itself
    assert not torch._C._is_torch_function_mode_enabled()
    assert torch.autograd._engine_run_backward is ENGINE


def test_a_fault_in_the_node_hooks_is_one_line_with_a_count_and_backward_is_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: a post-hook that fails on every node, and the reference gradient from torch alone
    w = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    (expected,) = torch.autograd.grad((w.sin() * w).sum(), w)
    monkeypatch.setattr("gradviz.capture.backward.StepRecorder._after", boom)
    # When: several calls run under the tracer
    with gradviz.trace(max_backward=None) as tracer:
        for _ in range(3):
            w.grad = None
            (w.sin() * w).sum().backward()
    # Then: the gradient is torch's own, the first hook's fault is the only problem, and steps stopped
    assert torch.equal(w.grad, expected)
    (problem,) = [f for f in tracer.findings if f.kind == "capture_problem"]
    assert problem.message.startswith("backward steps: Injected: injected fault")
    assert problem.count == 1
    assert [len(call.steps) for call in tracer.backwards] == [0, 0, 0]
    assert len(tracer.backwards) == 3


def test_once_faults_switch_capture_off_the_timeline_stops_and_the_leaves_are_followed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: no budget (every call would be captured), but every call's record fails
    monkeypatch.setattr("gradviz.capture.callcapture.CallCapture.finish", boom)
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    # When
    with gradviz.trace(max_backward=None) as tracer:
        for _ in range(5):
            (w * w).sum().backward()
        recorded = len(tracer.events)
        (w * 3).sum()
    # Then: after the second fault, capture is over as if the budget were spent: a long loop stays cheap
    assert len(tracer.events) == recorded
    (summary,) = tracer.result().uncaptured
    assert (summary.label, summary.calls) == ("w", 3)
    assert torch.equal(w.grad, 5 * 2 * w.detach())
    (problem,) = [f for f in tracer.findings if f.kind == "capture_problem"]
    assert problem.count == 2 and problem.message.endswith("later calls are counted, not captured (2 times)")


def test_leaf_following_switched_off_by_a_fault_leaves_no_hook_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: leaf following breaks at the first uncaptured call
    monkeypatch.setattr("gradviz.capture.leaffollow.Follower.reached", boom)
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    # When
    with gradviz.trace(max_backward=1) as tracer:
        for _ in range(4):
            (w * w).sum().backward()
    # Then: torch accumulated all four calls, and no gradviz hook is left on the user's tensor
    assert torch.equal(w.grad, 4 * 2 * w.detach())
    assert not w._backward_hooks and not w._post_accumulate_grad_hooks
    (problem,) = [f for f in tracer.findings if f.kind == "capture_problem"]
    assert problem.message.startswith("leaf following: Injected: injected fault")


def test_the_users_own_error_passes_through_a_broken_gradviz_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: the error torch raises on a second backward through a freed graph, without gradviz
    def second_backward() -> None:
        x = torch.ones(2, requires_grad=True)
        loss = (x.exp() * 2).sum()
        loss.backward()
        loss.backward()

    with pytest.raises(RuntimeError) as plain:
        second_backward()
    # When: the same happens with the hooks and the record of each call broken
    monkeypatch.setattr("gradviz.capture.backward.StepRecorder._before", boom)
    monkeypatch.setattr("gradviz.capture.callcapture.CallCapture.finish", boom)
    with pytest.raises(RuntimeError) as traced, gradviz.trace():
        second_backward()
    # Then: it is the same error, with no gradviz fault chained onto it
    assert str(traced.value) == str(plain.value)
    assert not isinstance(traced.value.__context__, Injected)
    assert not isinstance(traced.value.__cause__, Injected)


def test_a_fault_in_the_function_mode_runs_each_op_once_and_returns_its_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: a user op with a visible side effect, and a timeline that breaks after the op ran
    calls: list[int] = []

    class Counted(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            if getattr(func, "__name__", "") == "mul":
                calls.append(1)
            return super().__torch_function__(func, types, args, kwargs or {})

    x = torch.ones(3).as_subclass(Counted)
    monkeypatch.setattr("gradviz.capture.forward.ForwardRecorder._check_inference", boom)
    # When
    with gradviz.trace() as tracer:
        y = x * 4
    # Then: the op ran once, its result is the user's, and the fault is one capture problem
    assert calls == [1]
    assert torch.equal(y.as_subclass(torch.Tensor), torch.full((3,), 4.0))
    (problem,) = [f for f in tracer.findings if f.kind == "capture_problem"]
    assert problem.message.startswith("forward timeline: ") and "Injected: injected fault" in problem.message


def test_a_traced_process_with_broken_leaf_following_prints_and_exits_as_plain_python(
    train_script: Path,
) -> None:
    # Given: the plain run, as a real process
    plain = subprocess.run([sys.executable, str(train_script)], capture_output=True, text=True, check=False)
    # When: gradviz traces it, in its own process, with leaf following broken after each call
    code = (
        "import sys\n"
        "import gradviz.capture.leaffollow as leaffollow\n"
        "def boom(*a): raise RuntimeError('injected fault')\n"
        "leaffollow.Follower.reached = boom\n"
        "from gradviz.cli import main\n"
        f"options = {TRACE_OPTIONS!r} + ['--out', {str(train_script.parent / 'sub')!r}]\n"
        f"sys.exit(main(['trace', *options, {str(train_script)!r}]))\n"
    )
    traced = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    # Then
    assert (traced.stdout, traced.returncode) == (plain.stdout, plain.returncode) == (plain.stdout, 3)
    (problem,) = problem_lines(traced.stderr)
    assert problem.startswith("leaf following: RuntimeError: injected fault")


# ----- the door's own parts ------------------------------------------------------------------------


def counting(result: Any) -> tuple[Callable[[], Any], list[int]]:
    runs: list[int] = []

    def func() -> Any:
        runs.append(1)
        return result

    return func, runs


@pytest.mark.parametrize("fault_after_the_call", [False, True])
def test_recover_runs_the_users_call_exactly_once(fault_after_the_call: bool) -> None:
    func, runs = counting("result")
    call = UserCall(func, (), {})
    part = Door().part("timeline", "it stopped")
    if fault_after_the_call:
        call()
    assert part.recover(call, Injected("x")) == "result"
    assert runs == [1] and not part.is_open


def test_recover_raises_the_users_error_not_gradviz_fault() -> None:
    # Given: the user's call raised, then gradviz failed while handling it
    def fails() -> None:
        raise KeyError("the user's")

    call = UserCall(fails, (), {})
    with pytest.raises(KeyError):
        call()
    part = Door().part("capture", "it stopped")
    # When / Then: the user's exception comes out, with nothing of gradviz's chained onto it
    with pytest.raises(KeyError) as raised:
        part.recover(call, Injected("gradviz's own"))
    assert raised.value.__context__ is None
    assert call.error is None  # no reference cycle through the call's frame is kept


def test_the_same_problem_again_is_one_finding_with_a_count() -> None:
    door = Door()
    for node in range(42):
        door.report("backward steps", f"node {node} could not be recorded")
    door.report("leaf following", "a leaf could not be followed")
    counts = [(finding.message.split(" could")[0], finding.count) for finding in door.findings]
    assert counts == [("node 0", 42), ("a leaf", 1)]
    assert door.findings[0].message.endswith("(42 times)")


def test_a_hook_behind_a_closed_part_does_nothing_and_returns_none() -> None:
    seen: list[int] = []
    part = Door().part("leaf following", "it stopped")
    hook = part.hook(lambda value: seen.append(value) or value)
    assert hook(1) is None  # a tensor hook returning None leaves the gradient as it is
    part.close()
    hook(2)
    assert seen == [1]
