"""Indexing ops (gather, scatter, scatter_add, index_select, take_along_dim, masked_fill,
masked_select) and shape ops (repeat, tile, repeat_interleave, flip, roll, split, chunk, unbind,
narrow, movedim, swapaxes, tril, triu, diag) against torch, with gradchecks and error cases."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_hw as thw
from oracle import compare
from test_ops_math import arrays, dtypes

shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
few = settings(max_examples=10)


def _long(a):
    return np.asarray(a, dtype=np.int64)


def _index_like(data, shape, axis, n, unique=False):
    """An int64 index of ``shape`` with values in [0, n); ``unique`` makes the values along
    ``axis`` distinct (a partial permutation), so scatter's writes do not collide."""
    if not unique:
        return data.draw(hnp.arrays(np.int64, shape, elements=st.integers(0, n - 1)))
    moved = list(shape)
    m = moved.pop(axis)
    rows = [data.draw(st.permutations(range(n)))[:m] for _ in range(int(np.prod(moved)))]
    idx = np.array(rows, dtype=np.int64).reshape(tuple(moved) + (m,))
    return np.moveaxis(idx, -1, axis)


@st.composite
def along(draw, unique=False):
    """(input shape, axis, index shape): index no larger than the input off axis."""
    shape = draw(shapes)
    axis = draw(st.integers(0, len(shape) - 1))
    ishape = tuple(draw(st.integers(1, s)) if d != axis else
                   draw(st.integers(1, s if unique else 5)) for d, s in enumerate(shape))
    return shape, axis, ishape


@few
@given(data=st.data(), dtype=dtypes, geom=along())
def test_gather(device, data, dtype, geom):
    shape, axis, ishape = geom
    a = data.draw(arrays(dtype, shape))
    idx = _index_like(data, ishape, axis, shape[axis])
    compare(lambda t: t.gather(axis, thw.tensor(idx, device=t.device)), [a],
            torch_fn=lambda t: t.gather(axis, torch.from_numpy(idx)), device=device)
    compare(lambda t: thw.gather(t, axis - len(shape), thw.tensor(idx, device=t.device)), [a],
            torch_fn=lambda t: torch.gather(t, axis - len(shape), torch.from_numpy(idx)), device=device)


@few
@given(data=st.data(), dtype=dtypes, geom=along(unique=True))
def test_scatter(device, data, dtype, geom):
    shape, axis, ishape = geom
    a = data.draw(arrays(dtype, shape))
    src = data.draw(arrays(dtype, ishape))
    idx = _index_like(data, ishape, axis, shape[axis], unique=True)
    compare(lambda t, s: t.scatter(axis, thw.tensor(idx, device=t.device), s), [a, src],
            torch_fn=lambda t, s: t.scatter(axis, torch.from_numpy(idx), s), device=device)
    compare(lambda t: t.scatter(axis, thw.tensor(idx, device=t.device), 1.5), [a],
            torch_fn=lambda t: t.scatter(axis, torch.from_numpy(idx), 1.5), device=device)
    compare(lambda t: thw.scatter(t, axis, thw.tensor(idx, device=t.device), value=-2.0), [a],
            torch_fn=lambda t: torch.scatter(t, axis, torch.from_numpy(idx), value=-2.0), device=device)


@few
@given(data=st.data(), dtype=dtypes, geom=along())
def test_scatter_add(device, data, dtype, geom):
    shape, axis, ishape = geom
    a = data.draw(arrays(dtype, shape))
    src = data.draw(arrays(dtype, ishape))
    idx = _index_like(data, ishape, axis, shape[axis])      # repeats accumulate
    compare(lambda t, s: t.scatter_add(axis, thw.tensor(idx, device=t.device), s), [a, src],
            torch_fn=lambda t, s: t.scatter_add(axis, torch.from_numpy(idx), s), device=device)
    compare(lambda t, s: thw.scatter_add(t, axis, thw.tensor(idx, device=t.device), s), [a, src],
            torch_fn=lambda t, s: torch.scatter_add(t, axis, torch.from_numpy(idx), s), device=device)


def test_scatter_src_larger_than_index():
    a, src = np.zeros((3, 4)), np.arange(15.0).reshape(3, 5)
    idx = _long([[0, 1], [2, 0]])
    compare(lambda t, s: t.scatter_add(1, thw.tensor(idx), s), [a, src],     # torch: no backward here
            torch_fn=lambda t, s: t.scatter_add(1, torch.from_numpy(idx), s), grad=False)
    compare(lambda t, s: t.scatter(0, thw.tensor(idx), s), [a, src],
            torch_fn=lambda t, s: t.scatter(0, torch.from_numpy(idx), s), grad=False)


