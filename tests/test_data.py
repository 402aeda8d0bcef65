"""Datasets and the loader: real MNIST facts, file validation, ImageFolder, DataLoader batches."""
import gzip
import shutil

import numpy as np
import pytest

import tinygrad_hw as thw
from tinygrad_hw.data import MNIST, ImageFolder, DataLoader, ArrayDataset, random_shift, subset
from tinygrad_hw.data import MNIST_MEAN, MNIST_STD
from tinygrad_hw.data.mnist import default_root

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist_test():
    return MNIST(train=False)


def test_mnist_train_facts():
    ds = MNIST(train=True)
    assert len(ds) == 60000
    assert ds.images.shape == (60000, 28, 28) and ds.images.dtype == np.uint8
    assert ds.labels.dtype == np.int64
    assert ds.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(ds.labels).tolist() == TRAIN_COUNTS
    # pixel statistics that give the usual normalisation constants
    counts = np.bincount(ds.images.ravel(), minlength=256)
    values = np.arange(256) / 255
    mean = (counts * values).sum() / counts.sum()
    std = np.sqrt((counts * (values - mean) ** 2).sum() / counts.sum())
    assert mean == pytest.approx(MNIST_MEAN, abs=1e-4) and std == pytest.approx(MNIST_STD, abs=1e-4)


def test_mnist_test_facts(mnist_test):
    ds = mnist_test
    assert len(ds) == 10000 and ds.images.shape == (10000, 28, 28)
    assert ds.labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.bincount(ds.labels).tolist() == TEST_COUNTS
    img, lbl = ds[0]
    assert img.shape == (28, 28) and lbl == 7


def test_default_root_and_env(monkeypatch, tmp_path):
    monkeypatch.delenv("TINYGRAD_HW_DATA", raising=False)
    assert (default_root() / "train-images-idx3-ubyte.gz").is_file()
    monkeypatch.setenv("TINYGRAD_HW_DATA", str(tmp_path))
    assert default_root() == tmp_path
    with pytest.raises(FileNotFoundError, match="t10k-images"):
        MNIST(train=False)


def _copy_test_set(dst, raw=False):
    src = default_root()
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        if raw:
            with gzip.open(src / (name + ".gz"), "rb") as f:
                (dst / name).write_bytes(f.read())
        else:
            shutil.copy(src / (name + ".gz"), dst / (name + ".gz"))


def test_raw_idx_files_read(tmp_path, mnist_test):
    _copy_test_set(tmp_path, raw=True)
    ds = MNIST(tmp_path, train=False)
    np.testing.assert_array_equal(ds.images, mnist_test.images)
    np.testing.assert_array_equal(ds.labels, mnist_test.labels)


def test_truncated_file_named(tmp_path):
    _copy_test_set(tmp_path, raw=True)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.*truncated"):
        MNIST(tmp_path, train=False)


def test_truncated_gzip_named(tmp_path):
    _copy_test_set(tmp_path)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz"):
        MNIST(tmp_path, train=False)


def test_bad_magic_named(tmp_path):
    _copy_test_set(tmp_path, raw=True)
    path = tmp_path / "t10k-labels-idx1-ubyte"
    raw = bytearray(path.read_bytes())
    raw[3] = 0x03                   # an images magic where a labels one belongs
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte.*magic.*0x00000803"):
        MNIST(tmp_path, train=False)


def test_count_mismatch(tmp_path):
    _copy_test_set(tmp_path, raw=True)
    path = tmp_path / "t10k-labels-idx1-ubyte"
    raw = path.read_bytes()
    path.write_bytes(raw[:4] + (9999).to_bytes(4, "big") + raw[8:-1])
    with pytest.raises(ValueError, match="10000 images but .* 9999 labels"):
        MNIST(tmp_path, train=False)


