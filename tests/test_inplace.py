"""In-place ops, views and the version counter, against torch's behaviour."""
import numpy as np
import pytest
import torch

import tinygrad_hw as thw
from tinygrad_hw import nn
import tinygrad_hw.nn.functional as F


def _np(t):
    return t.numpy() if isinstance(t, thw.Tensor) else t.detach().numpy()


def _pair(values, device="cpu", dtype=np.float32):
    a = np.array(values, dtype=dtype)
    return thw.tensor(a, device=device), torch.tensor(a)


@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/="])
@pytest.mark.parametrize("other", ["scalar", "tensor", "broadcast"])
def test_augmented_assignment_writes_in_place(device, op, other):
    ours, theirs = _pair([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device)
    view = ours[0]                    # a basic-index view shares the memory
    tview = theirs[0]
    o, t = {"scalar": (2.5, 2.5), "tensor": _pair([[2.0, 3.0, 4.0], [5.0, 6.0, 7.0]], device),
            "broadcast": _pair([0.5, 2.0, 4.0], device)}[other]
    before = id(ours)
    exec(f"ours {op} o", {}, locals_ := {"ours": ours, "o": o})
    exec(f"theirs {op} t", {}, tl := {"theirs": theirs, "t": t})
    assert id(locals_["ours"]) == before           # the name still holds the same tensor
    np.testing.assert_allclose(_np(locals_["ours"]), _np(tl["theirs"]), rtol=1e-6)
    np.testing.assert_allclose(_np(view), _np(tview), rtol=1e-6)
    assert ours._version == theirs._version == 1


@pytest.mark.parametrize("name, args", [
    ("add_", (2.0,)), ("sub_", (0.5,)), ("mul_", (3.0,)), ("div_", (4.0,)),
    ("clamp_", (1.5, 4.5)), ("fill_", (7.0,)), ("zero_", ())])
def test_named_inplace_ops_match_torch(device, name, args):
    ours, theirs = _pair([1.0, 2.0, 3.0, 5.0], device)
    r = getattr(ours, name)(*args)
    getattr(theirs, name)(*args)
    assert r is ours
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
    assert ours._version == theirs._version


def test_add_sub_alpha_and_tensor_fill(device):
    ours, theirs = _pair([1.0, 2.0], device)
    o, t = _pair([10.0, 20.0], device)
    ours.add_(o, alpha=0.5).sub_(o, alpha=2)
    theirs.add_(t, alpha=0.5).sub_(t, alpha=2)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy())
    ours.fill_(thw.tensor(3.0, device=device))
    assert ours.tolist() == [3.0, 3.0]
    with pytest.raises(RuntimeError, match="0-dimension"):
        ours.fill_(thw.tensor([1.0, 2.0], device=device))


def test_copy_broadcasts_casts_and_moves(device):
    dst = thw.zeros(2, 3, device=device)
    dst.copy_(thw.tensor([1, 2, 3]))                 # int64 on the CPU -> float32 on device
    assert dst.dtype == np.float32 and dst.device == thw.device(device)
    assert dst.tolist() == [[1.0, 2.0, 3.0]] * 2
    with pytest.raises(RuntimeError, match="broadcast"):
        dst.copy_(thw.ones(4, device=device))


def test_uniform_and_normal_fill_in_place(device):
    t = thw.empty(2000, device=device)
    v = t.view(40, 50)
    t.uniform_(-2.0, 3.0)
    x = t.numpy()
    assert x.min() >= -2.0 and x.max() < 3.0 and abs(x.mean() - 0.5) < 0.15
    np.testing.assert_array_equal(v.numpy().reshape(-1), x)
    t.normal_(1.0, 0.5)
    x = t.numpy()
    assert abs(x.mean() - 1.0) < 0.05 and abs(x.std() - 0.5) < 0.05
    assert t.dtype == np.float32 and t._version == 2


def test_views_share_memory_and_version(device):
    base = thw.arange(12, device=device).float()
    views = [base.view(3, 4), base.reshape(2, 6), base.view(3, 4).transpose(0, 1), base[2:8],
             base.detach(), base.view(3, 4).T]
    base.add_(1)
    for v in views:
        assert v._version == base._version == 1
    views[3].mul_(10)                               # writing through a view changes the base
    assert base.tolist()[2:8] == [30.0, 40.0, 50.0, 60.0, 70.0, 80.0]
    assert base._version == 2 and views[0]._version == 2
    views[2][0, 1] = -1.0                           # transposed view: element (1, 0) of (3, 4)
    assert base.tolist()[4] == -1.0


def test_data_does_not_share_the_version_counter():
    # torch: x.data is a new tensor on the same storage whose version counter is separate
    for lib in (thw, torch):
        x = lib.ones(3, requires_grad=True)
        d = x.data
        d.add_(1)
        assert x._version == 0 and d._version == 1
        e = x.detach()
        e.add_(1)
        assert x._version == 1 == e._version
        assert x.detach().tolist() == [3.0, 3.0, 3.0]


