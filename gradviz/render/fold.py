"""Folding repeated structure: straight runs of boxes whose pattern repeats become one ``xN`` box.

12 identical transformer layers in a row fold with period 1; 1,000 Linear + ReLU pairs with period 2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["MAX_PERIOD", "MIN_REPEATS", "fold_run", "straight_runs"]

#: Longest pattern (in boxes) that folding looks for, and the fewest repeats it folds.
MAX_PERIOD = 8
MIN_REPEATS = 3


def straight_runs(
    order: list[int], succ: Mapping[int, set[int]], pred: Mapping[int, set[int]]
) -> list[list[int]]:
    """Cut the groups into maximal straight runs: each one's only successor has it as its only predecessor.

    Args:
        order: The groups, in the order runs should start from.
        succ: Each group's successors (the groups it sends vJ to).
        pred: Each group's predecessors.

    Returns:
        The runs, each in order along its links; every group is in exactly one.
    """
    runs: list[list[int]] = []
    placed: set[int] = set()
    for start in order:
        if start in placed:
            continue
        before = pred.get(start, set())
        if len(before) == 1 and len(succ.get(next(iter(before)), set())) == 1:
            continue  # not the head of its run
        run = [start]
        placed.add(start)
        while len(succ.get(run[-1], set())) == 1:
            after = next(iter(succ[run[-1]]))
            if after in placed or len(pred.get(after, set())) != 1:
                break
            run.append(after)
            placed.add(after)
        runs.append(run)
    runs.extend([group] for group in order if group not in placed)
    return runs


def fold_run(keys: Sequence[str]) -> list[tuple[int, int, int]]:
    """Cut a run into ``(start, period, repeats)`` pieces, greedily folding the longest repeat at each start.

    Args:
        keys: What each group of the run looks like (two groups fold when their keys are equal).

    Returns:
        The pieces in order; a piece that does not fold has period 1 and repeats 1.
    """
    pieces: list[tuple[int, int, int]] = []
    start = 0
    while start < len(keys):
        best = (1, 1)
        for period in range(1, MAX_PERIOD + 1):
            repeats = 1
            while keys[start + repeats * period : start + (repeats + 1) * period] == keys[
                start : start + period
            ] and start + (repeats + 1) * period <= len(keys):
                repeats += 1
            if repeats >= MIN_REPEATS and repeats * period > best[0] * best[1]:
                best = (period, repeats)
        pieces.append((start, *best))
        start += best[0] * best[1]
    return pieces
