"""float32 CPU convolutions and batch norms on oneDNN (tinygrad_hw/_onednn.py): against torch on
the layers the models use, channels-last results, the cached primitives, thread counts, and the
NumPy path they fall back to (float64, switched off, or no library)."""
import platform
import sys

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings, strategies as st

import tinygrad_hw as thw
import tinygrad_hw.nn as nn
import tinygrad_hw.nn.functional as F
from tinygrad_hw import _onednn, backend
from tinygrad_hw.testing.strategies import conv_geometries

TF = torch.nn.functional
WHEEL_PLATFORM = sys.platform == "linux" and platform.machine() == "x86_64"
needs_onednn = pytest.mark.skipif(not backend.onednn_available(),
                                  reason="oneDNN's library (onednn-cpu-gomp) is not installed")

# (x shape, w shape, stride, padding, dilation, groups, bias): ResNet-20's 3x3, its stride-2 and
# 1x1 downsampling, its first layer (one input channel), LeNet-5's two, a grouped, a dilated, an
# uneven one, and thin grouped ones
LAYERS = [
    ((6, 16, 12, 12), (16, 16, 3, 3), 1, 1, 1, 1, False),
    ((5, 16, 12, 12), (32, 16, 3, 3), 2, 1, 1, 1, False),
    ((5, 16, 12, 12), (32, 16, 1, 1), 2, 0, 1, 1, False),
    ((7, 1, 28, 28), (16, 1, 3, 3), 1, 1, 1, 1, True),
    ((7, 1, 28, 28), (6, 1, 5, 5), 1, 0, 1, 1, True),
    ((7, 6, 12, 12), (16, 6, 5, 5), 1, 0, 1, 1, True),
    ((3, 32, 9, 9), (32, 16, 3, 3), 1, 1, 1, 2, True),
    ((3, 16, 11, 10), (16, 16, 3, 2), (2, 3), (1, 0), (2, 1), 1, True),
    ((2, 16, 10, 10), (24, 16, 5, 5), 3, 2, 1, 1, True),
    ((3, 8, 9, 9), (32, 2, 3, 3), 1, 1, 1, 4, True),
    ((2, 6, 7, 7), (6, 1, 3, 3), 1, 1, 1, 6, False),
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
    y = F.conv2d(thw.randn(*LAYERS[0][0]), thw.randn(*LAYERS[0][1], requires_grad=True), padding=1)
    assert path == "_OneDNNConv" and y._ctx.blocked.conv.threads == threads
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
def drawn_layers(draw):
    """A geometry from thw.testing's conv_geometries with up to 20 channels per group, as a LAYERS row."""
    g = draw(conv_geometries(max_kernel=5, max_stride=3, max_extra=6, max_channels=20, max_groups=3))
    x = (g["batch"], g["in_channels"]) + g["size"]
    w = (g["out_channels"], g["in_channels"] // g["groups"]) + g["kernel"]
    return x, w, g["stride"], g["padding"], g["dilation"], g["groups"], draw(st.booleans())


@needs_onednn
@settings(max_examples=40, deadline=None)
@given(layer=drawn_layers())
def test_drawn_geometries_match_torch_on_onednn(layer):
    ours, theirs, path, _ = _run(layer)
    assert path == "_OneDNNConv"
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


# --- batch norm of channels-last arrays (what oneDNN's convs hand on) ---------------------------
def _channels_last(a):
    return thw.Tensor._wrap(np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2),
                            thw.device("cpu"))


def _batch_last(a):
    order = tuple(range(1, a.ndim)) + (0,)
    back = (a.ndim - 1,) + tuple(range(a.ndim - 1))
    return thw.Tensor._wrap(np.ascontiguousarray(a.transpose(order)).transpose(back), thw.device("cpu"))


LAYOUTS = {"channels_last": _channels_last, "contiguous": thw.tensor, "batch_last": _batch_last}


def _layout(a):
    """The strides of an array's axes longer than 1 (the others' strides do not matter)."""
    return tuple(st for st, n in zip(a.strides, a.shape) if n > 1)


def _bn_run(shape, training, affine, dtype=np.float32, layout="channels_last", seed=0, momentum=0.1):
    """(ours, torch's, whether oneDNN ran): output, running mean and variance, and in training
    the input, weight and bias gradients under a drawn cotangent; the output and the input
    gradient keep the input's memory layout."""
    rng = np.random.default_rng(seed)
    C = shape[1]
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    w, b = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
    rm, rv = rng.standard_normal(C).astype(dtype), rng.uniform(0.5, 2, C).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    xt = LAYOUTS[layout](x).requires_grad_(training)
    wt, bt = (thw.tensor(w, requires_grad=training), thw.tensor(b, requires_grad=training)) if affine else (None, None)
    rmt, rvt = thw.tensor(rm), thw.tensor(rv)
    out = F.batch_norm(xt, rmt, rvt, wt, bt, training=training, momentum=momentum)
    tx = torch.tensor(x, requires_grad=training)
    tw, tb = (torch.tensor(w, requires_grad=training), torch.tensor(b, requires_grad=training)) if affine else (None, None)
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    ref = TF.batch_norm(tx, trm, trv, tw, tb, training=training, momentum=momentum)
    ours, theirs = [out.numpy(), rmt.numpy(), rvt.numpy()], [ref.detach().numpy(), trm.numpy(), trv.numpy()]
    ran = out._ctx is not None and out._ctx.onednn is not None     # (backward frees the node)
    if training:
        out.backward(thw.tensor(g))
        ref.backward(torch.tensor(g))
        ours += [xt.grad.numpy()] + ([wt.grad.numpy(), bt.grad.numpy()] if affine else [])
        theirs += [tx.grad.numpy()] + ([tw.grad.numpy(), tb.grad.numpy()] if affine else [])
        assert _layout(out._data) == _layout(xt._data) == _layout(xt.grad._data)
    return ours, theirs, ran


BN_SHAPES = [(8, 16, 7, 6), (5, 32, 14, 14), (3, 5, 2, 1), (2, 64, 1, 1)]


@needs_onednn
@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_batch_norm_of_channels_last_matches_torch_on_onednn(shape, affine):
    """Training: output, running statistics (the variance's unbiased), all gradients."""
    ours, theirs, ran = _bn_run(shape, training=True, affine=affine)
    assert ran
    _close(ours, theirs, rtol=1e-4, atol=1e-5)


@needs_onednn
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_batch_norm_inference_on_onednn_reads_the_running_statistics(affine):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 16, 5, 5)).astype(np.float32)
    rm, rv = rng.standard_normal(16).astype(np.float32), rng.uniform(0.5, 2, 16).astype(np.float32)
    w, b = rng.standard_normal(16).astype(np.float32), rng.standard_normal(16).astype(np.float32)
    calls = []
    real = backend.onednn_batch_norm
    with thw.no_grad():
        backend.onednn_batch_norm = lambda *a: calls.append(a) or real(*a)
        try:
            out = F.batch_norm(_channels_last(x), thw.tensor(rm), thw.tensor(rv),
                               thw.tensor(w) if affine else None, thw.tensor(b) if affine else None)
        finally:
            backend.onednn_batch_norm = real
    ref = TF.batch_norm(torch.tensor(x), torch.tensor(rm), torch.tensor(rv),
                        torch.tensor(w) if affine else None, torch.tensor(b) if affine else None)
    assert len(calls) == 1 and calls[0][4] is False          # training=False: global statistics
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5)


