"""Bad input gets a clear exception whose message names what is wrong."""
import re
import sys

import numpy as np
import pytest

import tinygrad_hw as thw
from tinygrad_hw import backend


@pytest.mark.parametrize("op", [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b,
    lambda a, b: a ** b, lambda a, b: a.maximum(b), lambda a, b: a.minimum(b),
    lambda a, b: b + a, lambda a, b: a == b, lambda a, b: thw.where(a > 0, a, b),
], ids=["add", "sub", "mul", "div", "pow", "maximum", "minimum", "radd", "eq", "where"])
def test_binary_shape_mismatch_names_both_shapes(device, op):
    a, b = thw.ones(2, 3, device=device, requires_grad=True), thw.ones(4, device=device)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)|\(4,\).*\(2, 3\)"):
        op(a, b)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 3, 4\)|\(2, 3, 4\).*\(2, 3\)"):
        op(a, np.ones((2, 3, 4)))


def re_shape(shape):
    return re.escape(str(tuple(shape)))


@pytest.mark.parametrize("sa, sb", [((2, 3), (4, 5)), ((3,), (4,)), ((2, 2, 3), (2, 4, 2)),
                                    ((2, 3, 4), (5, 4, 2)), ((), (3,))])
def test_matmul_mismatch_names_both_shapes(device, sa, sb):
    a, b = thw.ones(sa, device=device), thw.ones(sb, device=device)
    with pytest.raises(ValueError, match=rf"matmul.*{re_shape(sa)}.*{re_shape(sb)}"):
        a @ b


def _fake_device(name="cuda", index=7):
    """A second device whose arrays are NumPy's: enough to reach the mixed-device check on a CPU."""
    dev = object.__new__(backend.Device)
    dev.type, dev.index, dev.xp = name, index, np
    return dev


@pytest.mark.parametrize("op", [lambda a, b: a + b, lambda a, b: a @ b, lambda a, b: b * a,
                                lambda a, b: thw.cat([a, b]), lambda a, b: thw.where(a > 0, a, b)])
def test_mixed_devices_raise_naming_both(op):
    a = thw.ones(2, 2, requires_grad=True)
    b = thw.Tensor._wrap(np.ones((2, 2), dtype=np.float32), _fake_device())
    with pytest.raises(RuntimeError, match=r"one device.*(cpu.*cuda:7|cuda:7.*cpu)"):
        op(a, b)


@pytest.mark.skipif(not thw.cuda.is_available(), reason="needs a CUDA GPU")
def test_mixed_real_devices_raise():
    a, b = thw.ones(2), thw.ones(2, device="cuda")
    with pytest.raises(RuntimeError, match=r"one device.*cpu.*cuda:0"):
        a + b


def test_integer_requires_grad_names_the_dtype(device):
    with pytest.raises(RuntimeError, match="floating point.*int64"):
        thw.tensor([1, 2, 3], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point.*int32"):
        thw.ones(2, dtype=thw.int32, device=device).requires_grad_()


@pytest.mark.parametrize("spec", ["tpu", "cuda:x", "gpu", "cuda:-1", "cpu:0x"])
def test_unknown_device_string(spec):
    with pytest.raises(ValueError, match=f"unknown device '{spec}'.*'cpu', 'cuda' or 'cuda:N'"):
        thw.tensor([1.0], device=spec)
    with pytest.raises(ValueError, match=f"unknown device '{spec}'"):
        thw.zeros(2, device=spec)
    with pytest.raises(ValueError, match=f"unknown device '{spec}'"):
        thw.ones(2).to(spec)


def test_device_of_wrong_type():
    with pytest.raises(TypeError, match="device must be a string.*int"):
        thw.device(0)


@pytest.fixture
def without_cupy(monkeypatch):
    """Pretend CuPy is not installed, whatever this machine has."""
    monkeypatch.setitem(sys.modules, "cupy", None)     # makes `import cupy` raise ImportError
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_error", None)
    monkeypatch.setattr(backend, "_devices", {"cpu": backend.CPU})


def test_cuda_without_cupy_says_cupy_is_missing(without_cupy):
    for make in (lambda: thw.tensor([1.0], device="cuda"), lambda: thw.ones(2, device="cuda:0"),
                 lambda: thw.ones(2).cuda(), lambda: thw.ones(2).to("cuda")):
        with pytest.raises(RuntimeError, match="CuPy.*could not be imported"):
            make()
    assert not thw.cuda.is_available()


def test_cuda_here_without_gpu_raises_clearly(without_cupy, monkeypatch):
    # CuPy importable, but it sees no GPU
    import types
    runtime = types.SimpleNamespace(getDeviceCount=lambda: 0)
    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime)))
    with pytest.raises(RuntimeError, match="CuPy is installed but no CUDA GPU was found"):
        thw.zeros(1, device="cuda")
    assert not thw.cuda.is_available()


