"""Every core op against torch (forward values and every input's gradient) on hypothesis-drawn
shapes, in float64 (tight) and float32 (loose), with contiguous and strided input layouts."""
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_hw as thw
from oracle import compare

DTYPES = [np.float64, np.float32]
dtypes = st.sampled_from(DTYPES)
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)
nonzero_shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)


def _elements(dtype, lo, hi):
    return st.floats(lo, hi, width=np.dtype(dtype).itemsize * 8, allow_subnormal=False)


@st.composite
def arrays(draw, dtype, shape, lo=-3.0, hi=3.0, away=0.0, unique=False, elements=None):
    """An array of ``shape``; with ``away`` > 0 its values keep |x| >= away (``elements``, when
    given, draws the values instead). The layout is drawn too: contiguous, a transposed
    (Fortran-order) view, or a view striding over a larger buffer."""
    elems = elements if elements is not None else _elements(dtype, lo, hi) if not away else st.one_of(
        _elements(dtype, lo, -away), _elements(dtype, away, hi))
    arr = draw(hnp.arrays(dtype, shape, elements=elems, unique=unique))
    layout = draw(st.sampled_from(["c", "f", "strided"])) if arr.ndim else "c"
    if layout == "f":
        arr = np.asfortranarray(arr) if arr.ndim > 1 else arr
    elif layout == "strided":
        big = np.zeros(arr.shape[:-1] + (2 * arr.shape[-1],), dtype=arr.dtype)
        big[..., ::2] = arr
        arr = big[..., ::2]
    return arr


def noncontiguous(arr):
    """The same values in a transposed, non-contiguous layout."""
    return np.ascontiguousarray(arr.T).T


# --- elementwise binary ops, broadcasting both ways --------------------------------------------
BINARY = {
    "add": (lambda a, b: a + b, {}),
    "sub": (lambda a, b: a - b, {}),
    "mul": (lambda a, b: a * b, {}),
    "div": (lambda a, b: a / b, {"away_b": 0.5}),
    "pow": (lambda a, b: a ** b, {"lo_a": 0.5, "hi_a": 2.0, "lo_b": -2.0, "hi_b": 2.0}),
    "maximum": (lambda a, b: a.maximum(b), {}),
    "minimum": (lambda a, b: a.minimum(b), {}),
}


@pytest.mark.parametrize("name", BINARY)
@given(data=st.data(), dtype=dtypes,
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4))
def test_binary(device, name, data, dtype, shapes):
    fn, opt = BINARY[name]
    sa, sb = shapes.input_shapes
    a = data.draw(arrays(dtype, sa, opt.get("lo_a", -3.0), opt.get("hi_a", 3.0)))
    b = data.draw(arrays(dtype, sb, opt.get("lo_b", -3.0), opt.get("hi_b", 3.0), away=opt.get("away_b", 0.0)))
    compare(fn, [a, b], device=device)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "maximum"])
@given(data=st.data(), dtype=dtypes,
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4))
def test_binary_with_integer_tensor(device, name, data, dtype, shapes):
    """A float tensor with an int64 one: the result keeps the float dtype, values and gradient as torch."""
    fn = BINARY[name][0]
    a = data.draw(arrays(dtype, shapes.input_shapes[0], away=0.5))      # it is also a divisor
    n = data.draw(hnp.arrays(np.int64, shapes.input_shapes[1], elements=st.integers(1, 5)))
    compare(fn, [a, n], device=device)
    compare(lambda x, m: fn(m, x), [a, n], device=device)


@pytest.mark.parametrize("fn", [
    lambda a: a + 2, lambda a: 2 + a, lambda a: a - 1.5, lambda a: 1.5 - a, lambda a: a * 3,
    lambda a: 3.0 * a, lambda a: a / 4, lambda a: 2.0 / a, lambda a: a ** 2, lambda a: a ** 0.5,
    lambda a: 2.0 ** a, lambda a: a ** -1, lambda a: -a, lambda a: a - np.float64(0.5),
    lambda a: np.float32(2.0) * a,
], ids=["add", "radd", "sub", "rsub", "mul", "rmul", "div", "rdiv", "pow2", "sqrt_pow", "rpow",
        "pow_neg", "neg", "np_float64", "np_float32"])
