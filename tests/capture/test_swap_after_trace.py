"""torch's swap path (``torch.utils.swap_tensors``) after a ``gradviz.trace()`` block, against plain torch.

A finished trace still refers to the tensors it saw (``explain()`` looks them up); after it, user code
must behave exactly as in a plain run.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

import gradviz

CONVERSIONS: dict[str, Callable[[nn.Module], object]] = {
    "double": lambda model: model.double(),
    "to(float64)": lambda model: model.to(torch.float64),
}

FREED = """\
import gc
import torch
import gradviz
from torch import nn

torch.__future__.set_swap_module_params_on_conversion(True)
torchs = torch.utils.swap_tensors
model = nn.Linear(4, 16)  # more than 8 values each: the ledger keeps small leaves for a last step
with gradviz.trace():
    model(torch.ones(3, 4)).sum().backward()
model.double()
print("wrapped while referenced:", torch.utils.swap_tensors is not torchs)
del model
gc.collect()
print("torch's own once freed:", torch.utils.swap_tensors is torchs)
"""


@pytest.fixture(autouse=True)
def swap_on() -> Iterator[None]:
    """torch's swap path for ``Module._apply``, switched back off after each test."""
    before = torch.__future__.get_swap_module_params_on_conversion()
    torch.__future__.set_swap_module_params_on_conversion(True)
    yield
    torch.__future__.set_swap_module_params_on_conversion(before)


def step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor) -> None:
    """One training step."""
    opt.zero_grad()
    model(x).pow(2).mean().backward()
    opt.step()


def run(
    convert: Callable[[nn.Module], object], traces: int, traced: bool, max_backward: int = 8
) -> tuple[object, ...]:
    """Three steps `traces` times (each under a trace when `traced`), then the conversion and one more step.

    Returns:
        Whether the parameters stayed the same objects, their dtypes and values, their ``.grad``, and
        what the user's hooks registered after the conversion printed.
    """
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    held = list(model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, fired = torch.randn(5, 3), []
    for _ in range(traces):
        with gradviz.trace(max_backward=max_backward) if traced else contextlib.nullcontext():
            for _ in range(3):
                step(model, opt, x)
    convert(model)
    model[2].weight.register_hook(lambda grad: fired.append("hook"))
    model[2].weight.register_post_accumulate_grad_hook(lambda param: fired.append("accumulated"))
    step(model, opt, x.double())
    params = list(model.parameters())
    return (
        all(a is b for a, b in zip(held, params, strict=True)),
        [p.dtype for p in params],
        [p.tolist() for p in params],
        [p.grad.tolist() if p.grad is not None else None for p in params],
        fired,
    )


@pytest.mark.parametrize("traces", [1, 2])
@pytest.mark.parametrize("conversion", list(CONVERSIONS))
def test_a_swapping_conversion_after_finished_traces_gives_what_torch_gives(
    conversion: str, traces: int
) -> None:
    # Given: the same steps and conversion, plain
    plain = run(CONVERSIONS[conversion], traces, traced=False)

    # When: the conversion swaps parameters that `traces` finished traces still refer to
    traced = run(CONVERSIONS[conversion], traces, traced=True)

    # Then: the same objects, dtype, values and gradients as torch gives, and the user's hooks fired
    assert traced == plain
    assert plain[0] is True and set(plain[1]) == {torch.float64}  # type: ignore[call-overload]
    assert plain[4] == ["hook", "accumulated"]


def test_a_hook_registered_after_a_later_swap_fires_when_the_trace_went_past_its_budget() -> None:
    # Given: a trace past its one-call budget (its leaves are followed there; a hook put on a leaf and
    # removed leaves torch an empty hook dict, which a later swap would carry over)
    plain = run(CONVERSIONS["double"], 1, traced=False)

    traced = run(CONVERSIONS["double"], 1, traced=True, max_backward=1)

    # Then: the user's hooks, registered after the swap, fire as in the plain run
    assert traced == plain


def test_explain_after_the_trace_still_knows_a_parameter_converted_since() -> None:
    # Given: a finished trace of two calls without zeroing
    model = nn.Linear(2, 1)
    with gradviz.trace():
        model(torch.ones(1, 2)).sum().backward()
        model(torch.ones(1, 2)).sum().backward()
    before = gradviz.explain(model.weight)

    # When: the model is converted on the swap path after the trace
    model.double()

    # Then: the same object is the same leaf to the finished trace, as torch keeps it the same object
    assert before.startswith("model.weight.grad = [[2.0, 2.0]] is the sum over 2 backward calls")
    assert gradviz.explain(model.weight) == before
    assert model.weight.dtype == torch.float64


def refusal(traced: bool) -> tuple[str, str, torch.dtype]:
    """The error of ``model.double()`` after the steps, while the user holds a weak reference to a bias."""
    model = nn.Linear(2, 2)
    with gradviz.trace() if traced else contextlib.nullcontext():
        model(torch.ones(1, 2)).sum().backward()
    held = weakref.ref(model.bias)
    with pytest.raises(RuntimeError) as raised:
        model.double()
    assert held() is model.bias
    return str(raised.value), str(raised.value.__cause__), model.bias.dtype


def test_a_weak_reference_of_the_users_still_makes_torch_refuse_after_the_trace() -> None:
    plain = refusal(traced=False)

    assert refusal(traced=True) == plain
    assert "has weakref associated with it" in plain[1] and plain[2] == torch.float32


def test_after_a_refused_swap_gradviz_still_knows_the_parameters_and_a_later_swap_works() -> None:
    # Given: a finished trace, then a swap torch refused because of the user's weak reference
    model = nn.Linear(2, 2)
    with gradviz.trace():
        model(torch.ones(1, 2)).sum().backward()
    explained = gradviz.explain(model.bias)
    held = weakref.ref(model.bias)
    with pytest.raises(RuntimeError):
        model.double()

    # When: the user lets the weak reference go and converts again
    del held
    model.double()

    # Then: torch converted every parameter, and the finished trace still names them
    assert {p.dtype for p in model.parameters()} == {torch.float64}
    assert explained.startswith("model.bias.grad = ")
    assert gradviz.explain(model.bias) == explained


def test_once_the_traced_tensors_are_freed_torch_swap_tensors_is_torchs_own_again(tmp_path: Path) -> None:
    script = tmp_path / "freed.py"
    script.write_text(FREED)

    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["wrapped while referenced: True", "torch's own once freed: True"]
