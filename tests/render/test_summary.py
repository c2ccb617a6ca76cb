"""The stderr summary of `gradviz trace`, from traces captured from real torch code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.checkpoint import checkpoint

from gradviz.capture.graph import walk
from gradviz.capture.session import Tracer
from gradviz.model import Trace
from gradviz.render.summary import summarize


@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
def test_summary_names_each_call_its_leaves_and_every_finding() -> None:
    # Given: a trace with a no_grad region, an accumulation, a .data edit and a non-leaf .grad read
    with Tracer() as tracer:
        w = torch.tensor([2.0, 3.0], requires_grad=True)
        hidden = w * 2
        with torch.no_grad():
            frozen = hidden + 1  # noqa: F841 - a tensor made under no_grad, as a learner would
        loss = (hidden * w).sum()
        _ = hidden.grad  # None: hidden is not a leaf and does not retain its grad
        loss.backward(retain_graph=True)
        loss.backward(retain_graph=True)
        w.data *= 10
        loss.backward()

    text = summarize(tracer.result(), [Path("out/trace.json")], "out")

    # Then: each call with its line and leaf gradient, and each finding with its title
    lines = text.splitlines()
    assert lines[0] == "gradviz: the traced code made 3 backward/grad calls, all captured"
    assert "#1 backward at" in lines[1] and "loss.backward(retain_graph=True)" in lines[1]
    assert "w.grad = [8, 12]" in text  # d/dw of sum(2w * w) = 4w
    assert "(was [8, 12]: backward added into it)" in text  # the second call added into a non-zero .grad
    # warnings in full first, then each note on one line
    titles = ["! .data edit", "! .grad of a non-leaf", "- note, no_grad", "- note, accumulation"]
    positions = [text.find(title) for title in titles]
    assert -1 not in positions and max(positions[:2]) < min(positions[2:]), text
    assert "past the budget" not in text  # every call was captured
    assert text.rstrip().endswith("gradviz: wrote out/: trace.json")


def test_summary_counts_calls_past_the_budget() -> None:
    with Tracer(max_backward=1) as tracer:
        w = torch.tensor([1.0], requires_grad=True)
        for _ in range(4):
            w.grad = None
            (w * 5).sum().backward()

    text = summarize(tracer.result(), [], None)

    assert "made 4 backward/grad calls, captured the first 1" in text
    assert "#2-#4: counted, not captured" in text
    assert "w.grad changed in 3 of them, now [5]" in text
    # what the calls past the budget are still checked for, and what they are not
    text = " ".join(text.split())
    assert "past the budget, no_grad, detach, .data edits and accumulation are still noted" in text
    assert ".data edits of saved tensors are not checked (--max-backward all checks every call)" in text


def test_summary_stays_short_for_a_model_with_many_parameters() -> None:
    layers = [torch.nn.Linear(2, 2) for _ in range(20)]
    with Tracer(max_backward=1) as tracer:
        for _ in range(2):
            hidden = torch.ones(1, 2)
            for layer in layers:
                hidden = layer(hidden)
            hidden.sum().backward()

    text = summarize(tracer.result(), [], None)

    assert "layers[19].weight.grad = " in text  # leaves in walk order: nearest the loss first
    assert "... and 28 more leaves (all in trace.json and the SVG)" in text  # 40 parameters, 12 shown
    assert "... and 28 more leaves (all in trace.json)" in text  # the counted call, likewise
    assert len(text.splitlines()) < 40


def test_summary_names_exactly_the_calls_that_were_not_captured(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given: a graph walk that fails for the second call only, so that call cannot be captured
    walks = 0

    def walk_but_the_second(*args: Any) -> Any:
        nonlocal walks
        walks += 1
        if walks == 2:
            raise ValueError("cannot walk")
        return walk(*args)

    monkeypatch.setattr("gradviz.capture.callcapture.walk", walk_but_the_second)
    with Tracer(max_backward=2) as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()
        (x * 2).sum().backward()
        (x * 3).sum().backward()
        (x * 4).sum().backward()

    text = summarize(tracer.result(), [], None)

    # Then: each uncaptured call says why: raising --max-backward would capture #4, not #2
    assert "made 4 backward/grad calls, captured 2: #1, #3" in text
    assert "  #2: counted, could not be captured (a capture problem, below; --max-backward" in text
    assert "  #4: counted, not captured (raise --max-backward to record them step by step)" in text
    assert "#2, #4" not in text
    # the problem is gradviz's own, printed last and without the warning glyph
    lines = text.splitlines()
    (problem,) = [n for n, line in enumerate(lines) if line.startswith("  - gradviz: capture problem (")]
    assert "backward call 2 could not be captured" in " ".join(" ".join(lines[problem:]).split())
    assert problem > max(n for n, line in enumerate(lines) if line.startswith("  - note"))
    assert not any(line.lstrip().startswith("!") for line in lines)


def test_a_call_inside_another_backward_is_not_blamed_on_the_budget() -> None:
    # Given: a tensor hook that runs its own backward while the outer backward runs
    with Tracer(max_backward=5) as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        inner = torch.tensor([3.0], requires_grad=True)

        def hook(grad: torch.Tensor) -> torch.Tensor:
            with torch.enable_grad():  # backward runs its hooks with grad mode off
                (inner * 2).sum().backward()
            return grad

        handle = x.register_hook(hook)
        (x * x).sum().backward()
        handle.remove()
        (x * 3).sum().backward()

    text = summarize(tracer.result(), [], None)

    # Then: the hook's call #2 was counted, and the line says why it was not captured
    assert "made 3 backward/grad calls, captured 2: #1, #3" in text
    assert "  #2: counted, not captured (a backward inside another backward)" in text
    assert "raise --max-backward" not in text and "past the budget" not in text


def test_many_notes_are_one_counted_line_after_the_warnings() -> None:
    # Given: an evaluation block per metric and detaches for logging: what the code asked for
    model = torch.nn.Linear(2, 1)
    with Tracer() as tracer:
        prediction = model(torch.ones(3, 2))
        with torch.no_grad():
            model(torch.ones(1, 2))
        with torch.no_grad():
            model(torch.ones(1, 2))
        logged = [prediction.detach().sum(), prediction.detach().mean(), prediction.detach().max()]
        with torch.no_grad():
            model(torch.ones(1, 2))
        with torch.inference_mode():
            model(torch.ones(1, 2))
        with torch.no_grad():
            model(torch.ones(1, 2))
        prediction.sum().backward()

    text = summarize(tracer.result(), [], None)

    assert len(logged) == 3 and "!" not in text
    (counted,) = [line for line in text.splitlines() if line.startswith("  - ")]
    assert counted == (
        "  - 6 notes: 5 no_grad blocks, 1 detach (autograd did what the code says; all in trace.json)"
    )


def test_a_small_non_scalar_backward_prints_dy_dx_v_and_v_j() -> None:
    # Given: y = [x0 * x1, x1 ** 2] (a Jacobian that is not diagonal), backward with v = [1, 10].
    with Tracer() as tracer:
        x = torch.tensor([2.0, 3.0], requires_grad=True)
        y = torch.stack([x[0] * x[1], x[1] ** 2])
        y.backward(torch.tensor([1.0, 10.0]))

    text = summarize(tracer.result(), [], None)

    # Then: torch's own Jacobian, row by row, and v J equal to x.grad.
    jacobian = torch.autograd.functional.jacobian(lambda t: torch.stack([t[0] * t[1], t[1] ** 2]), x.detach())
    assert jacobian.tolist() == [[3.0, 2.0], [0.0, 6.0]] and x.grad.tolist() == [3.0, 62.0]
    assert "vector-Jacobian product" in text and "J = dy/dx is 2 x 2" in text
    assert "[[1, 10]]  @  [[3, 2],  =  [3, 62]" in text
    assert "                [0, 6]]" in text


def test_a_scalar_backward_prints_no_jacobian_block() -> None:
    with Tracer() as tracer:
        x = torch.tensor([2.0, 3.0], requires_grad=True)
        (x * x).sum().backward()

    text = summarize(tracer.result(), [], None)

    assert "x.grad = [4, 6]" in text and "dy/dx" not in text


def _no_grad_trace() -> Trace:
    with Tracer(source_root=str(Path(__file__).parent)) as tracer:
        x = torch.ones(2, requires_grad=True)
        y = x**2
        with torch.no_grad():
            shifted = y + 1  # noqa: F841 - made under no_grad, as in the demo
        y.sum().backward()
    return tracer.result()


def test_a_note_is_one_complete_line_naming_the_tensor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    trace = _no_grad_trace()

    text = summarize(trace, [], None)

    (finding,) = trace.findings
    where = f"{Path(__file__).name}:{finding.location.line}" if finding.location else ""
    expected = f"  - note, no_grad ({where}): shifted was computed under torch.no_grad() (1 op, not recorded)"
    assert [line for line in text.splitlines() if "note" in line] == [expected]
    # the full explanation stays in the finding (trace.json)
    assert "no gradient flows back" in finding.message


def test_notes_wrap_to_the_terminal_width_at_word_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    trace = _no_grad_trace()
    monkeypatch.setenv("COLUMNS", "200")
    wide = summarize(trace, [], None)
    monkeypatch.setenv("COLUMNS", "50")

    narrow = summarize(trace, [], None)

    note = [line.strip() for line in wide.splitlines() if "- note" in line]
    lines = narrow.splitlines()
    wrapped = lines[next(n for n, line in enumerate(lines) if "- note" in line) :]
    assert len(wrapped) > 1 and all(len(line) <= 50 for line in wrapped)
    assert " ".join(line.strip() for line in wrapped) == note[0]  # no word cut, nothing lost
    assert "..." not in narrow


def _broken_finish(*args: object, **kwargs: object) -> None:
    raise RuntimeError("broken on purpose")


def test_calls_after_capture_switched_itself_off_are_not_blamed_on_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: no budget, but recording every call fails: gradviz switches capture off
    monkeypatch.setattr("gradviz.capture.callcapture.CallCapture.finish", _broken_finish)
    with Tracer(max_backward=None) as tracer:
        w = torch.tensor([1.0, 2.0], requires_grad=True)
        for _ in range(4):
            (w * w).sum().backward()

    text = " ".join(summarize(tracer.result(), [], None).split())

    # Then: the real reason, not "raise --max-backward"
    assert "made 4 backward/grad calls, captured none" in text
    assert "#1-#4: counted, not captured (the capture problem below switched capture off;" in text
    assert "raise --max-backward" not in text
    assert text.index("- note, accumulation") < text.index("- gradviz: capture problem: backward capture")


def test_a_saved_tensor_edited_through_data_past_the_budget_is_said_to_be_unchecked() -> None:
    # Given: the same .data edit of a saved tensor, in the captured call and in a counted one
    with Tracer(max_backward=1) as tracer:
        w = torch.tensor([2.0, 3.0], requires_grad=True)
        for _ in range(2):
            loss = (w * w).sum()  # MulBackward0 saves w
            w.data *= 10
            loss.backward()

    text = " ".join(summarize(tracer.result(), [], None).split())

    # Then: one .data edit warning (call 1 only), and the summary says why call 2 went unchecked
    assert text.count("! .data edit") == 1 and "backward call 1 used the new value" in text
    assert ".data edits of saved tensors are not checked (--max-backward all checks every call)" in text


def test_each_kind_of_note_says_what_happened_in_one_short_clause(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given: an evaluation block of several ops, a detach in a loop, and two accumulated backward calls
    monkeypatch.setenv("COLUMNS", "200")
    model = torch.nn.Linear(2, 1)
    with Tracer(source_root=str(Path(__file__).parent)) as tracer:
        with torch.no_grad():
            outputs = model(torch.ones(1, 2))
            again = model(torch.ones(1, 2))
        logged = [p.detach() for p in model.parameters()]
        for _ in range(2):
            model(torch.ones(1, 2)).sum().backward()

    notes = [line for line in summarize(tracer.result(), [], None).splitlines() if "- note" in line]

    # Then: one complete line each, with the count and the name the code used
    assert outputs.grad_fn is None and again.grad_fn is None and len(logged) == 2
    assert len(notes) == 3 and all("..." not in line for line in notes)
    no_grad, detach, accumulation = sorted(
        notes, key=lambda line: ("no_grad" not in line, "detach" not in line)
    )
    assert no_grad.endswith("2 ops ran under torch.no_grad() unrecorded (the first made `outputs`)")
    assert detach.endswith(
        "`p.detach()` ran 2 times, giving results cut from the graph: no gradient flows back"
    )
    assert accumulation.endswith(
        "backward call 2 added into model.bias.grad, model.weight.grad with no update in between: "
        "the gradients are summed"
    )


def test_the_whole_call_block_writes_v_and_v_j_as_plain_rows_and_aligns_only_j() -> None:
    # Given: y = x * x over elements of different widths, backward with an uneven v.
    with Tracer() as tracer:
        x = torch.tensor([1.5, 22.25, 333.0, 4444.0, 0.125, 6.0], requires_grad=True)
        v = torch.tensor([1.0, 10.0, 100.0, 1.0, 1.0, 10.0])
        (x * x).backward(v)

    text = summarize(tracer.result(), [], None)

    # Then: v and v J = torch's x.grad are written as plain rows, J's rows as aligned columns.
    assert x.grad is not None
    row = ", ".join(f"{number:g}" for number in v.tolist())
    grad = ", ".join(f"{number:g}" for number in x.grad.tolist())
    (product,) = [line for line in text.splitlines() if "  @  " in line]
    assert product.strip().startswith(f"[[{row}]]  @  [[") and product.endswith(f"  =  [{grad}]")
    assert f"x.grad = [{grad}]" in text
    rows = [line for line in text.splitlines() if line.strip().startswith("[") and "@" not in line]
    start = product.index("@  ") + 3  # where J's "[[" opens; its other rows start one column further
    first = product[start:].split("  =")[0]
    assert len(rows) == 5 and {len(line) - len(line.lstrip()) for line in rows} == {start + 1}
    assert {len(line.strip()) for line in rows} == {len(first) - 1}, "J's columns line up"


def test_calls_inside_the_last_captured_call_are_not_said_to_be_past_the_budget() -> None:
    # Given: reentrant checkpointing, whose backward calls backward again inside the user's call, and a
    # budget of one call, spent on that call
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 3)
    x = torch.randn(2, 3, requires_grad=True)
    with Tracer(max_backward=1) as tracer:
        checkpoint(layer, x, use_reentrant=True).sum().backward()

    # Then: the inner call is said to be inside another backward, and no budget advice is given
    trace = tracer.result()
    assert trace.backward_calls == 2 and [call.index for call in trace.backwards] == [1]
    text = summarize(trace, [], None)
    assert "  #2: counted, not captured (a backward inside another backward)" in text.splitlines()
    assert "--max-backward" not in text
