"""Leaf value prints of a captured call, read together, are the prints read one by one."""

from __future__ import annotations

import torch

from gradviz.capture.leafstate import changed, value_print, value_prints


def test_prints_read_together_equal_prints_read_one_by_one() -> None:
    torch.manual_seed(0)
    leaves = [
        torch.randn(5, 7),  # sampled with a stride
        torch.randn(3),  # every element
        torch.randn(100, 3).t(),  # not contiguous: read on its own
        torch.zeros(0),
        torch.randn(4, dtype=torch.float64),
        torch.randn(8),
        torch.randn(17, requires_grad=True),
        torch.randn(2, 3, requires_grad=True),  # every element, of a leaf autograd tracks
        torch.randn(3, 4)[1:],
        torch.randn(10, 12)[2:],  # sampled, from an offset into its storage
        -torch.zeros(9),  # -0.0 sampled, stacked with the others
        torch.randint(0, 5, (20,)),
    ]
    assert value_prints(leaves) == [value_print(leaf) for leaf in leaves]


def test_an_edit_through_data_changes_the_print_read_together() -> None:
    # Given a leaf's print, then an edit of one sampled element that leaves _version alone
    leaf = torch.randn(64, requires_grad=True)
    (before,) = value_prints([leaf])
    leaf.data[8] += 1.0
    # Then the print read together says it changed, as the print read alone does
    (after,) = value_prints([leaf])
    assert leaf._version == 0 and changed(after, before) and after == value_print(leaf)
