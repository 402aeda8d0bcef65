"""Every layer of the engine on every device of the device fixture: modules, optimizers,
checkpoints, the DataLoader and a few training steps of each model, against torch (CPU) or the
engine's own CPU run; then one test per device bug class that a GPU (or the CUDA stand-in,
THW_TEST_CUDA_STANDIN=1) exposes."""
import copy

import numpy as np
import pytest
import torch
import torch.nn as tnn

import tinygrad_hw as thw
import tinygrad_hw.nn.functional as F
from tinygrad_hw import backend, nn, optim
from tinygrad_hw.data import MNIST, DataLoader, subset, random_shift, MNIST_MEAN, MNIST_STD
from tinygrad_hw.data.loader import ArrayDataset
from tinygrad_hw.models import SoftmaxRegression, MLP, LeNet5, resnet20

RTOL32, ATOL32 = 1e-4, 1e-5


def _rand(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _tensor(a, device, requires_grad=False):
    return thw.tensor(a, device=device, requires_grad=requires_grad)


def _xfail_on_cuda(request, device, reason):
    if device != "cpu":
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


# --- modules: forward and backward against torch, parameters loaded from the torch twin -------
MODULES = {
    "linear": (lambda: nn.Linear(6, 4), lambda: tnn.Linear(6, 4), (5, 6)),
    "conv": (lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1), lambda: tnn.Conv2d(3, 4, 3, stride=2, padding=1),
             (2, 3, 7, 7)),
    "conv_groups_dilation": (lambda: nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2, bias=False),
                             lambda: tnn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2, bias=False),
                             (2, 4, 6, 6)),
    "batchnorm_train": (lambda: nn.BatchNorm2d(3), lambda: tnn.BatchNorm2d(3), (4, 3, 5, 5)),
    "batchnorm_eval": (lambda: nn.BatchNorm2d(3).eval(), lambda: tnn.BatchNorm2d(3).eval(), (4, 3, 5, 5)),
    "maxpool": (lambda: nn.MaxPool2d(2), lambda: tnn.MaxPool2d(2), (2, 3, 6, 6)),
    "maxpool_overlap": (lambda: nn.MaxPool2d(3, 2, 1), lambda: tnn.MaxPool2d(3, 2, 1), (2, 3, 7, 7)),
    "avgpool": (lambda: nn.AvgPool2d(2), lambda: tnn.AvgPool2d(2), (2, 3, 6, 6)),
    "adaptive_avgpool": (lambda: nn.AdaptiveAvgPool2d(1), lambda: tnn.AdaptiveAvgPool2d(1), (2, 3, 5, 5)),
    "relu_flatten": (lambda: nn.Sequential(nn.ReLU(), nn.Flatten()), lambda: tnn.Sequential(tnn.ReLU(), tnn.Flatten()),
                     (2, 3, 4, 4)),
    "dropout_eval": (lambda: nn.Dropout(0.5).eval(), lambda: tnn.Dropout(0.5).eval(), (3, 8)),
}


@pytest.mark.parametrize("name", MODULES)
def test_module_forward_backward_matches_torch(device, name):
    make_ours, make_theirs, shape = MODULES[name]
    torch.manual_seed(0)
    theirs = make_theirs().double()
    ours = make_ours()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours = ours.double().to(device)
    x = _rand(*shape, dtype=np.float64)
    xo, xt = _tensor(x, device, True), torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo), theirs(xt)
    assert yo.device == device and yo.dtype == np.float64
    np.testing.assert_allclose(yo.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = _rand(*yt.shape, seed=1, dtype=np.float64)
    yo.backward(_tensor(g, device)), yt.backward(torch.tensor(g))
    assert xo.grad.device == device
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    params_t = dict(theirs.named_parameters())
    for k, p in ours.named_parameters():
        assert p.grad.device == device, k
        np.testing.assert_allclose(p.grad.numpy(), params_t[k].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=k)
    buffers_t = dict(theirs.named_buffers())
    for k, b in ours.state_dict().items():
        if k in buffers_t:
            np.testing.assert_allclose(b.numpy(), buffers_t[k].numpy(), rtol=1e-10, atol=1e-12, err_msg=k)


def test_dropout_training_keeps_scaled_values_on_the_device(device):
    x = thw.ones(64, 64, device=device)
    y = F.dropout(x, 0.25, training=True)
    assert y.device == device
    v = y.numpy()
    assert set(np.unique(v).tolist()) == {0.0, np.float32(1 / 0.75)}
    assert 0.2 < (v == 0).mean() < 0.3


def test_loss_modules_match_torch(device):
    x = _rand(6, 5, dtype=np.float64)
    y = np.array([0, 4, 2, 2, 1, 3])
    w = np.array([1.0, 2.0, 0.5, 1.0, 3.0])
    xo, xt = _tensor(x, device, True), torch.tensor(x, requires_grad=True)
    lo = nn.CrossEntropyLoss(weight=_tensor(w, device), label_smoothing=0.1)(xo, _tensor(y, device))
    lt = tnn.CrossEntropyLoss(weight=torch.tensor(w), label_smoothing=0.1)(xt, torch.tensor(y))
    lo.backward(), lt.backward()
    assert lo.device == device and xo.grad.device == device
    np.testing.assert_allclose(lo.item(), lt.item(), rtol=1e-12)
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-14)


