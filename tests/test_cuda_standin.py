"""The CUDA stand-in (tests/cuda_standin.py) behaves as CuPy where engine bugs hide, and the engine
run on it does no host sync where a GPU run must not. These run in every suite (the stand-in is
NumPy), whether or not THW_TEST_CUDA_STANDIN is set."""
import numpy as np
import pytest

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from tinygrad_hw import backend

import cuda_standin as cp

IMPLICIT = r"Implicit conversion to a NumPy array is not allowed\. Please use `\.get\(\)`"


def test_no_implicit_conversion_to_numpy():
    a = cp.arange(6.0).reshape(2, 3)
    for convert in (np.asarray, np.array, lambda v: v.__array__(), lambda v: np.array([v, v]),
                    np.ascontiguousarray, lambda v: np.float64(1.0) * np.ones(3) + v[0]):
        with pytest.raises(TypeError, match=IMPLICIT + "|Unsupported type"):
            convert(a)
    with pytest.raises(TypeError, match="length-1"):
        float(a)
    assert float(a[1, 2]) == 5.0 and int(a[0, 1]) == 1 and bool(a[0, 1])
    with pytest.raises(ValueError, match="ambiguous"):
        bool(a)
    got = a.get()
    assert isinstance(got, np.ndarray) and got.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert isinstance(cp.asnumpy(a), np.ndarray)


def test_host_arrays_are_refused_as_operands_scalars_accepted():
    a = cp.ones(3, dtype=np.float32)
    host = np.ones(3, dtype=np.float32)
    for mix in (lambda: a + host, lambda: host + a, lambda: cp.add(a, host),
                lambda: np.add(a, host), lambda: cp.maximum(a, [1, 2, 3]), lambda: cp.where(a > 0, a, host),
                lambda: cp.concatenate([a, host]), lambda: np.concatenate([a, host]),
                lambda: cp.matmul(a, host)):
        with pytest.raises(TypeError):
            mix()
    with pytest.raises(TypeError):
        cp.add(a, np.asarray(1.0))
    assert (np.float64(1) <= a).get().all()
    b = a * 2.0 + np.float32(1.0) - 1
    assert isinstance(b, cp.ndarray) and b.dtype == np.float32 and b.get().tolist() == [2.0] * 3
    b += a
    assert b.get().tolist() == [3.0] * 3
    with pytest.raises(TypeError):
        b += host
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray cannot be used for fill"):
        a[:2] = np.zeros(2, np.float32)
    a[:2] = np.float32(5.0)
    a[2] = np.asarray(7.0)         # a 0-d host value is a scalar
    assert a.get().tolist() == [5.0, 5.0, 7.0]


def test_results_are_device_arrays_never_numpy_scalars():
    a = cp.asarray(np.arange(4.0))
    for r in (a.sum(), a.max(), a[1], a.argmax(), a.mean(), a[0] == a[1], cp.sum(a), np.sum(a), a.all()):
        assert isinstance(r, cp.ndarray) and r.ndim == 0, type(r)
    assert a[1].base is not None                 # an int index gives a view, as in CuPy
    assert (a + 0).base is None


def test_integer_array_indices_wrap_around_as_in_cupy():
    a = cp.asarray(np.arange(6).reshape(2, 3))
    idx = cp.asarray(np.array([3, -1]))
    assert a[0][idx].get().tolist() == [0, 2] and a[:, [4]].get().tolist() == [[1], [4]]
    with pytest.raises(IndexError):
        a[2]


def test_dlpack_round_trip_shares_memory_and_refuses_host_arrays():
    a = cp.arange(3.0)
    assert a.__dlpack_device__() == (2, 0)
    b = cp.from_dlpack(a.reshape(3))
    b[0] = 7.0
    assert a.get()[0] == 7.0
    with pytest.raises(TypeError, match="not on a CUDA device"):
        cp.from_dlpack(np.arange(3.0))


def test_numpy_only_keywords_are_refused():
    a = cp.ones((2, 3))
    for call in (lambda: cp.asarray([1], like=a), lambda: a.sum(where=a > 0), lambda: a.max(initial=0),
                 lambda: cp.lib.stride_tricks.as_strided(a, (2,), (8,), writeable=False),
                 lambda: cp.add(a, a, where=a > 0), lambda: cp.zeros(3, like=a)):
        with pytest.raises(TypeError):
            call()
    v = cp.lib.stride_tricks.as_strided(a, shape=(3, 2), strides=(8, 24))
    assert isinstance(v, cp.ndarray) and v.get().shape == (3, 2)


