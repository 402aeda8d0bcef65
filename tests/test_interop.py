"""Tensors meeting other array libraries: ``.data``, ``np.asarray``, DLPack, array operands,
and the device rules of issue-prone paths (GPU arrays in lists, GPU operands, gradient checks)."""
import numpy as np
import pytest
import torch

import tinygrad_hw as thw
from tinygrad_hw import backend, nn


# --- .data ----------------------------------------------------------------------------------------
def test_data_is_a_detached_tensor_sharing_storage(device):
    out = thw.tensor([[0.1, 0.9, 0.3], [0.8, 0.1, 0.05]], device=device, requires_grad=True) * 1
    values, indices = thw.max(out.data, 1)            # the MNIST tutorial's prediction line
    assert isinstance(values, thw.Tensor) and isinstance(indices, thw.Tensor)
    assert indices.tolist() == [1, 0] and not values.requires_grad
    tv, ti = torch.max(torch.tensor([[0.1, 0.9, 0.3], [0.8, 0.1, 0.05]]), 1)
    assert indices.tolist() == ti.tolist() and values.tolist() == pytest.approx(tv.tolist())
    p = nn.Parameter(thw.ones(3, device=device))
    p.data.fill_(0)                                    # allowed: .data is not recorded
    assert p.tolist() == [0.0, 0.0, 0.0] and p.requires_grad and p.data.is_leaf
    p.data.add_(2.5)
    assert p.tolist() == [2.5] * 3


def test_assigning_data_replaces_the_storage(device):
    for lib in (thw, torch):
        kw = {"device": device} if lib is thw else {}
        p = lib.zeros(3, requires_grad=True, **kw)
        new = lib.arange(4, dtype=lib.float32, **kw)
        p.data = new
        assert p.shape == (4,) and p.tolist() == [0.0, 1.0, 2.0, 3.0] and p.requires_grad
        new[0] = 9.0                                   # the same memory now
        assert p.tolist()[0] == 9.0
        with pytest.raises((TypeError, RuntimeError)):
            p.data = [1.0, 2.0]


# --- __array__ ----------------------------------------------------------------------------------
def test_asarray_shares_memory_on_the_cpu():
    t = thw.tensor([[1.0, 2.0], [3.0, 4.0]])
    a = np.asarray(t)
    assert a.dtype == np.float32 and a.tolist() == t.tolist()
    a[0, 0] = 7.0                                      # no copy
    assert t[0, 0].item() == 7.0
    b = np.asarray(t, dtype=np.float64)
    assert b.dtype == np.float64 and not np.shares_memory(b, a)
    c = np.array(t)                                    # np.array copies, as for any array
    c[1, 1] = -1.0
    assert t[1, 1].item() == 4.0
    assert np.asarray(thw.tensor(3)).shape == () and np.asarray(thw.tensor(3)).item() == 3
    # torch's np.asarray also shares memory
    tt = torch.tensor([1.0, 2.0])
    np.asarray(tt)[0] = 5.0
    assert tt[0].item() == 5.0
    assert np.add(t, 1).tolist() == [[8.0, 3.0], [4.0, 5.0]]        # ufuncs accept tensors


def test_asarray_refuses_tensors_that_require_grad_like_torch():
    for lib in (thw, torch):
        x = lib.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match="requires grad"):
            np.asarray(x)
        assert np.asarray(x.detach()).tolist() == [1.0, 1.0]
    assert thw.ones(2, requires_grad=True).numpy().tolist() == [1.0, 1.0]   # .numpy() copies (documented)


@pytest.mark.skipif(not thw.cuda.is_available(), reason="needs a CUDA device")
def test_asarray_of_a_cuda_tensor_raises_type_error():
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        np.asarray(thw.ones(2, device="cuda"))


# --- DLPack ----------------------------------------------------------------------------------------
def test_dlpack_round_trip_with_torch_without_copy():
    t = thw.tensor([1.0, 2.0, 3.0])
    tt = torch.from_dlpack(t)
    assert tt.dtype == torch.float32 and tt.tolist() == [1.0, 2.0, 3.0]
    tt[0] = 10.0
    assert t.tolist()[0] == 10.0
    back = thw.from_dlpack(tt)
    back[1] = 20.0
    assert tt.tolist() == [10.0, 20.0, 3.0] and t.tolist() == [10.0, 20.0, 3.0]
    src = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    ours = thw.from_dlpack(src)
    assert ours.dtype == np.float64 and ours.shape == (2, 3) and ours.device == thw.device("cpu")
    src[1, 2] = -1.0
    assert ours[1, 2].item() == -1.0
    assert t.__dlpack_device__() == tt.__dlpack_device__()
    with pytest.raises(BufferError, match="require gradient"):
        torch.from_dlpack(thw.ones(2, requires_grad=True))


def test_dlpack_round_trip_with_numpy_without_copy():
    a = np.arange(5, dtype=np.int64)
    t = thw.from_dlpack(a)
    t[0] = 42
    assert a[0] == 42 and t.dtype == np.int64
    b = np.from_dlpack(t)
    b[1] = 43
    assert t.tolist()[1] == 43
    assert thw.from_dlpack(t).tolist() == t.tolist()
    with pytest.raises(TypeError, match="__dlpack__"):
        thw.from_dlpack([1, 2, 3])


