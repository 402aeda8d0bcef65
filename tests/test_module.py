"""nn.Module machinery, the layers and nn.init, checked against torch."""
import math

import numpy as np
import pytest
import torch

import tinygrad_hw as thw
from tinygrad_hw import nn, optim


# --- a small model and its torch twin --------------------------------------------------------------
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                      nn.MaxPool2d(2))
        self.flatten = nn.Flatten()
        self.bn = nn.BatchNorm1d(64)
        self.fc = nn.Linear(64, 5)

    def forward(self, x):
        return self.fc(self.bn(self.flatten(self.features(x))))


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        tnn = torch.nn
        self.features = tnn.Sequential(tnn.Conv2d(3, 4, 3, padding=1), tnn.BatchNorm2d(4), tnn.ReLU(),
                                       tnn.MaxPool2d(2))
        self.flatten = tnn.Flatten()
        self.bn = tnn.BatchNorm1d(64)
        self.fc = tnn.Linear(64, 5)

    def forward(self, x):
        return self.fc(self.bn(self.flatten(self.features(x))))


def _torch_net():
    torch.manual_seed(0)
    net = TorchNet()
    with torch.no_grad():   # non-trivial BN affine parameters and running statistics
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(7)
    return net


def _torch_state_as_numpy(net):
    return {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}


def test_state_dict_keys_shapes_dtypes_match_torch():
    ours, theirs = Net().state_dict(), TorchNet().state_dict()
    assert list(ours) == list(theirs)
    assert "features.0.weight" in ours and "bn.running_mean" in ours and "features.1.num_batches_tracked" in ours
    for k in ours:
        assert ours[k].shape == tuple(theirs[k].shape), k
        assert ours[k].dtype == theirs[k].numpy().dtype, k


def test_named_parameters_and_buffers_match_torch():
    ours, theirs = Net(), TorchNet()
    assert [(n, p.shape) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert len(list(ours.modules())) == len(list(theirs.modules()))
    assert all(isinstance(p, nn.Parameter) and isinstance(p, thw.Tensor) and p.requires_grad
               for p in ours.parameters())
    assert all(p.dtype == np.float32 for p in ours.parameters())


def test_repr_matches_torch():
    assert repr(Net()) == repr(TorchNet()).replace("TorchNet", "Net")
    for ours, theirs in [(nn.Dropout(0.25), torch.nn.Dropout(0.25)), (nn.AvgPool2d(2), torch.nn.AvgPool2d(2)),
                         (nn.AdaptiveAvgPool2d(1), torch.nn.AdaptiveAvgPool2d(1)),
                         (nn.Conv2d(2, 4, 3, stride=2, dilation=2, groups=2, bias=False),
                          torch.nn.Conv2d(2, 4, 3, stride=2, dilation=2, groups=2, bias=False)),
                         (nn.Identity(), torch.nn.Identity()), (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()),
                         (nn.ModuleList([nn.ReLU()]), torch.nn.ModuleList([torch.nn.ReLU()]))]:
        assert repr(ours) == repr(theirs)


def test_load_torch_weights_then_forward_equals_torch():
    tnet = _torch_net()
    net = Net()
    result = net.load_state_dict(_torch_state_as_numpy(tnet))
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = np.random.default_rng(1).standard_normal((6, 3, 8, 8)).astype(np.float32)
    for train in (False, True):
        net.train(train)
        tnet.train(train)
        out = net(thw.tensor(x))
        ref = tnet(torch.from_numpy(x))
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-5)
    # the training pass updated the running statistics exactly as torch did
    ours, theirs = net.state_dict(), tnet.state_dict()
    for k in ("features.1.running_mean", "features.1.running_var", "bn.running_var", "bn.num_batches_tracked"):
        np.testing.assert_allclose(ours[k].numpy(), theirs[k].numpy(), rtol=1e-5, atol=1e-6, err_msg=k)


