"""Tensor hooks, retain_grad and Module hooks, each run the same way in torch and compared."""
import numpy as np
import pytest
import torch

import tinygrad_hw as thw
from tinygrad_hw import nn


def _lib_nn(lib):
    return nn if lib is thw else torch.nn


def test_leaf_hook_sees_the_total_gradient_and_can_replace_it():
    def run(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        seen = []
        h = x.register_hook(lambda g: seen.append(g.tolist()) or g * 10)
        (x * x + x * 3).sum().backward()     # two paths into x: the hook runs once, on the sum
        first = x.grad.tolist()
        h.remove()
        (x * 2).sum().backward()
        return seen, first, x.grad.tolist()

    assert run(thw) == run(torch)


def test_non_leaf_hooks_chain_in_order_and_retain_grad_runs_last():
    def run(lib):
        x = lib.tensor([1.0, -1.0], requires_grad=True)
        y = x * 2
        y.retain_grad()
        y.register_hook(lambda g: g + 1)
        y.register_hook(lambda g: g * 3)
        seen = []
        y.register_hook(lambda g: seen.append(g.tolist()))      # returning None keeps g
        (y * y).sum().backward()
        return x.grad.tolist(), y.grad.tolist(), seen, y.retains_grad, x.retains_grad

    assert run(thw) == run(torch)


def test_retain_grad_accumulates_and_leaf_retain_grad_is_a_no_op():
    def run(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        x.retain_grad()
        y = x * 3
        y.retain_grad()
        z = (y * y).sum()
        z.backward(retain_graph=True)
        z.backward()
        return y.grad.tolist(), x.grad.tolist(), y.is_leaf

    assert run(thw) == run(torch)


def test_hook_errors():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        thw.ones(2).register_hook(lambda g: g)
    with pytest.raises(RuntimeError, match="requires_grad=False"):
        thw.ones(2).retain_grad()


def _linear_pair():
    thw.manual_seed(0)
    ours = nn.Linear(3, 2)
    theirs = torch.nn.Linear(3, 2)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.numpy()))
        theirs.bias.copy_(torch.from_numpy(ours.bias.numpy()))
    return ours, theirs


def test_forward_pre_hook_and_forward_hook():
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    results = []
    for lib, m in zip((thw, torch), _linear_pair()):
        log = []
        h1 = m.register_forward_pre_hook(lambda mod, args: log.append(("pre", tuple(args[0].shape))))
        h2 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))      # replaces the input
        h3 = m.register_forward_hook(lambda mod, args, out: log.append(("fwd", tuple(out.shape))))
        h4 = m.register_forward_hook(lambda mod, args, out: out + 1)            # replaces the output
        h5 = m.register_forward_hook(lambda mod, args, out: log.append("first"), prepend=True)
        inp = lib.tensor(x)
        out1 = m(inp).detach().numpy()
        for h in (h1, h2, h3, h4, h5):
            h.remove()
        out2 = m(inp).detach().numpy()
        results.append((log, out1, out2))
    (log_o, o1, o2), (log_t, t1, t2) = results
    assert log_o == log_t
    np.testing.assert_allclose(o1, t1, rtol=1e-5)
    np.testing.assert_allclose(o2, t2, rtol=1e-5)


def test_forward_hooks_with_kwargs():
    for lib, m in zip((thw, torch), _linear_pair()):
        seen = []
        m.register_forward_pre_hook(lambda mod, args, kwargs: seen.append(sorted(kwargs)), with_kwargs=True)
        m.register_forward_hook(lambda mod, args, kwargs, out: seen.append(tuple(out.shape)), with_kwargs=True)
        m(lib.ones(1, 3))
        assert seen == [[], (1, 2)]


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
@pytest.mark.parametrize("input_grad", [True, False])
def test_full_backward_hook_matches_torch(input_grad):
    x = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    results = []
    for lib, m in zip((thw, torch), _linear_pair()):
        seen = []

        def hook(mod, grad_input, grad_output):
            seen.append(([None if g is None else g.detach().numpy().copy() for g in grad_input],
                         [g.detach().numpy().copy() for g in grad_output]))

        h = m.register_full_backward_hook(hook)
        inp = lib.tensor(x, requires_grad=input_grad)
        (m(inp) ** 2).sum().backward()
        h.remove()
        (m(inp) ** 2).sum().backward()          # removed: no second call
        results.append((seen, m.weight.grad.numpy(), None if inp.grad is None else inp.grad.numpy()))
    (seen_o, wg_o, xg_o), (seen_t, wg_t, xg_t) = results
    assert len(seen_o) == len(seen_t) == 1
    (gi_o, go_o), (gi_t, go_t) = seen_o[0], seen_t[0]
    assert len(gi_o) == len(gi_t) and len(go_o) == len(go_t) == 1
    for a, b in zip(gi_o + go_o, gi_t + go_t):
        if b is None:
            assert a is None
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(wg_o, wg_t, rtol=1e-5)
    if input_grad:
        np.testing.assert_allclose(xg_o, xg_t, rtol=1e-5)


def test_full_backward_hook_can_replace_grad_input():
    for lib, m in zip((thw, torch), _linear_pair()):
        m.register_full_backward_hook(lambda mod, gi, go: (gi[0] * 0 + 1,))
        inp = lib.ones(2, 3, requires_grad=True)
        m(inp).sum().backward()
        assert inp.grad.tolist() == [[1.0] * 3] * 2


def test_backward_hook_on_a_container_and_handle_context():
    thw.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    calls = []
    with net[2].register_full_backward_hook(lambda m, gi, go: calls.append(type(m).__name__)):
        net(thw.randn(2, 3)).sum().backward()
    net(thw.randn(2, 3)).sum().backward()
    assert calls == ["Linear"]
    assert all(p.grad is not None for p in net.parameters())