@pytest.mark.skipif(not thw.cuda.is_available(), reason="needs a CUDA device")
def test_dlpack_on_cuda():
    t = thw.arange(4, device="cuda").float()
    back = thw.from_dlpack(t._data)              # the device array's own DLPack export
    assert back.device == t.device
    back[0] = 5.0
    assert t.tolist()[0] == 5.0                  # no copy
    if torch.cuda.is_available():                # torch's CUDA tensors too, on a real GPU
        tt = torch.from_dlpack(t)
        assert tt.is_cuda
        tt[1] = 7.0
        assert t.tolist()[1] == 7.0
        assert thw.from_dlpack(tt).device == t.device


# --- array operands and device rules ----------------------------------------------------------
class FakeGPUArray:
    """Just enough of a CuPy array: it refuses NumPy conversion, as CuPy does."""
    __array_priority__ = 2000

    def __init__(self, values):
        self._host = np.asarray(values, dtype=np.float32)
        self.shape, self.dtype = self._host.shape, self._host.dtype

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (0, False), "version": 3}

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()`")

    def get(self):
        return self._host.copy()


def test_gpu_operand_next_to_a_cpu_tensor_raises():
    t = thw.ones(3)
    for op in (lambda: t + FakeGPUArray([1, 2, 3]), lambda: t * FakeGPUArray([1, 2, 3]),
               lambda: t.add_(FakeGPUArray([1, 2, 3])), lambda: t < FakeGPUArray([1, 2, 3])):
        with pytest.raises(RuntimeError, match="one device"):
            op()


def test_numpy_operands_are_moved_to_the_tensor_device(device):
    t = thw.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    a = np.array([0.5, 1.0, 2.0], np.float32)
    out = t * a + np.float32(1) - a
    assert out.device == thw.device(device) and out.dtype == np.float32
    out.sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), a)
    np.testing.assert_allclose(out.detach().numpy(), np.array([1.0, 2.0, 3.0]) * a + 1 - a)
    c = thw.zeros(3, device=device)
    c += a
    c[0:2] = np.array([7.0, 8.0])                       # a NumPy value into a device tensor
    c[2:] = thw.tensor([9.0])                           # a CPU tensor value
    assert c.tolist() == [7.0, 8.0, 9.0] and c.device == thw.device(device)


def test_tensor_from_a_list_of_gpu_arrays_is_built_without_numpy_conversion():
    t = thw.tensor([FakeGPUArray([1.0, 2.0]), FakeGPUArray([3.0, 4.0])])
    assert t.shape == (2, 2) and t.dtype == np.float32 and t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    t = thw.tensor([thw.tensor(1.5), thw.tensor(2.5)])
    assert t.tolist() == [1.5, 2.5]
    with pytest.raises(ValueError, match="shapes"):
        thw.tensor([FakeGPUArray([1.0, 2.0]), FakeGPUArray([3.0])])


def test_device_scope_is_free_on_the_cpu():
    scope = backend.device_scope(backend.CPU)
    assert scope is backend.device_scope(thw.device("cpu"))
    with scope:
        assert (thw.ones(2) + 1).tolist() == [2.0, 2.0]


# --- backward's gradient check is a real error naming the op -------------------------------------
def _bad(grad_maker):
    class BadGrad(thw.Function):
        def forward(self, a):
            return a * 2

        def backward(self, g):
            return (grad_maker(g),)
    return BadGrad


@pytest.mark.parametrize("make, what", [
    (lambda g: g.astype(np.float64), "float64"),
    (lambda g: g[:1], r"\[1\]"),
    (lambda g: g.tolist(), "list"),
    (lambda g: np.ma.masked_array(g), "MaskedArray"),
])
def test_backward_gradient_check_names_function_type_dtype_and_shape(make, what):
    x = thw.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="BadGrad.backward") as e:
        _bad(make).apply(x).sum().backward()
    msg = str(e.value)
    assert "numpy.ndarray float32[3]" in msg
    import re
    assert re.search(what, msg)


def test_numpy_scalar_gradients_of_0d_inputs_are_accepted():
    x = thw.tensor(2.0, requires_grad=True)
    _bad(lambda g: np.float32(g * 3)).apply(x).backward()
    assert x.grad.item() == 3.0 and isinstance(x.grad._data, np.ndarray)


def test_ops_and_their_backward_run_inside_the_tensor_device(monkeypatch):
    # a NumPy-backed device that is not the CPU: every op on it must enter its scope
    fake = object.__new__(backend.Device)
    fake.type, fake.index, fake.xp = "cuda", 3, np
    entered = []

    class Scope:
        def __init__(self, dev):
            self.dev = dev

        def __enter__(self):
            entered.append(self.dev)

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(backend, "device_scope", Scope)
    x = thw.Tensor._wrap(np.array([1.0, 2.0], np.float32), fake).requires_grad_()
    y = (x * x).exp().sum()
    n_forward = len(entered)
    assert n_forward == 3 and all(d is fake for d in entered)
    y.backward()
    # each op's backward enters the scope, and so do the seed gradient and the leaf accumulations
    assert len(entered) >= 2 * n_forward and all(d is fake for d in entered)
    np.testing.assert_allclose(x.grad._data, 2 * np.array([1.0, 2.0]) * np.exp([1.0, 4.0]), rtol=1e-6)
