"""The training-script corpus, run plain and under ``gradviz trace``: shared by tests and benchmark."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CORRECT = sorted((HERE / "scripts").glob("*.py"))
BUGGY = sorted((HERE / "bugs").glob("*.py"))
EXPECTS = re.compile(r"^# gradviz-expects: (\w+)\s*$", re.MULTILINE)


def expected_kind(script: Path) -> str | None:
    """The finding kind a seeded-bug script declares in its ``# gradviz-expects: KIND`` line."""
    match = EXPECTS.search(script.read_text())
    return match.group(1) if match else None


@dataclass
class Run:
    """One script's run: what it printed, its exit status, and how long the child took (wall and CPU)."""

    stdout: bytes
    stderr: bytes
    status: int
    seconds: float
    cpu_seconds: float


@dataclass
class Outcome:
    """A script run plain and traced, with the findings of the traced run's trace.json."""

    plain: Run
    traced: Run
    trace: dict[str, Any] | None
    findings: list[dict[str, Any]] = field(default_factory=list)

    def findings_with(self, **fields: str) -> list[dict[str, Any]]:
        """The findings whose fields have the given values."""
        return [f for f in self.findings if all(f.get(k) == v for k, v in fields.items())]

    def counts(self) -> Counter[str]:
        """Findings counted by severity (``warning``, ``note``), with capture problems on their own."""
        return Counter(
            "capture_problem" if f["kind"] == "capture_problem" else str(f.get("severity"))
            for f in self.findings
        )


def environment(threads: int | None = None) -> dict[str, str]:
    """The environment for the runs: this checkout's gradviz first on the path.

    Args:
        threads: torch's intra-op threads per process (``OMP_NUM_THREADS``), where given.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def _batch(mode: str, results: Path, formats: str, scripts: list[Path], cwd: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(HERE / "batch.py"), mode, str(results), formats, *map(str, scripts)]
    # One thread each: the two batches side by side do not fight over the cores, and CPU time
    # measures work rather than OpenMP threads spinning.
    return subprocess.Popen(command, cwd=cwd, env=environment(threads=1), stderr=subprocess.PIPE)


def _read(results: Path, stem: str, report: dict[str, Any]) -> Run:
    entry = report[stem]
    return Run(
        stdout=(results / f"{stem}.out").read_bytes(),
        stderr=(results / f"{stem}.err").read_bytes(),
        status=int(entry["status"]),
        seconds=float(entry["seconds"]),
        cpu_seconds=float(entry["cpu_seconds"]),
    )


def run_corpus(
    scripts: list[Path], work: Path, *, formats: str = "svg", parallel: bool = True
) -> dict[str, Outcome]:
    """Run scripts plain and traced, each in its own child process, and collect the outcomes by stem.

    Args:
        scripts: The scripts (their stems must differ).
        work: An empty folder for outputs; the scripts run with it as the current directory.
        formats: The traced runs' ``--format``.
        parallel: Run the plain and the traced batch at the same time (faster; worse for timing).

    Returns:
        The outcome of each script, by its stem.

    Raises:
        RuntimeError: When a batch runner itself failed.
    """
    assert len({s.stem for s in scripts}) == len(scripts), "script stems must be unique"
    plain_dir, traced_dir = work / "plain", work / "traced"
    plain = _batch("plain", plain_dir, formats, scripts, work)
    if not parallel:
        plain.wait()
    traced = _batch("trace", traced_dir, formats, scripts, work)
    for name, process in (("plain", plain), ("traced", traced)):
        _, err = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"{name} batch failed: {err.decode(errors='replace')}")
    plain_report = json.loads((plain_dir / "results.json").read_text())
    traced_report = json.loads((traced_dir / "results.json").read_text())
    outcomes = {}
    for script in scripts:
        stem = script.stem
        trace_file = traced_dir / stem / "trace.json"
        trace = json.loads(trace_file.read_text()) if trace_file.exists() else None
        outcomes[stem] = Outcome(
            plain=_read(plain_dir, stem, plain_report),
            traced=_read(traced_dir, stem, traced_report),
            trace=trace,
            findings=list(trace["findings"]) if trace else [],
        )
    return outcomes
