"""ledger.txt and ledger.svg for the classic linear regression, and the ledger's reading of updates."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from gradviz.cli import main
from gradviz.model import BackwardCall, Graph, LedgerEntry, Location, Trace, Value
from gradviz.render.ledger import learning_rate, loop_rows, loop_summary, to_ledger_dot, to_ledger_text

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "11_linear_regression.py"


def _v(*values: float) -> Value:
    return Value((len(values),), "float32", tuple(values))


def test_the_linear_regression_example_writes_a_ledger_that_converges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given: the tutorial's y = 3x + 0.8 traced by the CLI
    status = main(["trace", "--out", str(tmp_path), str(EXAMPLE)])
    out, err = capsys.readouterr()
    assert status == 0 and "w = 3.000, b = 0.800" in out
    # Then: the ledger shows the first steps' numbers and the update rule, and w, b reaching 3 and 0.8
    text = (tmp_path / "ledger.txt").read_text()
    first = re.search(r"optimizer\.step\(\)\s+w\s+\[0\] -> \[(\S+)\]\s+w <- w - 0.1 \* w.grad", text)
    grad = re.search(r"backward #1\s+w\.grad\s+None -> \[(\S+)\]", text)
    assert first is not None and grad is not None
    assert float(first.group(1)) == pytest.approx(-0.1 * float(grad.group(1)), rel=1e-3)
    assert re.search(r"optimizer\.zero_grad\(\)\s+w\.grad\s+\[\S+\] -> None", text)
    assert text.rstrip().splitlines()[-1].split()[-2:] == ["[3]", "[0.8]"]
    svg = (tmp_path / "ledger.svg").read_text()
    assert svg.lstrip().startswith(("<?xml", "<svg")) and "w <- w - 0.1 * w.grad" in html.unescape(svg)
    assert "training loop: loss 3.956 -> " in err and "w [0] -> [3], b [0] -> [0.8] (ledger.txt)" in err
    # and trace.json keeps the first 100 calls and the last 3, not all 200
    ledger = json.loads((tmp_path / "trace.json").read_text())["ledger"]
    assert {entry["call"] for entry in ledger} == {*range(1, 101), 198, 199, 200}


def test_learning_rate_is_found_only_for_plain_gradient_descent() -> None:
    assert learning_rate(_v(1, 2), _v(0.8, 2.4), _v(2, -4)) == pytest.approx(0.1)
    assert learning_rate(_v(1, 2), _v(0.8, 2.0), _v(2, -4)) is None  # momentum, Adam: not one lr
    assert learning_rate(_v(1), _v(0.9), None) is None


def test_a_step_whose_update_was_not_seen_leaves_its_cell_blank() -> None:
    # Given: updates seen after call 1 only (a manual update past the capture budget is not seen)
    where = Location("a.py", 4)
    ledger = (
        LedgerEntry("backward", "w", "backward", where, 1, None, _v(-2), _v(4)),
        LedgerEntry("update", "w", "optimizer.step()", where, 1, _v(0), _v(3)),
        LedgerEntry("backward", None, "backward", None, 2, loss=_v(0), captured=False),
        LedgerEntry("backward", None, "backward", None, 3, loss=_v(0), captured=False),
    )
    columns, rows = loop_rows(ledger)
    assert columns == ["call", "loss", "w after"]
    assert rows == [["#1", "[4]", "[3]"], ["#2", "[0]", ""], ["#3", "[0]", ""]]
    trace = Trace(torch_version="x", ledger=ledger)
    text = to_ledger_text(trace)
    assert "backward #1, loss = [4]" in text and "backward #2" not in text.split("training loop")[0]
    assert to_ledger_dot(trace) == to_ledger_dot(trace) and "<b>training loop</b>" in to_ledger_dot(trace)


def _two_steps_from(lines: tuple[int, int]) -> Trace:
    """Two backward calls, from these lines of a.py, each followed by an update of w."""
    calls = tuple(
        BackwardCall(index + 1, "backward", Location("a.py", line), Graph((), ()))
        for index, line in enumerate(lines)
    )
    ledger = (
        LedgerEntry("backward", "w", "backward", calls[0].location, 1, None, _v(-2), _v(4)),
        LedgerEntry("update", "w", "optimizer.step()", Location("a.py", 9), 1, _v(0), _v(3)),
        LedgerEntry("backward", "w", "backward", calls[1].location, 2, None, _v(-1), _v(0.5)),
        LedgerEntry("update", "w", "optimizer.step()", Location("a.py", 9), 2, _v(3), _v(4)),
    )
    return Trace(torch_version="x", backward_calls=2, backwards=calls, ledger=ledger)


def test_the_loop_line_gives_a_loss_trend_only_for_losses_from_one_line() -> None:
    # Given: a loop whose every backward starts from one line, and one that alternates two losses (a GAN)
    one_loss = loop_summary(_two_steps_from((5, 5)))
    two_losses = loop_summary(_two_steps_from((5, 7)))
    # Then: the trend of one loss is given; two losses are not joined into one trend, the update still is
    assert one_loss == "training loop: loss [4] -> [0.5] over 2 calls; w [0] -> [4] (ledger.txt)"
    assert two_losses == "training loop: w [0] -> [4] (ledger.txt)"
