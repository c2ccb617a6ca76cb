"""The public Python API: gradviz.trace(), gradviz.graph(), gradviz.explain(), gradviz.load()."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest
import torch

import gradviz
from gradviz.errors import TraceFileError


def test_graph_snapshots_without_backward_and_names_the_users_variables() -> None:
    weight = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    inputs = torch.tensor([1.0, -1.0])
    hidden = weight @ inputs
    loss = hidden.tanh().sum()

    snapshot = gradviz.graph(loss)

    assert [node.name for node in snapshot.nodes] == [
        "SumBackward0",
        "TanhBackward0",
        "MvBackward0",
        "AccumulateGrad",
    ]
    labels = [node.tensor.label if node.tensor else None for node in snapshot.nodes]
    assert labels == ["loss", None, "hidden", "weight"]
    assert weight.grad is None  # a snapshot runs nothing
    assert snapshot.to_networkx().number_of_edges() == len(snapshot.edges) == 3
    assert nx.is_directed_acyclic_graph(snapshot.to_networkx())


def test_graph_renders_to_every_format() -> None:
    x = torch.tensor([2.0], requires_grad=True)
    y = (x * x).exp()
    snapshot = gradviz.graph(y)

    dot = snapshot.to_dot()
    assert "ExpBackward0" in dot and "AccumulateGrad" in dot
    data = json.loads(snapshot.to_json())
    assert [node["name"] for node in data["nodes"]] == ["ExpBackward0", "MulBackward0", "AccumulateGrad"]
    assert {(edge["from"], edge["to"]) for edge in data["edges"]} == {(0, 1), (1, 2)}
    assert "ExpBackward0" in str(snapshot)
    assert "graph behind y" in str(snapshot) and "v = " not in str(snapshot)  # nothing has run yet
    svg = snapshot.to_svg()
    assert svg.lstrip().startswith("<?xml") and "ExpBackward0" in svg
    bundle = snapshot._repr_mimebundle_()
    assert bundle["image/svg+xml"] == svg and "ExpBackward0" in bundle["text/plain"]


def test_graph_takes_the_slide_options_of_the_cli() -> None:
    x = torch.tensor([2.0], requires_grad=True)
    y = (x * x).exp()

    plain = gradviz.graph(y)
    slide = gradviz.graph(y, legend=False, rankdir="LR", theme="projector")

    assert "legend" in plain.to_dot() and "legend" not in slide.to_dot()
    assert "rankdir=TB" in plain.to_dot() and "rankdir=LR" in slide.to_dot()
    assert 'font-size="11.00"' in plain.to_svg() and 'font-size="17.00"' in slide.to_svg()
    assert "legend" not in slide._repr_mimebundle_()["image/svg+xml"]
    with pytest.raises(ValueError, match=r"^theme must be one of default, projector"):
        gradviz.graph(y, theme="dark")


def test_graph_of_a_tensor_outside_autograd_is_empty() -> None:
    snapshot = gradviz.graph(torch.ones(3))
    assert snapshot.nodes == () and snapshot.edges == ()


def test_trace_records_and_saves_what_the_cli_writes(tmp_path: Path) -> None:
    with gradviz.trace() as recording:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        (x**2).sum().backward()
    assert len(recording.backwards) == 1
    written = recording.save(tmp_path, formats=("svg", "dot"))
    names = sorted(path.name for path in written)
    assert names == ["backward-001.dot", "backward-001.svg", "trace.json"]
    loaded = gradviz.load(tmp_path / "trace.json")
    assert loaded == recording.result()
    assert loaded.backwards[0].nodes[-1].tensor is not None
    assert loaded.backwards[0].nodes[-1].tensor.label == "x"


def test_trace_locations_point_at_the_users_lines() -> None:
    with gradviz.trace() as recording:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = x.sin()
        y.sum().backward()
    call = recording.backwards[0]
    sin = next(node for node in call.nodes if node.name == "SinBackward0")
    assert sin.location is not None and sin.location.code == "y = x.sin()"
    assert sin.location.file.endswith("test_api.py")
    assert call.location is not None and call.location.code == "y.sum().backward()"


def test_explain_uses_the_trace_for_accumulated_grads() -> None:
    with gradviz.trace() as recording:
        w = torch.tensor([1.0, 2.0], requires_grad=True)
        loss = (w * 3).sum()
        loss.backward(retain_graph=True)
        loss.backward()
    text = gradviz.explain(w)
    assert text.startswith("w.grad = [6.0, 6.0] is the sum over 2 backward calls")
    assert "w was not updated in between: that is gradient accumulation" in text
    assert len(recording.backwards) == 2


def test_load_rejects_a_missing_or_foreign_file(tmp_path: Path) -> None:
    with pytest.raises(TraceFileError, match="cannot read"):
        gradviz.load(tmp_path / "missing.json")
    other = tmp_path / "other.json"
    other.write_text('{"schema": "something/9"}')
    with pytest.raises(TraceFileError):
        gradviz.load(other)


def test_importing_gradviz_loads_neither_torch_nor_the_tui() -> None:
    # `gradviz render` / `gradviz tui` must open a saved trace without paying for (or needing) torch
    code = "import sys, gradviz; print(*(m in sys.modules for m in ('torch', 'gradviz.tui', 'textual')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False", "False"]


def test_tracing_imports_no_renderer_until_a_drawing_is_asked_for() -> None:
    # Given a fresh process that traces a backward call inside `with gradviz.trace()`
    code = """