@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_python_scalar_operands(device, fn, data, dtype, shape):
    compare(fn, [data.draw(arrays(dtype, shape, 0.25, 3.0))], device=device)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "pow", "matmul"])
@given(data=st.data(), dtype=dtypes)
def test_numpy_array_operands(device, op, data, dtype):
    """Tensor <op> ndarray and ndarray <op> Tensor, the array taken as a constant tensor."""
    a = data.draw(arrays(dtype, (3, 3), 0.5, 2.0))
    c_dtype = dtype if op == "matmul" else data.draw(dtypes)      # torch's matmul does not promote
    c = data.draw(arrays(c_dtype, (3, 3), 0.5, 2.0))
    pyop = getattr(__import__("operator"), op)
    compare(lambda t: pyop(t, c), [a], torch_fn=lambda t: pyop(t, torch.from_numpy(c)), device=device)
    compare(lambda t: pyop(c, t), [a], torch_fn=lambda t: pyop(torch.from_numpy(c), t), device=device)


# --- unary ops --------------------------------------------------------------------------------
UNARY = {  # name: (fn, lo, hi, away from 0)
    "exp": (lambda a: a.exp(), -3.0, 3.0, 0.0),
    "log": (lambda a: a.log(), 0.125, 5.0, 0.0),
    "sqrt": (lambda a: a.sqrt(), 0.125, 5.0, 0.0),
    "tanh": (lambda a: a.tanh(), -4.0, 4.0, 0.0),
    "sigmoid": (lambda a: a.sigmoid(), -6.0, 6.0, 0.0),
    "relu": (lambda a: a.relu(), -3.0, 3.0, 0.125),
    "abs": (lambda a: a.abs(), -3.0, 3.0, 0.125),
    "neg": (lambda a: -a, -3.0, 3.0, 0.0),
    "clamp": (lambda a: a.clamp(-1.0, 0.5), -3.0, 3.0, 0.0),
    "clamp_min": (lambda a: a.clamp(min=0.25), -3.0, 3.0, 0.0),
    "clamp_max": (lambda a: a.clamp(max=-0.25), -3.0, 3.0, 0.0),
}


@pytest.mark.parametrize("name", UNARY)
@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_unary(device, name, data, dtype, shape):
    fn, lo, hi, away = UNARY[name]
    compare(fn, [data.draw(arrays(dtype, shape, lo, hi, away=away))], device=device)


def test_thw_functions_match_methods():
    x = np.array([[0.5, -1.5], [2.0, 0.25]])
    for name in ["exp", "tanh", "sigmoid", "relu", "abs"]:
        compare(getattr(thw, name), [x], torch_fn=getattr(torch, name))
    compare(lambda t: thw.clamp(t, -1.0, 1.0), [x], torch_fn=lambda t: torch.clamp(t, -1.0, 1.0))


@given(data=st.data(), dtype=dtypes,
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=4))
def test_where(device, data, dtype, shapes):
    sc, sa, sb = shapes.input_shapes
    cond = data.draw(hnp.arrays(np.bool_, sc))
    a, b = data.draw(arrays(dtype, sa)), data.draw(arrays(dtype, sb))
    compare(lambda x, y: thw.where(thw.tensor(cond, device=x.device), x, y), [a, b],
            torch_fn=lambda x, y: torch.where(torch.from_numpy(cond), x, y), device=device)
    compare(lambda x: thw.where(thw.tensor(cond, device=x.device), x, 0.5), [a],
            torch_fn=lambda x: torch.where(torch.from_numpy(cond), x, 0.5), device=device)