def test_setitem(device):
    ours, theirs = _pair(np.arange(12.0).reshape(3, 4), device)
    for idx, val in [((0, 1), 5.0), (slice(1, 3), 2.0), ((slice(None), 2), [9.0, 8.0, 7.0]),
                     ((1,), np.array([1.0, 2.0, 3.0, 4.0], np.float32)), ((2, slice(0, 2)), None)]:
        val_ours = thw.tensor([-1.0, -2.0]) if val is None else val      # a CPU tensor value
        val_theirs = torch.tensor([-1.0, -2.0]) if val is None else (
            torch.tensor(val) if isinstance(val, (list, np.ndarray)) else val)
        ours[idx] = val_ours
        theirs[idx] = val_theirs
    mask = ours > 5
    ours[mask] = 0.0
    theirs[theirs > 5] = 0.0
    ours[thw.tensor([0, 2])] = 1.5
    theirs[torch.tensor([0, 2])] = 1.5
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert ours._version == theirs._version


def test_leaf_requiring_grad_rejects_inplace_in_grad_mode():
    msg = "a leaf Variable that requires grad is being used in an in-place operation."
    for op in [lambda lib, x: x.add_(1), lambda lib, x: x.__iadd__(1), lambda lib, x: x.mul_(2),
               lambda lib, x: x.zero_(), lambda lib, x: x.fill_(1), lambda lib, x: x.__setitem__(0, 1.0),
               lambda lib, x: x.copy_(lib.ones(3)), lambda lib, x: x.clamp_(0, 1),
               lambda lib, x: x.uniform_(), lambda lib, x: x.normal_()]:
        for lib in (thw, torch):
            x = lib.ones(3, requires_grad=True)
            with pytest.raises(RuntimeError, match=msg):
                op(lib, x)
    x = thw.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable"):
        x[0:2].add_(1)
    with thw.no_grad():                     # allowed without recording, as torch
        x.add_(1)
        x[0] = 5.0
    assert x.tolist() == [5.0, 2.0, 2.0] and x._version == 2


def test_manual_sgd_step_changes_the_parameters_and_the_loss_falls():
    thw.manual_seed(0)
    rng = np.random.default_rng(0)
    x = thw.tensor(rng.standard_normal((64, 5)).astype(np.float32))
    y = thw.tensor((rng.standard_normal(64) > 0).astype(np.int64))
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 2))
    params = list(model.parameters())
    first = [p.numpy() for p in params]
    ids = [id(p) for p in model.parameters()]
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model(x), y)
        losses.append(loss.item())
        model.zero_grad()
        loss.backward()
        with thw.no_grad():
            for p in model.parameters():
                p -= 0.5 * p.grad
    assert [id(p) for p in model.parameters()] == ids
    assert all(not np.array_equal(a, p.numpy()) for a, p in zip(first, params))
    assert losses[-1] < 0.8 * losses[0]


def test_inplace_on_non_leaf_is_differentiable():
    def run(lib, body):
        x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        w = lib.tensor([0.5, 2.0, -1.0], requires_grad=True)
        out = body(lib, x, w)
        out.sum().backward()
        return out.detach().numpy(), x.grad.numpy(), None if w.grad is None else w.grad.numpy()

    def b1(lib, x, w):
        y = x * 2
        y.add_(1)
        return y

    def b2(lib, x, w):
        y = x * 2
        y.mul_(3)
        y += w
        return y * y

    def b3(lib, x, w):
        y = x * 2
        y[0] = 0
        y[1:] = w[1:] * 4
        return y

    def b4(lib, x, w):
        y = x + 0
        y.mul_(w)              # w's gradient needs y before the write, as torch keeps it
        y.div_(w)
        y.sub_(x, alpha=0.5)
        return y.clamp_(-1.0, 1.5)

    def b5(lib, x, w):
        buf = lib.zeros(3)     # a leaf that does not require grad becomes part of the graph
        buf.copy_(x * w)
        return buf * 3

    def b6(lib, x, w):
        y = x * 1
        y.zero_()
        return y + w

    def b7(lib, x, w):
        y = x.exp()
        z = y * w              # Mul keeps y; y then changes only after the product is taken
        z.fill_(1.0)
        return z + y

    for body in (b1, b2, b3, b4, b5, b6, b7):
        ours, theirs = run(thw, body), run(torch, body)
        for a, b in zip(ours, theirs):
            if b is None:
                assert a is None
            else:
                np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_inplace_rebases_history_and_keeps_grad_fn_name():
    x = thw.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.add_(1)
    assert y.requires_grad and not y.is_leaf and "Add" in repr(y)
    buf = thw.zeros(2)
    buf[0] = x[1]
    assert buf.requires_grad and not buf.is_leaf
    (buf * thw.tensor([3.0, 5.0])).sum().backward()
    assert x.grad.tolist() == [0.0, 3.0]