# --- autograd basics on the device -------------------------------------------------------------
def test_autograd_basics_on_the_device(device):
    a, b = _rand(3, 4), _rand(4, 2, seed=1)
    ao, bo = _tensor(a, device, True), _tensor(b, device, True)
    at, bt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    for lib, x, y in ((thw, ao, bo), (torch, at, bt)):
        h = (x @ y).tanh()
        out = (h * h + x.sum(1, keepdim=True) / 3).sigmoid().mean() + (x[1:, ::2] ** 2).sum()
        out.backward(retain_graph=True)
        out.backward()            # a reused graph accumulates
    for o, t in ((ao, at), (bo, bt)):
        assert o.grad.device == device
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=RTOL32, atol=ATOL32)
    with thw.no_grad():
        assert not (ao * 2).requires_grad
    idx = _tensor(np.array([0, 2, 0]), device)
    ao.grad = None
    ao[idx].sum().backward()      # integer-array indexing scatters with repeats
    assert ao.grad.numpy()[:, 0].tolist() == [2.0, 0.0, 1.0]


# --- optimizers: a few steps equal to torch ---------------------------------------------------
OPTIMIZERS = {
    "sgd": lambda ps, lib: lib.SGD(ps, lr=0.1),
    "sgd_momentum_nesterov_wd": lambda ps, lib: lib.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
    "adam": lambda ps, lib: lib.Adam(ps, lr=0.01, betas=(0.8, 0.99), weight_decay=1e-2),
    "adamw": lambda ps, lib: lib.AdamW(ps, lr=0.01),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_steps_match_torch(device, name):
    w0, x = _rand(4, 3, dtype=np.float64), _rand(5, 4, seed=2, dtype=np.float64)
    wo, wt = _tensor(w0, device, True), torch.tensor(w0, requires_grad=True)
    oo, ot = OPTIMIZERS[name]([wo], optim), OPTIMIZERS[name]([wt], torch.optim)
    xo, xt = _tensor(x, device), torch.tensor(x)
    for _ in range(4):
        for opt, w, xx in ((oo, wo, xo), (ot, wt, xt)):
            opt.zero_grad()
            ((xx @ w).tanh() ** 2).sum().backward()
            opt.step()
    assert wo.device == device
    np.testing.assert_allclose(wo.numpy(), wt.detach().numpy(), rtol=1e-10, atol=1e-12)
    for k, v in oo.state_dict()["state"].get(0, {}).items():
        if isinstance(v, thw.Tensor):
            assert v.device == device, k


# --- checkpoints: save from the device, load to the CPU and back -------------------------------
def test_checkpoint_save_from_device_load_to_cpu_and_back(device, tmp_path):
    model = LeNet5().to(device)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    x, y = thw.randn(2, 1, 28, 28, device=device), thw.tensor([3, 7], device=device)
    F.cross_entropy(model(x), y).backward()
    opt.step()
    path = tmp_path / "ck.npz"
    thw.save({"model": model.state_dict(), "opt": opt.state_dict()}, path)
    ref = {k: v.numpy() for k, v in model.state_dict().items()}

    on_cpu = thw.load(path, map_location="cpu")
    for k, v in on_cpu["model"].items():
        assert v.device == "cpu"
        np.testing.assert_array_equal(v.numpy(), ref[k], err_msg=k)
    cpu_model = LeNet5()
    cpu_model.load_state_dict(on_cpu["model"])
    back = cpu_model.to(device)
    for k, v in back.state_dict().items():
        assert v.device == device
        np.testing.assert_array_equal(v.numpy(), ref[k], err_msg=k)
    np.testing.assert_allclose(back(x).numpy(), model(x).numpy(), rtol=0, atol=0)

    on_dev = thw.load(path, map_location=device)
    assert all(v.device == device for v in on_dev["model"].values())
    opt2 = optim.Adam(back.parameters(), lr=1e-3)
    opt2.load_state_dict(on_dev["opt"])
    for o in (opt, opt2):
        o.zero_grad()
    for m, o in ((model, opt), (back, opt2)):
        F.cross_entropy(m(x), y).backward()
        o.step()
    for (k, a), b in zip(model.state_dict().items(), back.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)


# --- the DataLoader on the device --------------------------------------------------------------
def test_dataloader_on_the_device_equals_the_cpu_one(device):
    data = subset(MNIST(train=False), 70)
    kw = dict(batch_size=16, shuffle=True, seed=5, mean=MNIST_MEAN, std=MNIST_STD)
    on_dev = list(DataLoader(data, device=device, **kw))
    on_cpu = list(DataLoader(data, device="cpu", **kw))
    assert len(on_dev) == len(on_cpu) == 5
    for (xd, yd), (xc, yc) in zip(on_dev, on_cpu):
        assert xd.device == device and yd.device == device and xd.dtype == np.float32 and yd.dtype == np.int64
        np.testing.assert_allclose(xd.numpy(), xc.numpy(), rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(yd.numpy(), yc.numpy())
    shifted = [x for x, _ in DataLoader(data, 32, seed=1, device=device, transform=random_shift(2))]
    ref = [x for x, _ in DataLoader(data, 32, seed=1, device="cpu", transform=random_shift(2))]
    for a, b in zip(shifted, ref):
        assert a.device == device
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_dataloader_over_a_dataset_already_on_the_device(device):
    # the arrays of a dataset may live on the GPU already; the loader must not read them as NumPy
    host = subset(MNIST(train=False), 40)
    dev = backend.device(device)
    on_dev = ArrayDataset(backend.to_device(np.ascontiguousarray(host.images), dev),
                          backend.to_device(np.asarray(host.labels), dev))
    got = list(DataLoader(on_dev, 16, device=device))
    ref = list(DataLoader(host, 16, device="cpu"))
    for (x, y), (xr, yr) in zip(got, ref):
        assert x.device == device
        np.testing.assert_array_equal(x.numpy(), xr.numpy())
        np.testing.assert_array_equal(y.numpy(), yr.numpy())


# --- a few training steps of each model: loss on the device equals the CPU run -----------------
MODELS = {"softmax": (SoftmaxRegression, 16), "mlp": (lambda: MLP(hidden=(64, 32)), 16),
          "lenet5": (LeNet5, 16), "resnet20": (resnet20, 8)}


@pytest.mark.parametrize("name", MODELS)
def test_training_steps_on_the_device_equal_the_cpu_run(device, name):
    make, batch = MODELS[name]
    # float64: the device may take other kernels than the CPU (the CPU-tuned conv routes), and in
    # float32 their summation orders alone move a batch-normed ResNet's weights by ~1e-4 in 3 steps
    thw.manual_seed(0)
    cpu_model = make().double()
    dev_model = copy.deepcopy(cpu_model).to(device)
    data = subset(MNIST(train=False), 3 * batch)
    losses = []
    for dev, model in (("cpu", cpu_model), (device, dev_model)):
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        model.train()
        losses.append([])
        for x, y in DataLoader(data, batch, device=dev, mean=MNIST_MEAN, std=MNIST_STD):
            loss = F.cross_entropy(model(x.double()), y)
            assert loss.device == dev
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses[-1].append(loss.item())
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-9, atol=1e-12)
    assert losses[0][-1] != losses[0][0]          # the steps changed the model
    for (k, a), b in zip(dev_model.state_dict().items(), cpu_model.state_dict().values()):
        assert a.device == device
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-7, atol=1e-10, err_msg=k)


