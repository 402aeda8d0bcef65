"""thw.testing: assert_close, check_op (catches wrong ops), and the hypothesis strategies."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from tinygrad_hw.testing import assert_close, check_op, default_tolerances, strategies as tst


class Cube(thw.Function):
    def forward(self, x):
        self.x = x
        return x ** 3

    def backward(self, g):
        return (3 * self.x ** 2 * g,)


class WrongBackward(Cube):
    def backward(self, g):
        return (2 * self.x ** 2 * g,)


class WrongForward(Cube):
    def forward(self, x):
        self.x = x
        return x ** 3 + 1e-3


X = np.random.default_rng(0).standard_normal((3, 4))


def test_assert_close_uses_dtype_tolerances_and_names_the_difference():
    assert default_tolerances(np.float32) == (1.3e-6, 1e-5)
    assert default_tolerances(np.float64) == (1e-7, 1e-7)
    assert_close(thw.tensor([1.0, 2.0]), np.array([1.0, 2.0 + 1e-6], np.float32))
    with pytest.raises(AssertionError, match=r"1 of 2 elements differ.*\n.*index \(1,\)"):
        assert_close(thw.tensor([1.0, 2.0]), np.array([1.0, 2.001], np.float32))
    assert_close(thw.tensor([1.0, 2.0]), np.array([1.0, 2.001], np.float32), rtol=1e-3, atol=0)
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_close(thw.ones(2), np.ones(3, np.float32))
    with pytest.raises(AssertionError, match="dtypes differ"):
        assert_close(thw.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="both rtol and atol"):
        assert_close(thw.ones(2), np.ones(2, np.float32), rtol=1e-3)


def test_assert_close_on_torch_tensors_numbers_nan_and_inf():
    assert_close(torch.tensor([1.0, 2.0]), thw.tensor([1.0, 2.0]))
    assert_close(thw.tensor(3.0), 3.0)
    assert_close(thw.tensor([1, 2]), [1, 2])
    with pytest.raises(AssertionError):
        assert_close(thw.tensor([1, 2]), [1, 3])
    nan = np.array([np.nan, 1.0])
    with pytest.raises(AssertionError):
        assert_close(nan, nan)
    assert_close(nan, nan, equal_nan=True)
    assert_close(np.array([np.inf]), np.array([np.inf]))
    with pytest.raises(AssertionError):
        assert_close(np.array([np.inf]), np.array([-np.inf]))


@pytest.mark.parametrize("reference, framework", [(lambda a: a ** 3, None), (None, None),
                                                  (lambda a: a ** 3, "torch")])
def test_check_op_passes_a_right_op_and_catches_a_wrong_backward(reference, framework):
    check_op(Cube.apply, X, reference=reference, reference_framework=framework)
    with pytest.raises(AssertionError, match="gradient of input 0"):
        check_op(WrongBackward.apply, X, reference=reference, reference_framework=framework)


def test_check_op_catches_wrong_values_shape_and_dtype():
    with pytest.raises(AssertionError, match="forward values differ"):
        check_op(WrongForward.apply, X, reference=lambda a: a ** 3)
    with pytest.raises(AssertionError, match="shape"):
        check_op(lambda a: a.sum(0), X, reference=lambda a: a.sum(1))
    with pytest.raises(AssertionError, match="dtype"):
        check_op(lambda a: a.to(thw.float32), X, reference=lambda a: a * 1, reference_framework="torch")


def test_check_op_against_a_torch_function_with_keyword_arguments():
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 6))
    w = np.random.default_rng(2).standard_normal((4, 3, 3, 3))
    check_op(F.conv2d, x, w, reference=torch.nn.functional.conv2d, stride=2, padding=1)
    with pytest.raises(AssertionError, match="forward values differ"):
        check_op(lambda a, b: F.conv2d(a, b, padding=1) * 1.001, x, w,
                 reference=lambda a, b: torch.nn.functional.conv2d(a, b, padding=1),
                 reference_framework="torch")


@settings(max_examples=15, deadline=None)
@given(x=tst.arrays(dtype="float64", avoid=(0.0,), margin=0.05))
def test_readme_recipe_relu_with_hypothesis(x):
    check_op(lambda t: t.relu(), x, reference=lambda a: np.maximum(a, 0))
    assert np.all(np.abs(x) >= 0.05)


@settings(max_examples=30, deadline=None)
@given(x=tst.arrays(layouts=("transposed", "strided"), shape=(3, 4)))
def test_arrays_strategy_draws_non_contiguous_layouts(x):
    assert x.shape == (3, 4) and not x.flags.c_contiguous
    assert x.dtype in (np.float32, np.float64)


@settings(max_examples=15, deadline=None)
@given(x=tst.arrays(dtype="float32", shape=(6,), unique=True))
def test_unique_arrays_have_no_ties(x):
    assert len(set(x.tolist())) == 6


@settings(max_examples=25, deadline=None)
@given(geo=tst.conv_geometries())
def test_conv_geometries_are_valid_for_torch(geo):
    x = torch.zeros((geo["batch"], geo["in_channels"]) + geo["size"])
    w = torch.zeros((geo["out_channels"], geo["in_channels"] // geo["groups"]) + geo["kernel"])
    out = torch.nn.functional.conv2d(x, w, stride=geo["stride"], padding=geo["padding"],
                                     dilation=geo["dilation"], groups=geo["groups"])
    assert min(out.shape[2:]) >= 1


@settings(max_examples=25, deadline=None)
@given(pair=tst.broadcastable_shapes())
def test_broadcastable_shapes_broadcast(pair):
    a, b = pair
    assert np.broadcast_shapes(a, b) is not None
