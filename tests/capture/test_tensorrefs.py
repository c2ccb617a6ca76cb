"""gradviz's one weak reference per tensor, shared by every map that names the tensor."""

from __future__ import annotations

import gc

import torch

from gradviz.capture.tensor_ids import TensorIds
from gradviz.capture.tensormap import TensorMap
from gradviz.capture.tensorrefs import lifted, tensor_ref


def test_a_tensor_named_by_two_maps_is_forgotten_by_both_once_freed() -> None:
    # Given: a tensor with an id in two TensorIds (nested traces) and a value in a TensorMap
    ids_a, ids_b, values = TensorIds(), TensorIds(), TensorMap()
    tensor = torch.ones(3)
    first, second = ids_a.assign(tensor), ids_b.assign(tensor)
    ids_b.assign(torch.zeros(1))  # a second tensor, freed at once: ids are not reused
    values[tensor] = "kept"
    # When: the tensor is freed
    del tensor
    gc.collect()
    # Then: every owner let go of it, and the next tensor gets a fresh id
    assert (first, second) == (0, 0)
    assert (len(ids_a), len(ids_b), len(values)) == (0, 0, 0)
    assert ids_b.assign(torch.ones(1)) == 2


def test_a_lifted_reference_still_names_its_tensor_and_is_weak_again_after() -> None:
    # Given: a tensor with gradviz's one reference
    ids = TensorIds()
    tensor = torch.ones(2)
    number = ids.assign(tensor)
    handle = tensor_ref(tensor)
    # When: lifted for a swap (held strongly, no weak reference), then put back
    with lifted(tensor):
        assert handle._weak is None
        assert ids.get(tensor) == number
    # Then: the same id, weakly held again, and forgotten once the tensor dies
    assert ids.get(tensor) == number
    assert handle._weak is not None
    del tensor
    gc.collect()
    assert len(ids) == 0