# --- reductions -------------------------------------------------------------------------------
@st.composite
def dims(draw, ndim, allow_tuple=True):
    """None, one dim (maybe negative), or a tuple of distinct dims."""
    if ndim == 0:
        return draw(st.sampled_from([None, 0, -1]))
    one = st.integers(-ndim, ndim - 1)
    options = [st.none(), one]
    if allow_tuple:
        options.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)
                       .map(lambda ds: tuple(d - ndim if i % 2 else d for i, d in enumerate(ds))))
    return draw(st.one_of(*options))


def _torch_dim(dim, ndim):
    """torch spells "all dims" with keepdim as the explicit tuple of dims."""
    return {"dim": tuple(range(ndim)) if dim is None else dim}


@pytest.mark.parametrize("name", ["sum", "mean"])
@given(data=st.data(), dtype=dtypes, shape=shapes, keepdim=st.booleans())
def test_sum_mean(device, name, data, dtype, shape, keepdim):
    dim = data.draw(dims(len(shape)))
    a = data.draw(arrays(dtype, shape))
    compare(lambda t: getattr(t, name)(dim, keepdim), [a],
            torch_fn=lambda t: getattr(t, name)(**_torch_dim(dim, t.ndim), keepdim=keepdim), device=device)


@given(data=st.data(), dtype=dtypes, shape=nonzero_shapes, keepdim=st.booleans(), unbiased=st.booleans())
def test_var(device, data, dtype, shape, keepdim, unbiased):
    dim = data.draw(dims(len(shape)))
    axes = range(len(shape)) if dim is None else ((dim,) if isinstance(dim, int) else dim)
    if unbiased and np.prod([shape[d] for d in axes]) < 2:   # one sample: torch gives nan
        unbiased = False
    a = data.draw(arrays(dtype, shape))
    compare(lambda t: t.var(dim, keepdim=keepdim, unbiased=unbiased), [a],
            torch_fn=lambda t: t.var(**_torch_dim(dim, t.ndim), keepdim=keepdim, unbiased=unbiased),
            device=device)


@pytest.mark.parametrize("name", ["max", "min"])
@given(data=st.data(), dtype=dtypes, shape=shapes, keepdim=st.booleans())
def test_max_min_with_dim(device, name, data, dtype, shape, keepdim):
    """``x.max(dim)`` is (values, indices), the gradient going to the returned index."""
    dim = data.draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    a = data.draw(arrays(dtype, shape, unique=True))
    compare(lambda t: getattr(t, name)(dim, keepdim)[0], [a], device=device)
    values, indices = getattr(thw.tensor(a, device=device), name)(dim, keepdim)   # a named tuple
    ref = getattr(torch.from_numpy(a), name)(dim, keepdim)
    assert indices.dtype == thw.int64 and indices.shape == tuple(ref.indices.shape)
    np.testing.assert_array_equal(indices.numpy(), ref.indices.numpy())
    np.testing.assert_array_equal(values.numpy(), ref.values.numpy())


@pytest.mark.parametrize("name", ["max", "min"])
@given(data=st.data(), dtype=dtypes, shape=shapes, keepdim=st.booleans())
def test_max_min_full_and_dims(device, name, data, dtype, shape, keepdim):
    a = data.draw(arrays(dtype, shape, unique=True))
    compare(lambda t: getattr(t, name)(), [a], device=device)
    dim = data.draw(st.lists(st.integers(0, max(len(shape) - 1, 0)), min_size=1, max_size=2, unique=True))
    dim = tuple(dim) if len(shape) else ()
    torch_name = "amax" if name == "max" else "amin"
    compare(lambda t: getattr(t, torch_name)(dim, keepdim), [a],
            torch_fn=lambda t: getattr(t, torch_name)(dim, keepdim), device=device)


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_ties_match_torch(device, name):
    """Ties: with a dim the gradient goes to the first extreme (the index returned); over all
    elements (and amax/amin) it is shared evenly, as in torch."""
    a = np.array([[1.0, 3.0, 3.0, -2.0], [-2.0, -2.0, 0.5, 3.0], [5.0, 5.0, 5.0, 5.0]])
    if name == "min":
        a = -a
    for dim in (0, 1, -1):
        for keepdim in (False, True):
            compare(lambda t: getattr(t, name)(dim, keepdim)[0], [a], device=device)
            got = getattr(thw.tensor(a, device=device), name)(dim, keepdim).indices
            np.testing.assert_array_equal(got.numpy(), getattr(torch.from_numpy(a), name)(dim, keepdim)[1].numpy())
    compare(lambda t: getattr(t, name)(), [a], device=device)
    compare(lambda t: getattr(t, "a" + name)(1), [a], device=device)


