"""torch.utils.data's API: datasets, samplers, collate and the DataLoader on any map-style dataset
(against torch's own), the array fast path (with samplers, transforms and seeds), array layouts."""
import inspect
from collections import namedtuple

import numpy as np
import pytest
import torch
import torch.utils.data as tdata

import tinygrad_hw as thw
from tinygrad_hw import data
from tinygrad_hw.data import (ArrayDataset, ConcatDataset, DataLoader, MNIST, Subset, TensorDataset,
                              random_split, transforms as T)
from tinygrad_hw.data.loader import _Images, _Tensors

Point = namedtuple("Point", "x y")


def _np(v):
    """Our batch (Tensors inside lists/dicts) or torch's, as NumPy values for comparison."""
    if isinstance(v, (thw.Tensor, torch.Tensor)):
        return v.numpy()
    if isinstance(v, dict):
        return {k: _np(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return type(v)(_np(x) for x in v) if not hasattr(v, "_fields") else type(v)(*(_np(x) for x in v))
    return v


def _assert_same(ours, theirs):
    a, b = _np(ours), _np(theirs)
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


class _Samples:
    """A plain map-style dataset (no base class), as users write them, giving nested samples."""

    def __init__(self, n=7, kind="tuple"):
        self.n, self.kind = n, kind
        self.x = np.random.default_rng(0).standard_normal((n, 3)).astype(np.float32)

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.kind == "tuple":
            return self.x[i], int(i) % 3, float(i) / 2
        if self.kind == "dict":
            return {"image": self.x[i], "label": np.int64(i), "meta": {"name": f"s{i}", "w": [i, 2 * i]}}
        return Point(self.x[i], np.float32(i))


# --- collate and the per-sample path, against torch ---------------------------------------------------
@pytest.mark.parametrize("kind", ["tuple", "dict", "namedtuple"])
@pytest.mark.parametrize("batch_size,drop_last", [(3, False), (3, True), (7, False), (1, False)])
def test_loader_over_any_dataset_matches_torch(kind, batch_size, drop_last):
    ds = _Samples(7, kind)
    ours = list(DataLoader(ds, batch_size=batch_size, drop_last=drop_last))
    theirs = list(tdata.DataLoader(ds, batch_size=batch_size, drop_last=drop_last))
    assert len(ours) == len(theirs) == len(DataLoader(ds, batch_size=batch_size, drop_last=drop_last))
    for a, b in zip(ours, theirs):
        _assert_same(a, b)


def test_default_collate_matches_torch():
    cases = [
        [np.arange(6, dtype=np.uint8).reshape(2, 3)] * 2,
        [1, 2, 3], [1.5, 2.5], [True, False], [np.float32(1), np.float32(2)],
        ["a", "b"], [(1, "x"), (2, "y")], [[1, 2], [3, 4]], [{"a": 1, "b": [1.0, 2.0]}] * 3,
    ]
    for batch in cases:
        _assert_same(data.default_collate(batch), tdata.default_collate(batch))
    t = [thw.tensor([1.0, 2.0]), thw.tensor([3.0, 4.0])]
    _assert_same(data.default_collate(t), tdata.default_collate([torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])]))
    with pytest.raises(RuntimeError, match="equal size"):
        data.default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        data.default_collate([object(), object()])


def test_batch_size_none_and_collate_fn_and_batch_sampler():
    ds = _Samples(5)
    for a, b in zip(DataLoader(ds, batch_size=None), tdata.DataLoader(ds, batch_size=None)):
        _assert_same(a, b)

    def firsts(samples):
        return [s[1] for s in samples]
    assert list(DataLoader(ds, batch_size=2, collate_fn=firsts)) == [[0, 1], [2, 0], [1]]
    batches = [[4, 0], [1, 2, 3]]
    for a, b in zip(DataLoader(ds, batch_sampler=batches), tdata.DataLoader(ds, batch_sampler=batches)):
        _assert_same(a, b)
    sampler = [3, 1, 4]
    for a, b in zip(DataLoader(ds, 2, sampler=sampler), tdata.DataLoader(ds, 2, sampler=sampler)):
        _assert_same(a, b)


