"""Model shapes and parameter counts, and forward passes equal to torch twins given the same weights."""
import numpy as np
import pytest
import torch

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from tinygrad_hw.models import SoftmaxRegression, MLP, LeNet5, ResNet, BasicBlock, resnet20
from benchmarks.twins import TorchLeNet5, TorchResNet, copy_torch_to_ours, randomise_bn, torch_mlp


def n_params(model):
    return sum(int(np.prod(p.shape)) for p in model.parameters())


def _x(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_softmax_regression_is_one_linear():
    m = SoftmaxRegression()
    assert sorted(k for k, _ in m.named_parameters()) == ["fc.bias", "fc.weight"]
    assert m.fc.weight.shape == (10, 784) and m.fc.bias.shape == (10,)
    x = _x(5, 1, 28, 28)
    out = m(thw.tensor(x))
    assert out.shape == (5, 10) and out.dtype == np.float32
    want = x.reshape(5, -1) @ m.fc.weight.numpy().T + m.fc.bias.numpy()
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-5)


def test_mlp_shapes_and_count():
    m = MLP()
    assert n_params(m) == 784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10
    assert m(thw.tensor(_x(3, 1, 28, 28))).shape == (3, 10)
    small = MLP(12, (7,), 4)
    assert small(thw.tensor(_x(2, 12))).shape == (2, 4)
    assert n_params(MLP(12, (), 4)) == 12 * 4 + 4


def test_mlp_matches_torch():
    tm = torch_mlp()
    m = MLP()
    m.load_state_dict({f"layers.{k}": v.detach().numpy() for k, v in tm.state_dict().items()})
    x = _x(4, 1, 28, 28)
    np.testing.assert_allclose(m(thw.tensor(x)).numpy(), tm(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


def test_lenet5_shapes_and_count():
    m = LeNet5()
    assert n_params(m) == 44426                     # the classic count for 28x28 inputs
    assert m(thw.tensor(_x(2, 1, 28, 28))).shape == (2, 10)
    big = LeNet5(1, 15, input_size=128)             # e.g. 15-Scene at 128x128
    assert big.classifier[0].weight.shape == (120, 16 * 29 * 29)
    assert big(thw.tensor(_x(2, 1, 128, 128))).shape == (2, 15)
    rect = LeNet5(3, 4, input_size=(32, 48))
    assert rect(thw.tensor(_x(1, 3, 32, 48))).shape == (1, 4)
    with pytest.raises(ValueError, match="too small"):
        LeNet5(input_size=12)


@pytest.mark.parametrize("size,classes", [(28, 10), (128, 15)])
def test_lenet5_matches_torch(size, classes):
    torch.manual_seed(0)
    tm = TorchLeNet5(1, classes, size)
    m = LeNet5(1, classes, size)
    copy_torch_to_ours(tm, m)
    x = _x(3, 1, size, size)
    np.testing.assert_allclose(m(thw.tensor(x)).numpy(), tm(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


def test_resnet20_structure_and_count():
    m = resnet20()
    tm = TorchResNet()
    assert n_params(m) == n_params(tm) == 272186           # 10 classes, 1 input channel
    assert n_params(resnet20(10, 3)) == 272474              # the 0.27M of He et al. on CIFAR-10
    assert [k for k, _ in m.named_parameters()] == [k for k, _ in tm.named_parameters()]
    assert list(m.state_dict()) == list(tm.state_dict())
    assert n_params(resnet20(100, 3)) == n_params(TorchResNet(num_classes=100, in_channels=3))
    assert m(thw.tensor(_x(2, 1, 28, 28))).shape == (2, 10)
    assert resnet20(15, 3)(thw.tensor(_x(1, 3, 32, 32))).shape == (1, 15)
    assert isinstance(m.stages[1][0], BasicBlock)


@pytest.mark.parametrize("dtype,rtol,atol", [(np.float32, 1e-4, 1e-4), (np.float64, 1e-9, 1e-10)])
def test_resnet20_forward_matches_torch(dtype, rtol, atol):
    torch.manual_seed(0)
    tm = TorchResNet().to(torch.float64 if dtype == np.float64 else torch.float32)
    randomise_bn(tm)
    m = resnet20().to(dtype)
    copy_torch_to_ours(tm, m)
    x = _x(4, 1, 28, 28, dtype=dtype)
    tm.eval(), m.eval()
    np.testing.assert_allclose(m(thw.tensor(x)).numpy(), tm(torch.from_numpy(x)).detach().numpy(),
                               rtol=rtol, atol=atol)
    # training mode: batch statistics, and the running statistics update like torch's
    tm.train(), m.train()
    np.testing.assert_allclose(m(thw.tensor(x)).numpy(), tm(torch.from_numpy(x)).detach().numpy(),
                               rtol=rtol, atol=atol)
    ours = m.state_dict()
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(ours[k].numpy(), v.numpy(), rtol=rtol, atol=atol, err_msg=k)


def test_basic_block_shortcuts():
    same = BasicBlock(8, 8)
    proj = BasicBlock(8, 16, stride=2)
    assert not list(same.shortcut.parameters())
    assert proj.shortcut[0].weight.shape == (16, 8, 1, 1)
    assert same(thw.tensor(_x(2, 8, 7, 7))).shape == (2, 8, 7, 7)
    assert proj(thw.tensor(_x(2, 8, 7, 7))).shape == (2, 16, 4, 4)
    assert BasicBlock(8, 16)(thw.tensor(_x(1, 8, 5, 5))).shape == (1, 16, 5, 5)


def test_resnet_custom_and_backward():
    m = ResNet((1, 1), (4, 8), num_classes=3, in_channels=2)
    x = thw.tensor(_x(2, 2, 9, 9))
    loss = F.cross_entropy(m(x), thw.tensor([0, 2]))
    loss.backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in m.parameters())
    with pytest.raises(ValueError, match="block counts"):
        ResNet((1, 1), (4,))