def test_load_state_dict_accepts_tensors_copies_in_place_and_keeps_identity():
    src, dst = Net(), Net()
    params_before = list(dst.parameters())
    dst.load_state_dict(src.state_dict())
    assert all(a is b for a, b in zip(params_before, dst.parameters()))
    for (k, a), b in zip(src.state_dict().items(), dst.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    # copied, not aliased
    src.fc.weight._data[...] = 0
    assert np.any(dst.fc.weight.numpy() != 0)


def test_state_dict_shares_memory_and_detaches():
    net = nn.Linear(3, 2)
    sd = net.state_dict()
    assert not sd["weight"].requires_grad and sd["weight"]._data is net.weight._data
    assert net.state_dict(keep_vars=True)["weight"] is net.weight


def test_strict_load_errors_list_missing_unexpected_and_mismatched_keys():
    net = Net()
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    del state["fc.bias"], state["bn.running_mean"]
    state["fc.extra"] = np.zeros(3, np.float32)
    before = net.fc.weight.numpy()
    state["fc.weight"] = np.ones((5, 63), np.float32)
    with pytest.raises(RuntimeError) as e:
        net.load_state_dict(state)
    msg = str(e.value)
    assert 'Missing key(s) in state_dict: "bn.running_mean", "fc.bias".' in msg
    assert 'Unexpected key(s) in state_dict: "fc.extra".' in msg
    assert "size mismatch for fc.weight: copying a param with shape (5, 63) from checkpoint, " \
           "the shape in current model is (5, 64)." in msg
    np.testing.assert_array_equal(net.fc.weight.numpy(), before)     # nothing was half-loaded
    # non-strict: a size mismatch still raises, missing/unexpected keys are returned
    with pytest.raises(RuntimeError, match="size mismatch for fc.weight"):
        net.load_state_dict(state, strict=False)
    state["fc.weight"] = np.full((5, 64), 2.0, np.float32)
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert missing == ["bn.running_mean", "fc.bias"] and unexpected == ["fc.extra"]
    np.testing.assert_array_equal(net.fc.weight.numpy(), 2.0)


def test_train_eval_propagate_to_every_descendant():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.features.train()
    assert net.features[1].training and not net.bn.training and not net.training
    net.train()
    assert all(m.training for m in net.modules())


def test_to_float64_keeps_parameter_identity_and_int_buffers():
    net = Net()
    opt = optim.SGD(net.parameters(), lr=0.1)
    w = net.fc.weight
    (net(thw.randn(4, 3, 8, 8)) ** 2).mean().backward()
    assert net.to(thw.float64) is net
    assert net.fc.weight is w and all(p.dtype == np.float64 for p in net.parameters())
    assert net.fc.weight.grad.dtype == np.float64
    assert net.features[1].running_mean.dtype == np.float64
    assert net.features[1].num_batches_tracked.dtype == np.int64       # integers are not cast
    out = net(thw.randn(4, 3, 8, 8, dtype=thw.float64))
    assert out.dtype == np.float64
    before = w.numpy()
    opt.step()                       # the optimizer still holds the converted parameters
    assert not np.array_equal(w.numpy(), before) and w.dtype == np.float64
    net.float()
    assert all(p.dtype == np.float32 for p in net.parameters())
    assert net.to("cpu") is net and net.cpu() is net and net.double().fc.bias.dtype == np.float64
    with pytest.raises(TypeError, match="floating point"):
        net.to(thw.int64)


def test_to_device(device):
    net = Net().to(device)
    assert all(str(p.device) == str(thw.device(device)) for p in net.parameters())
    assert all(str(b.device) == str(thw.device(device)) for b in net.buffers())
    out = net(thw.randn(2, 3, 8, 8, device=device))
    assert str(out.device) == str(thw.device(device))
    sd = net.cpu().state_dict()
    assert all(v.device is thw.device("cpu") for v in sd.values())


def test_zero_grad_sets_grads_to_none():
    net = nn.Linear(4, 2)
    net(thw.randn(3, 4)).sum().backward()
    assert net.weight.grad is not None
    net.zero_grad(set_to_none=False)
    assert not np.any(net.weight.grad.numpy())
    net.zero_grad()
    assert net.weight.grad is None and net.bias.grad is None


def test_parameter_is_a_tensor_and_gets_gradients():
    p = nn.Parameter(thw.tensor([1.0, 2.0]))
    assert isinstance(p, thw.Tensor) and p.requires_grad and p.is_leaf and p.dtype == np.float32
    (p * p).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), [2.0, 4.0])
    assert not nn.Parameter(thw.zeros(2), requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\n")
    arr = np.ones(3, np.float64)
    assert nn.Parameter(arr)._data is arr              # shares memory, keeps dtype
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(thw.tensor([1, 2]))


def test_setattr_registration_rules():
    m = nn.Module()
    m.w = nn.Parameter(thw.zeros(2))
    m.child = nn.Linear(2, 2)
    m.register_buffer("stat", thw.zeros(2))
    m.register_buffer("tmp", thw.zeros(1), persistent=False)
    m.plain = 3
    assert list(m.state_dict()) == ["w", "stat", "child.weight", "child.bias"]
    assert [n for n, _ in m.named_buffers()] == ["stat", "tmp"]
    with pytest.raises(TypeError, match="parameter 'w'"):
        m.w = thw.zeros(2)
    m.w = None
    assert m.w is None and "w" not in m.state_dict()
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        m.nope
    del m.child
    assert list(m.state_dict()) == ["stat"]

    class Forgot(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(thw.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Forgot()
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)


def test_sequential_and_modulelist():
    seq = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    assert len(seq) == 3 and isinstance(seq[0], nn.Linear) and seq[-1] is seq[2]
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub.state_dict()) == ["2.weight", "2.bias"]
    x = thw.randn(5, 4)
    np.testing.assert_allclose(seq(x).numpy(), seq[2](seq[1](seq[0](x))).numpy())
    with pytest.raises(IndexError):
        seq[3]
    from collections import OrderedDict
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]

    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(ml) == 3 and list(ml.state_dict())[:2] == ["0.weight", "0.bias"]
    ml.append(nn.ReLU())
    del ml[0]
    assert [k for k, _ in ml.named_children()] == ["0", "1", "2"] and isinstance(ml[2], nn.ReLU)
    assert len(list(ml.parameters())) == 4
    holder = nn.Module()
    holder.layers = ml
    assert list(holder.state_dict())[0] == "layers.0.weight"
    md = nn.ModuleDict({"a": nn.Linear(1, 1)})
    assert list(md.state_dict()) == ["a.weight", "a.bias"] and "a" in md


