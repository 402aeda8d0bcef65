"""thw.save / thw.load: nested checkpoints round-trip exactly, writes are atomic, bad files raise."""
import os
import zipfile

import numpy as np
import pytest

import tinygrad_hw as thw
from tinygrad_hw import nn, optim


def _model():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))


def _trained_state():
    model = _model()
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = optim.lr_scheduler.MultiStepLR(opt, milestones=[1, 3], gamma=0.5)
    for _ in range(2):
        loss = nn.CrossEntropyLoss()(model(thw.randn(4, 1, 6, 6)), thw.tensor([0, 1, 2, 1]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model, opt, sched


def _assert_equal_tree(a, b, where="obj"):
    """Same structure, types and values; Tensors compare as their NumPy values."""
    if isinstance(a, thw.Tensor):
        a = a.numpy()
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for k in a:
            _assert_equal_tree(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(b) is type(a) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_equal_tree(x, y, f"{where}[{i}]")
    else:
        assert type(a) is type(b) and (a == b or (a != a and b != b)), f"{where}: {a!r} != {b!r}"


def test_round_trip_of_a_full_training_checkpoint(tmp_path):
    model, opt, sched = _trained_state()
    ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "epoch": 2, "rng": thw.get_rng_state()}
    path = tmp_path / "ckpt.npz"
    thw.save(ckpt, path)
    loaded = thw.load(path)
    _assert_equal_tree(ckpt, loaded)
    assert isinstance(loaded["optimizer"]["state"][0]["exp_avg"], np.ndarray)      # tensors load as NumPy
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert loaded["rng"]["state"]["state"] > 2 ** 64                                 # big ints survive

    # resuming from the file continues exactly like the uninterrupted run
    x, y = thw.randn(4, 1, 6, 6), thw.tensor([2, 0, 1, 1])
    model2 = _model()
    opt2 = optim.Adam(model2.parameters(), lr=0.5)
    sched2 = optim.lr_scheduler.MultiStepLR(opt2, milestones=[7], gamma=0.9)
    model2.load_state_dict(loaded["model"])
    opt2.load_state_dict(loaded["optimizer"])
    sched2.load_state_dict(loaded["scheduler"])
    for m, o, s in ((model, opt, sched), (model2, opt2, sched2)):
        loss = nn.CrossEntropyLoss()(m(x), y)
        o.zero_grad()
        loss.backward()
        o.step()
        s.step()
    for (k, a), b in zip(model.state_dict().items(), model2.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    assert sched.get_last_lr() == sched2.get_last_lr()

    # restoring the RNG state reproduces the same draws
    thw.set_rng_state(loaded["rng"])
    first = thw.randn(5).numpy()
    thw.set_rng_state(ckpt["rng"])
    np.testing.assert_array_equal(first, thw.randn(5).numpy())


def test_values_of_every_supported_kind_round_trip(tmp_path):
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    obj = {
        "f32": np.linspace(0, 1, 5, dtype=np.float32), "f16": np.ones(3, np.float16), "i64": np.arange(3),
        "u8": np.arange(256, dtype=np.uint8).reshape(16, 16), "b": np.array([True, False]),
        "zero_d": np.array(3.5), "empty": np.zeros((0, 4), np.float32), "strided": base[:, ::2].T,
        "tensor": thw.tensor([[1.0, 2.0]]), "np_scalar": np.float32(1.5), "np_int": np.int64(7),
        "big": 2 ** 200, "neg": -3, "float": 0.1, "inf": float("inf"), "nan": float("nan"), "str": "é ü\n\"x\"",
        "none": None, "true": True, "false": False, "list": [1, [2, (3, 4.0)], []], "tuple": (), "empty_dict": {},
        "int_keys": {0: "a", 1: {2: None}}, "mixed_keys": {None: 1, True: 2, 2.5: 3, "s": 4},
        "__thw__": "a user key that looks like the tag",
    }
    thw.save(obj, tmp_path / "x.npz")
    loaded = thw.load(tmp_path / "x.npz")
    _assert_equal_tree(obj, loaded)
    assert type(loaded["np_scalar"]) is np.float32 and type(loaded["np_int"]) is np.int64


def test_map_location_returns_tensors(tmp_path, device):
    path = tmp_path / "m.npz"
    thw.save({"w": thw.tensor([1.0, 2.0]), "a": np.ones(2)}, path)
    loaded = thw.load(path, map_location=device)
    assert isinstance(loaded["w"], thw.Tensor) and loaded["w"].device is thw.device(device)
    assert loaded["w"].dtype == np.float32 and loaded["w"].tolist() == [1.0, 2.0]
    assert isinstance(loaded["a"], np.ndarray)
    model = nn.Linear(2, 2)
    thw.save(model.to(device).state_dict(), path)
    fresh = nn.Linear(2, 2)
    fresh.load_state_dict(thw.load(path))
    np.testing.assert_array_equal(fresh.weight.numpy(), model.weight.numpy())


def test_atomic_write_leaves_only_the_file_and_failed_write_keeps_old(tmp_path):
    path = tmp_path / "ckpt.npz"
    thw.save({"v": np.ones(3)}, path)
    thw.save({"v": np.zeros(3)}, path)          # overwrite
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    with pytest.raises(TypeError, match=r"obj\['bad'\]\[1\]"):
        thw.save({"v": np.full(3, 7.0), "bad": [1, object()]}, path)
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    np.testing.assert_array_equal(thw.load(path)["v"], 0.0)
    assert zipfile.is_zipfile(path)
    with zipfile.ZipFile(path) as zf:          # plain .npz: array entries plus one JSON entry
        assert sorted(zf.namelist()) == ["__structure__.json", "arr_0.npy"]
    with np.load(path, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["arr_0"], 0.0)


def test_unsupported_objects_raise(tmp_path):
    path = tmp_path / "x.npz"
    with pytest.raises(TypeError, match="object"):
        thw.save({"a": np.array([1, "x"], dtype=object)}, path)
    with pytest.raises(TypeError, match="dict key"):
        thw.save({(1, 2): 3}, path)
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="circular"):
        thw.save(loop, path)
    assert not os.listdir(tmp_path)


def test_truncated_foreign_and_missing_files_raise_naming_the_path(tmp_path):
    good = tmp_path / "good.npz"
    thw.save({"w": np.arange(1000.0), "epoch": 3}, good)
    data = good.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 10):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=f"cut{cut}.npz"):
            thw.load(bad)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.ones(2))
    with pytest.raises(ValueError, match="foreign.npz.*not written by tinygrad_hw"):
        thw.load(foreign)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="notes.txt"):
        thw.load(text)
    single = tmp_path / "one.npy"
    np.save(single, np.ones(2))
    with pytest.raises(ValueError, match="one.npy"):
        thw.load(single)
    with pytest.raises(FileNotFoundError):
        thw.load(tmp_path / "missing.npz")
