"""Saved-tensor fingerprints are taken at edit marks only, and a write that shares no memory with a saved
tensor (BatchNorm's ``num_batches_tracked += 1``) is no mark."""

from __future__ import annotations

import copy
import gc
import weakref

import torch
from torch import nn

from gradviz.capture.forward import ForwardRecorder
from gradviz.capture.origin import origin_of
from gradviz.capture.session import Tracer


def batchnorm_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64, 2),
    )


def all_nodes(root: object) -> list[object]:
    seen, stack = {id(root): root}, [root]
    while stack:
        for parent, _ in stack.pop().next_functions:  # type: ignore[attr-defined]
            if parent is not None and id(parent) not in seen:
                seen[id(parent)] = parent
                stack.append(parent)
    return list(seen.values())


def test_batchnorm_buffer_updates_are_no_edit_mark_and_gradients_match_torch() -> None:
    # Given the same BatchNorm model twice, one run plain and one on the timeline
    model = batchnorm_model()
    plain = copy.deepcopy(model)
    inputs = torch.randn(2, 3, 4, 4)
    plain(inputs).square().sum().backward()

    recorder = ForwardRecorder()
    recorder.start()
    try:
        loss = model(inputs).square().sum()
        # When the forward pass ran (BatchNorm added 1 to num_batches_tracked, an untracked buffer)
        events = [origin.event for fn in all_nodes(loss.grad_fn) if (origin := origin_of(fn)) is not None]
        # Then no node may have been edited behind autograd: backward compares no fingerprint
        assert events and not any(recorder.may_have_edited(event) for event in events)
        assert all(not origin_of(fn).fingerprints for fn in all_nodes(loss.grad_fn) if origin_of(fn))  # type: ignore[union-attr]
        loss.backward()
    finally:
        recorder.stop()

    # And the buffers and gradients are exactly torch's own
    bn, plain_bn = model[1], plain[1]
    assert int(bn.num_batches_tracked) == int(plain_bn.num_batches_tracked) == 1
    assert torch.equal(bn.running_mean, plain_bn.running_mean)
    for mine, theirs in zip(model.parameters(), plain.parameters(), strict=True):
        assert mine.grad is not None and theirs.grad is not None and torch.equal(mine.grad, theirs.grad)


def test_a_data_edit_of_a_saved_weight_in_a_batchnorm_model_is_still_reported() -> None:
    # Given a BatchNorm model whose convolution weight is edited through .data after the forward pass
    model = batchnorm_model()
    plain = copy.deepcopy(model)
    inputs = torch.randn(2, 3, 4, 4)
    plain_loss = plain(inputs).square().sum()
    plain[0].weight.data.mul_(2)
    plain_loss.backward()

    with Tracer() as tracer:
        loss = model(inputs).square().sum()
        model[0].weight.data.mul_(2)
        loss.backward()

    # Then torch used the edited weight in both runs, and gradviz reports the edit once
    assert model[0].weight.grad is not None and plain[0].weight.grad is not None
    assert torch.equal(model[1].weight.grad, plain[1].weight.grad)  # type: ignore[arg-type]
    edits = [finding for finding in tracer.findings if finding.kind == "data_edit"]
    assert len(edits) == 1 and "ConvolutionBackward0" in edits[0].message


def test_a_write_into_a_saved_tensor_through_an_untracked_view_is_a_mark() -> None:
    # Given a saved activation and an alias of its memory that autograd does not track
    recorder = ForwardRecorder()
    recorder.start()
    try:
        a = torch.tensor([1.0, 2.0], requires_grad=True)
        b = a * 3
        alias = b.detach()
        c = (b * b).sum()
        made = origin_of(c.grad_fn.next_functions[0][0])  # type: ignore[union-attr]
        # When the alias (same memory as b, not tracked by autograd) is written in place
        buffer = torch.zeros(2)
        buffer.add_(1)  # an untracked write elsewhere: no mark
        assert made is not None and not recorder.may_have_edited(made.event)
        alias.add_(1)
        # Then the nodes made before it may have been edited, and their fingerprints were taken first
        assert recorder.may_have_edited(made.event)
        fingerprinted = origin_of(c.grad_fn.next_functions[0][0])  # type: ignore[union-attr]
        assert fingerprinted is not None and dict(fingerprinted.fingerprints)["self"].contents[
            0
        ].tolist() == [3.0, 6.0]
    finally:
        recorder.stop()


def test_a_write_into_what_a_later_node_of_the_same_kind_saved_is_a_mark() -> None:
    # Given a convolution (its node saves input and weight among sizes and strides) read by an untracked
    # write elsewhere, then a second convolution whose saved input has an untracked alias
    recorder = ForwardRecorder()
    recorder.start()
    try:
        weight = torch.randn(2, 1, 3, 3, requires_grad=True)
        first = torch.conv2d(torch.randn(1, 1, 5, 5), weight, padding=1)
        torch.zeros(2).add_(1)  # shares no memory with a saved tensor: no mark
        hidden = first[:, :1] * 2
        alias = hidden.detach()
        second = torch.conv2d(hidden, weight, padding=1)
        made = origin_of(second.grad_fn)
        torch.zeros(2).add_(1)
        assert made is not None and not recorder.may_have_edited(made.event)
        # When the alias (the second convolution's saved input) is written in place
        alias.add_(1)
        # Then the second convolution's node may have been edited, as the first one's would have been
        assert recorder.may_have_edited(made.event)
        fingerprinted = origin_of(second.grad_fn)
        assert fingerprinted is not None and "input" in dict(fingerprinted.fingerprints)
    finally:
        recorder.stop()


def test_a_data_edit_between_two_backward_calls_of_a_retained_graph_is_reported() -> None:
    with Tracer() as tracer:
        w = torch.tensor([2.0, 3.0], requires_grad=True)
        y = (w * w).sum()
        y.backward(retain_graph=True)
        w.data *= 10
        y.backward()

    # torch: 2 * [2, 3] from the first call, plus 2 * [20, 30] from the second
    assert w.grad is not None and w.grad.tolist() == [44.0, 66.0]
    edits = [finding for finding in tracer.findings if finding.kind == "data_edit"]
    assert [finding.call for finding in edits] == [2]


def test_a_graph_that_no_backward_ran_is_not_kept_alive_by_gradviz() -> None:
    # Given a forward pass with grad on that is never backpropagated (an evaluation), then a training step
    with Tracer() as tracer:
        w = torch.randn(4, requires_grad=True)
        activation = w * 2.0
        unused = (activation * activation).sum()  # saves the activation
        kept = weakref.ref(activation)
        del activation, unused
        (w * w).sum().backward()
        # Then, once the user dropped it, its memory is freed as in a plain run
        gc.collect()
        assert kept() is None
    assert [finding for finding in tracer.findings if finding.kind == "data_edit"] == []