def test_shared_parameters_listed_once_but_saved_under_every_name():
    lin, tlin = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    seq, tseq = nn.Sequential(lin, lin), torch.nn.Sequential(tlin, tlin)
    assert len(list(seq.parameters())) == len(list(tseq.parameters())) == 2
    assert list(seq.state_dict()) == list(tseq.state_dict())
    seq.load_state_dict({k: v.detach().numpy() for k, v in tseq.state_dict().items()})
    np.testing.assert_array_equal(lin.weight.numpy(), tlin.weight.detach().numpy())


# --- default initialisation and nn.init ---------------------------------------------------------------
def test_linear_default_init_distribution():
    lin = nn.Linear(1000, 1000)
    w, b = lin.weight.numpy(), lin.bias.numpy()
    bound = 1 / math.sqrt(1000)
    assert w.dtype == np.float32 and b.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.999 * bound
    assert abs(w.mean()) < 3 * bound / math.sqrt(3) / 1000          # 3 sigma of the mean of 1e6 draws
    assert abs(w.std() - bound / math.sqrt(3)) < 0.005 * bound / math.sqrt(3)
    assert np.abs(b).max() <= bound and abs(b.std() - bound / math.sqrt(3)) < 0.1 * bound / math.sqrt(3)


def test_conv_default_init_bounds_and_batchnorm_init():
    conv = nn.Conv2d(16, 32, 3, groups=2)
    fan_in = 8 * 9
    assert conv.weight.shape == (32, 8, 3, 3)
    w = conv.weight.numpy()
    assert np.abs(w).max() <= 1 / math.sqrt(fan_in) and np.abs(w).max() > 0.99 / math.sqrt(fan_in)
    assert np.abs(conv.bias.numpy()).max() <= 1 / math.sqrt(fan_in)
    bn = nn.BatchNorm2d(5)
    np.testing.assert_array_equal(bn.weight.numpy(), 1)
    np.testing.assert_array_equal(bn.bias.numpy(), 0)
    np.testing.assert_array_equal(bn.running_var.numpy(), 1)
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.item() == 0


