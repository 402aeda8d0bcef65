"""float32 CPU convolutions on oneDNN (tinygrad_hw/_onednn.py): against torch on the layers the
models use, channels-last results, the cached primitives, thread counts, and the NumPy path they
fall back to (float64, switched off, or no library)."""
import platform
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import tinygrad_hw as thw
import tinygrad_hw.nn as nn
import tinygrad_hw.nn.functional as F
from tinygrad_hw import _onednn, backend
from tinygrad_hw.nn import _conv

TF = torch.nn.functional
WHEEL_PLATFORM = sys.platform == "linux" and platform.machine() == "x86_64"
needs_onednn = pytest.mark.skipif(not backend.onednn_available(),
                                  reason="oneDNN's library (onednn-cpu-gomp) is not installed")

# (x shape, w shape, stride, padding, dilation, groups, bias): ResNet-20's 3x3, its stride-2 and
# 1x1 downsampling, its first layer (one input channel), a grouped, a dilated and an uneven one
LAYERS = [
    ((6, 16, 12, 12), (16, 16, 3, 3), 1, 1, 1, 1, False),
    ((5, 16, 12, 12), (32, 16, 3, 3), 2, 1, 1, 1, False),
    ((5, 16, 12, 12), (32, 16, 1, 1), 2, 0, 1, 1, False),
    ((7, 1, 28, 28), (16, 1, 3, 3), 1, 1, 1, 1, True),
    ((3, 32, 9, 9), (32, 16, 3, 3), 1, 1, 1, 2, True),
    ((3, 16, 11, 10), (16, 16, 3, 2), (2, 3), (1, 0), (2, 1), 1, True),
    ((2, 16, 10, 10), (24, 16, 5, 5), 3, 2, 1, 1, True),
]
# LeNet-5's convs and other small ones stay on NumPy (see nn/_conv.py's ONEDNN_MIN_CHANNELS)
SMALL = [
    ((7, 1, 28, 28), (6, 1, 5, 5), 1, 0, 1, 1, True),
    ((7, 6, 12, 12), (16, 6, 5, 5), 1, 0, 1, 1, True),
    ((3, 8, 9, 9), (32, 2, 3, 3), 1, 1, 1, 4, True),
]


@pytest.fixture(autouse=True)
def _restore():
    threads, onednn = thw.get_num_threads(), backend.set_onednn(True)
    yield
    backend.set_onednn(onednn)
    thw.set_num_threads(threads)


def _run(layer, dtype=np.float32, seed=0):
    """(ours, torch's): output, input, weight and bias gradients of one layer under a drawn cotangent,
    and the path the conv took."""
    xs, ws, stride, padding, dilation, groups, bias = layer
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in (xs, ws, ws[:1])]
    x, w, b = [thw.tensor(a, requires_grad=True) for a in arrays]
    out = F.conv2d(x, w, b if bias else None, stride, padding, dilation, groups)
    path = type(getattr(out._ctx, "blocked", None)).__name__
    g = rng.standard_normal(out.shape).astype(dtype)
    out.backward(thw.tensor(g))
    ours = [out.numpy(), x.grad.numpy(), w.grad.numpy()] + ([b.grad.numpy()] if bias else [])
    tx, tw, tb = [torch.tensor(a, requires_grad=True) for a in arrays]
    ref = TF.conv2d(tx, tw, tb if bias else None, stride, padding, dilation, groups)
    ref.backward(torch.tensor(g))
    theirs = [ref.detach().numpy(), tx.grad.numpy(), tw.grad.numpy()] + ([tb.grad.numpy()] if bias else [])
    return ours, theirs, path, out


def _close(ours, theirs, rtol, atol):
    for a, r in zip(ours, theirs):
        scale = max(1.0, float(np.abs(r).max()))
        np.testing.assert_allclose(a, r, rtol=rtol, atol=atol * scale)