@few
@given(data=st.data(), dtype=dtypes, shape=shapes, n=st.integers(0, 6))
def test_index_select(device, data, dtype, shape, n):
    a = data.draw(arrays(dtype, shape))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    idx = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, shape[axis] - 1)))
    compare(lambda t: t.index_select(axis, thw.tensor(idx, device=t.device)), [a],
            torch_fn=lambda t: t.index_select(axis, torch.from_numpy(idx)), device=device)
    compare(lambda t: thw.index_select(t, axis, thw.tensor(idx, device=t.device)), [a],
            torch_fn=lambda t: torch.index_select(t, axis, torch.from_numpy(idx)), device=device)


@few
@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_take_along_dim(device, data, dtype, shape):
    a = data.draw(arrays(dtype, shape))
    axis = data.draw(st.integers(0, len(shape) - 1))
    ishape = tuple(data.draw(st.sampled_from([1, s])) if d != axis else data.draw(st.integers(1, 4))
                   for d, s in enumerate(shape))
    idx = _index_like(data, ishape, axis, shape[axis])
    compare(lambda t: t.take_along_dim(thw.tensor(idx, device=t.device), axis), [a],
            torch_fn=lambda t: t.take_along_dim(torch.from_numpy(idx), axis), device=device)
    flat = data.draw(hnp.arrays(np.int64, (3,), elements=st.integers(0, a.size - 1)))
    compare(lambda t: thw.take_along_dim(t, thw.tensor(flat, device=t.device)), [np.ascontiguousarray(a)],
            torch_fn=lambda t: torch.take_along_dim(t, torch.from_numpy(flat)), device=device)


def test_take_along_dim_with_argsort_broadcasts():
    a = np.array([[3.0, 1.0, 2.0], [0.5, 0.25, 4.0]])
    idx = np.argsort(a[:1], axis=1)
    compare(lambda t: t.take_along_dim(thw.tensor(idx), 1), [a],
            torch_fn=lambda t: t.take_along_dim(torch.from_numpy(idx), 1))


@few
@given(data=st.data(), dtype=dtypes, shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3))
def test_masked_fill_and_select(device, data, dtype, shapes):
    sa, sm = shapes.input_shapes
    full = shapes.result_shape
    a = data.draw(arrays(dtype, full))
    mask = data.draw(hnp.arrays(np.bool_, sm))
    compare(lambda t: t.masked_fill(thw.tensor(mask, device=t.device), 0.5), [a],
            torch_fn=lambda t: t.masked_fill(torch.from_numpy(mask), 0.5), device=device)
    compare(lambda t, v: t.masked_fill(thw.tensor(mask, device=t.device), v), [a, np.array(2.5, dtype)],
            torch_fn=lambda t, v: t.masked_fill(torch.from_numpy(mask), v), device=device)
    b = data.draw(arrays(dtype, sa))
    compare(lambda t: t.masked_select(thw.tensor(mask, device=t.device)), [b],
            torch_fn=lambda t: t.masked_select(torch.from_numpy(mask)), device=device)
    compare(lambda t: thw.masked_select(t, thw.tensor(mask, device=t.device)), [b],
            torch_fn=lambda t: torch.masked_select(t, torch.from_numpy(mask)), device=device)


def test_masked_fill_integer_tensor_keeps_dtype():
    a = np.array([[1, 2], [3, 4]])
    m = np.array([True, False])
    compare(lambda t: t.masked_fill(thw.tensor(m), 7), [a],
            torch_fn=lambda t: t.masked_fill(torch.from_numpy(m), 7))


def test_indexing_gradchecks():
    rng = np.random.default_rng(3)
    x = thw.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    s = thw.tensor(rng.standard_normal((2, 4)), requires_grad=True)
    idx = thw.tensor(_long([[0, 2, 1, 0], [2, 2, 0, 1]]))
    thw.gradcheck(lambda t: t.gather(0, idx), (x,))
    thw.gradcheck(lambda t, u: t.scatter_add(0, idx, u), (x, s))
    thw.gradcheck(lambda t, u: t.scatter(0, thw.tensor(_long([[0, 2, 1, 0], [1, 0, 2, 2]])), u), (x, s))
    thw.gradcheck(lambda t: t.index_select(1, thw.tensor(_long([3, 0, 3]))), (x,))
    thw.gradcheck(lambda t: t.masked_fill(thw.tensor([True, False, False, True]), 0.0), (x,))


