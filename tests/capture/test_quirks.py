"""One test per autograd quirk the forward timeline records, each against what torch itself did."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from gradviz.capture import opkind, quirks
from gradviz.capture.forward import ForwardRecorder
from gradviz.capture.wording import TORCH_NO_GRAD


@pytest.fixture
def rec() -> ForwardRecorder:
    """A recorder that is not started: the quirks use only its ids, aliases and findings."""
    return ForwardRecorder()


def draft(rec: ForwardRecorder, code: int, args: tuple[Any, ...], result: Any, **extra: Any) -> quirks.Draft:
    made = quirks.draft_of(rec, code, "op", args, {}, result, **extra)
    assert made is not None
    return made


def test_an_inplace_op_outputs_the_modified_tensor_and_its_new_version(rec: ForwardRecorder) -> None:
    # Given: a non-leaf and its version before an in-place op
    s = torch.ones(3, requires_grad=True).sigmoid()
    before = s._version
    # When
    s.mul_(2)
    made = draft(rec, opkind.INPLACE, (s, 2), s, modified=s, version=before)
    quirks.inplace(rec, made)
    # Then: the version counter went up, as autograd's check for saved tensors will see it
    assert made.kind == "inplace"
    assert (made.version, made.after) == (before, s._version) == (0, 1)
    assert made.output_ids == (rec.tensor_id(s),)
    assert type(made.grad_fn).__name__ == "MulBackward0"


def test_an_inplace_op_on_a_data_alias_is_a_write_the_version_counter_missed(rec: ForwardRecorder) -> None:
    # Given: w.data, recorded as an alias of w
    w = torch.ones(2, requires_grad=True)
    alias = w.data
    quirks.data_read(rec, draft(rec, opkind.DATA_GET, (w,), alias))
    # When: the alias is edited in place
    before = alias._version
    alias.mul_(10)
    made = draft(rec, opkind.INPLACE, (alias, 10), alias, modified=alias, version=before)
    quirks.inplace(rec, made)
    # Then: the event is a write to w itself, whose version torch left unchanged
    assert made.kind == "data_write"
    assert made.output_ids == (rec.tensor_id(w),)
    assert made.version == made.after == w._version == 0
    assert made.detail == quirks.WRITE_THROUGH_DATA


def test_a_view_of_a_data_alias_is_an_alias_of_the_same_tensor(rec: ForwardRecorder) -> None:
    w = torch.ones(2, 2, requires_grad=True)
    alias = w.data
    quirks.data_read(rec, draft(rec, opkind.DATA_GET, (w,), alias))
    row = alias[0]
    made = draft(rec, opkind.OP, (alias, 0), row)
    quirks.view_of_data_alias(rec, made)
    # torch: the row shares w's storage and has no grad_fn, so editing it edits w unseen
    assert row._is_view() and row.grad_fn is None
    assert rec.data_base(made.output_ids[0]) == rec.tensor_id(w)


def test_detach_of_a_tensor_that_requires_grad_is_a_cut_found_once(rec: ForwardRecorder) -> None:
    h = torch.ones(2, requires_grad=True) * 2
    cut = h.detach()
    made = draft(rec, opkind.DETACH, (h,), cut)
    quirks.detach(rec, made)
    assert made.kind == "detach" and not cut.requires_grad
    (finding,) = rec.findings
    assert finding.kind == "detach" and finding.location == made.location


def test_data_read_remembers_whose_data_the_alias_is(rec: ForwardRecorder) -> None:
    w = torch.ones(2, requires_grad=True)
    alias = w.data
    made = draft(rec, opkind.DATA_GET, (w,), alias)
    quirks.data_read(rec, made)
    # torch: the alias shares w's storage but is not tracked by autograd
    assert alias.data_ptr() == w.data_ptr() and not alias.requires_grad
    assert made.kind == "data_read"
    assert rec.data_base(made.output_ids[0]) == rec.tensor_id(w)


def test_data_assignment_is_a_write_and_the_tail_of_an_augmented_edit_is_not(rec: ForwardRecorder) -> None:
    # Given: x.data = new, seen as Tensor.data.__set__(x, new)
    x = torch.ones(2, requires_grad=True)
    new = torch.zeros(2)
    x.data = new
    made = draft(rec, opkind.DATA_SET, (x, new), None)
    assert quirks.data_assign(rec, made)
    assert made.kind == "data_write"
    assert made.output_ids == (rec.tensor_id(x),) and made.inputs == (rec.tensor_id(new),)
    assert made.version == made.after == x._version == 0  # autograd saw nothing
    # When: `x.data *= 2` ends with x.data = <x's own alias>, already recorded as the in-place edit
    alias = x.data
    quirks.data_read(rec, draft(rec, opkind.DATA_GET, (x,), alias))
    tail = draft(rec, opkind.DATA_SET, (x, alias), None)
    # Then: no second event
    assert not quirks.data_assign(rec, tail)


def test_requires_grad_records_whether_autograd_now_tracks_the_tensor(rec: ForwardRecorder) -> None:
    x = torch.ones(2)
    x.requires_grad_()
    made = draft(rec, opkind.REQUIRES_GRAD, (x,), x)
    quirks.requires_grad(rec, made)
    assert (made.kind, made.enabled) == ("requires_grad", x.requires_grad) == ("requires_grad", True)


def test_retain_grad_is_its_own_event(rec: ForwardRecorder) -> None:
    h = torch.ones(2, requires_grad=True) * 3
    h.retain_grad()
    made = draft(rec, opkind.RETAIN_GRAD, (h,), None)
    quirks.retain_grad(rec, made)
    assert made.kind == "retain_grad" and h.retains_grad


def test_a_plain_op_under_no_grad_on_tensors_that_require_grad_is_a_cut(rec: ForwardRecorder) -> None:
    w = torch.ones(2, requires_grad=True)
    rec._user_grad = False  # as the recorder learns from the user's `with torch.no_grad():`
    with torch.no_grad():
        frozen = w * 2
        made = draft(rec, opkind.OP, (w, 2), frozen)
    quirks.cut_by_grad_mode(rec, made)
    # torch recorded nothing: the result has no grad_fn
    assert frozen.grad_fn is None and made.grad_mode == "no_grad"
    (finding,) = rec.findings
    assert finding.kind == "no_grad" and finding.location == made.location


def test_an_op_inside_a_custom_functions_forward_is_kept_aside_not_a_cut(rec: ForwardRecorder) -> None:
    # torch runs a custom Function's forward without grad; apply() gives its outputs a grad_fn afterwards
    w = torch.ones(2, requires_grad=True)
    with torch.no_grad():
        out = w * 2
        made = draft(rec, opkind.OP, (w, 2), out)
    # the user never switched grad off (the recorder saw no switch): torch did, for the Function
    assert made.detail is TORCH_NO_GRAD
    quirks.cut_by_grad_mode(rec, made)
    assert rec.findings == ()
    assert made.output_ids[0] in rec._unowned