def test_reshape_to_a_wrong_size(device):
    x = thw.ones(2, 3, device=device)
    with pytest.raises(ValueError, match=r"shape \(2, 3\) \(6 elements\) into shape \(4, 2\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(-1, 4\)"):
        x.view(-1, 4)


@pytest.mark.parametrize("dims, err", [((0, 0, 1), ValueError), ((0, 1), ValueError),
                                       ((0, 1, 3), IndexError), ((2, 1, -4), IndexError)])
def test_bad_permute(device, dims, err):
    x = thw.ones(2, 3, 4, device=device)
    with pytest.raises(err, match=r"permutation.*\(2, 3, 4\)|out of range.*3 dims"):
        x.permute(*dims)


@pytest.mark.parametrize("call", [
    lambda x: x.sum(3), lambda x: x.mean(-4), lambda x: x.max(5), lambda x: x.argmax(3),
    lambda x: x.var((0, 3)), lambda x: x.transpose(0, 3), lambda x: x.unsqueeze(4),
    lambda x: x.unsqueeze(-5), lambda x: x.squeeze(3), lambda x: x.flatten(0, 3),
    lambda x: thw.cat([x, x], 3), lambda x: thw.stack([x, x], 4), lambda x: x.split(1, 3),
], ids=["sum", "mean", "max", "argmax", "var", "transpose", "unsqueeze", "unsqueeze_neg", "squeeze",
        "flatten", "cat", "stack", "split"])
def test_out_of_range_dim(device, call):
    x = thw.ones(2, 3, 4, device=device)
    with pytest.raises(IndexError, match=r"dim -?\d is out of range for a tensor of 3 dims"):
        call(x)


def test_other_bad_shapes(device):
    x = thw.ones(2, 3, device=device)
    with pytest.raises(ValueError, match=r"expand.*\(2, 3\).*\(4, 3\)"):
        x.expand(4, 3)
    with pytest.raises(ValueError, match=r"expand.*\(2, 3\).*\(-1, 2, 3\)"):
        x.expand(-1, 2, 3)          # -1 cannot size a new leading dim
    with pytest.raises(ValueError, match=r"cat.*\[\(2, 3\), \(3, 2\)\]"):
        thw.cat([x, thw.ones(3, 2, device=device)])
    with pytest.raises(ValueError, match=r"stack.*\(2, 3\).*\(3,\)"):
        thw.stack([x, thw.ones(3, device=device)])
    with pytest.raises(ValueError, match="zero-dimensional"):
        thw.cat([thw.tensor(1.0), thw.tensor(2.0)])
    with pytest.raises(ValueError, match=r"pad.*\(1, 2, 3\)"):
        x.pad((1, 2, 3))
    with pytest.raises(IndexError, match=r"index.*shape \(2, 3\)"):
        x[5]
    with pytest.raises(ValueError, match=r"item\(\).*\(2, 3\)"):
        x.item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(x)


def test_backward_errors_name_the_problem(device):
    x = thw.ones(2, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"scalar outputs.*\(2,\)"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        thw.ones(1, device=device).backward()


def test_bad_data_types():
    with pytest.raises(TypeError, match="list of strings"):
        thw.tensor(["a", "b"])
    with pytest.raises(TypeError, match="objects that are not numbers"):
        thw.tensor([object()])
    with pytest.raises(ValueError, match="cannot make a tensor from this list.*inhomogeneous"):
        thw.tensor([[1.0, 2.0], [3.0]])
    with pytest.raises(ValueError, match="clamp needs"):
        thw.ones(2).clamp()