def test_indexing_errors():
    x = thw.tensor([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(RuntimeError, match="int64 index"):
        x.gather(0, thw.tensor([[0.0]]))
    with pytest.raises(RuntimeError, match="as many dims"):
        x.gather(0, thw.tensor([0, 1]))
    with pytest.raises(IndexError, match="out of bounds"):
        x.gather(1, thw.tensor([[0, 2]]))
    with pytest.raises(RuntimeError, match="larger than the input"):
        x.gather(0, thw.tensor([[0, 1, 0]]))
    with pytest.raises(IndexError, match="out of range"):
        x.gather(2, thw.tensor([[0]]))
    with pytest.raises(RuntimeError, match="dtype"):
        x.scatter(0, thw.tensor([[0]]), thw.tensor([[1.0]], dtype=thw.float64))
    with pytest.raises(RuntimeError, match="bool mask"):
        x.masked_fill(thw.tensor([1, 0]), 0.0)
    with pytest.raises(RuntimeError, match="does not broadcast"):
        x.masked_fill(thw.tensor([[[True]]]), 0.0)
    with pytest.raises(IndexError, match="0-d or 1-d"):
        x.index_select(0, thw.tensor([[0]]))
    with pytest.raises(IndexError, match="out of range"):
        x.index_select(0, thw.tensor([5]))
    with pytest.raises(IndexError, match="out of range"):
        x.index_select(0, thw.tensor([-1]))


# --- shape ops -----------------------------------------------------------------------------------
@few
@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_repeat_tile(device, data, dtype, shape):
    a = data.draw(arrays(dtype, shape))
    extra = data.draw(st.integers(0, 2))
    reps = tuple(data.draw(st.integers(0 if i else 1, 3)) for i in range(len(shape) + extra))
    compare(lambda t: t.repeat(*reps), [a], device=device)
    compare(lambda t: t.repeat(reps), [a], device=device)
    short = reps[:data.draw(st.integers(1, len(reps)))]
    compare(lambda t: t.tile(short), [a], device=device)
    compare(lambda t: thw.tile(t, short), [a], torch_fn=lambda t: torch.tile(t, short), device=device)


@few
@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_repeat_interleave(device, data, dtype, shape):
    a = data.draw(arrays(dtype, shape))
    r = data.draw(st.integers(0, 3))
    compare(lambda t: t.repeat_interleave(r), [a], device=device)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    compare(lambda t: t.repeat_interleave(r, axis), [a], device=device)
    counts = data.draw(hnp.arrays(np.int64, (shape[axis],), elements=st.integers(0, 3)))
    compare(lambda t: t.repeat_interleave(thw.tensor(counts, device=t.device), dim=axis), [a],
            torch_fn=lambda t: t.repeat_interleave(torch.from_numpy(counts), dim=axis), device=device)
    compare(lambda t: thw.repeat_interleave(t, thw.tensor(counts[:1], device=t.device), axis), [a],
            torch_fn=lambda t: torch.repeat_interleave(t, torch.from_numpy(counts[:1]), axis), device=device)


def test_repeat_interleave_of_counts_alone():
    c = np.array([2, 0, 3])
    compare(lambda t: thw.repeat_interleave(t), [c], torch_fn=torch.repeat_interleave)


@few
@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_flip_roll(device, data, dtype, shape):
    a = data.draw(arrays(dtype, shape))
    nd = len(shape)
    dims = data.draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
    compare(lambda t: t.flip(dims), [a], device=device)
    compare(lambda t: thw.flip(t, [d - nd for d in dims]), [a],
            torch_fn=lambda t: torch.flip(t, [d - nd for d in dims]), device=device)
    shifts = [data.draw(st.integers(-5, 5)) for _ in dims]
    compare(lambda t: t.roll(shifts, dims), [a], device=device)
    compare(lambda t: t.roll(shifts[0]), [a], device=device)
    compare(lambda t: thw.roll(t, shifts[0], dims[0]), [a],
            torch_fn=lambda t: torch.roll(t, shifts[0], dims[0]), device=device)


def test_flip_returns_a_copy():
    x = thw.tensor([1.0, 2.0, 3.0])
    y = x.flip(0)
    y._data[0] = 9.0
    assert x.tolist() == [1.0, 2.0, 3.0]


@few
@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_split_chunk_unbind_narrow(device, data, dtype, shape):
    a = data.draw(arrays(dtype, shape))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    size = data.draw(st.integers(1, n + 1))
    sections = data.draw(st.lists(st.integers(0, n), min_size=1, max_size=3))
    sections = sections[:-1] + [n - sum(sections[:-1])] if sum(sections[:-1]) <= n else [n]
    chunks = data.draw(st.integers(1, 5))
    start = data.draw(st.integers(-n, n - 1))
    length = data.draw(st.integers(0, n - (start % n)))
    def weighted(parts, M):
        return [p * (i + 1) for i, p in enumerate(parts)]

    for fn in [
        lambda t, M: M.stack(t.split(size, axis)[:1]),
        lambda t, M: M.cat(t.split(sections, axis), axis) * 2,
        lambda t, M: M.cat(weighted(t.split(size, axis), M), axis),
        lambda t, M: M.cat(weighted(t.chunk(chunks, axis), M), axis),
        lambda t, M: M.stack(weighted(t.unbind(axis), M)),
        lambda t, M: t.narrow(axis, start, length),
        lambda t, M: M.cat(M.split(t, sections, axis), axis),
        lambda t, M: M.stack(weighted(M.unbind(t, axis), M)),
        lambda t, M: M.narrow(t, axis, start, length),
    ]:
        compare(lambda t: fn(t, thw), [a], torch_fn=lambda t: fn(t, torch), device=device)
    assert len(thw.tensor(a).chunk(chunks, axis)) == len(torch.from_numpy(a).chunk(chunks, axis))
    assert [p.shape for p in thw.tensor(a).split(sections, axis)] == \
        [tuple(p.shape) for p in torch.from_numpy(a).split(sections, axis)]


@few
@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_movedim_swapaxes(device, data, dtype, shape):
    a = data.draw(arrays(dtype, shape))
    nd = len(shape)
    src = data.draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
    dst = data.draw(st.permutations(range(nd)))[:len(src)]
    compare(lambda t: t.movedim(src, dst), [a], device=device)
    compare(lambda t: t.movedim(src[0], -1), [a], device=device)
    compare(lambda t: thw.moveaxis(t, src, dst), [a], torch_fn=lambda t: torch.moveaxis(t, src, dst),
            device=device)
    d0, d1 = data.draw(st.integers(-nd, nd - 1)), data.draw(st.integers(-nd, nd - 1))
    compare(lambda t: t.swapaxes(d0, d1), [a], device=device)
    compare(lambda t: thw.swapdims(t, d0, d1), [a], torch_fn=lambda t: torch.swapdims(t, d0, d1),
            device=device)


@few
@given(data=st.data(), dtype=dtypes,
       shape=hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=5), k=st.integers(-4, 4))
def test_tril_triu(device, data, dtype, shape, k):
    a = data.draw(arrays(dtype, shape))
    compare(lambda t: t.tril(k), [a], device=device)
    compare(lambda t: t.triu(k), [a], device=device)
    compare(lambda t: thw.tril(t, diagonal=k), [a], torch_fn=lambda t: torch.tril(t, diagonal=k),
            device=device)
    compare(lambda t: thw.triu(t), [a], torch_fn=torch.triu, device=device)


@few
@given(data=st.data(), dtype=dtypes, k=st.integers(-4, 4),
       shape=hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5))
