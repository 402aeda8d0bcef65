"""mm, bmm, dot, outer and einsum (values and every operand's gradient), and the order
statistics sort/argsort/topk/kthvalue/median/mode against torch, where torch defines the
result (unique values, or ties under a rule torch documents or that its CPU kernel keeps)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_hw as thw
from oracle import compare
from test_ops_math import arrays, dtypes

few = settings(max_examples=10)
sides = st.integers(1, 5)


@few
@given(data=st.data(), dtype=dtypes, n=sides, m=sides, p=sides, b=sides)
def test_mm_bmm_dot_outer(device, data, dtype, n, m, p, b):
    x, y = data.draw(arrays(dtype, (n, m))), data.draw(arrays(dtype, (m, p)))
    compare(lambda s, t: s.mm(t), [x, y], device=device)
    compare(thw.mm, [x, y], torch_fn=torch.mm, device=device)
    bx, by = data.draw(arrays(dtype, (b, n, m))), data.draw(arrays(dtype, (b, m, p)))
    compare(lambda s, t: s.bmm(t), [bx, by], device=device)
    compare(thw.bmm, [bx, by], torch_fn=torch.bmm, device=device)
    u, v = data.draw(arrays(dtype, (m,))), data.draw(arrays(dtype, (m,)))
    compare(lambda s, t: s.dot(t), [u, v], device=device)
    compare(thw.dot, [u, v], torch_fn=torch.dot, device=device)
    w = data.draw(arrays(dtype, (n,)))
    compare(lambda s, t: s.outer(t), [u, w], device=device)
    compare(thw.outer, [u, w], torch_fn=torch.outer, device=device)


def test_product_errors():
    a, b = thw.ones(2, 3), thw.ones(4, 2)
    cases = [
        (lambda: a.mm(b), "cannot be multiplied"), (lambda: a.mm(a[0]), "2-d"),
        (lambda: a.mm(thw.ones(3, 2, dtype=thw.float64)), "same dtype"),
        (lambda: thw.ones(2, 2, 3).bmm(thw.ones(3, 3, 2)), "do not match"), (lambda: a.bmm(a), "3-d"),
        (lambda: a[0].dot(b[0]), "inconsistent"), (lambda: a.dot(a), "1-d"), (lambda: a.outer(a[0]), "1-d"),
    ]
    for fn, msg in cases:
        with pytest.raises(RuntimeError, match=msg):
            fn()


EINSUM = {  # equation: operand shapes
    "ij,jk->ik": [(2, 3), (3, 4)],
    "bij,bjk->bik": [(2, 3, 4), (2, 4, 5)],
    "ij->ji": [(3, 4)],
    "ij->": [(3, 4)],
    "ii->": [(3, 3)],
    "ii->i": [(4, 4)],
    "i,j->ij": [(3,), (4,)],
    "i,i->": [(5,), (5,)],
    "ij,j->i": [(3, 4), (4,)],
    "ij,kj->ikj": [(2, 3), (4, 3)],
    "...ij,...jk->...ik": [(2, 1, 3, 4), (5, 4, 2)],
    "bhqd,bhkd->bhqk": [(2, 2, 3, 4), (2, 2, 5, 4)],
    "ij,jk,kl->il": [(2, 3), (3, 4), (4, 2)],
    "ijk,k": [(2, 3, 4), (4,)],
    "ba,ca": [(3, 2), (4, 2)],
    "i...->...": [(3, 2, 2)],
    "ij,kl->": [(2, 3), (4, 1)],
    "iij,j->ij": [(3, 3, 2), (2,)],
    "ij,ij->ij": [(1, 4), (3, 4)],
}


@pytest.mark.parametrize("eq", EINSUM)
@few
@given(data=st.data(), dtype=dtypes)
def test_einsum(device, eq, data, dtype):
    ops = [data.draw(arrays(dtype, s)) for s in EINSUM[eq]]
    compare(lambda *ts: thw.einsum(eq, *ts), ops, torch_fn=lambda *ts: torch.einsum(eq, *ts), device=device)


def test_einsum_list_form_and_gradcheck():
    rng = np.random.default_rng(5)
    a = thw.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    b = thw.tensor(rng.standard_normal((3, 3, 4)), requires_grad=True)
    c = thw.tensor(rng.standard_normal((4,)), requires_grad=True)
    thw.gradcheck(lambda x, y, z: thw.einsum("ij,jjk,k->i", [x, y, z]), (a, b, c))
    thw.gradcheck(lambda x, y: thw.einsum("ij,jkl->ikl", x, y), (a, b))
    thw.gradcheck(lambda y: thw.einsum("iik->k", y), (b,))


def test_einsum_errors():
    a = thw.ones(2, 3)
    cases = [
        (lambda: thw.einsum("ij,jk->ik", a), ValueError, "names 2 operands"),
        (lambda: thw.einsum("ijk->i", a), ValueError, "name 3 dims"),
        (lambda: thw.einsum("ij->iz", a), ValueError, "appears in no operand"),
        (lambda: thw.einsum("ij,ij->i", a, thw.ones(3, 2)), RuntimeError, "has size"),
        (lambda: thw.einsum("i1->i", a), ValueError, "invalid subscripts"),
        (lambda: thw.einsum("ij,jk", a, thw.ones(3, 2, dtype=thw.float64)), RuntimeError, "one dtype"),
    ]
    for fn, err, msg in cases:
        with pytest.raises(err, match=msg):
            fn()


# --- order statistics ---------------------------------------------------------------------------
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=5)


def _dim(data, ndim):
    return data.draw(st.integers(-max(ndim, 1), max(ndim, 1) - 1))


def _check_pair(ours, theirs):
    """A (values, indices) pair: values and their dtype, indices exactly, as torch."""
    assert ours.indices.dtype == thw.int64 and tuple(ours.indices.shape) == tuple(theirs.indices.shape)
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.detach().numpy())


@few
@given(data=st.data(), dtype=dtypes, shape=shapes, descending=st.booleans())
def test_sort_argsort(device, data, dtype, shape, descending):
    a = data.draw(arrays(dtype, shape, unique=True))
    dim = _dim(data, len(shape))
    compare(lambda t: t.sort(dim, descending).values, [a], device=device)
    _check_pair(thw.tensor(a, device=device).sort(dim, descending), torch.from_numpy(a).sort(dim, descending))
    compare(lambda t: t.argsort(dim, descending), [a], device=device)
    compare(lambda t: thw.argsort(t, dim, descending=descending), [a],
            torch_fn=lambda t: torch.argsort(t, dim, descending=descending), device=device)


@few
@given(data=st.data(), shape=shapes, descending=st.booleans())
def test_sort_is_stable_with_ties(device, data, shape, descending):
    """With ties, torch defines the order only for stable=True: equal values keep their order."""
    a = data.draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0, 2.0, np.nan])))
    dim = _dim(data, len(shape))
    ours = thw.tensor(a, device=device).sort(dim, descending=descending, stable=True)
    _check_pair(ours, torch.from_numpy(a).sort(dim=dim, descending=descending, stable=True))
    compare(lambda t: t.sort(dim, descending=descending, stable=True).values, [a],
            torch_fn=lambda t: t.sort(dim=dim, descending=descending, stable=True).values, device=device)
    i = data.draw(hnp.arrays(np.int32, shape, elements=st.integers(-2, 2)))
    _check_pair(thw.tensor(i).sort(dim, descending, stable=True),
                torch.from_numpy(i).sort(dim=dim, descending=descending, stable=True))
    b = np.asarray(i > 0)
    _check_pair(thw.tensor(b).sort(dim, descending, stable=True),
                torch.from_numpy(b).sort(dim=dim, descending=descending, stable=True))


@few
@given(data=st.data(), dtype=dtypes, shape=shapes, largest=st.booleans())
def test_topk(device, data, dtype, shape, largest):
    a = data.draw(arrays(dtype, shape, unique=True))
    dim = _dim(data, len(shape))
    k = data.draw(st.integers(0, shape[dim] if shape else 1))
    compare(lambda t: t.topk(k, dim, largest).values, [a], device=device)
    _check_pair(thw.tensor(a, device=device).topk(k, dim, largest), torch.from_numpy(a).topk(k, dim, largest))
    _check_pair(thw.topk(thw.tensor(a), k, dim=dim, largest=largest),
                torch.topk(torch.from_numpy(a), k, dim=dim, largest=largest))


@few
@given(data=st.data(), dtype=dtypes, shape=shapes, keepdim=st.booleans())
def test_kthvalue_median(device, data, dtype, shape, keepdim):
    a = data.draw(arrays(dtype, shape, unique=True))
    dim = _dim(data, len(shape))
    k = data.draw(st.integers(1, shape[dim] if shape else 1))
    compare(lambda t: t.kthvalue(k, dim, keepdim).values, [a], device=device)
    _check_pair(thw.tensor(a).kthvalue(k, dim, keepdim), torch.from_numpy(a).kthvalue(k, dim, keepdim))
    compare(lambda t: t.median(), [a], device=device)
    compare(lambda t: t.median(dim, keepdim).values, [a], device=device)
    _check_pair(thw.tensor(a).median(dim, keepdim), torch.from_numpy(a).median(dim, keepdim))
    compare(lambda t: thw.median(t), [a], torch_fn=torch.median, device=device)


def test_median_is_the_lower_middle_and_shares_ties_without_dim():
    compare(lambda t: t.median(), [np.array([4.0, 1.0, 3.0, 2.0])])
    compare(lambda t: t.median(), [np.array([[2.0, 1.0, 2.0], [2.0, 5.0, 0.0]])])   # ties share the grad
    compare(lambda t: t.median(), [np.array([1.0, np.nan, 3.0])], grad=False)
    _check_pair(thw.tensor([[1.0, np.nan, 3.0, np.nan]]).median(1),
                torch.tensor([[1.0, np.nan, 3.0, np.nan]]).median(1))


@few
@given(data=st.data(), shape=shapes, keepdim=st.booleans())
def test_mode(device, data, shape, keepdim):
    """The smallest of the most frequent values, and the last index of it (torch's CPU rule)."""
    a = data.draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 0.5, 2.0, 3.0])))
    dim = _dim(data, len(shape))
    _check_pair(thw.tensor(a, device=device).mode(dim, keepdim), torch.from_numpy(a).mode(dim, keepdim))
    compare(lambda t: t.mode(dim, keepdim).values, [a], device=device)
    i = a.astype(np.int64)
    _check_pair(thw.mode(thw.tensor(i), dim), torch.mode(torch.from_numpy(i), dim))


