"""thw.viz: the DOT text of a known graph, drawing, and that reading the graph changes nothing."""
import doctest
import re
import shutil

import numpy as np
import pytest

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from tinygrad_hw import nn


def _graph(dot):
    """(labels by node, set of (src label, dst label) edges) parsed from our DOT output."""
    labels = {m.group(1): m.group(2) for m in re.finditer(r'^\s+(t\d+) \[label="([^"]*)"', dot, re.M)}
    edges = [(labels[a], labels[b]) for a, b in re.findall(r"^\s+(t\d+) -> (t\d+);", dot, re.M)]
    return labels, edges


def test_two_layer_mlp_graph_has_its_ops_leaves_and_edges():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    loss = F.cross_entropy(model(thw.randn(5, 4)), thw.tensor([0, 1, 0, 1, 1]))
    dot = thw.viz.to_dot(loss, params=dict(model.named_parameters()), show_shapes=False)
    labels, edges = _graph(dot)
    assert sorted(labels.values()) == sorted(
        ["CrossEntropy", "Linear", "ReLU", "Linear", "0.weight", "0.bias", "2.weight", "2.bias"])
    assert len(edges) == 7
    for leaf, op in [("0.weight", "Linear"), ("0.bias", "Linear"), ("2.weight", "Linear"),
                     ("2.bias", "Linear"), ("ReLU", "Linear"), ("Linear", "ReLU"),
                     ("Linear", "CrossEntropy")]:
        assert (leaf, op) in edges
    assert dot.startswith("digraph {") and dot.rstrip().endswith("}")


def test_shapes_dtypes_and_saved_arrays_are_shown():
    x = thw.randn(3, 4, dtype=thw.float64, requires_grad=True)
    y = (x * x).relu().sum()
    dot = thw.viz.to_dot(y, params={"x": x}, show_saved=True)
    assert '"x\\n(3, 4) float64"' in dot
    assert "ReLU\\n(3, 4) float64" in dot and "Sum\\n() float64" in dot
    assert "saved out: (3, 4) float64" in dot          # what ReLU keeps for its backward
    labels, edges = _graph(dot)
    assert edges.count(("x\\n(3, 4) float64", next(v for v in labels.values() if v.startswith("Mul")))) == 2


def test_reading_the_graph_frees_nothing_and_backward_still_works():
    w = thw.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = (w * w * 2).sum()
    thw.viz.to_dot(y)
    thw.viz.to_dot(y)
    y.backward()
    np.testing.assert_allclose(w.grad.numpy(), 4 * w.numpy())
    with pytest.raises(RuntimeError, match="freed by backward"):
        thw.viz.to_dot(y)


def test_deep_chain_does_not_recurse():
    x = thw.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    dot = thw.viz.to_dot(y, show_shapes=False)
    assert dot.count("-> ") == 5000


def test_tensor_without_graph_is_one_node():
    labels, edges = _graph(thw.viz.to_dot(thw.ones(2)))
    assert list(labels.values()) == ["leaf\\n(2,) float32"] and edges == []


def test_draw_writes_dot_and_reports_missing_graphviz(tmp_path, monkeypatch):
    w = thw.ones(2, requires_grad=True)
    y = (w * 3).sum()
    out = thw.viz.draw(y, tmp_path / "g.dot", params={"w": w})
    assert out.read_text() == thw.viz.to_dot(y, params={"w": w})
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        thw.viz.draw(y, tmp_path / "h.svg")
    assert (tmp_path / "h.dot").exists()
    with pytest.raises(ValueError, match=r"\.dot, \.svg or \.png"):
        thw.viz.draw(y, tmp_path / "h.pdf")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
def test_draw_renders_svg(tmp_path):
    w = thw.ones(2, requires_grad=True)
    path = thw.viz.draw((w * 3).sum(), tmp_path / "g.svg", params={"w": w})
    svg = path.read_text()
    assert "<svg" in svg and ">Mul<" in svg and ">w<" in svg


def test_docstring_example():
    assert doctest.testmod(thw.viz).failed == 0