# --- device bug classes: each test fails on an engine with the bug, on a GPU or the stand-in ---
def test_setitem_with_a_host_value(device, request):
    t = thw.zeros(4, device=device)
    t[1:3] = np.array([1.0, 2.0], np.float32)
    t[3:] = thw.tensor([5.0])                       # a CPU tensor as the value
    assert t.tolist() == [0.0, 1.0, 2.0, 5.0]


def test_tensor_from_a_list_of_device_arrays(device, request):
    dev = backend.device(device)
    parts = [backend.to_device(np.array([1.0, 2.0], np.float32), dev),
             backend.to_device(np.array([3.0, 4.0], np.float32), dev)]
    t = thw.tensor(parts, device=device)
    assert t.device == device and t.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_device_array_next_to_a_cpu_tensor_is_not_copied_silently(device, request):
    raw = thw.ones(2, device=device)._data
    if device == "cpu":
        assert (thw.ones(2) + raw).tolist() == [2.0, 2.0]
    else:
        with pytest.raises(RuntimeError, match="cuda"):
            thw.ones(2) + raw


def test_integer_array_index_out_of_range_raises(device, request):
    x = thw.arange(6.0, device=device)
    with pytest.raises(IndexError):
        x[thw.tensor([1, 6], device=device)]


def test_batch_norm_with_raw_running_stats_checks_their_device(device):
    x = _rand(4, 3, 2, 2)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    if device == "cpu":
        y = F.batch_norm(_tensor(x, device), rm, rv, training=True)
        ref = torch.nn.functional.batch_norm(torch.tensor(x), torch.zeros(3), torch.ones(3), training=True)
        np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=RTOL32, atol=ATOL32)
        assert rm.any()                      # updated in place
    else:
        with pytest.raises(RuntimeError, match="running_mean is on cpu"):
            F.batch_norm(_tensor(x, device), rm, rv, training=True)


