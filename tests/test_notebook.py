"""examples/notebook.ipynb run in a real Jupyter kernel, its outputs read as a user sees them."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "notebook.ipynb"


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """The notebook's code cells after running it top to bottom in its own folder."""
    try:
        import nbformat
        from nbclient import NotebookClient
    except ImportError as missing:
        pytest.fail(f"the notebook test needs {missing.name}: pip install -e '.[dev]'", pytrace=False)

    folder = tmp_path_factory.mktemp("notebook")
    shutil.copy(NOTEBOOK, folder)
    notebook = nbformat.read(folder / NOTEBOOK.name, as_version=4)
    NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def cell_with(cells: list[Any], text: str) -> Any:
    return next(cell for cell in cells if text in cell.source)


def test_the_graph_cell_shows_one_drawing_with_a_plain_text_fallback(cells: list[Any]) -> None:
    # Given: the cell whose last expression is gradviz.graph(out), before any backward
    outputs = cell_with(cells, "out = (y * y).sum()").outputs

    # Then: one output, the SVG, with the tree as the text/plain the notebook does not show beside it
    assert len(outputs) == 1, [output.output_type for output in outputs]
    data = outputs[0].data
    assert outputs[0].output_type == "execute_result"
    assert data["image/svg+xml"].lstrip().startswith("<?xml") and "SumBackward0" in data["image/svg+xml"]
    assert "graph behind out" in data["text/plain"]
    svg = data["image/svg+xml"]
    # the root has run nothing yet; y's double use is not a name like x2
    assert "not run yet" in svg and "v = None" not in svg
    assert "×2 (used twice)" in svg and not re.search(r">x2<", svg)


def test_backward_gives_torchs_gradient_and_explain_says_it(cells: list[Any]) -> None:
    # Given: what torch itself computes for the notebook's function
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    ((x * x) * (x * x)).sum().backward()
    assert x.grad is not None

    shown = cell_with(cells, "out.backward()").outputs[0].data["text/plain"]
    steps = "".join(output.text for output in cell_with(cells, "call.steps").outputs)
    explained = "".join(output.text for output in cell_with(cells, "gradviz.explain(x)").outputs)

    assert shown == str(x.grad)  # the notebook's x.grad, as torch prints it
    assert steps.count("step ") == 4 and "step 4: AccumulateGrad" in steps
    assert f"x.grad = {x.grad.tolist()}" in explained


def test_lines_are_named_by_cell_not_by_the_kernels_temporary_file(cells: list[Any]) -> None:
    drawing = cell_with(cells, "t.save(").outputs
    assert len(drawing) == 1 and "image/svg+xml" in drawing[0].data
    svg = drawing[0].data["image/svg+xml"]

    # the traced cell ran fourth: its nodes and its backward call are named by it, as IPython does
    assert "backward call #1 at In[4]:4: out.backward()" in svg
    assert {"In[4]:2", "In[4]:3"} <= set(re.findall(r">(In\[\d+\]:\d+)<", svg))
    everything = json.dumps([cell.outputs for cell in cells])
    # ipykernel runs each cell from a temporary file (ipykernel_<pid>/<hash>.py): that name never shows.
    # (A plain `import torch` may print its own path on stderr, wherever the environment lives.)
    assert re.search(r"ipykernel_\d+", everything) is None, everything[:2000]
