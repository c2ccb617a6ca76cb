"""Run many corpus scripts in one process start: import torch once, then fork one child per script.

Usage: ``python batch.py plain|trace RESULTS_DIR FORMATS SCRIPT...``

Each child runs its script as ``python SCRIPT`` would (plain), or as ``python -m gradviz trace --out
RESULTS_DIR/<stem>/ --format FORMATS SCRIPT`` would (trace, through ``gradviz.cli.main``), with its
stdout and stderr sent to ``RESULTS_DIR/<stem>.out`` / ``.err`` at the file-descriptor level. The parent
writes ``RESULTS_DIR/results.json``: per script stem, the exit status, the child's wall time and its CPU
time (user + system) in seconds.
A fresh process per script keeps scripts from seeing each other's state; the fork saves the ~2.5 s that
starting Python, importing torch and building the first optimizer cost each time.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import time
import traceback
from pathlib import Path


def exit_status(exc: SystemExit) -> int:
    """The status Python gives for a SystemExit, printing a non-int code as Python does."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def run_plain(script: Path) -> int:
    """Run a script as ``python SCRIPT``: argv, sys.path[0] and __main__ as Python sets them."""
    sys.argv = [str(script)]
    sys.path[0] = str(script.parent)
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        return exit_status(exc)
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def run_traced(script: Path, out_dir: Path, formats: str) -> int:
    """Run a script as ``python -m gradviz trace --out OUT --format FORMATS SCRIPT``."""
    from gradviz.cli import main

    sys.argv = [sys.argv[0]]
    return main(["trace", "--out", str(out_dir), "--format", formats, str(script)])


def run_child(mode: str, script: Path, results: Path, formats: str) -> int:
    """In the forked child: point fds 1 and 2 at the script's files and run it."""
    stem = script.stem
    for fd, suffix in ((1, ".out"), (2, ".err")):
        target = os.open(results / f"{stem}{suffix}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    if mode == "plain":
        return run_plain(script)
    return run_traced(script, results / stem, formats)


def main(argv: list[str]) -> int:
    """Run every script in its own forked child and record statuses and times."""
    mode, results, formats = argv[0], Path(argv[1]), argv[2]
    scripts = [Path(s).resolve() for s in argv[3:]]
    if mode not in ("plain", "trace"):
        print(f"batch.py: unknown mode {mode!r}", file=sys.stderr)
        return 2
    # Once, before forking, so the children share them: torch, and the torch._dynamo that building the
    # first optimizer imports (about a second each time otherwise).
    import torch

    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)

    if mode == "trace":
        import gradviz.cli  # noqa: F401

    results.mkdir(parents=True, exist_ok=True)
    report: dict[str, dict[str, float | int]] = {}
    for script in scripts:
        sys.stdout.flush()
        sys.stderr.flush()
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                status = run_child(mode, script, results, formats)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        _, wait_status, usage = os.wait4(pid, 0)
        report[script.stem] = {
            "status": os.waitstatus_to_exitcode(wait_status),
            "seconds": time.perf_counter() - start,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
        }
    (results / "results.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
