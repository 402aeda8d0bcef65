"""Testing tools for people who write their own ops (and for this project's own tests).

- ``assert_close(actual, expected, rtol=None, atol=None)``: values within dtype-based tolerances,
  as ``torch.testing.assert_close``; takes Tensors, NumPy/CuPy arrays, torch tensors, numbers.
- ``check_op(fn, *arrays, reference=None, **kwargs)``: run ``fn`` on Tensors made from
  ``arrays``, compare its values with a reference (a NumPy function, a torch function, or none),
  and every input's gradient under a random cotangent with the reference's (torch autograd, or
  float64 finite differences of the NumPy reference or of ``fn`` itself).
- ``strategies`` (needs hypothesis): arrays with drawn shapes, dtypes and memory layouts, values
  kept away from kinks; broadcastable shape pairs; convolution geometries valid by construction.

A hypothesis test of a user-defined op::

    from hypothesis import given
    import tinygrad_hw as thw
    from tinygrad_hw.testing import check_op, strategies as tst

    class Cube(thw.Function):
        def forward(self, x):
            self.x = x
            return x ** 3
        def backward(self, g):
            return (3 * self.x ** 2 * g,)

    @given(tst.arrays(dtype="float64"))
    def test_cube(x):
        check_op(Cube.apply, x, reference=lambda a: a ** 3)
"""
from ._compare import assert_close, default_tolerances, to_numpy
from ._check import check_op

__all__ = ["assert_close", "check_op", "default_tolerances", "to_numpy", "strategies"]


def __getattr__(name):
    # strategies needs hypothesis, which the engine does not depend on: import it on first use
    if name == "strategies":
        import importlib
        return importlib.import_module(f"{__name__}.strategies")
    raise AttributeError(f"module 'tinygrad_hw.testing' has no attribute {name!r}")