import sys, torch, gradviz
heavy = ("networkx", "graphviz", "rich", "textual", "gradviz.render.dot", "gradviz.output")
with gradviz.trace() as t:
    x = torch.ones(2, requires_grad=True)
    (x * 3).sum().backward()
print(*(name in sys.modules for name in heavy))
print(gradviz.graph(x * 2).to_dot().startswith("digraph"), "networkx" in sys.modules)
"""
    # When it has run
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    # Then none of the drawing modules (several MiB of the traced process) was loaded while it traced,
    # and a drawing still works when asked for
    first, second = result.stdout.splitlines()
    assert first.split() == ["False"] * 6
    assert second.split() == ["True", "False"]


def test_a_snapshot_inside_a_trace_shows_lines_and_what_was_not_recorded() -> None:
    with gradviz.trace():
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        with torch.no_grad():
            z = y + 1  # noqa: F841
        snapshot = gradviz.graph(y)
    (mul,) = [node for node in snapshot.nodes if node.name == "MulBackward0"]
    assert mul.location is not None and mul.location.code == "y = x * 2"
    (ghost,) = snapshot.graph.overlays
    assert ghost.kind == "no_grad" and ghost.attached_to == mul.id and ghost.label == "z"
    assert "no_grad" in snapshot.to_dot()


def test_graph_records_each_parameters_grad_as_torch_computes_it() -> None:
    # Given a model whose parameters hold gradients from one backward (big weights, small biases)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8))
    model(torch.randn(16, 32)).pow(2).mean().backward()
    loss = model(torch.randn(16, 32)).sum()

    # When the next loss is snapshotted
    leaves = {
        node.tensor.label: node.tensor.grad_after for node in gradviz.graph(loss).graph.leaves if node.tensor
    }

    # Then every leaf's recorded .grad is torch's own min, max, mean and norm of it
    for name, parameter in model.named_parameters():
        grad, recorded = parameter.grad, leaves[f"model.{name}"]
        assert recorded is not None and recorded.shape == tuple(grad.shape)
        assert (recorded.min, recorded.max) == (grad.min().item(), grad.max().item())
        assert recorded.mean == pytest.approx(grad.mean().item(), rel=1e-6)
        assert recorded.norm == pytest.approx(torch.linalg.vector_norm(grad).item(), rel=1e-6)
