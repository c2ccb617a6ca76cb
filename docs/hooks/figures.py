"""mkdocs hook: every figure in the docs is drawn from examples/ by `gradviz trace` when the site builds.

Each run below traces one example into build/docs-figures/<run>/<key>/ (gitignored), keyed by a hash of
the example, the options and gradviz's own source, so an unchanged build reruns nothing. Its files join
the site under figures/<run>/, and pages ask for them with one-line markers that GitHub does not show:

    <!-- gradviz:code RUN -->              the example's source, read from the file
    <!-- gradviz:figure RUN/FILE ALT -->   an image (an SVG the run wrote)
    <!-- gradviz:player RUN/FILE -->       the self-contained HTML player, in an iframe
    <!-- gradviz:console RUN -->           what `gradviz trace` printed: the script's output and the summary
    <!-- gradviz:text RUN/FILE -->         a text file the run wrote (ledger.txt)
    <!-- gradviz:legend -->                 the whole legend, drawn once for every figure (legend.md)

Every figure links to its SVG, so a click opens it full size; a page with figures gives them the width of
the table of contents, and its first figure says where the legend is.

A run whose example is not in the checkout yet is skipped: its markers become one admonition saying so,
never a broken link, so `mkdocs build --strict` stays clean.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

from gradviz.render.legend import legend_dot
from gradviz.render.style import RenderOptions
from gradviz.render.svg import run_layout

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "build" / "docs-figures"
FORMATS = "svg,html"
#: Every docs figure is drawn without its legend, which is wider than a small graph and would shrink it to
#: an unreadable size in the page's column; the whole legend has a page of its own (legend.md).
DRAWING = ("--no-legend",)


@dataclass(frozen=True)
class Run:
    """One `gradviz trace` of an example; `publish` also puts some of its files at a fixed site path."""

    example: str
    options: tuple[str, ...] = ()
    formats: str = FORMATS
    publish: tuple[tuple[str, str], ...] = ()


# One run per concept page (the slugs of docs/concepts/), and the figures other pages show.
RUNS: dict[str, Run] = {
    "requires-grad": Run("examples/01_autograd_basics.py"),
    "leaves": Run("examples/13_leaves_and_retain_grad.py"),
    "scalar-backward": Run("examples/14_scalar_backward.py"),
    "vector-jacobian": Run(
        "examples/10_vector_jacobian.py", publish=(("backward-001.svg", "figures/vector-jacobian.svg"),)
    ),
    "accumulation": Run("examples/04_accumulation.py", ("--max-backward", "all")),
    "no-grad": Run("examples/02_no_grad_and_detach.py"),
    "detach": Run("examples/15_detach.py"),
    # The GAN's second call drawn in full is over twice the column's width: one box per module reads.
    "detach-modules": Run("examples/15_detach.py", ("--depth", "1"), formats="svg"),
    "data": Run("examples/03_data_edit.py"),
    "retain-graph": Run("examples/16_retain_graph.py", ("--max-backward", "all")),
    "training-loop": Run("examples/11_linear_regression.py"),
    "device": Run("examples/17_device.py"),
    "transformer-full": Run(
        "examples/12_transformer_modules.py",
        formats="svg",
        publish=(("backward-001.svg", "figures/transformer-full.svg"),),
    ),
    "transformer-depth3": Run(
        "examples/12_transformer_modules.py",
        ("--depth", "3"),
        formats="svg",
        publish=(("backward-001.svg", "figures/transformer-depth3.svg"),),
    ),
}

CONSOLE = "console.txt"
KINDS = "code|figure|player|console|text|legend"
MARKER = re.compile(rf"^<!-- gradviz:({KINDS})(?: (\S+?))?(?: (.*?))? -->$", re.M)
LEGEND = "figures/legend.svg"
SVG_WIDTH = re.compile(r'<svg width="([0-9.]+)pt"')
#: Widest drawing whose 9 pt text stays at 11 px or more in the column at 1280 px (938 px wide).
WIDE_PT = 760
LEGEND_PAGE = "legend.md"
# torch prints this where NumPy is absent, under plain python too: it is not gradviz's output.
NOISE = re.compile(r"^.*Failed to initialize NumPy.*\n(  cpu = .*\n)?", re.M)

_outputs: dict[str, Path] = {}


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Trace every example that changed since the last build, and add what the runs wrote to the site."""
    present = {name: run for name, run in RUNS.items() if (ROOT / run.example).is_file()}
    source = _source_hash()
    wanted = {name: CACHE / name / _key(run, source) for name, run in present.items()}
    stale = [name for name, folder in wanted.items() if not (folder / CONSOLE).is_file()]
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        for error in pool.map(lambda name: _trace(present[name], wanted[name]), stale):
            if error:
                raise PluginError(error)
    _outputs.clear()
    _outputs.update(wanted)
    _add(files, config, LEGEND, _draw_legend())
    for name, folder in wanted.items():
        for path in sorted(folder.iterdir()):
            if path.name != CONSOLE:
                _add(files, config, f"figures/{name}/{path.name}", path)
        for output, target in RUNS[name].publish:
            _add(files, config, target, folder / output)
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Replace the page's gradviz markers with the example's code, figures, player and console."""
    markers = list(MARKER.finditer(markdown))
    if any(m.group(1) in ("figure", "legend") for m in markers):
        # The drawings are wider than the text: the table of contents gives them its room.
        page.meta["hide"] = [*page.meta.get("hide", []), "toc"]
    figures = [m for m in markers if m.group(1) == "figure" and m.group(2).partition("/")[0] in _outputs]
    if any(_width_pt(m.group(2)) > WIDE_PT for m in figures):
        # A drawing wider than the column would shrink its text below 11 px: the navigation gives its room.
        page.meta["hide"] = [*page.meta["hide"], "navigation"]
    if figures:
        legend = posixpath.relpath(LEGEND_PAGE, posixpath.dirname(page.file.src_uri) or ".")
        first = figures[0]
        note = f"\n\n*Click a drawing to see it full size; [the legend]({legend}) explains the looks.*"
        markdown = markdown[: first.end()] + note + markdown[first.end() :]
    return MARKER.sub(lambda match: _expand(match, page, files), markdown)


def _expand(match: re.Match[str], page: Page, files: Files) -> str:
    kind, target, text = match.group(1), match.group(2) or "", match.group(3) or ""
    if kind == "legend":
        relative = posixpath.relpath(LEGEND, posixpath.dirname(page.file.src_uri) or ".")
        return _linked(relative, text or "gradviz's legend: every kind of node and edge")
    name, _, output = target.partition("/")
    if name not in RUNS:
        raise PluginError(f"{page.file.src_uri}: no gradviz run named {name!r} in docs/hooks/figures.py")
    run = RUNS[name]
    if name not in _outputs:
        return _pending(run, kind)
    if kind == "code":
        code = (ROOT / run.example).read_text(encoding="utf-8").rstrip()
        return f'```python title="{run.example}"\n{code}\n```'
    if kind == "console":
        console = NOISE.sub("", (_outputs[name] / CONSOLE).read_text(encoding="utf-8")).rstrip()
        console = console.replace(f"{ROOT}{os.sep}", "")  # torch's warnings name the script by its full path
        return f"```console\n$ {_command(run)}\n{console}\n```"
    if not (_outputs[name] / output).is_file():
        raise PluginError(f"{page.file.src_uri}: `{_command(run)}` wrote no {output!r}")
    src_uri = f"figures/{name}/{output}"
    if kind == "text":
        return "```text\n" + (_outputs[name] / output).read_text(encoding="utf-8").rstrip() + "\n```"
    relative = posixpath.relpath(src_uri, posixpath.dirname(page.file.src_uri) or ".")
    if kind == "figure":
        return _linked(relative, text or output)
    url = get_relative_url(files.get_file_from_path(src_uri).url, page.url)  # type: ignore[union-attr]
    return (
        f'<iframe class="gradviz-player" src="{url}" title="gradviz HTML player: {run.example}" '
        f'loading="lazy"></iframe>\n\n[Open the player on its own page]({relative}) (keys: → next, ← back, '
        "space play/pause)."
    )


def _width_pt(target: str) -> float:
    """The width a run's SVG is drawn at, in points (0 for a file that is not an SVG)."""
    name, _, output = target.partition("/")
    path = _outputs[name] / output
    if path.suffix != ".svg" or not path.is_file():
        return 0.0
    found = SVG_WIDTH.search(path.read_text(encoding="utf-8")[:2000])
    return float(found.group(1)) if found else 0.0