@pytest.mark.skipif(not WHEEL_PLATFORM, reason="the onednn-cpu-gomp wheel exists for x86-64 Linux only")
def test_onednn_is_there_where_its_wheel_installs():
    """The project depends on the wheel on x86-64 Linux: there the library must load, or every
    oneDNN test below would skip unnoticed."""
    assert _onednn._library_path() is not None
    assert backend.onednn_available()


@needs_onednn
@pytest.mark.parametrize("layer", LAYERS)
def test_layers_match_torch_on_onednn(layer):
    ours, theirs, path, _ = _run(layer)
    assert path == "_OneDNNConv"
    _close(ours, theirs, rtol=1e-4, atol=1e-5)


@needs_onednn
@pytest.mark.parametrize("layer", LAYERS)
def test_float64_and_switched_off_take_the_numpy_path(layer):
    ours64, theirs64, path64, _ = _run(layer, np.float64)
    assert path64 != "_OneDNNConv"
    _close(ours64, theirs64, rtol=1e-10, atol=1e-12)
    backend.set_onednn(False)
    ours, theirs, path, _ = _run(layer)
    assert path != "_OneDNNConv"
    _close(ours, theirs, rtol=1e-4, atol=1e-5)


@needs_onednn
def test_outputs_and_input_gradients_are_channels_last():
    layer = LAYERS[0]
    _, _, _, out = _run(layer)
    N, C, H, W = out.shape
    assert out._data.transpose(0, 2, 3, 1).flags.c_contiguous
    x = thw.randn(4, 16, 8, 8, requires_grad=True)
    y = F.conv2d(x, thw.randn(16, 16, 3, 3), padding=1)
    y.backward(thw.ones(*y.shape))
    assert x.grad._data.transpose(0, 2, 3, 1).flags.c_contiguous


@needs_onednn
def test_a_resnet_block_in_channels_last_matches_torch():
    """conv -> batch norm -> ReLU -> conv -> + shortcut -> ReLU, every tensor channels-last,
    against torch given the same weights, forward and all gradients (training mode)."""
    thw.manual_seed(0)
    ours = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8))
    ref = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1, bias=False), torch.nn.BatchNorm2d(8),
                              torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3, padding=1, bias=False),
                              torch.nn.BatchNorm2d(8))
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((6, 8, 10, 10)).astype(np.float32)
    tx, rx = thw.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = (ours(tx) + tx).relu()
    expect = (ref(rx) + rx).relu()
    (out * out).sum().backward()
    (expect * expect).sum().backward()
    np.testing.assert_allclose(out.numpy(), expect.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(tx.grad.numpy(), rx.grad.numpy(), rtol=1e-3, atol=1e-3)
    for (name, p), (_, r) in zip(ours.named_parameters(), ref.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), r.grad.numpy(), rtol=1e-3, atol=1e-3, err_msg=name)


@needs_onednn
@pytest.mark.parametrize("change", ["input", "weight"])
def test_an_in_place_change_before_backward_raises_as_in_torch(change):
    """The conv reads its channels-last input and its weight in place in backward, so changing
    either in between must raise (torch: 'modified by an inplace operation'), not give a wrong
    gradient."""
    x = thw.randn(2, 16, 6, 6, requires_grad=True)
    h = F.conv2d(x, thw.randn(16, 16, 3, 3), padding=1)        # channels-last, as the layers hand over
    w = thw.randn(16, 16, 3, 3, requires_grad=True)
    y = F.conv2d(h, w, padding=1)
    assert type(y._ctx.blocked).__name__ == "_OneDNNConv" and y._ctx.blocked.x is h._data
    tx = torch.randn(2, 16, 6, 6, requires_grad=True)
    th = TF.conv2d(tx, torch.randn(16, 16, 3, 3), padding=1)
    tw = torch.randn(16, 16, 3, 3, requires_grad=True)
    ty = TF.conv2d(th, tw, padding=1)
    with thw.no_grad():
        (h if change == "input" else w).mul_(2)
    with torch.no_grad():
        (th if change == "input" else tw).mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ty.sum().backward()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@needs_onednn