@pytest.mark.parametrize("kwargs,message", [
    (dict(shuffle=True, sampler=[0, 1]), "sampler option is mutually exclusive with shuffle"),
    (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler option is mutually exclusive"),
    (dict(batch_size=None, drop_last=True), "batch_size=None option disables auto-batching"),
    (dict(prefetch_factor=2), "prefetch_factor option could only be specified in multiprocessing"),
    (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
    (dict(num_workers=-1), "num_workers option should be non-negative"),
])
def test_bad_options_raise_like_torch(kwargs, message):
    ds = list(range(4))
    with pytest.raises(ValueError) as theirs:
        tdata.DataLoader(ds, **kwargs)
    assert message.split(".")[0].lower() in str(theirs.value).lower()      # torch says the same
    with pytest.raises(ValueError, match=message):
        DataLoader(ds, **kwargs)


def test_worker_threads_give_the_same_batches():
    ds = _Samples(23)
    started = []
    plain = list(DataLoader(ds, 4))
    threaded = DataLoader(ds, 4, num_workers=2, prefetch_factor=3, persistent_workers=True, pin_memory=True,
                          worker_init_fn=started.append)
    for _ in range(2):
        out = list(threaded)
        assert len(out) == len(plain)
        for a, b in zip(out, plain):
            _assert_same(a, b)
    assert 0 in started and set(started) <= {0, 1}      # one call per worker thread, ids 0..num_workers-1


# --- datasets ---------------------------------------------------------------------------------------
def test_tensor_dataset_matches_torch_and_is_gathered():
    x = np.random.default_rng(1).standard_normal((10, 2, 3)).astype(np.float32)
    y = np.arange(10)
    ours = TensorDataset(thw.tensor(x), thw.tensor(y))
    theirs = tdata.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    assert len(ours) == 10
    _assert_same(ours[3], theirs[3])
    loader = DataLoader(ours, 4)
    assert isinstance(loader._source, _Tensors)
    for a, b in zip(loader, tdata.DataLoader(theirs, 4)):
        _assert_same(a, b)
    with pytest.raises(ValueError, match="Size mismatch between tensors"):
        TensorDataset(thw.zeros(3, 2), thw.zeros(4))


def test_subset_and_concat_match_torch():
    base = list(range(10, 20))
    ours, theirs = Subset(base, [9, 0, 3]), tdata.Subset(base, [9, 0, 3])
    assert len(ours) == 3 and [ours[i] for i in range(3)] == [theirs[i] for i in range(3)] == [19, 10, 13]
    parts = [list(range(3)), list(range(10, 14)), list(range(20, 22))]
    c, tc = ConcatDataset(parts), tdata.ConcatDataset(parts)
    assert c.cumulative_sizes == tc.cumulative_sizes and len(c) == len(tc) == 9
    assert [c[i] for i in range(-9, 9)] == [tc[i] for i in range(-9, 9)]
    with pytest.raises(ValueError, match="absolute value of index"):
        c[-10]
    with pytest.raises(IndexError):
        c[9]
    joined = data.Dataset.__add__(ours, ours)
    assert isinstance(joined, ConcatDataset) and [joined[i] for i in range(6)] == [19, 10, 13] * 2


@pytest.mark.parametrize("n,lengths", [(10, [3, 7]), (10, [0.33, 0.33, 0.34]), (11, [0.5, 0.5]),
                                       (7, [0.1, 0.2, 0.7]), (5, [5, 0])])
def test_random_split_sizes_match_torch_and_seeded(n, lengths):
    ours = random_split(range(n), lengths, generator=thw.Generator().manual_seed(42))
    theirs = tdata.random_split(range(n), lengths, generator=torch.Generator().manual_seed(42))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    flat = [i for s in ours for i in (s[j] for j in range(len(s)))]
    assert sorted(flat) == list(range(n))                        # disjoint and complete
    again = random_split(range(n), lengths, generator=thw.Generator().manual_seed(42))
    assert [s.indices for s in again] == [s.indices for s in ours]
    if n > 5:
        other = random_split(range(n), lengths, generator=thw.Generator().manual_seed(43))
        assert [s.indices for s in other] != [s.indices for s in ours]


def test_random_split_bad_lengths():
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(range(10), [3, 3])
    thw.manual_seed(5)
    a = random_split(range(10), [5, 5])
    thw.manual_seed(5)
    assert [s.indices for s in random_split(range(10), [5, 5])] == [s.indices for s in a]


# --- the array fast path -------------------------------------------------------------------------------
def _images(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 6, 5), dtype=np.uint8), rng.integers(0, 10, n)


class _DistributedLike:
    """The shape of a distributed sampler: an iterable of indices with __len__ and set_epoch."""

    def __init__(self, n, rank, world):
        self.n, self.rank, self.world, self.epoch = n, rank, world, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __iter__(self):
        order = np.random.default_rng(self.epoch).permutation(self.n)
        return iter(order[self.rank::self.world].tolist())

    def __len__(self):
        return len(range(self.rank, self.n, self.world))


def test_fast_path_with_a_sampler_gathers_whole_batches(monkeypatch):
    images, labels = _images(21)
    ds = ArrayDataset(images, labels)
    sampler = _DistributedLike(21, 1, 2)
    calls = []
    original = ArrayDataset.__getitem__
    monkeypatch.setattr(ArrayDataset, "__getitem__", lambda self, i: calls.append(i) or original(self, i))
    loader = DataLoader(ds, 4, sampler=sampler)
    assert isinstance(loader._source, _Images) and len(loader) == 3
    for epoch in range(2):
        sampler.set_epoch(epoch)
        want = list(sampler)
        got_x, got_y = zip(*[(x.numpy(), y.numpy()) for x, y in loader])
        np.testing.assert_array_equal(np.concatenate(got_y), labels[want])
        np.testing.assert_allclose(np.concatenate(got_x)[:, 0], images[want] / 255, rtol=1e-6)
    assert calls == []                                    # never sample by sample


def test_fast_path_equals_per_sample_path():
    """The batch form of ToTensor + Normalize gives what ds[i] and collate give."""
    images, labels = _images(10)
    tf = T.Compose([T.ToTensor(), T.Normalize((0.3,), (0.2,))])
    fast = DataLoader(ArrayDataset(images, labels, transform=tf), 4, mean=None)
    slow = DataLoader(ArrayDataset(images, labels, transform=T.Compose([T.ToTensor(), T.Lambda(tf.transforms[1])])), 4)
    assert isinstance(fast._source, _Images) and slow._source is None
    assert type(next(iter(fast))) is type(next(iter(slow))) is list      # as torch's collate of tuples
    for (a, ya), (b, yb) in zip(fast, slow):
        assert a.shape == b.shape == (len(ya), 1, 6, 5) and a.dtype == b.dtype == np.float32
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())
    want = (images[:4] / 255 - 0.3) / 0.2
    np.testing.assert_allclose(next(iter(fast))[0].numpy()[:, 0], want, rtol=1e-5, atol=1e-6)


