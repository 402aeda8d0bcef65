"""F.interpolate / nn.Upsample and F.embedding / nn.Embedding against torch."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from tinygrad_hw import nn
from oracle import compare

dtypes = st.sampled_from([np.float64, np.float32])


@st.composite
def resize_cases(draw):
    """(shape, mode, kwargs): a 1-3 spatial-dim input, a mode it accepts, and a size or a scale."""
    nd = draw(st.integers(1, 3))
    mode = draw(st.sampled_from(["nearest", {1: "linear", 2: "bilinear", 3: "trilinear"}[nd]]))
    sizes = tuple(draw(st.integers(1, 6)) for _ in range(nd))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + sizes
    kw = {}
    if draw(st.booleans()):
        kw["size"] = tuple(draw(st.integers(1, 9)) for _ in range(nd))
    else:
        kw["scale_factor"] = tuple(draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 2.5, 3.0])) for _ in range(nd))
        if any(int(s * f) < 1 for s, f in zip(sizes, kw["scale_factor"])):
            kw["scale_factor"] = (2.0,) * nd
        if draw(st.booleans()):
            kw["recompute_scale_factor"] = True
    if mode != "nearest":
        kw["align_corners"] = draw(st.booleans())
    return shape, mode, kw


@settings(max_examples=40, deadline=None)
@given(case=resize_cases(), dtype=dtypes, data=st.data())
def test_interpolate_matches_torch(case, dtype, data, device):
    shape, mode, kw = case
    x = np.random.default_rng(data.draw(st.integers(0, 99))).standard_normal(shape).astype(dtype)
    compare(F.interpolate, [x], torch_fn=torch.nn.functional.interpolate, device=device, mode=mode, **kw)


def test_interpolate_known_values_and_module():
    x = thw.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)(x)
    assert up.shape == (1, 1, 4, 4)
    np.testing.assert_allclose(up.numpy()[0, 0, 0], [1.0, 4 / 3, 5 / 3, 2.0], rtol=1e-6)
    near = nn.UpsamplingNearest2d(size=(3, 3))(x).numpy()[0, 0]
    np.testing.assert_array_equal(near, [[1, 1, 2], [1, 1, 2], [3, 3, 4]])
    np.testing.assert_allclose(nn.UpsamplingBilinear2d(scale_factor=2)(x).numpy(), up.numpy())


def test_interpolate_gradcheck():
    x = thw.tensor(np.random.default_rng(0).standard_normal((1, 2, 3, 4)), requires_grad=True)
    assert thw.gradcheck(lambda t: F.interpolate(t, size=(5, 3), mode="bilinear"), [x])
    assert thw.gradcheck(lambda t: F.interpolate(t, scale_factor=1.5, mode="nearest"), [x])


def test_interpolate_rejects_bad_input():
    x = thw.ones(1, 1, 4, 4)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="needs a 3-D input"):
        F.interpolate(x, scale_factor=2, mode="linear")
    with pytest.raises(ValueError, match="align_corners"):
        F.interpolate(x, scale_factor=2, mode="nearest", align_corners=True)
    with pytest.raises(NotImplementedError, match="bicubic"):
        F.interpolate(x, scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="3-D, 4-D or 5-D"):
        F.interpolate(thw.ones(4, 4), scale_factor=2)


@settings(max_examples=20, deadline=None)
@given(V=st.integers(1, 6), E=st.integers(1, 4), ids_shape=st.sampled_from([(5,), (2, 3), (2, 2, 2)]),
       dtype=dtypes, pad=st.booleans(), seed=st.integers(0, 99))
def test_embedding_matches_torch(V, E, ids_shape, dtype, pad, seed, device):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((V, E)).astype(dtype)
    ids = rng.integers(0, V, ids_shape)            # repeats included: their gradients add up
    padding_idx = int(rng.integers(0, V)) if pad else None
    compare(lambda w, i: F.embedding(i, w, padding_idx=padding_idx), [w, ids],
            torch_fn=lambda w, i: torch.nn.functional.embedding(i, w, padding_idx=padding_idx), device=device)


def test_embedding_module_init_padding_and_pretrained():
    thw.manual_seed(0)
    emb = nn.Embedding(10, 3, padding_idx=2)
    assert emb.weight.shape == (10, 3) and np.all(emb.weight.numpy()[2] == 0)
    assert 0.5 < emb.weight.numpy().std() < 1.5                 # N(0, 1) as torch
    out = emb(thw.tensor([[1, 2], [2, 9]]))
    out.sum().backward()
    g = emb.weight.grad.numpy()
    assert g[2].tolist() == [0, 0, 0] and g[1].tolist() == [1, 1, 1] and g[9].tolist() == [1, 1, 1]
    pre = nn.Embedding.from_pretrained(thw.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert not pre.weight.requires_grad and pre(thw.tensor([1])).tolist() == [[3.0, 4.0]]


def test_embedding_rejects_bad_ids():
    w = thw.ones(4, 2)
    with pytest.raises(IndexError, match=r"\[0, 4\)"):
        F.embedding(thw.tensor([4]), w)
    with pytest.raises(TypeError, match="integer"):
        F.embedding(thw.tensor([1.0]), w)