@needs_onednn
@pytest.mark.parametrize("case", ["contiguous", "batch_last", "float64", "switched_off", "eval_with_grad"])
def test_batch_norm_elsewhere_keeps_the_numpy_path(case):
    if case == "switched_off":
        backend.set_onednn(False)
    training = case != "eval_with_grad"
    if case == "eval_with_grad":      # eval needs no batch statistics; its gradient is scale * g
        rng = np.random.default_rng(2)
        x = rng.standard_normal((3, 16, 4, 4)).astype(np.float32)
        xt, tx = _channels_last(x).requires_grad_(), torch.tensor(x, requires_grad=True)
        out = F.batch_norm(xt, thw.zeros(16), thw.ones(16), thw.ones(16) * 2)
        ref = TF.batch_norm(tx, torch.zeros(16), torch.ones(16), torch.ones(16) * 2)
        assert out._ctx.onednn is None
        out.backward(thw.ones(*out.shape))
        ref.backward(torch.ones_like(ref))
        np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
        return
    dtype = np.float64 if case == "float64" else np.float32
    ours, theirs, ran = _bn_run((6, 16, 5, 4), training=training, affine=True, dtype=dtype,
                                layout=case if case in ("contiguous", "batch_last") else "channels_last")
    assert not ran
    _close(ours, theirs, rtol=1e-10 if dtype == np.float64 else 1e-4, atol=1e-12 if dtype == np.float64 else 1e-5)


