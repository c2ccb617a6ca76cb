"""``model.to()`` on torch's swap path (``torch.utils.swap_tensors``) under gradviz, checked against torch."""

from __future__ import annotations

import contextlib
import io
import runpy
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.testing._internal.two_tensor import TwoTensor

import gradviz
from gradviz.capture import tensorrefs
from gradviz.cli import main

CONVERSIONS: dict[str, Callable[[nn.Module], object]] = {
    "double": lambda model: model.double(),
    "to(float64)": lambda model: model.to(torch.float64),
}

SCRIPT = """\
import weakref
import torch
from torch import nn
from torch.testing._internal.two_tensor import TwoTensor

torch.__future__.set_swap_module_params_on_conversion(True)
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
weight = model[0].weight
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x = torch.randn(5, 3)
model(x).pow(2).mean().backward()
opt.step()
model.double()
print("same object:", weight is model[0].weight, weight.dtype)
opt.zero_grad()
model(x.double()).pow(2).mean().backward()
opt.step()
print("grad:", [round(v, 6) for v in model[2].weight.grad.flatten().tolist()])
held = weakref.ref(model[2].bias)
try:
    model.float()
except RuntimeError as error:
    print("refused:", error, "|", error.__cause__)
raise SystemExit(4)
"""


@pytest.fixture(autouse=True)
def swap_on() -> Iterator[None]:
    """torch's swap path for ``Module._apply``, switched back off after each test."""
    before = torch.__future__.get_swap_module_params_on_conversion()
    torch.__future__.set_swap_module_params_on_conversion(True)
    yield
    torch.__future__.set_swap_module_params_on_conversion(before)


def train(convert: Callable[[nn.Module], object], traced: bool) -> tuple[nn.Module, list[torch.Tensor], bool]:
    """A step, the conversion, a second step: the model, its gradients, and whether it kept its objects."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    held = list(model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(5, 3)
    with gradviz.trace() if traced else contextlib.nullcontext():
        model(x).pow(2).mean().backward()
        opt.step()
        convert(model)
        opt.zero_grad()
        model(x.double()).pow(2).mean().backward()
        opt.step()
    kept = all(a is b for a, b in zip(held, model.parameters(), strict=True))
    return model, [p.grad.clone() for p in model.parameters() if p.grad is not None], kept


@pytest.mark.parametrize("conversion", list(CONVERSIONS))
def test_a_swapping_conversion_gives_what_torch_gives(conversion: str) -> None:
    # Given: the same training run, plain and traced, converting the model to float64 between two steps
    plain_model, plain_grads, plain_kept = train(CONVERSIONS[conversion], traced=False)
    traced_model, traced_grads, traced_kept = train(CONVERSIONS[conversion], traced=True)

    # Then: torch swapped the parameters in place (the user's objects stay), with gradviz as without it
    assert plain_kept and traced_kept
    for plain, traced in zip(plain_model.parameters(), traced_model.parameters(), strict=True):
        assert traced.dtype == plain.dtype == torch.float64
        assert torch.equal(traced, plain)
    assert len(traced_grads) == len(plain_grads) == 4
    assert all(torch.equal(a, b) for a, b in zip(traced_grads, plain_grads, strict=True))


def test_the_swapped_parameter_stays_the_same_leaf_for_gradviz() -> None:
    model = nn.Linear(2, 2)
    with gradviz.trace() as t:
        model(torch.ones(1, 2)).sum().backward()
        before = t.tensor_id(model.weight)
        model.double()
        after = t.tensor_id(model.weight)

    assert before is not None and after == before
    assert model.weight.dtype == torch.float64
    assert not [f for f in t.findings if f.kind == "capture_problem"]


def refusal(traced: bool) -> tuple[str, str, torch.dtype]:
    """The error of ``model.double()`` while the user holds a weak reference to a parameter."""
    model = nn.Linear(2, 2)
    held = weakref.ref(model.bias)
    with gradviz.trace() if traced else contextlib.nullcontext():
        model(torch.ones(1, 2)).sum().backward()
        with pytest.raises(RuntimeError) as raised:
            model.double()
    assert held() is model.bias
    return str(raised.value), str(raised.value.__cause__), model.bias.dtype


def test_a_weak_reference_of_the_users_still_makes_torch_refuse_the_swap() -> None:
    plain = refusal(traced=False)

    assert refusal(traced=True) == plain
    assert "has weakref associated with it" in plain[1] and plain[2] == torch.float32


def test_a_fault_after_the_swap_is_a_capture_problem_and_the_swap_stands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(handles: object) -> None:
        raise RuntimeError("injected fault")

    monkeypatch.setattr(tensorrefs, "relink", broken)
    model = nn.Linear(2, 2)
    weight = model.weight
    with gradviz.trace() as t:
        model(torch.ones(1, 2)).sum().backward()
        model.double()

    assert weight is model.weight and weight.dtype == torch.float64
    (problem,) = [f for f in t.findings if f.kind == "capture_problem"]
    assert problem.message.startswith("tensor swaps: RuntimeError: injected fault")


def test_a_script_that_swaps_prints_and_exits_as_plain_python(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given: a script that converts its model on the swap path, trains, and meets a refused swap
    script = tmp_path / "swap.py"
    script.write_text(SCRIPT)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as plain_exit:
        runpy.run_path(str(script), run_name="__main__")
    torch.__future__.set_swap_module_params_on_conversion(True)

    # When: it runs under `gradviz trace`
    status = main(["trace", "--out", str(tmp_path / "out"), "--format", "json", str(script)])

    # Then: the same stdout and exit status
    traced, stderr = capsys.readouterr()
    assert (traced, status) == (out.getvalue(), plain_exit.value.code)
    assert "same object: True torch.float64" in traced and "refused: _apply(): Couldn't swap" in traced
    assert "capture problem" not in stderr


def conversion_events(swap: bool) -> list[tuple[str, tuple[int, ...], str | None, str]]:
    """The timeline's conversion events of ``model.double()``, on the swap path or the ``.data`` one."""
    torch.__future__.set_swap_module_params_on_conversion(swap)
    model = nn.Linear(2, 2)
    with gradviz.trace() as t:
        model(torch.ones(1, 2)).sum().backward()
        model.double()  # @convert
    return [
        (e.op, e.inputs, e.location.code if e.location else None, e.detail or "")
        for e in t.events
        if e.op == "Module.double"
    ]


