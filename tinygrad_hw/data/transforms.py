"""Image transforms with torchvision's names, each with a per-sample form and a batch form.

Per sample, ``t(image)`` acts on one image (as torchvision's): ``ToTensor`` takes a raw (H, W) or
(H, W, C) array and gives a float32 (C, H, W) Tensor; the others take and give (C, H, W) Tensors.
The DataLoader runs the batch form instead, once per batch of an array-backed dataset, when a
dataset's ``transform`` is ``ToTensor()`` followed only by transforms of this module (see
``DataLoader`` for the rule). Random ones then draw from the loader's generator.

Notation: B batch, C channels, H, W image size.
"""
import numpy as np

from .. import backend
from ..tensor import Tensor


class Compose:
    """Apply ``transforms`` in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


class Lambda:
    """A user function as a transform (per sample only: a dataset using it takes the per-sample path)."""

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"Lambda needs a callable, got {type(fn).__name__}")
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)


def _array(x):
    return x._data if isinstance(x, Tensor) else x


def _chw_tensor(x, name):
    if not isinstance(x, Tensor) or x.ndim < 3 or x.dtype.kind != "f":
        what = f"a {type(x).__name__}" if not isinstance(x, Tensor) else f"a {x.dtype} Tensor of shape {x.shape}"
        raise TypeError(f"{name} expects a float (C, H, W) Tensor (put ToTensor() first), got {what}")
    return x


class ToTensor:
    """A raw image (H, W) or (H, W, C) array as a float32 (C, H, W) Tensor; uint8 is scaled to [0, 1].

    Float images are taken as they are (only uint8 is divided by 255, as torchvision does).
    """

    def __call__(self, image):
        a = _array(image)
        if a.ndim == 2:
            a = a[None]
        elif a.ndim == 3:
            a = a.transpose(2, 0, 1)
        else:
            raise ValueError(f"ToTensor expects an (H, W) or (H, W, C) image, got shape {tuple(a.shape)}")
        xp = backend.device_of_data(a).xp
        out = a.astype(np.float32) * np.float32(1 / 255) if a.dtype == np.uint8 else a.astype(np.float32)
        return Tensor._wrap(xp.ascontiguousarray(out), backend.device_of_data(a))

    def __repr__(self):
        return "ToTensor()"


class Normalize:
    """``(x - mean) / std`` per channel, on a float (C, H, W) Tensor (or a (B, C, H, W) batch)."""

    def __init__(self, mean, std):
        self.mean = tuple(float(m) for m in np.atleast_1d(mean))
        self.std = tuple(float(s) for s in np.atleast_1d(std))
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std evaluated to zero or below, after conversion to float32, got {self.std}")

    def _per_channel(self, channels):
        if len(self.mean) not in (1, channels) or len(self.std) not in (1, channels):
            raise ValueError(f"Normalize: {channels} channels, but mean has {len(self.mean)} values and std "
                             f"{len(self.std)}")
        return (np.broadcast_to(np.asarray(self.mean), (channels,)),
                np.broadcast_to(np.asarray(self.std), (channels,)))

    def _constants(self, channels, xp):
        mean, std = self._per_channel(channels)
        return (xp.asarray(mean.reshape(channels, 1, 1), np.float32),
                xp.asarray(std.reshape(channels, 1, 1), np.float32))

    def affine(self, channels):
        """(scale, shift) per channel, float64: x * scale + shift (for folding into other steps)."""
        mean, std = self._per_channel(channels)
        return 1.0 / std, -mean / std

    def __call__(self, x):
        x = _chw_tensor(x, "Normalize")
        xp = x.device.xp
        mean, std = self._constants(x.shape[-3], xp)
        return Tensor._wrap((x._data - mean) / std, x.device)

    def batch(self, x, rng):
        mean, std = self._constants(x.shape[1], backend.device_of_data(x).xp)
        return (x - mean) / std

    def __repr__(self):
        return f"Normalize(mean={self.mean}, std={self.std})"


def shift_images(batch, oy, ox, k):
    """Translate each image of ``batch`` (B, ..., H, W) by (oy - k, ox - k) pixels, zero fill.

    Vectorised: pad the whole batch once, then gather every image's window with one advanced
    index built from per-image row and column offsets.
    """
    xp = backend.device_of_data(batch).xp
    n, h, w = batch.shape[0], batch.shape[-2], batch.shape[-1]
    flat = batch.reshape(-1, h, w)                       # (B * channels, H, W)
    per = flat.shape[0] // n if n else 1
    if per != 1:
        oy, ox = xp.repeat(oy, per), xp.repeat(ox, per)
    padded = xp.pad(flat, ((0, 0), (k, k), (k, k)))
    rows = oy[:, None] + xp.arange(h)[None, :]           # (B * channels, H)
    cols = ox[:, None] + xp.arange(w)[None, :]           # (B * channels, W)
    out = padded[xp.arange(flat.shape[0])[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.reshape(batch.shape)


class RandomShift:
    """Translate by up to ``max_shift`` pixels in each direction (zero fill), drawn per image.

    Per sample it draws from thw's global generator; in a batch, from the loader's.
    """

    def __init__(self, max_shift):
        self.max_shift = int(max_shift)
        if self.max_shift < 0:
            raise ValueError(f"max_shift must be >= 0, got {max_shift}")

    def _offsets(self, n, rng, xp):
        k = self.max_shift
        return xp.asarray(rng.integers(0, 2 * k + 1, n)), xp.asarray(rng.integers(0, 2 * k + 1, n))

    def __call__(self, x):
        x = _chw_tensor(x, "RandomShift")
        xp = x.device.xp
        oy, ox = self._offsets(1, backend.rng(backend.CPU), xp)
        return Tensor._wrap(shift_images(x._data[None], oy, ox, self.max_shift)[0], x.device)

    def batch(self, x, rng):
        xp = backend.device_of_data(x).xp
        return shift_images(x, *self._offsets(len(x), rng, xp), self.max_shift)

    def __repr__(self):
        return f"RandomShift({self.max_shift})"


def random_shift(max_shift):
    """A loader batch transform ``fn(batch, rng)`` translating each image by up to ``max_shift``
    pixels (zero fill); ``batch`` is (B, C, H, W) or (B, H, W), any dtype."""
    t = RandomShift(max_shift)

    def shift(batch, rng):
        return t.batch(batch, rng)

    shift.max_shift = t.max_shift
    return shift


def batch_plan(transform):
    """The batch steps standing for a dataset's per-sample ``transform``, or None when it has none.

    A transform has a batch form when it is ``ToTensor()`` followed only by transforms with a
    ``batch`` method (Normalize, RandomShift), possibly nested in Compose. Returns the steps
    after ToTensor (an empty list when ``transform`` is None: the loader's own ToTensor).
    """
    if transform is None:
        return []
    steps = _flatten(transform)
    if not steps or not isinstance(steps[0], ToTensor):
        return None
    rest = steps[1:]
    if all(callable(getattr(t, "batch", None)) and not isinstance(t, ToTensor) for t in rest):
        return rest
    return None


def _flatten(t):
    if isinstance(t, Compose):
        return [s for inner in t.transforms for s in _flatten(inner)]
    return [t]