@given(data=st.data(), dtype=dtypes, shape=shapes, keepdim=st.booleans())
def test_argmax_argmin(data, dtype, shape, keepdim):
    a = data.draw(arrays(dtype, shape, unique=True))
    dim = data.draw(st.one_of(st.none(), st.integers(-max(len(shape), 1), max(len(shape), 1) - 1)))
    for name in ("argmax", "argmin"):
        got = getattr(thw.tensor(a), name)(dim, keepdim)
        ref = getattr(torch.from_numpy(a), name)(dim, keepdim)
        assert got.dtype == thw.int64 and got.shape == tuple(ref.shape)
        np.testing.assert_array_equal(got.numpy(), ref.numpy())


def test_argmax_ties_take_first_index():
    a = np.array([[2, 7, 7, 0], [1, 1, 1, 1]], dtype=np.int64)
    assert thw.tensor(a).argmax(1).tolist() == torch.from_numpy(a).argmax(1).tolist() == [1, 0]
    assert thw.tensor(a).argmin(1).tolist() == torch.from_numpy(a).argmin(1).tolist() == [3, 0]
    u = np.array([0, 5, 0, 200], dtype=np.uint8)
    assert thw.tensor(u).argmin().item() == 0 and thw.tensor(u).min(0).indices.item() == 0


# --- movement ---------------------------------------------------------------------------------
@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_reshape_view_flatten(device, data, dtype, shape):
    a = data.draw(arrays(dtype, shape))
    target = data.draw(st.permutations(shape)) if shape else ()
    compare(lambda t: t.reshape(*target) if target else t.reshape(()), [a], device=device)
    # torch's view refuses some strided layouts; ours is reshape, so reshape is its reference
    compare(lambda t: t.view(tuple(target)), [a], torch_fn=lambda t: t.reshape(tuple(target)), device=device)
    compare(lambda t: t.reshape(-1), [a], device=device)
    nd = max(len(shape), 1)
    s = data.draw(st.integers(-nd, nd - 1))
    e = data.draw(st.integers(-nd, nd - 1))
    if s % nd <= e % nd:
        compare(lambda t: t.flatten(s, e), [a], device=device)
    compare(lambda t: t.flatten(), [a], device=device)


@given(data=st.data(), dtype=dtypes, shape=nonzero_shapes)
def test_permute_transpose(device, data, dtype, shape):
    a = data.draw(arrays(dtype, shape))
    perm = data.draw(st.permutations(range(len(shape))))
    compare(lambda t: t.permute(*perm), [a], device=device)
    compare(lambda t: t.permute(perm), [a], device=device)
    d0, d1 = data.draw(st.integers(-len(shape), len(shape) - 1)), data.draw(st.integers(0, len(shape) - 1))
    compare(lambda t: t.transpose(d0, d1), [a], device=device)
    compare(lambda t: t.T, [a], torch_fn=lambda t: t.permute(*range(t.ndim - 1, -1, -1)), device=device)


def test_T_of_matrix_and_vector(device):
    compare(lambda t: t.T, [np.arange(6.0).reshape(2, 3)], device=device)
    compare(lambda t: t.T, [np.arange(3.0)], torch_fn=lambda t: t, device=device)   # 1-D: itself


