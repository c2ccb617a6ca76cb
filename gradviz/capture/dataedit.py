"""Catch saved tensors that changed behind autograd's back between forward and backward.

Autograd protects saved tensors with a version counter, but a write through ``.data`` (or an
``x.data = ...`` assignment) goes to an alias with its own counter, so backward silently uses the new
values. The forward recorder fingerprints what each node saved when it was created; just before backward
runs the node, `SavedTensorCheck` compares those fingerprints with what the node will really use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch

from gradviz.capture.editeffect import EditEffect, effect_of, shown
from gradviz.capture.origin import origin_of
from gradviz.capture.saved import Fingerprint, has_changed, read_saved
from gradviz.capture.unread import is_read_in_backward
from gradviz.capture.wording import at, data_owner
from gradviz.model import Event, Finding, Location

if TYPE_CHECKING:
    from gradviz.capture.forward import ForwardRecorder

LabelOf = Callable[[torch.Tensor], "str | None"]
_DATA: Any = torch._C.TensorBase.data  # the getset descriptor behind ``Tensor.data``


@contextmanager
def data_access_noted(recorder: ForwardRecorder | None) -> Iterator[None]:
    """While backward runs: a ``.data`` access (in a hook) tells the recorder, so fingerprints are compared.

    Torch runs backward hooks without any torch-function mode, so the timeline cannot see them; a
    marker on ``Tensor.data`` can. It is in place only for the engine call.

    Args:
        recorder: The forward timeline (nothing is marked without one).
    """
    if recorder is None or "data" in torch.Tensor.__dict__:  # the watch's own marker, or someone else's
        yield
        return

    def get(tensor: torch.Tensor) -> Any:
        recorder.note_unseen_access()
        return _DATA.__get__(tensor)

    def set_(tensor: torch.Tensor, value: Any) -> None:
        recorder.note_unseen_access()
        _DATA.__set__(tensor, value)

    marker = property(get, set_)
    torch.Tensor.data = marker  # type: ignore[assignment]
    try:
        yield
    finally:
        if torch.Tensor.__dict__.get("data") is marker:
            del torch.Tensor.data


class SavedTensorCheck:
    """Compares a node's saved tensors with their forward-time fingerprints, once per tensor and call.

    Args:
        recorder: The forward recorder that fingerprinted the saved tensors and saw the ``.data`` edits.
        label_of: Optional: the user's name for a tensor (e.g. from the caller's variables).
    """

    def __init__(self, recorder: ForwardRecorder | None, *, label_of: LabelOf | None = None) -> None:
        self._recorder = recorder
        self._label_of = label_of
        self._reported: set[tuple[int, Location | None]] = set()
        #: What the edits seen by the last `check` changed (None when nothing was edited).
        self.last_effect: EditEffect | None = None

    def wanted(self, grad_fn: Any) -> bool:
        """Whether `check` may find anything on this node: it was fingerprinted, and an edit mark came since.

        Args:
            grad_fn: The autograd Node about to run (or that just ran).
        """
        origin = origin_of(grad_fn)
        if origin is None or not origin.fingerprints:
            return False
        return self._recorder is None or self._recorder.may_have_edited(origin.event)

    def check(
        self,
        grad_fn: Any,
        *,
        node_name: str,
        location: Location | None,
        call_index: int,
        labels: Mapping[str, str | None] | None = None,
        names_by_id: Mapping[int, str | None] | None = None,
        grad_outputs: Sequence[torch.Tensor | None] | None = None,
    ) -> list[Finding]:
        """Look for saved tensors of one node that changed without a version bump.

        Call it before the node's saved tensors are released: in a pre-hook, or in the post-hook of a
        node that does not change them (the engine releases them after the hooks). It never raises:
        anything it cannot read is left unchecked (autograd's own error, if any, follows).

        Args:
            grad_fn: The autograd Node about to run (or that just ran).
            node_name: Its name in the captured graph (``MulBackward0``).
            location: The line that created it, where known.
            call_index: The 1-based backward call this happens in.
            labels: The user's names of the node's saved tensors, by saved name (``bn1.running_mean``).
            names_by_id: The user's names of the graph's tensors, by gradviz id: a saved view (``w.t()``,
                saved by a linear layer) is named after the tensor it views.
            grad_outputs: The v the node is about to receive: with it, `last_effect` holds the vJ the
                node would have sent without the edit (small tensors only).

        Returns:
            One ``data_edit`` finding per changed tensor that backward reads (reported once per tensor
            and call). A saved tensor the node's backward does not read (batch norm's running stats in
            training mode) may change freely: the gradient cannot depend on it.
        """
        self.last_effect = None
        try:
            return self._check(
                grad_fn, node_name, location, call_index, labels or {}, names_by_id or {}, grad_outputs
            )
        except Exception:
            return []

    def _check(
        self,
        grad_fn: Any,
        node_name: str,
        location: Location | None,
        call_index: int,
        labels: Mapping[str, str | None],
        names_by_id: Mapping[int, str | None],
        grad_outputs: Sequence[torch.Tensor | None] | None,
    ) -> list[Finding]:
        origin = origin_of(grad_fn)
        if origin is None or not origin.fingerprints:
            return []
        recorder = self._recorder
        if recorder is not None and not recorder.may_have_edited(origin.event):
            return []  # the timeline saw every op since the node was made, and none wrote behind autograd
        before = dict(origin.fingerprints)
        findings: list[Finding] = []
        edited: list[tuple[str, torch.Tensor, Fingerprint]] = []
        pause = recorder.paused() if recorder is not None else None
        if pause is not None:
            pause.__enter__()
        try:
            for name, tensor in read_saved(grad_fn):
                print_ = before.get(name)
                if not is_read_in_backward(grad_fn, name.split("[", 1)[0]):
                    continue
                if print_ is None or print_.version != tensor._version or not has_changed(print_, tensor):
                    continue
                edited.append((name, tensor, print_))
                tensor_id = print_.tensor_id
                if tensor_id is None and recorder is not None and tensor._base is not None:
                    tensor_id = recorder.tensor_id(tensor._base)  # a saved view: the tensor it views
                # Once per tensor and editing line: the same edit in a loop is one bug.
                edited_at = self._edit_event(tensor_id, origin.event)
                key = (
                    tensor_id if tensor_id is not None else id(tensor),
                    edited_at.location if edited_at else None,
                )
                if key in self._reported:
                    continue
                self._reported.add(key)
                label = labels.get(name) or (names_by_id.get(tensor_id) if tensor_id is not None else None)
                edit = self._finding(tensor, tensor_id, origin.event, node_name, location, call_index, label)
                findings.append(edit)
            self.last_effect = effect_of(grad_fn, edited, grad_outputs) if edited else None
            if self.last_effect is not None and findings:
                findings[-1] = _with_effect(findings[-1], node_name, self.last_effect)
        finally:
            if pause is not None:
                pause.__exit__(None, None, None)
        return findings

    def _finding(
        self,
        tensor: torch.Tensor,
        tensor_id: int | None,
        created: int,
        node_name: str,
        location: Location | None,
        call_index: int,
        label: str | None,
    ) -> Finding:
        edit = self._edit_event(tensor_id, created)
        if label is None and self._label_of is not None:
            label = self._label_of(tensor)
        if label is None and edit is not None:
            label = data_owner(edit.location)
        name = label or f"a tensor of shape {list(tensor.shape)}"
        saved_at = f" (line {location.line})" if location is not None else ""
        if edit is not None and edit.location is not None:
            how = f"was changed through .data{at(edit.location)}"
        else:
            how = "was changed in a way that bypasses the version counter (.data, .numpy() or the storage)"
        message = (
            f"{name} {how} after {node_name}{saved_at} saved it for backward. Autograd's version "
            f"counter did not notice, so backward call {call_index} used the new value: the gradient "
            f"is computed from the edited tensor, not from what the forward pass used."
        )
        where = edit.location if edit is not None and edit.location is not None else location
        return Finding(kind="data_edit", message=message, location=where, call=call_index, label=label)

    def _edit_event(self, tensor_id: int | None, created: int) -> Event | None:
        if self._recorder is None or tensor_id is None:
            return None
        for event in self._recorder.events[created:]:
            if event.kind == "data_write" and event.outputs and event.outputs[0] == tensor_id:
                return event
        return None


def _with_effect(finding: Finding, node_name: str, effect: EditEffect) -> Finding:
    """The finding with the numbers: what forward and backward used, and the vJ without the edit."""
    pairs: dict[str, list[str]] = {}
    for name, value in effect.backward.items():
        used = f"forward used {shown(effect.forward[name])}, backward used {shown(value)}"
        pairs.setdefault(used, []).append(name)
    said = "; ".join(f"{' and '.join(names)}: {used}" for used, names in pairs.items())
    text = f"{finding.message} {node_name} saved {said}."
    if effect.sent is not None and effect.unedited is not None:
        sent = " and ".join(shown(value) for value in effect.sent if value is not None)
        unedited = " and ".join(shown(value) for value in effect.unedited if value is not None)
        text += f" Without the edit it would have sent {unedited} instead of {sent}."
    return dataclasses.replace(finding, message=text)