@pytest.mark.parametrize("threads", [1, 2])
def test_thread_counts_agree_up_to_summation_order(threads):
    thw.set_num_threads(2)
    two, _, _, _ = _run(LAYERS[0], seed=3)
    thw.set_num_threads(threads)
    again, theirs, path, _ = _run(LAYERS[0], seed=3)
    assert path == "_OneDNNConv" and _onednn.threads_wanted == threads
    _close(again, two, rtol=1e-5, atol=1e-6)
    _close(again, theirs, rtol=1e-4, atol=1e-5)


@needs_onednn
def test_primitives_are_made_once_per_geometry(monkeypatch):
    monkeypatch.setattr(_onednn, "_cache", type(_onednn._cache)())
    made = []
    real = _onednn._Conv
    monkeypatch.setattr(_onednn, "_Conv", lambda *a: made.append(a) or real(*a))
    for seed in range(3):
        _run(LAYERS[0], seed=seed)
    assert len(made) == 1
    monkeypatch.setattr(_onednn, "CACHE_SIZE", 2)
    for layer in LAYERS[1:4]:
        _run(layer)
    assert len(made) == 4 and len(_onednn._cache) == 2


@st.composite
def wide_layers(draw):
    """Geometries with 16-20 channels per group (so oneDNN takes them), then an input they fit."""
    groups = draw(st.integers(1, 2))
    cg, og = draw(st.integers(16, 20)), draw(st.integers(16, 20))
    k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    size = []
    for i in range(2):
        lo = max(1, dilation[i] * (k[i] - 1) + 1 - 2 * padding[i])
        size.append(draw(st.integers(lo, lo + 6)))
    return ((draw(st.integers(1, 3)), cg * groups) + tuple(size), (og * groups, cg) + k, stride, padding,
            dilation, groups, draw(st.booleans()))


@needs_onednn
@settings(max_examples=40, deadline=None)
@given(layer=wide_layers())
def test_drawn_geometries_match_torch_on_onednn(layer):
    ours, theirs, path, _ = _run(layer)
    assert path == "_OneDNNConv"
    _close(ours, theirs, rtol=1e-4, atol=1e-5)


@needs_onednn
@pytest.mark.parametrize("layer", SMALL)
def test_small_convs_stay_on_numpy(layer):
    ours, theirs, path, _ = _run(layer)
    assert path != "_OneDNNConv"
    _close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_without_the_library_the_numpy_path_runs(monkeypatch):
    monkeypatch.setattr(_onednn, "_lib", False)
    assert not backend.onednn_available()
    ours, theirs, path, _ = _run(LAYERS[0])
    assert path == "_ShiftedConv"
    _close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_geometries_onednn_refuses_take_the_numpy_path(monkeypatch):
    def refuse(*args):
        raise RuntimeError("oneDNN: convolution_forward_primitive_desc_create failed with status 3")
    monkeypatch.setattr(_onednn, "convolution", refuse)
    monkeypatch.setattr(_onednn, "_lib", _onednn._lib or object())
    ours, theirs, path, _ = _run(LAYERS[3])
    assert path != "_OneDNNConv"
    _close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_onednn_selection_leaves_other_dtypes_and_switch_alone():
    assert backend.onednn_convolution((1, 1, 4, 4), (1, 1, 3, 3), (1, 1, 2, 2), ((1, 1), (0, 0), (1, 1), 1),
                                      False, True, np.float64) is None
    backend.set_onednn(False)
    assert backend.onednn_convolution((1, 1, 4, 4), (1, 1, 3, 3), (1, 1, 2, 2), ((1, 1), (0, 0), (1, 1), 1),
                                      False, True, np.float32) is None