def test_devices_and_scopes():
    assert cp.cuda.runtime.getDeviceCount() == 2 and cp.cuda.runtime.getDevice() == 0
    a = cp.zeros(2)
    with cp.cuda.Device(1) as d:
        assert d.id == 1 and cp.cuda.runtime.getDevice() == 1
        b = cp.ones(2)
        assert b.device.id == 1 and (b + 1).device.id == 1
        with pytest.raises(ValueError, match="different from the current device"):
            a + 1              # an array of device 0 used on device 1
        c = a.copy()           # copies onto the current device
        assert c.device.id == 1
        assert cp.asarray(a) is a
    assert cp.cuda.runtime.getDevice() == 0
    with pytest.raises(ValueError, match="different from the current device"):
        b * 2
    assert b[0].device.id == 1 and b.reshape(2, 1).device.id == 1   # views stay on their device
    e0, e1 = cp.cuda.Event(), cp.cuda.Event()
    e0.record(), e1.record(), e1.synchronize()
    assert cp.cuda.get_elapsed_time(e0, e1) >= 0
    with cp.cuda.Stream(non_blocking=True) as s:
        s.synchronize()
    cp.cuda.runtime.deviceSynchronize()


def test_random_scatter_add_and_ufunc_at():
    g1, g2 = cp.random.default_rng(3), cp.random.default_rng(3)
    x = g1.standard_normal((2, 3), dtype=np.float32)
    assert isinstance(x, cp.ndarray) and x.dtype == np.float32
    assert np.array_equal(x.get(), g2.standard_normal((2, 3), dtype=np.float32).get())
    t = cp.zeros(3)
    cp.cupyx.scatter_add(t, cp.asarray(np.array([0, 0, 2])), cp.ones(3))
    assert t.get().tolist() == [2.0, 0.0, 1.0]
    with pytest.raises(TypeError):
        cp.cupyx.scatter_add(t, cp.asarray(np.array([0])), np.ones(1))


@pytest.fixture
def on_standin(monkeypatch):
    """The engine's 'cuda' is the stand-in for this test (whatever this machine has)."""
    for name in ("_cupy", "_cupyx", "_cupy_error"):
        monkeypatch.setattr(backend, name, getattr(backend, name))
    monkeypatch.setattr(backend, "_devices", dict(backend._devices))
    monkeypatch.setattr(backend, "_rngs", dict(backend._rngs))
    backend.set_cuda_module(cp, cp.cupyx)
    return "cuda"


def test_engine_tensors_live_on_the_standin(on_standin):
    x = thw.tensor([1.0, 2.0], device="cuda")
    assert isinstance(x._data, cp.ndarray) and str(x.device) == "cuda:0"
    assert x.to("cuda:1")._data.device.id == 1
    assert np.array_equal(x.to("cuda:1").cpu().numpy(), [1.0, 2.0])
    with pytest.raises(TypeError, match=r"\.cpu\(\)|\.numpy\(\)|Implicit conversion"):
        np.asarray(x._data)


def test_cross_entropy_syncs_the_host_at_most_on_the_first_call(on_standin):
    # a host sync per loss call stalls the GPU every step; the target check runs once there
    x = thw.randn(8, 5, device="cuda", requires_grad=True)
    y = thw.randint(0, 5, (8,), device="cuda")
    F.cross_entropy(x, y)
    for loss in (F.cross_entropy, F.nll_loss):
        before = cp.sync_count()
        loss(x, y).backward()
        assert cp.sync_count() == before, loss.__name__


@pytest.mark.parametrize("name", ["lenet5_sgd", "resnet20_adam"])
def test_training_step_does_not_sync_the_host(on_standin, name):
    from tinygrad_hw.models import LeNet5, resnet20
    if name == "lenet5_sgd":
        model = LeNet5().to("cuda")
        opt = thw.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
    else:
        model = resnet20().to("cuda")
        opt = thw.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    x, y = thw.randn(2, 1, 28, 28, device="cuda"), thw.randint(0, 10, (2,), device="cuda")
    for step in range(3):
        if step == 1:
            before = cp.sync_count()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    assert cp.sync_count() == before


def test_cuda_class_ids_are_checked_on_the_first_call_and_when_asked(on_standin, monkeypatch):
    from tinygrad_hw.nn import _loss
    monkeypatch.setattr(_loss, "_checked_cuda", False)
    x, bad = thw.zeros(2, 3, device="cuda"), thw.tensor([0, 3], device="cuda")
    with pytest.raises(IndexError, match=r"\[0, 3\)"):
        F.cross_entropy(x, bad)                     # the first call on a GPU checks
    F.cross_entropy(x, thw.tensor([0, 2], device="cuda"))
    F.cross_entropy(x, bad)                         # later ones do not (no host sync)
    monkeypatch.setattr(_loss, "CHECK_CUDA_TARGETS", True)
    with pytest.raises(IndexError, match=r"\[0, 3\)"):
        F.nll_loss(x, bad)
    with pytest.raises(IndexError):                 # the CPU always checks
        F.cross_entropy(thw.zeros(2, 3), thw.tensor([0, 3]))
