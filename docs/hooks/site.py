"""mkdocs hook: the pages that live outside docs/ (README, CHANGELOG, examples/) and the links to them.

The site's home page is README.md itself, so the two never disagree. The examples are served as files
(with a generated list), and a link from any page to a file of the repository outside docs/ is pointed
at its copy in the site, so `mkdocs build --strict` finds every link.
"""

from __future__ import annotations

import ast
import os
import posixpath
import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
LINK = re.compile(r"(\]\()([^)\s]+)(\))")
# Repository files outside docs/ that the site carries, by their path in the site.
PAGES = {ROOT / "README.md": "index.md", ROOT / "CHANGELOG.md": "changelog.md", EXAMPLES: "examples.md"}


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the README as the home page, the CHANGELOG, the examples and a page listing them."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    files.append(File.generated(config, "index.md", content=rewrite_links(readme, ROOT, "")))
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    files.append(File.generated(config, "changelog.md", content=rewrite_links(changelog, ROOT, "")))
    files.append(File.generated(config, "examples.md", content=_examples_page()))
    for path in _examples():
        files.append(File.generated(config, f"examples/{path.name}", abs_src_path=str(path)))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Point the page's links to repository files outside docs/ at their copies in the site."""
    if page.file.generated_by:
        return markdown
    folder = posixpath.dirname(page.file.src_uri)
    return rewrite_links(markdown, DOCS / folder, folder)


def rewrite_links(markdown: str, written_in: Path, site_folder: str) -> str:
    """Rewrite relative links written from `written_in` so they work from `site_folder` in the site.

    A link into docs/ becomes relative to the page's place in the site; a link to README, CHANGELOG,
    examples/ or an example file goes to the site's copy. Other links are left as they are.
    """

    def replace(match: re.Match[str]) -> str:
        target = match.group(2)
        if "://" in target or target.startswith(("#", "mailto:")):
            return match.group(0)
        path, hash_, anchor = target.partition("#")
        resolved = Path(os.path.normpath(written_in / path))
        in_site = _site_path(resolved)
        if in_site is None:
            return match.group(0)
        relative = posixpath.relpath(in_site, site_folder or ".")
        return f"{match.group(1)}{relative}{hash_}{anchor}{match.group(3)}"

    return LINK.sub(replace, markdown)


def _site_path(path: Path) -> str | None:
    if path in PAGES:
        return PAGES[path]
    if path.is_relative_to(DOCS):
        return path.relative_to(DOCS).as_posix()
    if path.parent == EXAMPLES and path.is_file():
        return f"examples/{path.name}"
    return None


def _examples() -> list[Path]:
    return sorted(path for path in EXAMPLES.iterdir() if path.is_file() and not path.name.startswith("."))


def _examples_page() -> str:
    """A table of the examples, each with the first line of its docstring."""
    lines = [
        "# Examples",
        "",
        "Short teaching scripts, each runnable with plain `python` and with `gradviz trace`. The concept",
        "pages show what gradviz draws for them.",
        "",
        "| example | what it shows |",
        "|---|---|",
    ]
    for path in _examples():
        summary = ""
        if path.suffix == ".py":
            docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            summary = docstring.strip().split("\n\n")[0].replace("\n", " ").replace("|", "\\|")
        lines.append(f"| [{path.name}](examples/{path.name}) | {summary} |")
    return "\n".join(lines) + "\n"