def test_random_shift_batch_step_draws_from_the_loader():
    images, labels = _images(8)
    tf = T.Compose([T.ToTensor(), T.RandomShift(2), T.Normalize(0.5, 0.25)])
    loader = DataLoader(ArrayDataset(images, labels, transform=tf), 8, seed=11)
    assert isinstance(loader._source, _Images)
    x = next(iter(loader))[0].numpy()[:, 0]
    rng = np.random.default_rng([11, 0])
    oy, ox = rng.integers(0, 5, 8), rng.integers(0, 5, 8)
    for i in range(8):   # reference: pad one image, crop its window, then normalise
        p = np.pad(images[i] / 255, 2)[oy[i]:oy[i] + 6, ox[i]:ox[i] + 5]
        np.testing.assert_allclose(x[i], (p - 0.5) / 0.25, rtol=1e-5, atol=1e-6)
    one = T.RandomShift(1)(T.ToTensor()(images[0]))
    assert one.shape == (1, 6, 5)


def test_per_sample_transforms_take_the_generic_path():
    images, labels = _images(6)
    ds = ArrayDataset(images, labels, transform=T.Lambda(lambda im: im.astype(np.float64) * 2),
                      target_transform=lambda t: t + 100)
    loader = DataLoader(ds, 4)
    assert loader._source is None
    x, y = next(iter(loader))
    assert x.dtype == np.float64 and x.shape == (4, 6, 5)
    np.testing.assert_array_equal(x.numpy(), images[:4] * 2.0)
    np.testing.assert_array_equal(y.numpy(), labels[:4] + 100)
    with pytest.raises(TypeError, match="Normalize expects a float .* Tensor .*ToTensor"):
        ArrayDataset(images, labels, transform=T.Normalize(0.5, 0.5))[0]