def test_diag(device, data, dtype, k, shape):
    a = data.draw(arrays(dtype, shape))
    compare(lambda t: t.diag(k), [a], device=device)
    compare(lambda t: thw.diag(t), [a], torch_fn=torch.diag, device=device)


def test_shape_gradchecks():
    rng = np.random.default_rng(4)
    x = thw.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    v = thw.tensor(rng.standard_normal(3), requires_grad=True)
    for fn in (lambda t: t.repeat(2, 1, 3), lambda t: t.tile(2), lambda t: t.repeat_interleave(2, 1),
               lambda t: t.repeat_interleave(thw.tensor([2, 0, 3]), 0), lambda t: t.flip(0, 1),
               lambda t: t.roll((1, -2), (0, 1)), lambda t: t.roll(5), lambda t: t.tril(1),
               lambda t: t.triu(-1), lambda t: t.diag(1), lambda t: t.narrow(1, 1, 2),
               lambda t: t.movedim(0, 1), lambda t: thw.stack(t.unbind(1)) * thw.arange(4.0).reshape(4, 1)):
        thw.gradcheck(fn, (x,))
    thw.gradcheck(lambda t: t.diag(-1), (v,))


def test_shape_errors():
    x = thw.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    cases = [
        (lambda: x.repeat(2), RuntimeError, "can not be smaller"),
        (lambda: x.split([1, 1], 1), RuntimeError, "sum to 3"),
        (lambda: x.split(0), RuntimeError, "positive"),
        (lambda: x.chunk(0), RuntimeError, "positive"),
        (lambda: x.narrow(1, 2, 2), RuntimeError, "exceeds"),
        (lambda: x.narrow(1, 5, 0), IndexError, "start"),
        (lambda: x.flip(0, 0), RuntimeError, "more than once"),
        (lambda: x.flip(2), IndexError, "out of range"),
        (lambda: x.roll((1, 2), 0), RuntimeError, "same length"),
        (lambda: x.movedim((0, 1), 0), RuntimeError, "same length"),
        (lambda: x[0].tril(), RuntimeError, "at least 2"),
        (lambda: x.reshape(1, 2, 3).diag(), RuntimeError, "1-d or 2-d"),
        (lambda: x.repeat_interleave(thw.tensor([1, 2]), 1), RuntimeError, "entries"),
        (lambda: x.repeat_interleave(-1), RuntimeError, "negative"),
    ]
    for fn, err, msg in cases:
        with pytest.raises(err, match=msg):
            fn()