def test_the_timeline_says_the_swap_converted_each_parameter_in_place_as_for_param_data() -> None:
    swapped, assigned = conversion_events(swap=True), conversion_events(swap=False)

    # One event per parameter and one per .grad, at the user's line, each naming the parameter's id
    assert len(swapped) == len(assigned) == 4
    for (op, inputs, code, detail), (_, data_inputs, data_code, data_detail) in zip(
        swapped, assigned, strict=True
    ):
        assert op == "Module.double" and code == data_code and code is not None and "# @convert" in code
        assert inputs[:1] == data_inputs[:1]
        assert detail == data_detail.replace("param.data = ...", "torch.utils.swap_tensors")
        assert "it stays the same leaf" in detail


def subclass_run(traced: bool) -> tuple[bool, torch.dtype, list[float]]:
    """``model.double()`` of a parameter that is a wrapper subclass (torch's own ``TwoTensor``)."""
    torch.manual_seed(0)
    model = nn.Linear(2, 2)
    model.weight = nn.Parameter(TwoTensor(model.weight.detach().clone(), model.weight.detach().clone()))
    weight = model.weight
    with gradviz.trace() if traced else contextlib.nullcontext():
        model(torch.ones(1, 2)).sum().backward()
        model.double()
        model(torch.ones(1, 2, dtype=torch.float64)).sum().backward()
    grad = weight.grad
    assert isinstance(grad, TwoTensor)
    return weight is model.weight, weight.a.dtype, [*grad.a.flatten().tolist(), *grad.b.flatten().tolist()]


def test_a_wrapper_subclass_parameter_always_swaps_and_converts_as_in_torch() -> None:
    # Given: the flag off: torch still swaps, because the parameter is a traceable wrapper subclass
    torch.__future__.set_swap_module_params_on_conversion(False)

    plain = subclass_run(traced=False)

    assert subclass_run(traced=True) == plain
    assert plain[:2] == (True, torch.float64)


def followed_run(swap: bool) -> tuple[list[tuple[str | None, int]], list[str]]:
    """Four steps past a one-call budget, converting the model after the second, then a hook of the user's.

    Returns:
        The leaf ledger's (name, calls followed) and what the user's hooks printed.
    """
    torch.__future__.set_swap_module_params_on_conversion(swap)
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, fired = torch.ones(3, 2), []
    with gradviz.trace(max_backward=1) as t:
        for step in range(4):
            if step == 2:
                model.double()
                x = x.double()
                model.weight.register_hook(lambda grad: fired.append("hook"))
                model.weight.register_post_accumulate_grad_hook(lambda p: fired.append("accumulated"))
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
    return [(s.label, s.calls) for s in t.leaf_ledger.summaries()], fired


def test_leaves_followed_past_the_budget_stay_followed_across_a_swap() -> None:
    # Given: the same run on the .data path, where the parameter keeps its data's hooks
    assigned = followed_run(swap=False)

    # When: the conversion swaps instead, after gradviz hooked the parameters to follow them
    swapped = followed_run(swap=True)

    # Then: every later call is still counted, and the user's hooks registered after the swap fire
    assert swapped == assigned
    assert assigned == ([("model.bias", 3), ("model.weight", 3)], ["hook", "accumulated"] * 2)


def test_nested_traces_both_keep_following_across_a_swap() -> None:
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = [torch.ones(3, 2)]
    fired: list[str] = []

    def step() -> None:
        opt.zero_grad()
        model(data[0]).pow(2).mean().backward()
        opt.step()

    # Given: two traces, each past its one-call budget and following the parameters
    with gradviz.trace(max_backward=1) as outer:
        step()
        step()
        with gradviz.trace(max_backward=1) as inner:
            step()
            step()
            # When: the model is converted on the swap path and hooked by the user
            model.double()
            data[0] = data[0].double()
            model.weight.register_hook(lambda grad: fired.append("hook"))
            step()
            step()

    # Then: each counts every call it followed (6 - 1 and 4 - 1), and the user's hook fired each time
    counted = [[(s.label, s.calls) for s in t.leaf_ledger.summaries()] for t in (outer, inner)]
    assert counted == [[("model.bias", 5), ("model.weight", 5)], [("model.bias", 3), ("model.weight", 3)]]
    assert fired == ["hook", "hook"]
