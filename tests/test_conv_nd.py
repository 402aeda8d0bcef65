"""conv1d, conv3d and conv_transpose1d/2d/3d against torch on hypothesis-drawn geometries (valid by
construction), their finite-difference gradients, the Conv/ConvTranspose Modules (padding strings
and modes, bias=False, output_size), the non-constant modes of F.pad, and the errors."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from tinygrad_hw import nn
from tinygrad_hw.testing.strategies import conv_geometries
from oracle import compare, compare_module, raises_with

TF = torch.nn.functional
# float32 sums up to a few hundred products per output: a little looser than the oracle's defaults
F32_TOL = dict(rtol=2e-4, atol=1e-4, grad_rtol=2e-4, grad_atol=2e-4)
DTYPES = st.sampled_from([np.float64, np.float32])
FEW = settings(max_examples=12)
CONV = {1: (F.conv1d, TF.conv1d), 3: (F.conv3d, TF.conv3d)}
CONV_T = {1: (F.conv_transpose1d, TF.conv_transpose1d), 2: (F.conv_transpose2d, TF.conv_transpose2d),
          3: (F.conv_transpose3d, TF.conv_transpose3d)}


def _tol(dtype):
    return F32_TOL if dtype == np.float32 else {}


def _arrays(xshape, wshape, nbias, dtype, bias, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(xshape).astype(dtype), rng.standard_normal(wshape).astype(dtype)]
    if bias:
        arrays.append(rng.standard_normal(nbias).astype(dtype))
    return arrays


@st.composite
def transposed_geometries(draw, spatial_dims, max_kernel=3, max_stride=3, max_dilation=2, max_extra=3):
    """Per dim: kernel, stride, dilation, output_padding (< stride or < dilation, as torch requires)
    and padding up to dilation*(k-1) + 1 (beyond it the effective padding crops), then the least
    input length whose output is not empty, plus a few."""
    groups = draw(st.integers(1, 2))
    geo = {"batch": draw(st.integers(1, 2)), "groups": groups,
           "in_channels": groups * draw(st.integers(1, 2)), "out_channels": groups * draw(st.integers(1, 2)),
           "kernel": [], "stride": [], "dilation": [], "padding": [], "output_padding": [], "size": []}
    for _ in range(spatial_dims):
        k, s, d = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_stride)), draw(st.integers(1, max_dilation))
        op = draw(st.integers(0, max(s, d) - 1))
        p = draw(st.integers(0, d * (k - 1) + 1))
        least = 1 + max(0, -(-(2 * p - d * (k - 1) - op) // s))     # output >= 1
        for key, v in zip(("kernel", "stride", "dilation", "output_padding", "padding"), (k, s, d, op, p)):
            geo[key].append(v)
        geo["size"].append(draw(st.integers(least, least + max_extra)))
    return {k: tuple(v) if isinstance(v, list) else v for k, v in geo.items()}


def _conv_case(geo, dtype, bias):
    xshape = (geo["batch"], geo["in_channels"]) + geo["size"]
    wshape = (geo["out_channels"], geo["in_channels"] // geo["groups"]) + geo["kernel"]
    kw = dict(stride=geo["stride"], padding=geo["padding"], dilation=geo["dilation"], groups=geo["groups"])
    return _arrays(xshape, wshape, geo["out_channels"], dtype, bias), kw


def _transposed_case(geo, dtype, bias):
    xshape = (geo["batch"], geo["in_channels"]) + geo["size"]
    wshape = (geo["in_channels"], geo["out_channels"] // geo["groups"]) + geo["kernel"]
    kw = dict(stride=geo["stride"], padding=geo["padding"], output_padding=geo["output_padding"],
              dilation=geo["dilation"], groups=geo["groups"])
    return _arrays(xshape, wshape, geo["out_channels"], dtype, bias), kw


@FEW
@given(geo=conv_geometries(spatial_dims=1, max_kernel=4, max_stride=3), dtype=DTYPES, bias=st.booleans())
def test_conv1d_matches_torch(device, geo, dtype, bias):
    arrays, kw = _conv_case(geo, dtype, bias)
    compare(F.conv1d, arrays, torch_fn=TF.conv1d, device=device, **kw, **_tol(dtype))


@FEW
@given(geo=conv_geometries(spatial_dims=3, max_extra=3, max_channels=2, max_batch=2), dtype=DTYPES,
       bias=st.booleans())
def test_conv3d_matches_torch(device, geo, dtype, bias):
    arrays, kw = _conv_case(geo, dtype, bias)
    compare(F.conv3d, arrays, torch_fn=TF.conv3d, device=device, **kw, **_tol(dtype))


@pytest.mark.parametrize("nd", [1, 2, 3])
@FEW
@given(data=st.data(), dtype=DTYPES, bias=st.booleans())
def test_conv_transpose_matches_torch(device, nd, data, dtype, bias):
    geo = data.draw(transposed_geometries(nd, max_extra=3 if nd < 3 else 2))
    arrays, kw = _transposed_case(geo, dtype, bias)
    ours, theirs = CONV_T[nd]
    compare(ours, arrays, torch_fn=theirs, device=device, **kw, **_tol(dtype))


@pytest.mark.parametrize("wshape, kwargs", [
    ((3, 2, 1, 1), dict(stride=2)),                                   # kernel < stride: zero-stuffing
    ((3, 2, 2, 3), dict(stride=(3, 2), padding=(1, 0), output_padding=(2, 1))),
    ((3, 2, 3, 3), dict(stride=2, dilation=2, output_padding=1)),    # dilated: zero-stuffing
    ((3, 2, 4, 4), dict(stride=2, padding=1)),                        # the decoder's layer: phases
    ((3, 2, 3, 2), dict(stride=(1, 2), padding=(2, 0))),              # padding beyond k-1 crops
])
def test_conv_transpose2d_paths(device, wshape, kwargs):
    rng = np.random.default_rng(9)
    compare(F.conv_transpose2d, [rng.standard_normal((2, 3, 4, 5)), rng.standard_normal(wshape),
                                 rng.standard_normal(wshape[1])], torch_fn=TF.conv_transpose2d, device=device, **kwargs)


@pytest.mark.parametrize("fn, tfn, xshape, wshape", [
    (F.conv1d, TF.conv1d, (4, 7), (3, 4, 3)),
    (F.conv3d, TF.conv3d, (2, 3, 4, 4), (3, 2, 2, 2, 2)),
    (F.conv_transpose1d, TF.conv_transpose1d, (2, 5), (2, 3, 3)),
    (F.conv_transpose2d, TF.conv_transpose2d, (2, 3, 4), (2, 3, 2, 2)),
    (F.conv_transpose3d, TF.conv_transpose3d, (2, 2, 3, 2), (2, 1, 2, 2, 2)),
])
def test_unbatched_input(device, fn, tfn, xshape, wshape):
    rng = np.random.default_rng(3)
    compare(fn, [rng.standard_normal(xshape), rng.standard_normal(wshape)], torch_fn=tfn, device=device,
            stride=2 if "transpose" in fn.__name__ else 1, padding=1)


@pytest.mark.filterwarnings("ignore:Using padding='same'")     # torch's note on its own copy
@pytest.mark.parametrize("nd", [1, 3])
@pytest.mark.parametrize("padding, dilation", [("same", 1), ("same", 2), ("valid", 1)])
def test_functional_padding_strings(device, nd, padding, dilation):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 2) + (6, 5, 4)[:nd])
    w = rng.standard_normal((3, 2) + (4, 3, 2)[:nd])     # even kernels: 'same' pads one more on the right
    ours, theirs = CONV[nd]
    compare(ours, [x, w], torch_fn=theirs, device=device, padding=padding, dilation=dilation)


@pytest.mark.parametrize("name, args, kwargs", [
    ("conv1d", ((2, 4, 9), (6, 2, 3)), dict(stride=2, padding=1, dilation=2, groups=2)),
    ("conv3d", ((1, 4, 4, 5, 4), (2, 2, 2, 3, 2)), dict(stride=(2, 1, 1), padding=(1, 0, 1), groups=2)),
    ("conv_transpose1d", ((2, 2, 4), (2, 3, 3)), dict(stride=2, padding=1, output_padding=1)),
    ("conv_transpose2d", ((1, 4, 3, 3), (4, 1, 3, 2)), dict(stride=(2, 1), padding=(0, 2), dilation=(1, 2), groups=2)),
    ("conv_transpose3d", ((1, 2, 2, 3, 2), (2, 2, 2, 2, 2)), dict(stride=2, padding=1, output_padding=(1, 0, 1))),
])
def test_gradcheck(name, args, kwargs):
    rng = np.random.default_rng(5)
    xshape, wshape = args
    nbias = wshape[1] * kwargs.get("groups", 1) if "transpose" in name else wshape[0]
    inputs = [thw.tensor(rng.standard_normal(s), requires_grad=True) for s in (xshape, wshape, nbias)]
    fn = getattr(F, name)
    assert thw.gradcheck(lambda x, w, b: fn(x, w, b, **kwargs), inputs)


def test_float32_stays_float32():
    x = thw.randn(2, 3, 5, requires_grad=True)
    for y in (F.conv1d(x, thw.randn(4, 3, 3)), F.conv_transpose1d(x, thw.randn(3, 2, 3), stride=2),
              F.conv3d(x.reshape(1, 2, 3, 5, 1), thw.randn(2, 2, 2, 2, 1))):
        assert y.dtype == np.float32
    F.conv_transpose1d(x, thw.randn(3, 2, 3), stride=2).sum().backward()
    assert x.grad.dtype == np.float32


# --- Modules -------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls, kwargs, size", [
    ("Conv1d", dict(kernel_size=3), (7,)),
    ("Conv1d", dict(kernel_size=4, padding="same", dilation=2, bias=False), (9,)),
    ("Conv1d", dict(kernel_size=3, padding="valid", stride=2), (8,)),
    ("Conv1d", dict(kernel_size=3, padding=2, padding_mode="reflect"), (6,)),
    ("Conv1d", dict(kernel_size=3, padding=1, padding_mode="replicate", groups=2), (5,)),
    ("Conv1d", dict(kernel_size=2, padding="same", padding_mode="circular"), (5,)),
    ("Conv2d", dict(kernel_size=3, padding=1, padding_mode="reflect"), (5, 4)),
    ("Conv2d", dict(kernel_size=(2, 3), padding="same", padding_mode="circular", bias=False), (4, 5)),
    ("Conv2d", dict(kernel_size=2, padding="same"), (4, 5)),
    ("Conv2d", dict(kernel_size=3, padding=(1, 2), padding_mode="replicate", stride=2), (5, 6)),
    ("Conv3d", dict(kernel_size=3, padding=1), (4, 3, 4)),
    ("Conv3d", dict(kernel_size=(2, 3, 1), padding="same", padding_mode="replicate"), (3, 4, 2)),
    ("Conv3d", dict(kernel_size=2, padding=1, padding_mode="circular", stride=(1, 2, 1), groups=2, bias=False), (3, 4, 3)),
    ("ConvTranspose1d", dict(kernel_size=3, stride=2, padding=1, output_padding=1), (5,)),
    ("ConvTranspose2d", dict(kernel_size=(3, 2), stride=2, groups=2, dilation=(1, 2), bias=False), (3, 4)),
    ("ConvTranspose3d", dict(kernel_size=2, stride=2, padding=(0, 1, 0)), (2, 3, 2)),
])
def test_modules_match_torch(device, cls, kwargs, size):
    thw.manual_seed(0)
    torch.manual_seed(0)
    ours = getattr(nn, cls)(4, 2, **kwargs, dtype=thw.float64)
    theirs = getattr(torch.nn, cls)(4, 2, **kwargs, dtype=torch.float64)
    x = np.random.default_rng(2).standard_normal((2, 4) + size)
    compare_module(ours, theirs, x, device=device)
    assert (ours.bias is None) == (theirs.bias is None)
    assert ours.weight.shape == tuple(theirs.weight.shape)


def test_module_default_init_follows_torch():
    """Same bounds as torch's kaiming_uniform(a=sqrt(5)) on the weight's dim 1 and kernel."""
    for ours, theirs in [(nn.Conv1d(6, 8, 5), torch.nn.Conv1d(6, 8, 5)),
                         (nn.ConvTranspose2d(6, 8, 3), torch.nn.ConvTranspose2d(6, 8, 3))]:
        bound = 1 / np.sqrt(np.prod(theirs.weight.shape[1:]))
        for a, b in ((ours.weight, theirs.weight), (ours.bias, theirs.bias)):
            assert a.shape == tuple(b.shape)
            assert np.abs(a.numpy()).max() <= bound + 1e-7
            assert np.abs(a.numpy()).max() > 0.5 * bound


def test_conv_transpose_output_size(device):
    thw.manual_seed(0)
    torch.manual_seed(0)
    ours = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, dtype=thw.float64)
    theirs = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, dtype=torch.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.to(device)
    x = np.random.default_rng(1).standard_normal((1, 2, 4, 5))
    for size in [(7, 9), (8, 10), (1, 3, 8, 9)]:
        compare(lambda t: ours(t, output_size=size), [x], torch_fn=lambda t: theirs(t, output_size=size),
                device=device, grad=False)
    with raises_with(ValueError, "output size"):
        ours(thw.tensor(x, device=device), output_size=(9, 9))


# --- F.pad modes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape, pad", [((3, 5), (1, 2)), ((2, 3, 5), (4, 0)), ((2, 3, 4, 5), (2, 1, 3, 0)),
                                        ((3, 4, 3, 5), (1, 1, 0, 2, 3, 2))])
def test_pad_modes(device, mode, shape, pad):
    pad = tuple(min(p, s - 1) for p, s in zip(pad, sum(((n, n) for n in reversed(shape)), ())))
    compare(lambda t: F.pad(t, pad, mode=mode), [np.random.default_rng(0).standard_normal(shape)],
            torch_fn=lambda t: TF.pad(t, pad, mode=mode), device=device)


def test_pad_mode_errors():
    x = thw.zeros(1, 2, 3)
    with raises_with(ValueError, "reflect", "3"):
        F.pad(x, (3, 0), mode="reflect")
    with raises_with(ValueError, "circular"):
        F.pad(x, (0, 4), mode="circular")
    with raises_with(ValueError, "mode"):
        F.pad(x, (1, 1), mode="mirror")
    with raises_with(NotImplementedError, "(1, 2, 3)"):
        F.pad(x, (1, 1, 1, 1, 1, 1), mode="replicate")


# --- errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("fn, xshape, wshape, kwargs, exc, words", [
    (F.conv1d, (1, 3, 8), (4, 2, 3), {}, ValueError, ["3", "(1, 3, 8)", "(4, 2, 3)"]),
    (F.conv1d, (1, 3, 2), (4, 3, 5), {}, ValueError, ["larger", "(1, 3, 2)"]),
    (F.conv1d, (3, 8), (4, 3, 3, 3), {}, ValueError, ["3-D", "(4, 3, 3, 3)"]),
    (F.conv1d, (1, 4, 8), (6, 1, 3), dict(groups=3), ValueError, ["groups=3"]),
    (F.conv1d, (1, 2, 8), (4, 2, 3), dict(padding="same", stride=2), RuntimeError, ["strided"]),
    (F.conv1d, (1, 2, 8), (4, 2, 3), dict(padding="full"), ValueError, ["'full'"]),
    (F.conv3d, (1, 2, 2, 3, 3), (4, 2, 3, 3, 3), {}, ValueError, ["(1, 2, 2, 3, 3)", "larger"]),
    (F.conv3d, (1, 2, 3, 3, 3), (4, 2, 3, 3), {}, ValueError, ["5-D", "(4, 2, 3, 3)"]),
    (F.conv_transpose1d, (1, 3, 8), (2, 2, 3), {}, ValueError, ["input channels", "(2, 2, 3)"]),
    (F.conv_transpose1d, (1, 3, 8), (3, 2, 3), dict(groups=2), ValueError, ["groups=2"]),
    (F.conv_transpose2d, (1, 2, 4, 4), (2, 2, 3, 3), dict(stride=2, output_padding=2), RuntimeError,
     ["output padding", "stride"]),
    (F.conv_transpose1d, (1, 2, 4), (2, 2, 3), dict(output_padding=1), RuntimeError, ["dilation"]),
    (F.conv_transpose1d, (1, 2, 4), (2, 2, 3), dict(dilation=2, output_padding=2), RuntimeError, ["dilation"]),
    (F.conv_transpose1d, (1, 2, 2), (2, 2, 3), dict(padding=3), ValueError, ["output size"]),
])
def test_bad_input(fn, xshape, wshape, kwargs, exc, words):
    with raises_with(exc, *words):
        fn(thw.zeros(*xshape), thw.zeros(*wshape), **kwargs)
    with pytest.raises(Exception):      # torch rejects the same call
        getattr(TF, fn.__name__)(torch.zeros(*xshape), torch.zeros(*wshape), **kwargs)


def test_bad_dtype_bias_and_module_arguments():
    with raises_with(TypeError, "float64"):
        F.conv1d(thw.zeros(1, 1, 4), thw.zeros(1, 1, 3, dtype=thw.float64))
    with raises_with(ValueError, "(3,)"):
        F.conv_transpose1d(thw.zeros(1, 1, 4), thw.zeros(1, 3, 3), thw.zeros(2))
    with raises_with(ValueError, "padding_mode"):
        nn.Conv1d(2, 2, 3, padding_mode="mirror")
    with raises_with(ValueError, "zeros"):
        nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect")
    with raises_with(ValueError, "strided"):
        nn.Conv3d(2, 2, 3, padding="same", stride=2)
    with raises_with(ValueError, "divisible"):
        nn.ConvTranspose1d(3, 2, 3, groups=2)


def test_docstring_examples():
    import doctest
    from tinygrad_hw.nn import _conv, _shape
    assert doctest.testmod(_conv).failed == 0 and doctest.testmod(_shape).failed == 0


@pytest.mark.parametrize("fn, tfn, xshape, wshape, kwargs", [
    (F.conv1d, TF.conv1d, (3, 4, 9), (2, 4, 3), dict(stride=2)),
    (F.conv3d, TF.conv3d, (2, 2, 4, 3, 5), (4, 1, 2, 2, 2), dict(groups=2, padding=1)),
    (F.conv_transpose2d, TF.conv_transpose2d, (2, 3, 4, 3), (3, 2, 3, 3), dict(stride=2, output_padding=1)),
])
@pytest.mark.parametrize("layout", ["f", "batch_last"])
def test_non_contiguous_inputs(device, fn, tfn, xshape, wshape, kwargs, layout):
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal(xshape), rng.standard_normal(wshape)
    if layout == "f":
        x, w = np.asfortranarray(x), np.asfortranarray(w)
    else:
        x = np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 0, -1)), -1, 0)
    compare(fn, [x, w], torch_fn=tfn, device=device, **kwargs)


@pytest.mark.parametrize("padding, kernel, dilation", [("same", (4, 3), (1, 2)), ("same", (3, 3), (1, 1)),
                                                       ("valid", (2, 3), (2, 1))])
def test_functional_conv2d_padding_strings(padding, kernel, dilation):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3) + kernel)
    compare(F.conv2d, [x, w], torch_fn=torch.nn.functional.conv2d, padding=padding, dilation=dilation)
    with pytest.raises(RuntimeError):
        F.conv2d(thw.tensor(x), thw.tensor(w), stride=2, padding="same")
