"""The one place that runs a Graphviz layout engine (as a subprocess).

The engine is found in the order CONTRACT.md gives: ``$GRADVIZ_DOT``, the ``graphviz-pure`` program
that pip installs with gradviz (beside the running Python first, then on PATH), then Graphviz's
``dot`` on PATH.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from gradviz.errors import GradvizError, LayoutEngineMissing
from gradviz.model import BackwardCall, Graph
from gradviz.render.dot import to_dot
from gradviz.render.process import EngineTimedOut, run_child
from gradviz.render.style import DEFAULT_OPTIONS, RenderOptions
from gradviz.render.svgtext import fit_text

#: Output formats gradviz asks engines for (graphviz-pure has no pdf; Graphviz's dot has all).
FORMATS = frozenset({"svg", "png", "pdf", "plain", "json"})
#: Seconds a layout may take before gradviz gives up on it (``$GRADVIZ_LAYOUT_TIMEOUT`` overrides).
TIMEOUT = 30.0
ENV_VAR = "GRADVIZ_DOT"
TIMEOUT_VAR = "GRADVIZ_LAYOUT_TIMEOUT"


class LayoutTimedOut(GradvizError):
    """The layout engine ran past its time limit; it was killed.

    Attributes:
        timeout: The limit, in seconds.
    """

    def __init__(self, message: str, timeout: float) -> None:
        super().__init__(message)
        self.timeout = timeout


def layout_timeout() -> float:
    """Seconds one layout may take: ``$GRADVIZ_LAYOUT_TIMEOUT`` when set and valid, else `TIMEOUT`."""
    text = os.environ.get(TIMEOUT_VAR, "").strip()
    try:
        seconds = float(text)
    except ValueError:
        return TIMEOUT
    return seconds if seconds > 0 else TIMEOUT


MISSING_HINT = "pip install graphviz-pure, or install Graphviz and put dot on PATH, or set GRADVIZ_DOT"


def find_engine() -> str | None:
    """Find a layout engine program.

    Returns:
        The path (or the command, when ``$GRADVIZ_DOT`` names one that is not found: running it
        then reports the problem) of the first engine in the contract's order, or None when there
        is none.
    """
    chosen = os.environ.get(ENV_VAR, "").strip()
    if chosen:
        return shutil.which(chosen) or chosen
    beside_python = shutil.which("graphviz-pure", path=str(Path(sys.executable).parent))
    if beside_python is not None:
        return beside_python
    return shutil.which("graphviz-pure") or shutil.which("dot")


def _first_line(stderr: bytes) -> str:
    for line in stderr.decode("utf-8", "replace").splitlines():
        text = line.strip()
        if text and not text.lower().startswith("warning"):
            return text
    return "no message"


def run_layout(dot_source: str, fmt: str, *, timeout: float | None = None, dpi: int | None = None) -> bytes:
    """Lay out DOT source with the engine `find_engine` picks.

    Args:
        dot_source: A DOT graph (from `to_dot`).
        fmt: One of ``svg``, ``png``, ``pdf``, ``plain``, ``json``.
        timeout: Seconds to wait for the engine (default: `layout_timeout`); it is killed after that,
            and also when gradviz exits or is stopped by a signal while waiting.
        dpi: Resolution of a PNG (passed as ``-Gdpi``; other formats ignore it, so an SVG keeps its size).

    Returns:
        What the engine wrote (SVG text as UTF-8 bytes, with text fitted by `fit_text`; PNG bytes, ...).

    Raises:
        LayoutEngineMissing: No engine was found, or the one found cannot be started.
        LayoutTimedOut: The engine took longer than `timeout` (it has been killed).
        GradvizError: The format is unknown, or the engine failed or cannot make that format.
    """
    if fmt not in FORMATS:
        raise GradvizError(f"unknown layout format {fmt!r}: use one of {', '.join(sorted(FORMATS))}")
    engine = find_engine()
    if engine is None:
        raise LayoutEngineMissing(f"no layout engine found: {MISSING_HINT}")
    name = Path(engine).name
    limit = layout_timeout() if timeout is None else timeout
    try:
        command = [engine, f"-T{fmt}", *([f"-Gdpi={dpi}"] if dpi is not None and fmt == "png" else [])]
        done = run_child(command, dot_source.encode("utf-8"), timeout=limit)
    except EngineTimedOut:
        raise LayoutTimedOut(
            f"layout engine {name} took more than {limit:g}s and was stopped", limit
        ) from None
    except OSError as exc:
        raise LayoutEngineMissing(
            f"cannot run layout engine {engine} ({exc.strerror}): {MISSING_HINT}"
        ) from None
    if done.returncode != 0:
        reason = _first_line(done.stderr)
        if "not recognized" in reason:
            reason = "it has no such output format (Graphviz's dot has; point GRADVIZ_DOT at it)"
        raise GradvizError(f"layout engine {name} cannot make {fmt}: {reason}")
    if fmt == "svg":
        return fit_text(done.stdout.decode("utf-8")).encode("utf-8")
    return done.stdout


def to_svg(
    subject: Graph | BackwardCall, *, step: int | None = None, options: RenderOptions = DEFAULT_OPTIONS
) -> str:
    """An SVG drawing of a graph or a backward call.

    Args:
        subject: A lone graph or a captured backward call.
        step: Show the state after this many backward steps (see `to_dot`).
        options: What to draw.

    Returns:
        SVG text; the same text for the same input with graphviz-pure.

    Raises:
        LayoutEngineMissing: No layout engine can be run.
        GradvizError: The engine failed, or `step` is out of range.
    """
    return run_layout(to_dot(subject, step=step, options=options), "svg").decode("utf-8")
