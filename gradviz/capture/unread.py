"""Saved tensors that a backward node holds but does not read, so changing them cannot change a gradient.

Autograd's generated nodes save every argument their derivative formula names, even where the formula
uses it only on one branch. Batch norm is the case that matters: ``native_batch_norm_backward`` reads
``running_mean``/``running_var`` only in evaluation mode; in training mode it uses the batch statistics
it saved (``result1``/``result2``), while the module updates its running stats in place on every forward.
"""

from __future__ import annotations

from typing import Any

#: Batch-norm backward nodes (CPU, CUDA, ROCm and the fused variants) that save the running stats.
_BATCH_NORM_NODES = frozenset(
    {
        "NativeBatchNormBackward0",
        "NativeBatchNormLegitBackward0",
        "NativeBatchNormLegitNoTrainingBackward0",
        "CudnnBatchNormBackward0",
        "MiopenBatchNormBackward0",
        "BatchNormWithUpdateBackward0",
        "BatchNormNoUpdateBackward0",
        "NativeBatchNormBackwardBackward0",
        "BatchNormBackwardBackward0",
        "CudnnBatchNormBackwardBackward0",
        "MiopenBatchNormBackwardBackward0",
    }
)
_RUNNING_STATS = frozenset({"running_mean", "running_var"})
#: Nodes whose forward always used batch statistics (derivatives.yaml passes ``training``/``update`` = true).
_ALWAYS_TRAINING = frozenset({"BatchNormWithUpdateBackward0", "CudnnBatchNormBackwardBackward0"})


def _training(grad_fn: Any) -> bool:
    """Whether a batch-norm node normalised with batch statistics (so its backward ignores running stats)."""
    if type(grad_fn).__name__ in _ALWAYS_TRAINING:
        return True
    for flag in ("_saved_training", "_saved_train", "_saved_update"):
        value = getattr(grad_fn, flag, None)
        if isinstance(value, bool):
            return value
    return False


def is_read_in_backward(grad_fn: Any, saved_name: str) -> bool:
    """Whether backward through this node reads this saved tensor.

    Args:
        grad_fn: An autograd Node.
        saved_name: The saved tensor's name without ``_saved_`` (``"running_mean"``).

    Returns:
        False only where the derivative formula is known not to use it (batch norm's running stats in
        training mode); True otherwise, so an unknown node is always checked.
    """
    if saved_name not in _RUNNING_STATS or type(grad_fn).__name__ not in _BATCH_NORM_NODES:
        return True
    return not _training(grad_fn)
