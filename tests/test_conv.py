"""conv2d against torch on hypothesis-drawn geometries (valid by construction), its finite-difference
gradient, its fast paths (1x1, batch-last input, no input gradient) and its errors."""
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from tinygrad_hw import backend
from oracle import compare

TF = torch.nn.functional
# float32 sums up to 150 products per output: a little looser than the oracle's defaults
F32_TOL = dict(rtol=2e-4, atol=1e-4, grad_rtol=2e-4, grad_atol=2e-4)


@st.composite
def conv_cases(draw):
    """Geometry first (kernel, stride, dilation, padding), then an input size it fits."""
    groups = draw(st.integers(1, 3))
    cg = draw(st.integers(1, 6 // groups))
    og = draw(st.integers(1, 6 // groups))
    n = draw(st.integers(1, 3))
    k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    size = []
    for i in range(2):
        dk = d[i] * (k[i] - 1) + 1
        lo = max(1, dk - 2 * p[i])
        size.append(draw(st.integers(lo, lo + 6)))
    bias = draw(st.booleans())
    layout = draw(st.sampled_from(["c", "batch_last", "channel_major", "f"]))
    return dict(groups=groups, x=(n, cg * groups) + tuple(size), w=(og * groups, cg) + k,
                stride=s, dilation=d, padding=p, bias=bias, layout=layout)


def _arrays(case, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case["x"]).astype(dtype)
    if case["layout"] == "batch_last":         # the memory layout conv2d itself returns
        x = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    elif case["layout"] == "channel_major":
        x = np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    elif case["layout"] == "f":
        x = np.asfortranarray(x)
    w = rng.standard_normal(case["w"]).astype(dtype)
    arrays = [x, w]
    if case["bias"]:
        arrays.append(rng.standard_normal(case["w"][0]).astype(dtype))
    return arrays


@pytest.mark.parametrize("onednn", [True, False], ids=["onednn", "numpy"])
@given(case=conv_cases(), dtype=st.sampled_from([np.float64, np.float32]))
def test_conv2d_matches_torch(device, case, dtype, onednn):
    """float32 CPU convs run on oneDNN where installed (tinygrad_hw/_onednn.py), or on NumPy."""
    tol = F32_TOL if dtype == np.float32 else {}
    old = backend.set_onednn(onednn)
    try:
        compare(F.conv2d, _arrays(case, dtype), torch_fn=TF.conv2d, device=device, stride=case["stride"],
                padding=case["padding"], dilation=case["dilation"], groups=case["groups"], **tol)
    finally:
        backend.set_onednn(old)


@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2), dict(stride=(1, 2), padding=1)])
def test_conv2d_1x1(device, kwargs):
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((3, 5, 6, 7)), rng.standard_normal((4, 5, 1, 1)), rng.standard_normal(4)
    compare(F.conv2d, [x, w, b], torch_fn=TF.conv2d, device=device, **kwargs)


@pytest.mark.parametrize("xshape, wshape, kwargs", [
    ((2, 8, 6, 7), (16, 8, 3, 3), dict(padding=1)),       # a weight too big for the per-row weight gradient
    ((3, 2, 3, 5), (4, 2, 3, 2), {}),                     # a single output row
    ((2, 4, 5, 5), (6, 2, 2, 2), dict(groups=2, stride=2)),
])
def test_conv2d_weight_gradient_paths(device, xshape, wshape, kwargs):
    rng = np.random.default_rng(6)
    compare(F.conv2d, [rng.standard_normal(xshape), rng.standard_normal(wshape), rng.standard_normal(wshape[0])],
            torch_fn=TF.conv2d, device=device, **kwargs)


@pytest.mark.parametrize("xshape, wshape, kwargs", [
    # stride 1 with Og <= Cg: the input gradient as a convolution of the padded output gradient
    ((2, 6, 7, 6), (6, 6, 3, 3), dict(padding=1)),
    ((2, 6, 8, 7), (4, 3, 3, 2), dict(groups=2, padding=(2, 0), dilation=(2, 1))),
    ((3, 4, 6, 6), (2, 4, 5, 5), {}),
    # col2im: more output than input channels, padding beyond the kernel, stride 2
    ((2, 3, 6, 6), (5, 3, 3, 3), dict(padding=1)),
    ((2, 4, 5, 5), (4, 4, 2, 2), dict(padding=2)),
    ((2, 4, 7, 7), (4, 4, 3, 3), dict(stride=2, padding=1)),
])
def test_conv2d_input_gradient_paths(device, xshape, wshape, kwargs):
    rng = np.random.default_rng(8)
    compare(F.conv2d, [rng.standard_normal(xshape), rng.standard_normal(wshape)], torch_fn=TF.conv2d,
            device=device, **kwargs)


def test_conv2d_chain_in_batch_last_layout(device):
    """conv2d's output (a batch-last view) feeds a second conv, a 1x1 conv and a flatten."""
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(s) for s in [(2, 3, 8, 8), (4, 3, 3, 3), (4, 4, 3, 3), (5, 4, 1, 1)]]

    def net(conv):
        def f(x, w1, w2, w3):
            h = conv(x, w1, padding=1).relu()
            h = conv(h, w2, stride=2, padding=1)
            return conv(h, w3).reshape(2, -1)
        return f
    compare(net(F.conv2d), arrays, torch_fn=net(TF.conv2d), device=device)


