"""The phase breakdown of a captured call (benchmarks/bench_phases.py) still finds every phase it times."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_phases.py"
PHASE_LINE = re.compile(r"^ +(\S+) +([0-9.]+) ms$")


def test_every_phase_of_a_captured_call_is_timed_and_they_fit_inside_it() -> None:
    # Given: the tutorial chain timed once (its numbers are not judged here, only that they are read)
    command = [sys.executable, str(SCRIPT), "tutorial", "--rounds", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    times = {
        match[1]: float(match[2]) for line in done.stdout.splitlines() if (match := PHASE_LINE.match(line))
    }
    # Then: each phase it wraps was reached (a renamed gradviz function would leave its line out)
    phases = [
        "capture",
        "plan",
        "plan.walk",
        "plan.leaf_grads_before",
        "plan.describe",
        "attach",
        "detach",
        "finish",
        "finish.to_call",
    ]
    assert all(phase in times for phase in phases), times
    # And: the parts of the captured call take no more than the call itself
    assert times["plan"] + times["attach"] + times["detach"] + times["finish"] <= times["capture"]