def _torch_basic_index(index, shape):
    """Rewrite a NumPy basic index for torch, which has no negative slice steps: such an axis is
    flipped first and sliced forwards."""
    index = index if isinstance(index, tuple) else (index,)
    consumed = sum(1 for p in index if p is not None and p is not Ellipsis)
    expanded = []
    for p in index:
        expanded.extend([slice(None)] * (len(shape) - consumed) if p is Ellipsis else [p])
    flips, out, axis = [], [], 0
    for p in expanded:
        if isinstance(p, slice) and (p.step or 1) < 0:
            picked = list(range(*p.indices(shape[axis])))
            n = shape[axis]
            p = slice(n - 1 - picked[0], n - picked[-1], -p.step) if picked else slice(0, 0)
            flips.append(axis)
        out.append(p)
        axis += p is not None
    return flips, tuple(out)


@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_getitem_basic(device, data, dtype, shape):
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    a = data.draw(arrays(dtype, shape))
    flips, tindex = _torch_basic_index(index, shape)

    def torch_fn(t):
        return (t.flip(flips) if flips else t)[tindex]
    compare(lambda t: t[index], [a], torch_fn=torch_fn, device=device)


@given(data=st.data(), dtype=dtypes, shape=nonzero_shapes)
def test_getitem_integer_arrays_accumulate_duplicates(device, data, dtype, shape):
    a = data.draw(arrays(dtype, shape))
    n = shape[0]
    idx = data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=6))
    idx = np.array(idx + idx[:1], dtype=np.int64)         # at least one repeated position
    tidx = torch.from_numpy(idx)
    compare(lambda t: t[idx], [a], torch_fn=lambda t: t[tidx], device=device)
    compare(lambda t: t[thw.tensor(idx, device=t.device)], [a], torch_fn=lambda t: t[tidx], device=device)
    compare(lambda t: t[idx.tolist()], [a], torch_fn=lambda t: t[idx.tolist()], device=device)
    if len(shape) > 1:
        m = shape[-1]
        cols = np.array(data.draw(st.lists(st.integers(0, m - 1), min_size=1, max_size=5)) * 2)
        tcols = torch.from_numpy(cols)
        compare(lambda t: t[..., cols], [a], torch_fn=lambda t: t[..., tcols], device=device)
        compare(lambda t: t[idx, ..., -1], [a],
                torch_fn=lambda t: t[tidx, ..., -1], device=device)


def test_getitem_duplicates_known_answer(device):
    x = thw.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]


@given(data=st.data(), dtype=dtypes, shape=nonzero_shapes)
def test_getitem_bool_mask(device, data, dtype, shape):
    a = data.draw(arrays(dtype, shape))
    lead = data.draw(st.integers(1, len(shape)))
    mask = data.draw(hnp.arrays(np.bool_, shape[:lead]))
    tmask = torch.from_numpy(mask)
    compare(lambda t: t[mask], [a], torch_fn=lambda t: t[tmask], device=device)
    compare(lambda t: t[thw.tensor(mask, device=t.device)], [a], torch_fn=lambda t: t[tmask], device=device)
    compare(lambda t: t[t > 0], [a], torch_fn=lambda t: t[t > 0], device=device)


@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_unsqueeze_squeeze(device, data, dtype, shape):
    a = data.draw(arrays(dtype, shape))
    nd = len(shape)
    d = data.draw(st.integers(-nd - 1, nd))
    compare(lambda t: t.unsqueeze(d), [a], device=device)
    compare(lambda t: t.squeeze(), [a], device=device)
    s = data.draw(st.integers(-max(nd, 1), max(nd, 1) - 1))
    compare(lambda t: t.squeeze(s), [a], device=device)


