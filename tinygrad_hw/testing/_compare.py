"""assert_close: values within tolerances chosen by dtype, as torch.testing.assert_close."""
import numpy as np

from .. import backend
from ..tensor import Tensor

# (rtol, atol) by dtype, torch.testing's defaults; integers and bools compare exactly
_TOLERANCES = {
    np.dtype(np.float16): (1e-3, 1e-5),
    np.dtype(np.float32): (1.3e-6, 1e-5),
    np.dtype(np.float64): (1e-7, 1e-7),
    np.dtype(np.complex64): (1.3e-6, 1e-5),
    np.dtype(np.complex128): (1e-7, 1e-7),
}


def default_tolerances(dtype):
    """(rtol, atol) that ``assert_close`` uses for ``dtype`` when none are given."""
    return _TOLERANCES.get(np.dtype(dtype), (0.0, 0.0))


def to_numpy(x):
    """A NumPy array of the values of a Tensor, a CuPy or NumPy array, a torch tensor or a number."""
    if isinstance(x, Tensor):
        return backend.to_host(x._data)
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach") and hasattr(x, "numpy"):          # a torch tensor, without importing torch
        return x.detach().cpu().numpy()
    if hasattr(x, "get") and hasattr(x, "__cuda_array_interface__"):
        return x.get()
    return np.asarray(x)


def assert_close(actual, expected, rtol=None, atol=None, *, equal_nan=False, check_dtype=True, msg=None):
    """Raise AssertionError unless ``|actual - expected| <= atol + rtol * |expected|`` elementwise.

    Shapes must match exactly (no broadcasting) and, with ``check_dtype``, dtypes too. Without
    ``rtol``/``atol`` the tolerances of ``expected``'s dtype apply (``default_tolerances``).

    >>> import tinygrad_hw as thw
    >>> assert_close(thw.tensor([1.0, 2.0]), [1.0, 2.0 + 1e-6])
    """
    if (rtol is None) != (atol is None):
        raise ValueError("assert_close: give both rtol and atol, or neither")
    a, e = to_numpy(actual), to_numpy(expected)
    if not isinstance(expected, (Tensor, np.ndarray)) and not hasattr(expected, "dtype"):
        e = e.astype(a.dtype) if e.dtype.kind == a.dtype.kind or e.dtype.kind in "biu" else e
        check_dtype = False            # a Python number or list takes the actual's dtype
    prefix = f"{msg}: " if msg else ""
    if a.shape != e.shape:
        raise AssertionError(f"{prefix}shapes differ: actual {a.shape}, expected {e.shape}")
    if check_dtype and a.dtype != e.dtype:
        raise AssertionError(f"{prefix}dtypes differ: actual {a.dtype}, expected {e.dtype}")
    if rtol is None:
        rtol, atol = default_tolerances(e.dtype)
    if a.dtype.kind in "biu" and e.dtype.kind in "biu" and rtol == 0 and atol == 0:
        bad = a != e
    else:
        a64, e64 = a.astype(np.float64), e.astype(np.float64)
        with np.errstate(invalid="ignore"):
            close = np.abs(a64 - e64) <= atol + rtol * np.abs(e64)
        # infinities must match exactly; NaN equals NaN only when asked
        close = np.where(np.isfinite(a64) & np.isfinite(e64), close, a64 == e64)
        if equal_nan:
            close |= np.isnan(a64) & np.isnan(e64)
        bad = ~close
    if not bad.any():
        return
    n_bad = int(bad.sum())
    idx = np.unravel_index(int(np.argmax(bad)), bad.shape) if bad.ndim else ()
    lines = [f"{prefix}{n_bad} of {bad.size} elements differ "
             f"({100.0 * n_bad / bad.size:.1f}%; rtol={rtol}, atol={atol})",
             f"first at index {tuple(int(i) for i in idx)}: actual {a[idx]!r}, expected {e[idx]!r}"]
    if a.dtype.kind in "fciu" and e.dtype.kind in "fciu":
        a64, e64 = a.astype(np.float64), e.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.abs(a64 - e64)
            r = d / np.abs(e64)
        finite = np.isfinite(d)
        if finite.any():
            lines.append(f"greatest absolute difference {np.max(d[finite]):.3g}, "
                         f"greatest relative difference {np.nanmax(np.where(finite, r, np.nan)):.3g}")
    raise AssertionError("\n".join(lines))
