"""The training-script corpus (tests/corpus/) plain against ``gradviz trace``: cost, findings, fidelity.

Run from the repository root::

    python benchmarks/corpus.py                  # every script, default SVG output
    python benchmarks/corpus.py --format dot     # leave the layout engine out of the traced time
    python benchmarks/corpus.py mnist_cnn vae    # only these scripts

Each script runs in its own process, forked after ``import torch`` (so the ~1.5 s of starting Python and
importing torch is left out of both columns), with one intra-op thread (``OMP_NUM_THREADS=1``); the plain
batch runs first, then the traced one, so they do not compete for the CPU. It prints two tables:

1. per script: plain and traced CPU seconds (user + system of the script's process; wall time varies with
   the machine's load), their ratio, the findings in trace.json by severity (warnings, notes, capture
   problems), and whether stdout and the exit status were identical;
2. per script: the findings counted by kind and severity, with the total over the corpus.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.corpus.harness import BUGGY, CORRECT, Outcome, run_corpus  # noqa: E402


def fidelity(outcome: Outcome) -> str:
    """``yes`` when stdout and exit status were identical, else what differed."""
    differs = []
    if outcome.traced.stdout != outcome.plain.stdout:
        differs.append("stdout")
    if outcome.traced.status != outcome.plain.status:
        differs.append(f"status {outcome.plain.status}->{outcome.traced.status}")
    if outcome.trace is None:
        differs.append("no trace.json")
    return "yes" if not differs else "NO: " + ", ".join(differs)


def cost_table(outcomes: dict[str, Outcome], buggy: set[str]) -> None:
    """Table 1: cost, findings by severity, fidelity."""
    print(
        f"{'script':40} {'plain s':>8} {'traced s':>9} {'ratio':>6} "
        f"{'warn':>5} {'note':>5} {'cap.pb':>6}  identical"
    )
    for stem, outcome in outcomes.items():
        counts = outcome.counts()
        ratio = outcome.traced.cpu_seconds / max(outcome.plain.cpu_seconds, 1e-9)
        name = f"{stem} (bug)" if stem in buggy else stem
        print(
            f"{name:40} {outcome.plain.cpu_seconds:8.2f} {outcome.traced.cpu_seconds:9.2f} {ratio:6.1f} "
            f"{counts['warning']:5d} {counts['note']:5d} {counts['capture_problem']:6d}  {fidelity(outcome)}"
        )


def kind_table(outcomes: dict[str, Outcome], buggy: set[str]) -> None:
    """Table 2: findings by kind and severity, per script and in total."""
    total: Counter[str] = Counter()
    print("\nfindings by kind (severity), per script; a count > 1 inside a finding is counted")
    for stem, outcome in outcomes.items():
        kinds: Counter[str] = Counter()
        for finding in outcome.findings:
            kinds[f"{finding['kind']} ({finding.get('severity')})"] += int(finding.get("count", 1))
        total.update(kinds)
        listed = ", ".join(f"{kind} x{n}" for kind, n in sorted(kinds.items())) or "-"
        print(f"  {stem + (' (bug)' if stem in buggy else ''):40} {listed}")
    correct = {s for s in outcomes if s not in buggy}
    alarms = sum(
        int(f.get("count", 1))
        for s in correct
        for f in outcomes[s].findings
        if f.get("severity") == "warning" or f["kind"] == "capture_problem"
    )
    print("  total:", ", ".join(f"{kind} x{n}" for kind, n in sorted(total.items())) or "-")
    print(f"  warnings + capture problems on correct scripts (false alarms): {alarms}")


def main() -> int:
    """Run the corpus and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scripts", nargs="*", metavar="NAME", help="script stems to run (default: all)")
    parser.add_argument("--format", default="svg", help="the traced runs' --format (default: svg)")
    args = parser.parse_args()
    scripts = [s for s in (*CORRECT, *BUGGY) if not args.scripts or s.stem in args.scripts]
    if not scripts:
        print(f"corpus.py: no script named {' '.join(args.scripts)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as work:
        outcomes = run_corpus(scripts, Path(work), formats=args.format, parallel=False)
    buggy = {s.stem for s in BUGGY}
    cost_table(outcomes, buggy)
    kind_table(outcomes, buggy)
    return 0


if __name__ == "__main__":
    sys.exit(main())