def test_order_statistics_gradcheck():
    x = thw.tensor(np.array([[0.3, -1.2, 2.5, 0.9], [1.7, 0.1, -0.4, -2.2], [0.6, 1.1, -0.8, 3.3]]),
                   requires_grad=True)
    for fn in (lambda t: t.sort(1).values, lambda t: t.sort(0, descending=True).values,
               lambda t: t.topk(2).values, lambda t: t.kthvalue(2, 0).values, lambda t: t.median(),
               lambda t: t.median(1).values, lambda t: t.mode(0).values):
        thw.gradcheck(fn, (x,))


def test_order_statistics_errors():
    x = thw.tensor([[1.0, 2.0, 3.0]])
    cases = [
        (lambda: x.topk(4), RuntimeError, "out of range"), (lambda: x.topk(-1), RuntimeError, "out of range"),
        (lambda: x.kthvalue(0), RuntimeError, "out of range"),
        (lambda: x.kthvalue(4), RuntimeError, "out of range"),
        (lambda: x.sort(2), IndexError, "out of range"), (lambda: x.median(3), IndexError, "out of range"),
        (lambda: thw.tensor([]).median(), RuntimeError, "empty"),
        (lambda: x.mode(-3), IndexError, "out of range"),
    ]
    for fn, err, msg in cases:
        with pytest.raises(err, match=msg):
            fn()