def test_subset_of_array_dataset_keeps_the_fast_path():
    images, labels = _images(30)
    train, _ = random_split(ArrayDataset(images, labels), [0.8, 0.2], generator=thw.Generator().manual_seed(0))
    loader = DataLoader(train, 5)
    assert isinstance(loader._source, _Images)
    ys = np.concatenate([y.numpy() for _, y in loader])
    np.testing.assert_array_equal(ys, labels[train.indices])


# --- seeds (shuffle follows thw.manual_seed) -------------------------------------------------------------
def _epochs(loader, k=2):
    return [np.concatenate([y.numpy() for _, y in loader]) for _ in range(k)]


@pytest.mark.parametrize("make", [lambda: ArrayDataset(*_images(40)),
                                  lambda: _Samples(40)])
def test_shuffle_without_seed_follows_manual_seed(make):
    def run(seed):
        thw.manual_seed(seed)
        ds = make()
        loader = DataLoader(ds, 6, shuffle=True)
        if isinstance(ds, _Samples):
            return [np.concatenate([b[1].numpy() + 3 * np.round(b[2].numpy() * 2) for b in loader]) for _ in range(2)]
        return _epochs(loader)

    a, b, c = run(7), run(7), run(8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], a[1])                   # a new order each epoch
    assert not np.array_equal(a[0], c[0])
    g1 = DataLoader(ArrayDataset(*_images(40)), 6, shuffle=True, generator=thw.Generator().manual_seed(1))
    g2 = DataLoader(ArrayDataset(*_images(40)), 6, shuffle=True, generator=thw.Generator().manual_seed(1))
    assert g1.seed == g2.seed and np.array_equal(_epochs(g1, 1)[0], _epochs(g2, 1)[0])


def test_unshuffled_loader_leaves_the_global_generator_alone():
    thw.manual_seed(0)
    want = thw.rand(4).numpy()
    thw.manual_seed(0)
    loader = DataLoader(ArrayDataset(*_images(10)), 3)
    list(loader)
    np.testing.assert_array_equal(thw.rand(4).numpy(), want)


def test_random_sampler_follows_manual_seed():
    thw.manual_seed(3)
    a = list(data.RandomSampler(range(10)))
    thw.manual_seed(3)
    assert list(data.RandomSampler(range(10))) == a and sorted(a) == list(range(10))
    assert len(list(data.RandomSampler(range(10), replacement=True, num_samples=25))) == 25
    assert list(data.BatchSampler(range(7), 3, False)) == list(tdata.BatchSampler(range(7), 3, False))
    assert list(data.BatchSampler(range(7), 3, True)) == list(tdata.BatchSampler(range(7), 3, True))


# --- array layouts and value ranges ------------------------------------------------------------------------
def test_float_images_in_unit_range_are_not_rescaled():
    x = np.random.default_rng(0).random((5, 4, 4)).astype(np.float32)
    out = next(iter(DataLoader(ArrayDataset(x, np.zeros(5)), 5)))[0]
    np.testing.assert_array_equal(out.numpy()[:, 0], x)