# --- ImageFolder ---------------------------------------------------------------------------------
def _write_images(root):
    from PIL import Image
    rng = np.random.default_rng(0)
    written = {}
    for cls, ext, n in (("cat", ".png", 3), ("ant", ".jpg", 2), ("bee", ".jpeg", 1)):
        (root / cls).mkdir()
        for i in range(n):
            arr = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / cls / f"{i}{ext}")
            written[(cls, i)] = arr
    (root / "cat" / "notes.txt").write_text("not an image")
    return written


def test_image_folder(tmp_path):
    from PIL import Image
    written = _write_images(tmp_path)
    ds = ImageFolder(tmp_path, size=(20, 30), grayscale=False)
    assert ds.classes == ["ant", "bee", "cat"]
    assert len(ds) == 6
    assert ds.images.shape == (6, 20, 30, 3) and ds.images.dtype == np.uint8
    assert ds.labels.dtype == np.int64 and ds.labels.tolist() == [0, 0, 1, 2, 2, 2]
    # PNG is lossless: the cat images come back exactly, in file-name order
    np.testing.assert_array_equal(ds.images[3], written[("cat", 0)])
    np.testing.assert_array_equal(ds.images[5], written[("cat", 2)])
    # grayscale + resize matches Pillow's own conversion
    gray = ImageFolder(tmp_path, size=(8, 12))
    assert gray.images.shape == (6, 8, 12)
    expect = np.asarray(Image.fromarray(written[("cat", 1)]).convert("L").resize((12, 8), Image.BILINEAR))
    np.testing.assert_array_equal(gray.images[4], expect)
    x, y = next(iter(DataLoader(ds, 4)))
    assert x.shape == (4, 3, 20, 30) and y.tolist() == [0, 0, 1, 2]
    np.testing.assert_allclose(x.numpy()[3], written[("cat", 0)].transpose(2, 0, 1) / 255, rtol=1e-6)


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        ImageFolder(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no class sub-folders"):
        ImageFolder(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png"):
        ImageFolder(tmp_path)


# --- DataLoader ----------------------------------------------------------------------------------
def _small(n=10):
    images = np.arange(n * 4 * 5, dtype=np.uint8).reshape(n, 4, 5)
    return ArrayDataset(images, np.arange(n) % 3)


def test_loader_batches_shapes_dtypes():
    ds = _small(10)
    loader = DataLoader(ds, 4)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    assert [b[0].shape for b in batches] == [(4, 1, 4, 5), (4, 1, 4, 5), (2, 1, 4, 5)]
    x, y = batches[0]
    assert isinstance(x, thw.Tensor) and x.dtype == np.float32 and y.dtype == np.int64
    assert not x.requires_grad
    np.testing.assert_allclose(x.numpy()[:, 0], ds.images[:4] / 255.0, rtol=1e-6)
    assert np.concatenate([b[1].numpy() for b in batches]).tolist() == ds.labels.tolist()


def test_loader_drop_last():
    loader = DataLoader(_small(10), 4, drop_last=True)
    assert len(loader) == 2
    assert [x.shape[0] for x, _ in loader] == [4, 4]
    assert len(DataLoader(_small(8), 4, drop_last=True)) == 2


def test_loader_shuffle_reproducible():
    ds = ArrayDataset(np.repeat(np.arange(50, dtype=np.uint8), 20).reshape(50, 4, 5), np.arange(50) % 3)

    def epoch_labels(loader):
        return np.concatenate([x.numpy()[:, 0, 0, 0] for x, _ in loader])

    a, b = DataLoader(ds, 7, shuffle=True, seed=3), DataLoader(ds, 7, shuffle=True, seed=3)
    a1, a2 = epoch_labels(a), epoch_labels(a)
    assert np.array_equal(a1, epoch_labels(b)) and np.array_equal(a2, epoch_labels(b))
    assert not np.array_equal(a1, a2)                       # a new permutation each epoch
    assert sorted(np.rint(a1 * 255)) == list(range(50))   # each sample once
    assert not np.array_equal(a1, epoch_labels(DataLoader(ds, 7, shuffle=True, seed=4)))
    # resuming from state_dict continues the same sequence of epochs
    c = DataLoader(ds, 7, shuffle=True, seed=99)
    c.load_state_dict({"seed": 3, "epoch": 1})
    assert np.array_equal(epoch_labels(c), a2)
    # images and labels stay paired under shuffling
    for x, y in DataLoader(ds, 7, shuffle=True, seed=5):
        first = np.rint(x.numpy()[:, 0, 0, 0] * 255).astype(int)
        assert (ds.labels[first] == y.numpy()).all()


def test_loader_normalisation(mnist_test):
    loader = DataLoader(mnist_test, 5000, mean=MNIST_MEAN, std=MNIST_STD)
    x, _ = next(iter(loader))
    raw = mnist_test.images[:5000].astype(np.float64) / 255
    np.testing.assert_allclose(x.numpy()[:, 0], (raw - MNIST_MEAN) / MNIST_STD, rtol=1e-5, atol=1e-5)
    # per-channel constants on colour images
    imgs = np.random.default_rng(0).integers(0, 256, (6, 3, 3, 3), dtype=np.uint8)
    mean, std = (0.2, 0.5, 0.7), (0.1, 0.2, 0.3)
    x, _ = next(iter(DataLoader(ArrayDataset(imgs, np.zeros(6), layout="NHWC"), 6, mean=mean, std=std)))
    want = (imgs.transpose(0, 3, 1, 2) / 255 - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    np.testing.assert_allclose(x.numpy(), want, rtol=1e-5, atol=1e-5)


def test_loader_bad_args():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_small(), 0)
    with pytest.raises(TypeError, match="map-style dataset"):
        DataLoader(iter([1, 2, 3]), 2)
    with pytest.raises(ValueError, match="mean=, std= and transform="):
        DataLoader([1, 2, 3], 2, mean=0.5)
    with pytest.raises(ValueError, match="std"):
        DataLoader(_small(), 2, std=0.0)


def test_random_shift_is_a_translation():
    ds = _small(6)
    rng = np.random.default_rng(0)
    out = random_shift(2)(ds.images, rng)
    replay = np.random.default_rng(0)
    oy, ox = replay.integers(0, 5, 6), replay.integers(0, 5, 6)
    assert out.shape == ds.images.shape and out.dtype == np.uint8
    for i in range(6):   # reference by explicit padding and cropping, one image at a time
        p = np.pad(ds.images[i], 2)
        np.testing.assert_array_equal(out[i], p[oy[i]:oy[i] + 4, ox[i]:ox[i] + 5])


def test_subset():
    ds = _small(10)
    s = subset(ds, 4)
    assert len(s) == 4 and s.labels.tolist() == ds.labels[:4].tolist()
    assert subset(ds, None) is ds and subset(ds, 100) is ds


def test_download_verifies_and_writes_atomically(tmp_path, monkeypatch, mnist_test):
    """download=True against a local mirror (a file:// URL), so no network is needed."""
    from tinygrad_hw.data import mnist
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    _copy_test_set(mirror)
    monkeypatch.setattr(mnist, "MIRRORS", (mirror.as_uri() + "/",))
    ds = MNIST(tmp_path / "fresh", train=False, download=True)
    np.testing.assert_array_equal(ds.labels, mnist_test.labels)
    assert sorted(p.name for p in (tmp_path / "fresh").iterdir()) == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    # a file whose hash is wrong is refused and leaves nothing behind
    bad = mirror / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(bad.read_bytes())
    raw[100] ^= 0xFF
    bad.write_bytes(bytes(raw))
    with pytest.raises(RuntimeError, match="SHA-256 mismatch"):
        MNIST(tmp_path / "other", train=False, download=True)
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["t10k-images-idx3-ubyte.gz"]
