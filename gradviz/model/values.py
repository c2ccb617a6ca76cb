"""Values and tensors: locations, summaries of tensors, saved tensors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

#: Nested lists of numbers, as ``Tensor.tolist()`` gives them (kept as tuples here: the model is frozen).
Nested: TypeAlias = float | int | bool | complex | tuple["Nested", ...]

Api = Literal["backward", "grad"]
GradMode = Literal["enabled", "no_grad", "inference_mode"]
#: "warning": probably a bug in the user's code; "note": an autograd effect that happened (an intended cut,
#: evaluation under no_grad), drawn and listed briefly but never alarming.
Severity = Literal["warning", "note"]


@dataclass(frozen=True, slots=True)
class Location:
    """A line of the user's code.

    Attributes:
        file: Path of the source file, as the frame reports it (relative to the script's folder
            when gradviz ran a script).
        line: 1-based line number.
        function: Name of the enclosing function, ``"<module>"`` at top level.
        code: The stripped source line, when it could be read.
    """

    file: str
    line: int
    function: str | None = None
    code: str | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Value:
    """A summary of a tensor's values; full values only for small tensors.

    Attributes:
        shape: The tensor's shape.
        dtype: Short dtype name, e.g. ``"float32"``.
        values: The values as nested tuples, present when ``numel <= 100``.
        min: Smallest element (None for empty, complex or non-numeric tensors).
        max: Largest element.
        mean: Mean of the elements.
        norm: The 2-norm of the flattened tensor.
    """

    shape: tuple[int, ...]
    dtype: str
    values: Nested | None = None
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    norm: float | None = None

    @property
    def numel(self) -> int:
        """Number of elements."""
        count = 1
        for size in self.shape:
            count *= size
        return count


@dataclass(frozen=True, slots=True)
class SavedTensor:
    """A tensor that a backward node saved during forward for use in backward.

    Attributes:
        name: The name PyTorch gives it, without the ``_saved_`` prefix (``"self"``, ``"other"``,
            ``"result"``), or ``"saved_tensors[i]"`` for a custom ``autograd.Function``.
        value: Its summary at the time gradviz looked at it.
        source: Id of the node whose tensor this is (the AccumulateGrad node for a leaf, the producing
            node for an intermediate), when it could be matched.
        label: The user's name for the tensor, where found.
        forward_value: What forward saved, when a ``.data`` edit changed it before backward read it
            (`value` is then what backward used); None when unchanged or too large to keep.
    """

    name: str
    value: Value
    source: int | None = None
    label: str | None = None
    forward_value: Value | None = None


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """The tensor a node produced; for ``AccumulateGrad``, the leaf itself.

    Attributes:
        label: The user's variable name or ``model.layer.weight``-style parameter name, where found.
        shape: Shape of the tensor.
        dtype: Short dtype name.
        device: Device string, e.g. ``"cpu"`` or ``"cuda:0"``.
        requires_grad: ``tensor.requires_grad``.
        is_leaf: ``tensor.is_leaf``.
        retains_grad: ``tensor.retains_grad`` (only ever True for non-leaves).
        grad_before: The leaf's ``.grad`` when the backward call started (leaves only).
        grad_after: The leaf's ``.grad`` when the backward call ended (leaves only).
        version: The tensor's ``_version`` counter, where known.
        id: gradviz's id for the tensor, as in `Event.inputs` / `Event.outputs`, where known.
    """

    label: str | None
    shape: tuple[int, ...]
    dtype: str
    device: str
    requires_grad: bool = True
    is_leaf: bool = False
    retains_grad: bool = False
    grad_before: Value | None = None
    grad_after: Value | None = None
    version: int | None = None
    id: int | None = None