@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_expand(device, data, dtype, shape):
    """Broadcasting a tensor to a larger shape; the gradient sums back over the copies."""
    small = tuple(data.draw(st.sampled_from([1, s])) for s in shape)
    lead = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    a = data.draw(arrays(dtype, small))
    target = lead + tuple(shape)
    compare(lambda t: t.expand(*target), [a], torch_fn=lambda t: t.expand(target), device=device)
    with_minus = lead + tuple(-1 if s == t else t for s, t in zip(small, shape))
    compare(lambda t: t.expand(with_minus), [a], device=device)


@given(data=st.data(), dtype=dtypes, shape=nonzero_shapes)
def test_pad(device, data, dtype, shape):
    a = data.draw(arrays(dtype, shape))
    k = data.draw(st.integers(1, len(shape)))
    pad = tuple(data.draw(st.lists(st.integers(0, 2), min_size=2 * k, max_size=2 * k)))
    value = data.draw(st.sampled_from([0.0, -1.5]))
    compare(lambda t: t.pad(pad, value), [a], torch_fn=lambda t: torch.nn.functional.pad(t, pad, value=value),
            device=device)
    compare(lambda t: thw.pad(t, pad), [a], torch_fn=lambda t: torch.nn.functional.pad(t, pad), device=device)


@given(data=st.data(), dtype=dtypes, shape=nonzero_shapes, n=st.integers(1, 3))
def test_cat(device, data, dtype, shape, n):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    parts = []
    for _ in range(n):
        s = list(shape)
        s[dim] = data.draw(st.integers(1, 3))
        parts.append(data.draw(arrays(dtype, tuple(s))))
    compare(lambda *ts: thw.cat(ts, dim), parts, torch_fn=lambda *ts: torch.cat(ts, dim), device=device)


@given(data=st.data(), dtype=dtypes, shape=shapes, n=st.integers(1, 3))
def test_stack(device, data, dtype, shape, n):
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    parts = [data.draw(arrays(dtype, shape)) for _ in range(n)]
    compare(lambda *ts: thw.stack(ts, dim), parts, torch_fn=lambda *ts: torch.stack(ts, dim), device=device)


def test_cat_stack_mixed_requires_grad(device):
    """A constant input among differentiable ones gets no gradient; the others get theirs."""
    c = thw.ones(2, 2, device=device)
    x = thw.tensor([[1.0, 2.0], [3.0, 4.0]], device=device, requires_grad=True)
    (thw.cat([c, x], 1) * thw.arange(4.0, device=device)).sum().backward()
    assert x.grad.tolist() == [[2.0, 3.0], [2.0, 3.0]] and c.grad is None
    x.grad = None
    thw.stack([x, c, x]).sum().backward()
    assert x.grad.tolist() == [[2.0, 2.0], [2.0, 2.0]]


# --- matmul -----------------------------------------------------------------------------------
@given(data=st.data(), dtype=dtypes,
       shapes=hnp.mutually_broadcastable_shapes(signature="(m?,n),(n,p?)->(m?,p?)", max_dims=3, max_side=4))
def test_matmul(device, data, dtype, shapes):
    sa, sb = shapes.input_shapes
    a, b = data.draw(arrays(dtype, sa)), data.draw(arrays(dtype, sb))
    compare(lambda x, y: x @ y, [a, b], device=device)
    compare(lambda x, y: x.matmul(y), [a, b], device=device)
    compare(thw.matmul, [a, b], torch_fn=torch.matmul, device=device)


def test_matmul_cases_named(device):
    rng = np.random.default_rng(0)
    cases = [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((4, 2, 3), (3, 5)), ((2, 3), (4, 3, 5)),
             ((2, 1, 2, 3), (1, 4, 3, 2)), ((3,), (2, 3, 4)), ((2, 2, 3), (3,)), ((1, 1), (1, 1))]
    for sa, sb in cases:
        a, b = rng.standard_normal(sa), rng.standard_normal(sb)
        compare(lambda x, y: x @ y, [a, b], device=device)
        compare(lambda x, y: x @ y, [noncontiguous(a), noncontiguous(b)], device=device)
    f32 = rng.standard_normal((3, 4)).astype(np.float32)
    compare(lambda x, y: x @ y, [f32, f32.T], device=device)


