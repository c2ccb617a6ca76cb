"""Equal small summaries are kept once while a tracer runs (memory of long captures)."""

from __future__ import annotations

import torch

from gradviz.capture import valuepool
from gradviz.capture.session import Tracer
from gradviz.capture.summary import summarize


def test_a_grad_kept_between_calls_is_one_record_and_still_torchs_values() -> None:
    # Given two captured backward calls with no zeroing in between
    with Tracer() as tracer:
        w = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
        (w * w).sum().backward()
        after_first = w.grad.tolist()  # type: ignore[union-attr]
        (w * w).sum().backward()
    first, second = (call.graph.leaves[0].tensor for call in tracer.result().backwards)

    # Then call 2's .grad before is call 1's .grad after: equal to torch's, and held once
    assert first is not None and second is not None
    assert first.grad_after is not None and first.grad_after.values == tuple(after_first)
    assert second.grad_before is first.grad_after
    assert second.grad_after is not None and second.grad_after.values == tuple(w.grad.tolist())  # type: ignore[union-attr]


def test_no_pool_outlives_its_tracer() -> None:
    # Given a tracer that has finished
    with Tracer():
        torch.ones(2, requires_grad=True).sum().backward()

    # Then summaries made afterwards are new records, and gradviz holds no pool of them
    assert summarize(torch.ones(3)) is not summarize(torch.ones(3))
    assert valuepool._pools == []