def test_conv2d_first_layer_gives_weight_grad_only(device):
    rng = np.random.default_rng(3)
    x = thw.tensor(rng.standard_normal((2, 1, 6, 6)), device=device)
    w = thw.tensor(rng.standard_normal((3, 1, 3, 3)), device=device, requires_grad=True)
    F.conv2d(x, w).sum().backward()
    assert x.grad is None
    ref_w = torch.tensor(w.numpy(), requires_grad=True)
    TF.conv2d(torch.tensor(x.numpy()), ref_w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), ref_w.grad.numpy(), rtol=1e-6, atol=1e-9)


def test_conv2d_unbatched_input(device):
    rng = np.random.default_rng(4)
    compare(F.conv2d, [rng.standard_normal((2, 5, 5)), rng.standard_normal((3, 2, 2, 2))],
            torch_fn=TF.conv2d, device=device, padding=1)


def test_conv2d_gradcheck():
    rng = np.random.default_rng(5)
    x = thw.tensor(rng.standard_normal((2, 4, 5, 6)), requires_grad=True)
    w = thw.tensor(rng.standard_normal((2, 2, 2, 3)), requires_grad=True)
    b = thw.tensor(rng.standard_normal(2), requires_grad=True)
    assert thw.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(2, 1),
                                                  groups=2), (x, w, b))


def test_conv2d_keeps_float32():
    x = thw.randn(2, 3, 6, 6, requires_grad=True)
    w = thw.randn(4, 3, 3, 3, requires_grad=True)
    y = F.conv2d(x, w, thw.zeros(4), padding=1)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == w.grad.dtype == np.float32


@pytest.mark.parametrize("xshape, wshape, kwargs, words", [
    ((1, 3, 8, 8), (4, 2, 3, 3), {}, ["3", "(1, 3, 8, 8)", "(4, 2, 3, 3)"]),
    ((1, 3, 4, 4), (4, 3, 5, 5), {}, ["larger", "(1, 3, 4, 4)", "(4, 3, 5, 5)"]),
    ((1, 3, 4, 4), (4, 3, 3, 3), dict(dilation=2), ["larger", "5"]),
    ((1, 4, 8, 8), (6, 1, 3, 3), dict(groups=3), ["groups=3", "(1, 4, 8, 8)"]),
    ((1, 4, 8, 8), (5, 2, 3, 3), dict(groups=2), ["groups=2", "5"]),
    ((8, 8), (4, 1, 3, 3), {}, ["(8, 8)", "4-D"]),
    ((1, 1, 8, 8), (4, 3, 3), {}, ["(4, 3, 3)"]),
])
def test_conv2d_bad_input(xshape, wshape, kwargs, words):
    with pytest.raises(ValueError) as e:
        F.conv2d(thw.zeros(*xshape), thw.zeros(*wshape), **kwargs)
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_conv2d_bad_dtype_and_bias():
    with pytest.raises(TypeError, match="float64"):
        F.conv2d(thw.zeros(1, 1, 4, 4), thw.zeros(1, 1, 3, 3, dtype=thw.float64))
    with pytest.raises(ValueError, match=r"\(2,\)"):
        F.conv2d(thw.zeros(1, 1, 4, 4), thw.zeros(2, 1, 3, 3), thw.zeros(3))