def test_version_check_names_the_op():
    msg = "one of the variables needed for gradient computation has been modified by an inplace operation"
    x = thw.tensor([1.0, 2.0], requires_grad=True)
    for make, name in [(lambda: x.exp(), "Exp"), (lambda: x.tanh(), "Tanh"), (lambda: x.sigmoid(), "Sigmoid")]:
        y = make()
        y.add_(1)
        with pytest.raises(RuntimeError, match=msg) as e:
            y.sum().backward()
        assert name in str(e.value) and "version 1; expected version 0" in str(e.value)
    a = thw.tensor([1.0, 2.0])
    z = x * a                   # saves a for x's gradient
    a.mul_(2)
    with pytest.raises(RuntimeError, match=msg):
        z.sum().backward()
    # torch: the same three cases raise too
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ty = tx.exp()
    ty.add_(1)
    with pytest.raises(RuntimeError, match=msg):
        ty.sum().backward()


def test_unsaved_inputs_may_change():
    # Add saves nothing, so changing its input later is fine (as in torch)
    x = thw.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y + 1
    y.mul_(5)
    (z * 3).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]
    # a view's change is seen through the shared counter
    h = thw.tensor([1.0, 2.0, 3.0, 4.0])
    w = thw.tensor([1.0, 1.0], requires_grad=True)
    hv = h.view(2, 2)
    out = (hv * w).sum()
    h[0] = 7.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()


def test_inplace_type_and_shape_errors_match_torch():
    for lib in (thw, torch):
        i = lib.zeros(3, dtype=lib.int64)
        with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
            i += 1.5
        with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
            i.div_(2)
        with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
            lib.zeros(3, 1).add_(lib.ones(3, 4))
        f = lib.zeros(2)
        f += lib.ones(2, dtype=lib.float64)          # a downcast into float32 is allowed
        assert f.dtype == lib.float32 and f.tolist() == [1.0, 1.0]
        i += 2
        assert i.tolist() == [2, 2, 2]


def test_expanded_tensor_rejects_inplace_writes():
    e = thw.ones(3).expand(2, 3)
    with pytest.raises(RuntimeError, match="clone"):
        e.add_(1)
    with pytest.raises(RuntimeError, match="clone"):
        e[0] = 2.0
    c = e.clone()
    c.add_(1)
    assert c.tolist() == [[2.0] * 3] * 2


def test_inplace_view_in_graph_raises_clearly():
    x = thw.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="view"):
        y[0:1].mul_(3)


def test_optimizers_still_work_after_inplace_support():
    thw.manual_seed(1)
    m = nn.Linear(3, 1)
    opt = thw.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    x = thw.randn(8, 3)
    t = thw.randn(8, 1)
    first = None
    for _ in range(10):
        opt.zero_grad()
        loss = ((m(x) - t) ** 2).mean()
        first = loss.item() if first is None else first
        loss.backward()
        opt.step()
    assert loss.item() < first


def test_inplace_overhead_path_is_plain_ufunc():
    t = thw.zeros(4)
    data = t._data
    t += 1
    t *= 3
    assert t._data is data and t.tolist() == [3.0] * 4


@pytest.mark.parametrize("write", ["view_no_grad", "detach", "detach_view", "setitem_no_grad"])
def test_saved_output_changed_through_an_alias_is_caught_like_torch(write):
    def run(lib):
        x = lib.tensor([0.5, 1.0, 2.0], requires_grad=True)
        y = x.exp()                                   # Exp keeps its output for backward
        if write == "view_no_grad":
            with lib.no_grad():
                y[0:2].mul_(2)
        elif write == "detach":
            y.detach().add_(1)
        elif write == "detach_view":
            y.detach().view(3, 1)[1].zero_()
        else:
            with lib.no_grad():
                y[1] = 0.0
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()

    run(thw)
    run(torch)


def test_data_writes_are_not_seen_as_in_torch():
    # torch's documented hole: changes through .data are invisible to autograd
    for lib in (thw, torch):
        x = lib.tensor([0.5, 1.0], requires_grad=True)
        y = x.exp()
        y.data.mul_(2)
        y.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([0.5, 1.0]), rtol=1e-6)


def test_pow_and_bitwise_augmented_assignment_stay_in_place():
    for lib in (thw, torch):
        t = lib.tensor([1.0, 2.0, 3.0])
        same = t
        t **= 2
        assert t is same and t.tolist() == [1.0, 4.0, 9.0]
        m = lib.tensor([True, False, True])
        mm = m
        m &= lib.tensor([True, True, False])
        m |= lib.tensor([False, True, False])
        assert m is mm and m.tolist() == [True, True, False]
    x = thw.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y.pow_(3)
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 12.0]