def test_init_is_reproducible_under_manual_seed():
    thw.manual_seed(123)
    a = nn.Linear(10, 10).weight.numpy()
    thw.manual_seed(123)
    b = nn.Linear(10, 10).weight.numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, nn.Linear(10, 10).weight.numpy())


def test_init_functions_statistics():
    init = nn.init
    t = thw.empty(400, 500)
    fan_in, fan_out = 500, 400
    init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")
    assert abs(t.numpy().std() - math.sqrt(2 / fan_out)) < 0.01 * math.sqrt(2 / fan_out)
    init.kaiming_uniform_(t, nonlinearity="relu")
    bound = math.sqrt(6 / fan_in)
    assert np.abs(t.numpy()).max() <= bound and np.abs(t.numpy()).max() > 0.999 * bound
    init.xavier_uniform_(t, gain=2.0)
    bound = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(t.numpy()).max() <= bound and np.abs(t.numpy()).max() > 0.999 * bound
    init.xavier_normal_(t)
    assert abs(t.numpy().std() - math.sqrt(2 / (fan_in + fan_out))) < 0.01 * math.sqrt(2 / (fan_in + fan_out))
    init.normal_(t, mean=3.0, std=0.5)
    assert abs(t.numpy().mean() - 3.0) < 0.005 and abs(t.numpy().std() - 0.5) < 0.005
    init.uniform_(t, -2.0, 1.0)
    assert t.numpy().min() >= -2.0 and t.numpy().max() < 1.0 and abs(t.numpy().mean() + 0.5) < 0.01
    assert t.dtype == np.float32
    assert init.constant_(t, 0.25) is t and np.all(t.numpy() == 0.25)
    assert np.all(init.ones_(t).numpy() == 1) and np.all(init.zeros_(t).numpy() == 0)
    d = thw.empty(300, 300, dtype=thw.float64)
    assert init.normal_(d).dtype == np.float64


def test_calculate_gain_and_fans_match_torch():
    tinit = torch.nn.init
    for name, param in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                        ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None)]:
        assert nn.init.calculate_gain(name, param) == pytest.approx(tinit.calculate_gain(name, param), rel=1e-12)
    for shape in [(7, 3), (8, 4, 3, 5), (6, 2, 3)]:
        assert nn.init._calculate_fan_in_and_fan_out(thw.empty(*shape)) == \
            tinit._calculate_fan_in_and_fan_out(torch.empty(shape))
    with pytest.raises(ValueError, match="fewer than 2"):
        nn.init._calculate_fan_in_and_fan_out(thw.empty(3))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.init.calculate_gain("swish")


# --- layers against torch ----------------------------------------------------------------------------
def test_batchnorm_counts_batches_and_matches_torch_with_cumulative_momentum():
    rng = np.random.default_rng(2)
    bn, tbn = nn.BatchNorm1d(3, momentum=None), torch.nn.BatchNorm1d(3, momentum=None)
    for _ in range(3):
        x = rng.standard_normal((8, 3, 4)).astype(np.float32)
        np.testing.assert_allclose(bn(thw.tensor(x)).numpy(), tbn(torch.from_numpy(x)).detach().numpy(),
                                   rtol=1e-4, atol=1e-5)
    assert bn.num_batches_tracked.item() == 3
    np.testing.assert_allclose(bn.running_mean.numpy(), tbn.running_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), tbn.running_var.numpy(), rtol=1e-5, atol=1e-6)
    bn.eval()
    bn(thw.tensor(x))
    assert bn.num_batches_tracked.item() == 3
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(thw.tensor(x))
    nostats = nn.BatchNorm2d(3, affine=False, track_running_stats=False).eval()
    assert list(nostats.state_dict()) == []
    y = nostats(thw.randn(4, 3, 2, 2)).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)       # batch statistics used in eval