@needs_onednn
def test_batch_norm_input_changed_in_place_before_backward_raises():
    h = F.conv2d(thw.randn(2, 16, 6, 6, requires_grad=True), thw.randn(16, 16, 3, 3), padding=1)
    y = F.batch_norm(h, None, None, thw.ones(16, requires_grad=True), thw.zeros(16, requires_grad=True),
                     training=True)
    assert y._ctx.onednn is not None and y._ctx.x is h._data
    with thw.no_grad():
        h.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@needs_onednn
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 6), c=st.integers(1, 40), h=st.integers(1, 9), w=st.integers(1, 9),
       affine=st.booleans(), momentum=st.floats(0.0, 1.0))
def test_drawn_batch_norms_match_torch_on_onednn(n, c, h, w, affine, momentum):
    assume(n * h * w >= 2)       # training needs two values a channel
    ours, theirs, ran = _bn_run((n, c, h, w), training=True, affine=affine, momentum=momentum)
    assert ran
    _close(ours, theirs, rtol=1e-4, atol=1e-4)


@needs_onednn
@pytest.mark.parametrize("threads", [1, 2])
def test_batch_norm_thread_counts_agree_up_to_summation_order(threads):
    thw.set_num_threads(2)
    two, _, _ = _bn_run((16, 16, 12, 12), training=True, affine=True, seed=5)
    thw.set_num_threads(threads)
    again, theirs, ran = _bn_run((16, 16, 12, 12), training=True, affine=True, seed=5)
    y = F.batch_norm(_channels_last(np.ones((2, 16, 3, 3), np.float32)).requires_grad_(), None, None,
                     training=True)
    assert ran and y._ctx.onednn.threads == threads
    _close(again, two, rtol=1e-5, atol=1e-6)
    _close(again, theirs, rtol=1e-4, atol=1e-5)


# --- max pooling of channels-last arrays ----------------------------------------------------
# (x shape, kernel, stride, padding, dilation, integer-valued input: many tied maxima)
POOLS = [
    ((4, 6, 24, 24), 2, 2, 0, 1, False),
    ((4, 6, 24, 24), 2, 2, 0, 1, True),
    ((3, 5, 9, 8), 3, 2, 1, 1, True),
    ((2, 3, 10, 10), 3, 1, 0, 2, False),
    ((2, 16, 8, 8), 2, 2, 0, 1, False),
    ((2, 4, 7, 7), (3, 2), (1, 2), (1, 0), 1, True),
]


def _pool_run(case, channels_last=True, dtype=np.float32, x=None):
    """(ours, torch's, whether oneDNN ran): output and input gradient of max_pool2d."""
    shape, k, s, p, d, ties = case
    rng = np.random.default_rng(0)
    if x is None:
        x = rng.standard_normal(shape)
        x = (np.round(x) if ties else x).astype(dtype)
    xt = (_channels_last(x) if channels_last else thw.tensor(x)).requires_grad_()
    out = F.max_pool2d(xt, k, s, p, d)
    ran = out._ctx.onednn is not None
    g = rng.standard_normal(out.shape).astype(dtype)
    out.backward(thw.tensor(g))
    tx = torch.tensor(x, requires_grad=True)
    ref = TF.max_pool2d(tx, k, s, p, d)
    ref.backward(torch.tensor(g))
    return [out.numpy(), xt.grad.numpy()], [ref.detach().numpy(), tx.grad.numpy()], ran


@needs_onednn
@pytest.mark.parametrize("case", POOLS)
def test_max_pool_of_channels_last_matches_torch_on_onednn(case):
    """Ties go to the first maximum of a window in row-major order, as torch's."""
    ours, theirs, ran = _pool_run(case)
    assert ran
    _close(ours, theirs, rtol=1e-6, atol=1e-6)


@needs_onednn
@pytest.mark.parametrize("where", ["max", "other"])
def test_max_pool_with_nan_keeps_the_numpy_path_and_propagates_it(where):
    """oneDNN's maximum skips a NaN, torch's propagates it: such an input runs on NumPy."""
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 4)).astype(np.float32)
    x[0, 0, 0, 0 if where == "max" else 1] = np.nan
    ours, theirs, ran = _pool_run(((2, 3, 4, 4), 2, 2, 0, 1, False), x=x)
    assert not ran and np.isnan(ours[0][0, 0, 0, 0]) and np.isnan(theirs[0][0, 0, 0, 0])
    np.testing.assert_array_equal(ours[0], theirs[0])