def test_nchw_and_nhwc_arrays():
    rng = np.random.default_rng(0)
    nchw = rng.integers(0, 256, (4, 3, 8, 7), dtype=np.uint8)
    ds = ArrayDataset(nchw, np.zeros(4))
    assert ds.layout == "NCHW"
    np.testing.assert_allclose(next(iter(DataLoader(ds, 4)))[0].numpy(), nchw / 255, rtol=1e-6)
    nhwc = np.ascontiguousarray(nchw.transpose(0, 2, 3, 1))
    assert ArrayDataset(nhwc, np.zeros(4)).layout == "NHWC"
    np.testing.assert_allclose(next(iter(DataLoader(ArrayDataset(nhwc, np.zeros(4)), 4)))[0].numpy(),
                               nchw / 255, rtol=1e-6)
    grey = rng.random((4, 1, 5, 6)).astype(np.float32)
    np.testing.assert_array_equal(next(iter(DataLoader(ArrayDataset(grey, np.zeros(4)), 4)))[0].numpy(), grey)


def test_ambiguous_or_unsupported_arrays_raise():
    with pytest.raises(ValueError, match=r"\(2, 3, 5, 3\).*layout="):
        ArrayDataset(np.zeros((2, 3, 5, 3), np.uint8), np.zeros(2))
    with pytest.raises(ValueError, match=r"\(2, 8, 5, 8\)"):
        ArrayDataset(np.zeros((2, 8, 5, 8), np.uint8), np.zeros(2))
    assert ArrayDataset(np.zeros((2, 3, 5, 3), np.uint8), np.zeros(2), layout="NHWC").layout == "NHWC"
    with pytest.raises(TypeError, match=r"int16"):
        ArrayDataset(np.zeros((2, 5, 5), np.int16), np.zeros(2))
    with pytest.raises(ValueError, match=r"\(2, 5\)"):
        ArrayDataset(np.zeros((2, 5), np.uint8), np.zeros(2))


# --- MNIST as torchvision's ---------------------------------------------------------------------------------
def test_mnist_signature_and_samples():
    names = list(inspect.signature(MNIST).parameters)
    assert names == ["root", "train", "transform", "target_transform", "download"]
    ds = MNIST(train=False, transform=T.ToTensor(), target_transform=lambda t: t * 10)
    img, target = ds[0]
    assert isinstance(img, thw.Tensor) and img.shape == (1, 28, 28) and img.dtype == np.float32
    assert target == 70
    raw = MNIST(train=False)
    img, target = raw[0]
    assert img.shape == (28, 28) and img.dtype == np.uint8 and target == 7 and isinstance(target, int)
    assert raw.data.shape == (10000, 28, 28) and raw.targets[:3].tolist() == [7, 2, 1]
    norm = MNIST(train=False, transform=T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))]))
    x, y = next(iter(DataLoader(norm, 64)))
    want = (raw.images[:64] / 255 - 0.1307) / 0.3081
    np.testing.assert_allclose(x.numpy()[:, 0], want, rtol=1e-5, atol=1e-5)


def test_mnist_reads_torchvision_layout(tmp_path):
    import shutil
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(data.default_root() / name, raw / name)
    assert MNIST(tmp_path, train=False).labels[:3].tolist() == [7, 2, 1]


# --- devices -------------------------------------------------------------------------------------------------
def test_loader_paths_on_device(device):
    images, labels = _images(12)
    tf = T.Compose([T.ToTensor(), T.RandomShift(1), T.Normalize(0.5, 0.5)])
    fast = DataLoader(ArrayDataset(images, labels, transform=tf), 5, shuffle=True, seed=2, device=device)
    host = DataLoader(ArrayDataset(images, labels, transform=tf), 5, shuffle=True, seed=2)
    for (x, y), (hx, hy) in zip(fast, host):
        assert x.device == thw.device(device) and y.device == thw.device(device)
        np.testing.assert_allclose(x.numpy(), hx.numpy(), rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(y.numpy(), hy.numpy())
    generic = DataLoader(_Samples(6), 4, device=device)
    x, label, half = next(iter(generic))
    assert x.device == label.device == thw.device(device)
    np.testing.assert_array_equal(x.numpy(), _Samples(6).x[:4])
    td = TensorDataset(thw.tensor(images[:6].astype(np.float32), device=device), thw.tensor(labels[:6], device=device))
    tx, ty = next(iter(DataLoader(td, 6, shuffle=True, seed=0)))
    assert tx.device == thw.device(device)
    order = np.random.default_rng([0, 0]).permutation(6)
    np.testing.assert_array_equal(ty.numpy(), labels[order])