def test_dropout_train_and_eval():
    drop = nn.Dropout(0.5)
    x = thw.ones(1000)
    y = drop(x).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and 0.4 < (y == 0).mean() < 0.6
    drop.eval()
    np.testing.assert_array_equal(drop(x).numpy(), 1.0)
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


@pytest.mark.parametrize("reduction,smoothing", [("mean", 0.0), ("sum", 0.1), ("none", 0.0), ("mean", 0.2)])
def test_cross_entropy_loss_module_matches_torch(reduction, smoothing):
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((6, 4)).astype(np.float32)
    target = rng.integers(0, 4, 6)
    ours = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing)(thw.tensor(logits), thw.tensor(target))
    ref = torch.nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing)(
        torch.from_numpy(logits), torch.from_numpy(target))
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)


def test_layers_forward_match_torch_with_copied_weights():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 9, 9)).astype(np.float32)
    pairs = [(nn.Conv2d(4, 6, (3, 2), stride=2, padding=1, dilation=1, groups=2),
              torch.nn.Conv2d(4, 6, (3, 2), stride=2, padding=1, dilation=1, groups=2)),
             (nn.MaxPool2d(3, stride=2, padding=1), torch.nn.MaxPool2d(3, stride=2, padding=1)),
             (nn.AvgPool2d(2), torch.nn.AvgPool2d(2)), (nn.AdaptiveAvgPool2d(1), torch.nn.AdaptiveAvgPool2d(1)),
             (nn.Flatten(2), torch.nn.Flatten(2)), (nn.Identity(), torch.nn.Identity()), (nn.ReLU(), torch.nn.ReLU())]
    for ours, theirs in pairs:
        ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
        got = ours(thw.tensor(x))
        ref = theirs(torch.from_numpy(x)).detach().numpy()
        assert got.shape == ref.shape, type(ours).__name__
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-4, atol=1e-5, err_msg=type(ours).__name__)
    lin, tlin = nn.Linear(9, 3, bias=False), torch.nn.Linear(9, 3, bias=False)
    lin.load_state_dict({"weight": tlin.weight.detach().numpy()})
    np.testing.assert_allclose(lin(thw.tensor(x)).numpy(), tlin(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


def test_backward_through_model_reaches_every_parameter():
    tnet = _torch_net()
    net = Net()
    net.load_state_dict(_torch_state_as_numpy(tnet))
    x = np.random.default_rng(5).standard_normal((4, 3, 8, 8)).astype(np.float32)
    y = np.array([0, 1, 2, 4])
    nn.CrossEntropyLoss()(net(thw.tensor(x)), thw.tensor(y)).backward()
    torch.nn.CrossEntropyLoss()(tnet(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    for (name, p), tp in zip(net.named_parameters(), tnet.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-3, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("kernel,dilation,padding", [(3, 1, "same"), (4, 1, "same"), ((4, 3), (1, 2), "same"),
                                                     (3, 1, "valid")])
def test_conv2d_string_padding_matches_torch(kernel, dilation, padding):
    x = np.random.default_rng(6).standard_normal((2, 4, 7, 6)).astype(np.float32)
    theirs = torch.nn.Conv2d(4, 2, kernel, dilation=dilation, padding=padding)
    ours = nn.Conv2d(4, 2, kernel, dilation=dilation, padding=padding)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert repr(ours) == repr(theirs)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # torch's note about copying the input for even kernels
        ref = theirs(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours(thw.tensor(x)).numpy(), ref, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(4, 2, 3, stride=2, padding="same")
