"""Real training code under ``gradviz trace``: nothing the script prints or returns changes, correct code
gets no warning, and each seeded bug gets the warning it deserves.

All selected scripts run in two batches (plain and traced, side by side), each script in its own forked
child process; every test then reads its script's outcome. The traced runs write DOT, not SVG: laying
out graphs is not what these tests are about (tests/test_examples.py checks SVGs), and it costs seconds
per call on the bigger graphs. benchmarks/corpus.py runs the default SVG output.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import BUGGY, CORRECT, Outcome, expected_kind, run_corpus

KINDS = ("no_grad", "detach", "data_edit", "accumulation", "autograd_error", "non_leaf_grad")


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Run every corpus script that a selected test asks about, once, plain and traced."""
    wanted = {
        item.callspec.params["script"]
        for item in request.session.items
        if hasattr(item, "callspec") and "script" in item.callspec.params
    }
    scripts = [s for s in (*CORRECT, *BUGGY) if s in wanted]
    return run_corpus(scripts, tmp_path_factory.mktemp("corpus"), formats="dot")


def assert_runs_the_same(outcome: Outcome) -> None:
    """The script printed the same bytes and ended with the same status, and a trace was written."""
    err = outcome.traced.stderr.decode(errors="replace")
    assert outcome.traced.stdout == outcome.plain.stdout, err
    assert outcome.traced.status == outcome.plain.status == 0, err
    assert outcome.trace is not None, err
    assert outcome.trace["backward_calls"] >= 1


def describe(findings: list[dict[str, object]]) -> str:
    """The findings, one line each, for an assertion message."""
    return "\n".join(f"{f['severity']} {f['kind']} x{f.get('count', 1)}: {f['message']}" for f in findings)


def test_the_corpus_is_big_enough() -> None:
    assert len(CORRECT) >= 12
    assert len(BUGGY) >= 3
    assert all(expected_kind(script) in KINDS for script in BUGGY)


@pytest.mark.parametrize("script", CORRECT, ids=lambda path: path.stem)
def test_correct_script_runs_the_same_and_gets_no_warning(script: Path, outcomes: dict[str, Outcome]) -> None:
    # Given: a correct training script, run plain and traced.
    outcome = outcomes[script.stem]

    # Then: the run is untouched, and gradviz neither warns nor reports a problem of its own.
    assert_runs_the_same(outcome)
    alarms = outcome.findings_with(severity="warning") + outcome.findings_with(kind="capture_problem")
    assert not alarms, describe(alarms)


@pytest.mark.parametrize("script", BUGGY, ids=lambda path: path.stem)
def test_seeded_bug_gets_its_warning(script: Path, outcomes: dict[str, Outcome]) -> None:
    # Given: a script with one real bug, which declares the finding it must produce.
    outcome = outcomes[script.stem]
    kind = expected_kind(script)

    # Then: the run is untouched, and that warning is among the findings.
    assert_runs_the_same(outcome)
    assert outcome.findings_with(kind=kind, severity="warning"), describe(outcome.findings)
