"""Module.load_state_dict takes any array-like value: torch tensors as they are, NumPy arrays,
objects exposing only ``__dlpack__`` or only ``__array__``; outputs then equal the torch model's."""
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn as tnn

import tinygrad_hw as thw
from tinygrad_hw import nn
from tinygrad_hw.models import LeNet5


def _torch_lenet5():
    """torch's LeNet-5 with our module names, so the state dicts match key for key."""
    m = tnn.Module()
    m.features = tnn.Sequential(tnn.Conv2d(1, 6, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(6, 16, 5),
                                tnn.ReLU(), tnn.MaxPool2d(2))
    m.classifier = tnn.Sequential(tnn.Linear(256, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(),
                                  tnn.Linear(84, 10))
    m.forward = lambda x: m.classifier(m.features(x).flatten(1))
    return m


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_torch_state_dict_loads_as_is(device):
    torch.manual_seed(0)
    tm = _torch_lenet5()
    ours = LeNet5().to(device)
    result = ours.load_state_dict(tm.state_dict())       # torch tensors, no .numpy() by the caller
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = _x(4, 1, 28, 28)
    with torch.no_grad():
        want = tm(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(thw.tensor(x, device=device)).numpy(), want, rtol=1e-4, atol=1e-5)


def test_torch_parameters_that_require_grad_and_buffers():
    torch.manual_seed(1)
    tm = tnn.Sequential(tnn.Conv2d(2, 3, 3), tnn.BatchNorm2d(3), tnn.ReLU(), tnn.Flatten(), tnn.Linear(3 * 4 * 4, 5))
    tm.train()
    tm(torch.randn(8, 2, 6, 6))                           # moves the running statistics off their start
    tm.eval()
    ours = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    # named_parameters() hands out tensors that require grad; buffers come from the state dict
    ours.load_state_dict(dict(tm.named_parameters()), strict=False)
    ours.load_state_dict({k: v for k, v in tm.state_dict().items() if "running" in k or "batches" in k},
                         strict=False)
    assert int(ours[1].num_batches_tracked.item()) == 1
    np.testing.assert_array_equal(ours[1].running_var.numpy(), tm[1].running_var.numpy())
    ours.eval()
    x = _x(3, 2, 6, 6, seed=2)
    with torch.no_grad():
        want = tm(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(thw.tensor(x)).numpy(), want, rtol=1e-4, atol=1e-5)


def test_non_contiguous_torch_tensor():
    storage = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    lin = nn.Linear(4, 3)
    lin.load_state_dict({"weight": storage.t(), "bias": torch.tensor([1.0, 2.0, 3.0])})
    np.testing.assert_array_equal(lin.weight.numpy(), storage.t().numpy())
    assert lin.weight.dtype == np.float32


class _OnlyDLPack:
    def __init__(self, a):
        self._a = a

    def __dlpack__(self, **kwargs):
        return self._a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


class _OnlyArray:
    def __init__(self, a):
        self._a = a

    def __array__(self, dtype=None, copy=None):
        return self._a if dtype is None else self._a.astype(dtype)


@pytest.mark.parametrize("wrap", [_OnlyDLPack, _OnlyArray, lambda a: a.tolist(), lambda a: a])
def test_array_like_values(wrap):
    lin = nn.Linear(3, 2)
    w, b = _x(2, 3), _x(2, seed=1)
    lin.load_state_dict({"weight": wrap(w), "bias": wrap(b)})
    np.testing.assert_array_equal(lin.weight.numpy(), w)
    np.testing.assert_array_equal(lin.bias.numpy(), b)


def test_unreadable_value_names_the_key():
    lin = nn.Linear(3, 2)
    with pytest.raises(TypeError, match="bias.*object"):
        lin.load_state_dict({"weight": np.zeros((2, 3), np.float32), "bias": object()})
    with pytest.raises(TypeError, match="weight"):
        lin.load_state_dict({"weight": torch.zeros(2, 3, dtype=torch.bfloat16), "bias": np.zeros(2)})
    with pytest.raises(RuntimeError, match=r"size mismatch for weight.*\(3, 2\)"):
        lin.load_state_dict({"weight": torch.zeros(3, 2), "bias": torch.zeros(2)})


def test_module_file_does_not_import_torch():
    source = (Path(thw.nn.module.__file__)).read_text()
    assert "import torch" not in source and "from torch" not in source
