"""Write a trace to a folder: ``trace.json`` plus ``backward-NNN.<fmt>`` per captured call.

The one module besides the CLI that writes files. When no layout engine runs, the DOT source and
trace.json are still written and `LayoutSkipped` says so in one line (with the files in ``written``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gradviz.errors import GradvizError, LayoutEngineMissing
from gradviz.model import BackwardCall, Trace
from gradviz.render.dot import to_dot
from gradviz.render.html import to_html, wants_per_step
from gradviz.render.json import call_to_json, to_json
from gradviz.render.style import DEFAULT_OPTIONS, RenderOptions
from gradviz.render.svg import MISSING_HINT, run_layout

#: The per-call formats, in the order the CLI lists them.
FORMATS = ("svg", "dot", "json", "html", "png", "pdf")
_DRAWN = frozenset({"svg", "png", "pdf"})


class OutputIncomplete(GradvizError):
    """Some drawings could not be made; what could be written was (DOT in their place).

    Attributes:
        written: The files that were written.
    """

    def __init__(self, message: str, written: Sequence[Path]) -> None:
        super().__init__(message)
        self.written = list(written)


class LayoutSkipped(OutputIncomplete, LayoutEngineMissing):
    """No layout engine ran: trace.json and the DOT files were written instead of drawings."""


class _Writer:
    """Writes files into one folder and remembers them, turning OS errors into one line."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.written: list[Path] = []

    def write(self, name: str, data: str | bytes) -> None:
        path = self.out_dir / name
        try:
            path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        except OSError as exc:
            raise GradvizError(f"cannot write {path}: {exc.strerror or exc}") from None
        if path not in self.written:
            self.written.append(path)


def _check(formats: Sequence[str]) -> list[str]:
    unknown = [fmt for fmt in formats if fmt not in FORMATS]
    if unknown:
        raise GradvizError(f"unknown format {', '.join(unknown)}: choose from {','.join(FORMATS)}")
    return list(dict.fromkeys(formats))


def _html_svgs(call: BackwardCall, final_svg: str, options: RenderOptions) -> list[str]:
    if not wants_per_step(call) or not call.steps:
        return [final_svg]
    return [
        run_layout(to_dot(call, step=step, options=options), "svg").decode("utf-8")
        for step in range(len(call.steps) + 1)
    ]


def write_outputs(
    trace: Trace, out_dir: Path, formats: Sequence[str], *, options: RenderOptions = DEFAULT_OPTIONS
) -> list[Path]:
    """Write trace.json and, per captured backward call, ``backward-NNN.<fmt>`` for each format.

    Args:
        trace: What was recorded.
        out_dir: The folder; created when missing.
        formats: Any of ``svg``, ``dot``, ``json`` (the call alone), ``html``, ``png``, ``pdf``.
        options: What the drawings show.

    Returns:
        The files written, trace.json first.

    Raises:
        LayoutSkipped: No layout engine runs; trace.json, the DOT files and drawing-less HTML pages
            were written (listed in ``written``). Its message is the one line to show the user.
        OutputIncomplete: The engine could not make some format (graphviz-pure has no pdf); DOT was
            written in its place.
        GradvizError: A format is unknown, or the folder cannot be created or written.
    """
    wanted = _check(formats)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GradvizError(f"cannot create output folder {out_dir}: {exc.strerror or exc}") from None
    writer = _Writer(out_dir)
    writer.write("trace.json", to_json(trace))
    missing = False
    problems: list[str] = []
    for call in trace.backwards:
        stem = f"backward-{call.index:03d}"
        dot = to_dot(call, options=options)
        final_svg: str | None = None
        for fmt in wanted:
            if fmt == "dot":
                writer.write(f"{stem}.dot", dot)
            elif fmt == "json":
                writer.write(f"{stem}.json", call_to_json(call))
            elif missing and fmt in _DRAWN:
                writer.write(f"{stem}.dot", dot)
            elif missing:
                writer.write(f"{stem}.html", to_html(call, []))
            else:
                try:
                    if fmt in ("svg", "html"):
                        final_svg = final_svg or run_layout(dot, "svg").decode("utf-8")
                    if fmt == "html" and final_svg is not None:
                        writer.write(f"{stem}.html", to_html(call, _html_svgs(call, final_svg, options)))
                    elif fmt == "svg" and final_svg is not None:
                        writer.write(f"{stem}.svg", final_svg)
                    else:
                        writer.write(f"{stem}.{fmt}", run_layout(dot, fmt))
                except LayoutEngineMissing:
                    missing = True
                    writer.write(f"{stem}.dot", dot)
                    if fmt == "html":
                        writer.write(f"{stem}.html", to_html(call, []))
                except GradvizError as exc:
                    problems.append(str(exc))
                    writer.write(f"{stem}.dot", dot)
    if missing:
        raise LayoutSkipped(f"no layout engine: wrote DOT instead; {MISSING_HINT}", writer.written)
    if problems:
        raise OutputIncomplete(f"{problems[0]}; wrote DOT instead", writer.written)
    return writer.written
