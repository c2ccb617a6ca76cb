"""The floor under a captured call (benchmarks/bench_floor.py) times every recorder it lists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_floor.py"
ROW = re.compile(r"^  (.+?) +([0-9.]+) ms +([0-9.]+)x$")


def test_each_recorder_is_timed_against_plain() -> None:
    # Given: the tutorial chain timed once (its numbers are not judged here, only that they are read)
    command = [sys.executable, str(SCRIPT), "tutorial", "--rounds", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {match[1]: float(match[3]) for line in done.stdout.splitlines() if (match := ROW.match(line))}
    # Then: every recorder got its row, gradviz's own call last, each as a ratio to the plain run
    assert list(rows) == [
        "plain",
        "empty TorchFunctionMode",
        "mode noting each op and its line",
        "+ walk, one empty post-hook per Node",
        "+ one vector_norm per vJ in the hook",
        "gradviz.trace(), one captured call",
    ]
    assert rows["plain"] == 1.0
    assert all(ratio > 0 for ratio in rows.values())
