"""Every script in examples/ runs the same under plain python and under ``gradviz trace``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.py"))
CALLS_BACKWARD = re.compile(r"\.backward\(|autograd\.grad\(|autograd\.backward\(")


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_example_runs_the_same_traced(example: Path, tmp_path: Path) -> None:
    # Given: the example run both ways at once (they are independent; this halves the wait).
    out_dir = tmp_path / "out"
    plain = subprocess.Popen(
        [sys.executable, str(example)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    traced = subprocess.Popen(
        [sys.executable, "-m", "gradviz", "trace", "--out", str(out_dir), str(example)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    plain_out, plain_err = plain.communicate(timeout=300)
    traced_out, traced_err = traced.communicate(timeout=300)

    # Then: the script's own output and status are untouched, and a trace was written.
    assert traced_out == plain_out, traced_err.decode(errors="replace")
    assert traced.returncode == plain.returncode, traced_err.decode(errors="replace")
    assert b"Traceback" not in traced_err or b"Traceback" in plain_err
    if plain.returncode != 0:
        # the user's traceback reads exactly as under plain python: no gradviz or dispatch frames
        assert _traceback(traced_err) == _traceback(plain_err)
    trace = json.loads((out_dir / "trace.json").read_text())
    assert trace["schema"] == "gradviz.trace/1"
    if CALLS_BACKWARD.search(example.read_text()):
        assert trace["backward_calls"] >= 1
        assert (out_dir / "backward-001.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


def _traceback(stderr: bytes) -> list[str]:
    """The lines of the first Python traceback in a stream, through its final exception line."""
    lines = stderr.decode(errors="replace").splitlines()
    start = lines.index("Traceback (most recent call last):")
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" "))
    return lines[start : end + 1]