# --- non-contiguous inputs and composite expressions --------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_noncontiguous_inputs(device, dtype):
    rng = np.random.default_rng(1)
    a = noncontiguous(rng.standard_normal((3, 4, 2)).astype(dtype))
    b = rng.standard_normal((8, 4)).astype(dtype)[::2]
    w = noncontiguous(rng.standard_normal((2, 5)).astype(dtype))
    compare(lambda x, y, z: ((x * y[..., :2]).sum(1) @ z).tanh(), [a, b, w], device=device)
    compare(lambda x: x.reshape(-1).exp().sum(), [a], device=device)
    compare(lambda x: x[1:, ::2].var(0), [a], device=device)


@pytest.mark.parametrize("dtype", DTYPES)
def test_composite_mlp_loss(device, dtype):
    rng = np.random.default_rng(2)
    x, w1, b1, w2 = (rng.standard_normal(s).astype(dtype) for s in [(5, 4), (4, 6), (6,), (6, 3)])

    def f(x, w1, b1, w2):
        h = (x @ w1 + b1).relu()
        logits = h @ w2
        z = logits - logits.max(1, keepdim=True)[0]
        return (z.exp().sum(1).log() - z[:, 0]).mean()
    compare(f, [x, w1, b1, w2], device=device)


# --- conveniences built on the core ops ---------------------------------------------------------
@given(data=st.data(), dtype=dtypes, shape=nonzero_shapes, size=st.integers(1, 3))
def test_split_chunk_clone_std(device, data, dtype, shape, size):
    a = data.draw(arrays(dtype, shape))
    d = data.draw(st.integers(-len(shape), len(shape) - 1))

    def weighted(parts):       # distinct weights so every part's gradient is checked separately
        return [p * (i + 1) for i, p in enumerate(parts)]
    compare(lambda t: thw.cat(weighted(t.split(size, d)), d), [a],
            torch_fn=lambda t: torch.cat(weighted(t.split(size, d)), d), device=device)
    compare(lambda t: thw.cat(weighted(t.chunk(size, d)), d), [a],
            torch_fn=lambda t: torch.cat(weighted(t.chunk(size, d)), d), device=device)
    ref_shapes = [tuple(p.shape) for p in torch.from_numpy(a).split(size, d)]
    assert [p.shape for p in thw.tensor(a).split(size, d)] == ref_shapes
    compare(lambda t: t.clone() * t, [a], device=device)
    # std is not smooth at zero spread: distinct multiples of 1/8 keep every slice well spread
    spread = data.draw(arrays(dtype, shape, unique=True,
                              elements=st.integers(-800, 800).map(lambda i: i / 8)))
    if a.size > 1:
        compare(lambda t: t.std(), [spread], device=device)
    if a.shape[d] > 1:
        compare(lambda t: t.std(d, keepdim=True), [spread], device=device)
        compare(lambda t: t.std(d, unbiased=False), [spread], torch_fn=lambda t: t.std(d, unbiased=False),
                device=device)


def test_std_of_constant_input_has_zero_gradient_as_torch(device):
    compare(lambda t: t.std(1), [np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])], device=device)
    compare(lambda t: t.std(), [np.zeros(4)], device=device)


def test_std_var_of_tiny_float32_values_do_not_underflow():
    # squares of values near 1e-38 underflow in float32; like torch, accumulate in float64
    a = np.array([0.0, 1.1754944e-38], dtype=np.float32)
    compare(lambda t: t.std(), [a])
    assert thw.tensor(a).std().item() > 0


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("args", [(0, True), (0, False), (1, False, True), (False,), (True,), ((0, 1), True, True)])
def test_var_std_positional_arguments_as_torch(name, args):
    a = np.random.default_rng(0).standard_normal((3, 4))
    compare(lambda x: getattr(x, name)(*args), [a])