def _linked(src: str, alt: str) -> str:
    """An image that is also a link to itself: a click opens the SVG at its full size."""
    return f'[![{alt}]({src}){{ .gradviz-figure }}]({src} "Open the drawing full size")'


def _draw_legend() -> Path:
    """Draw the whole legend (every kind of node and edge) into the cache, from gradviz's own styles."""
    path = CACHE / "legend" / "legend.svg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(run_layout(legend_dot(options=RenderOptions(rankdir="LR")), "svg"))
    return path


def _pending(run: Run, kind: str) -> str:
    """What a marker says while its example is not in the checkout: one admonition, no link."""
    if kind not in ("code", "figure"):
        return ""
    what = "The example's code" if kind == "code" else "The figure"
    return (
        f'!!! note "{what} will appear here"\n'
        f"    `{run.example}` is not in this checkout yet. When it is, the site's build runs\n"
        f"    `{_command(run)}` and shows what it draws here."
    )


def _command(run: Run) -> str:
    return " ".join(["gradviz", "trace", *DRAWING, *run.options, run.example])


def _trace(run: Run, folder: Path) -> str | None:
    """Run `gradviz trace` on the example into `folder`; an error message if it did not go as planned."""
    with tempfile.TemporaryDirectory(prefix="gradviz-docs-") as scratch:
        out = Path(scratch) / "out"
        command = [sys.executable, "-m", "gradviz", "trace", *DRAWING, *run.options, "--format", run.formats]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "100"}
        done = subprocess.run(
            [*command, "--out", str(out), run.example],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=300,
            check=False,
        )
        console = done.stdout.replace(str(out), f"gradviz-out/{Path(run.example).stem}")
        if done.returncode != 0 or not out.is_dir():
            return f"`{_command(run)}` exited {done.returncode}:\n{console}"
        (out / CONSOLE).write_text(console, encoding="utf-8")
        if folder.parent.is_dir():
            shutil.rmtree(folder.parent)  # earlier keys of this run: only the newest is kept
        folder.parent.mkdir(parents=True)
        shutil.move(str(out), folder)
    return None


def _add(files: Files, config: MkDocsConfig, src_uri: str, path: Path) -> None:
    """Put a generated file into the site at `src_uri`, replacing a committed file of that name."""
    committed = files.get_file_from_path(src_uri)
    if committed is not None:
        files.remove(committed)
    files.append(File.generated(config, src_uri, abs_src_path=str(path)))


def _key(run: Run, source: str) -> str:
    digest = hashlib.sha256(source.encode())
    digest.update(repr((DRAWING, run.options, run.formats, sys.version_info[:2])).encode())
    digest.update((ROOT / run.example).read_bytes())
    return digest.hexdigest()[:16]


def _source_hash() -> str:
    """A hash of gradviz's code and assets: any change to what draws the figures draws them again."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "gradviz").rglob("*")):
        if path.is_file() and path.suffix in (".py", ".js", ".css", ".tcss"):
            digest.update(path.relative_to(ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()
