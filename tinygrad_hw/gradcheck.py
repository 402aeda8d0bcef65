"""Finite-difference gradient check, independent of any other framework."""
import numpy as np

from . import backend
from .tensor import Tensor, no_grad


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Compare the gradients autograd gives with float64 central differences.

    ``fn(*inputs)`` must return a Tensor; every input that requires grad must be float64. With a
    random cotangent v, the analytic ``d(v . fn)/dx`` from one backward is compared, element by
    element, with ``(v . fn(x + eps e_i) - v . fn(x - eps e_i)) / (2 eps)``. Returns True, or raises
    AssertionError naming the input, the worst element and both values.

    >>> import tinygrad_hw as thw
    >>> x = thw.tensor([0.5, 1.5], dtype=thw.float64, requires_grad=True)
    >>> thw.gradcheck(lambda t: (t * t).exp(), (x,))
    True
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    wrt = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not wrt:
        raise ValueError("gradcheck: no input requires grad")
    for t in wrt:
        if t.dtype != np.float64:
            raise TypeError(f"gradcheck needs float64 inputs, got {t.dtype} for shape {t.shape}")
    out = fn(*inputs)
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(out.shape)
    v_dev = backend.to_device(v, out.device)
    saved = [t.grad for t in wrt]
    for t in wrt:
        t.grad = None
    out.backward(v_dev)
    analytic = [backend.to_host(t.grad._data) if t.grad is not None else np.zeros(t.shape) for t in wrt]
    for t, g in zip(wrt, saved):
        t.grad = g

    def objective():
        with no_grad():
            return float((backend.to_host(fn(*inputs)._data) * v).sum())

    for k, (t, ana) in enumerate(zip(wrt, analytic)):
        numeric = np.zeros(t.shape)
        num_flat = numeric.reshape(-1)
        original = t._data
        # perturb a C-contiguous copy through a flat view (reshape of a strided array would copy)
        t._data = t.device.xp.array(original, order="C", copy=True)
        try:
            flat = t._data.reshape(-1)
            for i in range(flat.size):
                orig = flat[i].item()
                flat[i] = orig + eps
                plus = objective()
                flat[i] = orig - eps
                minus = objective()
                flat[i] = orig
                num_flat[i] = (plus - minus) / (2 * eps)
        finally:
            t._data = original
        err = np.abs(ana - numeric) - (atol + rtol * np.abs(numeric))
        if err.size and err.max() > 0:
            worst = np.unravel_index(int(err.argmax()), err.shape)
            raise AssertionError(
                f"gradcheck failed for input {k} (shape {t.shape}) at index {tuple(int(i) for i in worst)}: "
                f"analytic {ana[worst]:.10g} vs numerical {numeric[worst]:.10g} "
                f"(atol={atol}, rtol={rtol})")
    return True
