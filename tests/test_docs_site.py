"""The docs site's hooks: one page per concept with its run, README links that work in the site, and a
missing example that reads as a note rather than a broken link. `mkdocs build --strict` itself runs in
.ci/run (it traces every example, too slow for a unit test)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONCEPTS = {
    "requires-grad",
    "leaves",
    "scalar-backward",
    "vector-jacobian",
    "accumulation",
    "no-grad",
    "detach",
    "data",
    "retain-graph",
    "training-loop",
    "device",
}


def hook(name: str) -> ModuleType:
    """A module of docs/hooks/, loaded from its file as mkdocs loads it."""
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", ROOT / "docs" / "hooks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_concept_has_a_page_in_the_nav_and_a_run_of_its_example() -> None:
    pages = {path.stem for path in (ROOT / "docs" / "concepts").glob("*.md")}
    in_nav = set(re.findall(r"concepts/([\w-]+)\.md", (ROOT / "mkdocs.yml").read_text(encoding="utf-8")))
    runs = hook("figures").RUNS

    assert pages == CONCEPTS
    assert in_nav == CONCEPTS
    for slug in CONCEPTS:
        # Then: each page shows its own run's code and figure
        text = (ROOT / "docs" / "concepts" / f"{slug}.md").read_text(encoding="utf-8")
        assert f"<!-- gradviz:code {slug} -->" in text, slug
        assert f"<!-- gradviz:figure {slug}/" in text, slug
        assert runs[slug].example.startswith("examples/"), slug


def test_a_missing_example_becomes_a_note_not_a_link(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given: a run whose example is not in the checkout
    figures = hook("figures")
    monkeypatch.setitem(figures.RUNS, "later", figures.Run("examples/99_not_written_yet.py"))
    page = SimpleNamespace(file=SimpleNamespace(src_uri="concepts/later.md"), url="concepts/later/", meta={})
    markdown = "<!-- gradviz:code later -->\n\n<!-- gradviz:figure later/backward-001.svg A call -->\n"

    # When: the page's markers are expanded
    expanded = figures.on_page_markdown(markdown, page, None, None)

    # Then: two admonitions naming the file and the command, and nothing that links to a figure
    assert expanded.count("!!! note") == 2
    assert "`gradviz trace --no-legend examples/99_not_written_yet.py`" in expanded
    assert "](" not in expanded and "<!--" not in expanded


def test_readme_links_lead_to_site_pages() -> None:
    site = hook("site")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    rewritten = site.rewrite_links(readme, ROOT, "")

    links = re.findall(r"\]\(([^)\s]+)\)", rewritten)
    targets = [link for link in links if "://" not in link and not link.startswith("#")]
    assert "cli.md#torchrun--ddp" in targets
    for target in targets:
        path = target.partition("#")[0]
        # every link goes to a page in docs/ or to one the hook adds (home, changelog, examples)
        assert (ROOT / "docs" / path).is_file() or path in {"index.md", "changelog.md", "examples.md"}, target
