"""Wrapping torch's engine: what is put back when tracing ends."""

from __future__ import annotations

from typing import Any

import torch

import gradviz


def test_a_wrapper_the_script_installs_while_traced_stays_and_only_passes_through_gradviz_after() -> None:
    # Given: the script wraps the engine itself while gradviz traces (as another tool might)
    original = torch.autograd._engine_run_backward
    seen: list[int] = []
    with gradviz.trace() as tracer:
        inner = torch.autograd._engine_run_backward

        def theirs(*args: Any, **kwargs: Any) -> Any:
            seen.append(1)
            return inner(*args, **kwargs)

        torch.autograd._engine_run_backward = theirs
    try:
        # When: backward runs after tracing ended
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()
        # Then: their wrapper is still in place and ran; gradviz neither counted nor captured the call
        assert torch.autograd._engine_run_backward is theirs and seen == [1]
        assert torch.equal(x.grad, torch.tensor([2.0, 4.0]))
        assert tracer.backward_calls == 0 and tracer.backwards == ()
    finally:
        torch.autograd._engine_run_backward = original