@needs_onednn
@pytest.mark.parametrize("case", ["nchw", "float64"])
def test_max_pool_elsewhere_keeps_the_numpy_path(case):
    ours, theirs, ran = _pool_run(POOLS[1], channels_last=case != "nchw",
                                  dtype=np.float64 if case == "float64" else np.float32)
    assert not ran
    _close(ours, theirs, rtol=1e-12, atol=1e-12)


@needs_onednn
def test_windows_in_the_padding_alone_keep_the_numpy_path():
    """Padded and dilated windows can miss the input: torch's maximum there is -inf (oneDNN's would
    be -FLT_MAX) and no input position gets their gradient. (Not against torch's backward: for
    such windows it writes outside its gradient's memory.)"""
    x = np.arange(2.0, dtype=np.float32).reshape(1, 2, 1, 1)
    xt = _channels_last(x).requires_grad_()
    out = F.max_pool2d(xt, 2, 1, 1, 2)
    assert out._ctx.onednn is None
    ref = TF.max_pool2d(torch.tensor(x), 2, 1, 1, 2)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    assert np.isneginf(out.numpy()).all()
    out.backward(thw.ones(*out.shape))
    np.testing.assert_array_equal(xt.grad.numpy(), np.zeros_like(x))


@needs_onednn
@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 20), k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       s=st.tuples(st.integers(1, 3), st.integers(1, 3)), d=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       extra=st.tuples(st.integers(0, 5), st.integers(0, 5)), pad=st.data(), ties=st.booleans())
def test_drawn_max_pools_match_torch_on_onednn(n, c, k, s, d, extra, pad, ties):
    p = tuple(pad.draw(st.integers(0, k[i] // 2)) for i in range(2))     # torch: padding <= k/2
    size = tuple(d[i] * (k[i] - 1) + 1 - 2 * p[i] + extra[i] for i in range(2))
    assume(min(size) >= 1)
    # padded and dilated windows can miss the input, and torch's backward then writes outside its
    # gradient's memory (heap corruption): those run on NumPy anyway (test above)
    assume(not (any(p) and max(d) > 1))
    ours, theirs, ran = _pool_run(((n, c) + size, k, s, p, d, ties))
    assert ran
    _close(ours, theirs, rtol=1e-6, atol=1e-6)


@needs_onednn
def test_max_pool_input_changed_in_place_before_backward_raises():
    h = F.conv2d(thw.randn(2, 1, 8, 8, requires_grad=True), thw.randn(6, 1, 3, 3))
    y = F.max_pool2d(h, 2)
    assert y._ctx.onednn is not None
    with thw.no_grad():
        h.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# --- BLAS on one thread while oneDNN's threads run ----------------------------------------------
needs_blas = pytest.mark.skipif(not backend._blas(), reason="threadpoolctl finds no BLAS to control")


@needs_onednn
@needs_blas
def test_blas_holds_one_thread_while_onednn_runs_and_gets_them_back(monkeypatch):
    monkeypatch.setattr(backend, "BLAS_QUIET_S", 0.05)
    monkeypatch.setattr(backend, "_onednn_until", 0.0)     # earlier tests' oneDNN ops long past
    thw.set_num_threads(2)
    backend.blas_ready()
    lib = backend._blas()[0]
    x = thw.randn(8, 16, 10, 10, requires_grad=True)
    lin = nn.Linear(32, 32)
    a = thw.randn(64, 32)
    assert lib.get_num_threads() == 2
    F.conv2d(x, thw.randn(16, 16, 3, 3), padding=1).sum().backward()
    assert lib.get_num_threads() == 1                 # oneDNN's two threads ran
    lin(a)
    assert lib.get_num_threads() == 1                 # within BLAS_QUIET_S of the conv
    thw.set_num_threads(2)                            # kept for later, BLAS stays at one meanwhile
    assert lib.get_num_threads() == 1
    import time
    time.sleep(0.08)
    out = lin(a)
    assert lib.get_num_threads() == 2                 # idle long enough: the Linear took them back
    ref = torch.nn.functional.linear(torch.tensor(a.numpy()), torch.tensor(lin.weight.numpy()),
                                     torch.tensor(lin.bias.numpy()))
    np.testing.assert_allclose(out.detach().numpy(), ref.numpy(), rtol=1e-5, atol=1e-5)
    thw.set_num_threads(1)
    F.conv2d(x, thw.randn(16, 16, 3, 3), padding=1)
    assert lib.get_num_threads() == 1 and backend._blas_quiet is None     # one thread: no hand-over