def test_backward_checks_gradients_with_an_error_not_an_assert(device, request):

    class WrongShape(thw.Function):
        def forward(self, a):
            return a * 2

        def backward(self, g):
            return (g[:1],)

    class HostGrad(thw.Function):
        def forward(self, a):
            return a * 2

        def backward(self, g):
            return (backend.to_host(g) * 2,)

    x = thw.ones(3, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="WrongShape"):
        WrongShape.apply(x).sum().backward()
    if device != "cpu":
        with pytest.raises(RuntimeError, match="HostGrad"):
            HostGrad.apply(x).sum().backward()


def _two_devices():
    return thw.cuda.is_available() and thw.cuda.device_count() >= 2


@pytest.mark.skipif(not _two_devices(), reason="needs two CUDA devices (the stand-in has two)")
def test_cuda_ops_run_on_the_tensors_device_not_the_current_one():
    x = thw.tensor([0.5, 1.0, 2.0], device="cuda:1", requires_grad=True)
    y = ((x * 2).exp() * x).sum()
    y.backward()
    assert y.device == "cuda:1" and y._data.device.id == 1 and x.grad._data.device.id == 1
    np.testing.assert_allclose(x.grad.numpy(), np.exp(2 * x.numpy()) * (1 + 2 * x.numpy()), rtol=1e-6)


@pytest.mark.skipif(not _two_devices(), reason="needs two CUDA devices (the stand-in has two)")
def test_cuda_moving_between_two_devices():
    x = thw.tensor([1.0, 2.0], device="cuda:0")
    y = x.to("cuda:1")
    assert y.device == "cuda:1" and y._data.device.id == 1
    assert y.to("cuda:0")._data.device.id == 0 and y.cpu().tolist() == [1.0, 2.0]


@pytest.mark.skipif(not _two_devices(), reason="needs two CUDA devices (the stand-in has two)")
def test_cuda_creation_on_the_second_device():
    for make in (thw.zeros, thw.ones, thw.empty, thw.randn, thw.rand, lambda n, device: thw.arange(n, device=device),
                 lambda n, device: thw.full((n,), 2.0, device=device)):
        t = make(3, device="cuda:1")
        assert t.device == "cuda:1" and t._data.device.id == 1, make
    w = nn.Linear(3, 2).to("cuda:1")
    nn.init.normal_(w.weight)
    assert w.weight._data.device.id == 1
