"""Flat buffers for the optimizer step: the parameters of a group that share a device and dtype
(and their optimizer state) become views into one flat buffer each, so a step is a few array
passes over that buffer instead of several passes per tensor (torch's foreach/fused optimizers
play the same role).

On the CPU the passes run over blocks of the flat buffer sized to the cache, so every pass after
the first reads from cache: a block is a slice of one large tensor (its gradient is used in
place) or a run of whole small tensors (their gradients are gathered with one concatenate into a
scratch block). On a GPU a block is the whole buffer (one gather, a handful of kernels; not yet
run on a GPU, so not measured there).
Measured on the 2-core VM shared with other jobs: ms per step before (the per-tensor code this
replaced) -> now, medians of 42 runs of 10 steps (6 alternating processes), float32, over the
parameters of MLP 784-512-256-10 (535,818 in 6 tensors), LeNet-5 (44,426 in 10) and ResNet-20
(272,186 in 65):
    SGD momentum 0.9   MLP 0.974 -> 0.679   LeNet-5 0.043 -> 0.047   ResNet-20 0.426 -> 0.433
    Adam               MLP 3.229 -> 2.341   LeNet-5 0.180 -> 0.174   ResNet-20 1.668 -> 1.387
SGD packs only tensors of two blocks or more (none in LeNet-5 and ResNet-20, whose numbers are
unchanged within noise): with every tensor packed its bookkeeping made LeNet-5 0.041 -> 0.056 and
ResNet-20 1.10 -> 1.19 ms under heavier load. Gathering the whole gradient into one flat buffer
and then making whole-buffer passes (no blocks) was slower than per-tensor passes in a prototype
(SGD, MLP 2.90 against 2.05 ms, ResNet-20 1.27 against 1.11 ms): the gather is one more pass over
memory, and without blocks every pass streams from memory.

Parameters stay ordinary Tensors: a parameter's ``_data`` is a view into the buffer. Before each
step the views are checked by identity; when a user or ``Module.to`` has replaced a parameter's
array (``p.data = ...``, a dtype change, vector_to_parameters) the group is packed again, adopting
arrays that nothing else refers to and leaving shared ones (views, arrays other Tensors hold)
to the per-tensor path, so sharing behaves as in torch. State Tensors loaded by
``load_state_dict`` are copied into the buffer the same way. Gradients are never written. A
pack steps tensor by tensor (on the same views) for a step where one of its parameters has no
gradient, and (Adam) while its parameters' step counts differ.
"""
import sys
from itertools import repeat
from operator import attrgetter, eq, is_, itemgetter

import numpy as np

from ..tensor import Tensor

_data, _grad, _device = attrgetter("_data"), attrgetter("grad"), attrgetter("device")
_shape, _dtype = attrgetter("shape"), attrgetter("dtype")
_BLOCK_BYTES = 1 << 17       # 128 KiB per array block: the five arrays of a block stay in L2


def block_numel(dtype, device):
    """Elements per block for a NumPy ``dtype`` on ``device`` (None on a GPU: the whole buffer)."""
    return max(1, _BLOCK_BYTES // dtype.itemsize) if device.type == "cpu" else None


class FlatPack:
    """Parameters of one device and dtype as views into ``self.flat``; ``self.views[i]`` is the
    array ``params[i]._data`` must be for the pack to be intact; ``blocks`` is the block plan
    (see ``_plan``)."""

    def __init__(self, params):
        # gradients are gathered block by block: a slice of a large tensor is a view, a run of
        # small ones is copied with one concatenate
        p0 = params[0]
        self.device, self.dtype, self.xp = p0.device, p0.dtype, p0.device.xp
        self.params = list(params)
        sizes = [int(p._data.size) for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64).tolist()
        n = self.offsets[-1]
        self.flat = self.xp.empty(n, dtype=self.dtype)
        self.views, self.shapes = [], [p._data.shape for p in params]
        for p, a, b in zip(params, self.offsets, self.offsets[1:]):
            self.flat[a:b] = p._data.reshape(-1)
            p._data = self.flat[a:b].reshape(p._data.shape)
            self.views.append(p._data)
        self.state = {}          # state name -> (flat buffer, per-parameter views)
        block = block_numel(self.dtype, self.device) or max(n, 1)
        self.block = block
        self.blocks = self._plan(sizes, block)
        # tensors split over several blocks: their gradients are flattened once per step (a view
        # when C-contiguous; a gradient in another layout is copied once, not once per block)
        self.split = sorted({blk[3][0] for blk in self.blocks if blk[3] is not None})
        self.scratch = [self.xp.empty(min(block, n), dtype=self.dtype) for _ in range(3)]

    @staticmethod
    def _plan(sizes, block):
        """Blocks (start, end, take, piece) covering the buffer: a run of whole small tensors
        (``take`` picks their gradients, gathered with one concatenate) or a slice
        ``piece = (i, a, b)`` of one tensor's elements (a view, no copy)."""
        blocks, run, start, pos = [], [], 0, 0

        def flush():
            if len(run) == 1:
                blocks.append((start, pos, None, (run[0], 0, pos - start)))
            elif run:
                blocks.append((start, pos, itemgetter(*run), None))

        for i, n in enumerate(sizes):
            if n > block:
                flush()
                run = []
                for a in range(0, n, block):
                    b = min(n, a + block)
                    blocks.append((pos + a, pos + b, None, (i, a, b)))
                pos += n
                start = pos
                continue
            if pos + n - start > block:
                flush()
                run, start = [], pos
            run.append(i)
            pos += n
        flush()
        return blocks

    def intact(self):
        # map/attrgetter loops run in C: this check is on every step
        return all(map(is_, map(_data, self.params), self.views))

    def state_views(self, name):
        """The flat buffer and per-parameter views of state ``name``, allocated (zeros) once."""
        if name not in self.state:
            buf = self.xp.zeros(self.offsets[-1], dtype=self.dtype)
            views = [buf[a:b].reshape(v.shape) for v, a, b in zip(self.views, self.offsets, self.offsets[1:])]
            self.state[name] = (buf, views)
        return self.state[name]

    def bind_state(self, opt_state, names):
        """Make every parameter's state ``names`` views into the pack's state buffers. Returns
        "bound" when they already were or now are (loaded or replaced entries are copied in),
        "fresh" when no parameter had that state yet (zero views are created; the caller
        initialises them), and None, changing nothing, when the state is mixed (some parameters
        have it, others not) or an entry does not fit its parameter."""
        try:
            if all(all(map(is_, [opt_state[p][n]._data for p in self.params], self.state[n][1])) for n in names):
                return "bound"     # the common case: checked by identity only
        except KeyError:
            pass
        have = [opt_state.get(p, {}) for p in self.params]
        present = [all(n in s for n in names) for s in have]
        if any(present) and not all(present):
            return None
        for s, p in zip(have, self.params):
            for n in names:
                t = s.get(n)
                if t is not None and (tuple(t._data.shape) != p.shape or t._data.dtype != self.dtype
                                      or t.device is not self.device):
                    return None
        for n in names:
            buf, views = self.state_views(n)
            for i, p in enumerate(self.params):
                s = opt_state.setdefault(p, {})
                t = s.get(n)
                if t is None:
                    s[n] = Tensor._wrap(views[i], self.device)
                elif t._data is not views[i]:
                    views[i][...] = t._data          # loaded or replaced state: copy it in
                    t._data = views[i]
        return "bound" if all(present) else "fresh"

    def flat_grads(self):
        """Each parameter's gradient array (1-d for those in ``split``), or None when one is
        missing or does not match its parameter (then the pack steps tensor by tensor this time)."""
        grads = list(map(_grad, self.params))
        if any(map(is_, grads, repeat(None))):
            return None
        if not all(map(is_, map(_device, grads), repeat(self.device))):
            return None
        arrays = list(map(_data, grads))
        if not (all(map(eq, map(_shape, arrays), self.shapes)) and all(map(eq, map(_dtype, arrays), repeat(self.dtype)))):
            return None
        for i in self.split:
            arrays[i] = arrays[i].reshape(-1)
        return arrays

    def gather(self, grads, block, scratch):
        """The gradient elements of ``block`` as one contiguous 1-d array: a view for a slice of
        one gradient, else the run's gradients concatenated into ``scratch``."""
        s, e, take, piece = block
        if piece is not None:
            i, a, b = piece
            return grads[i][a:b]
        out = scratch[:e - s]
        self.xp.concatenate(take(grads), axis=None, out=out)
        return out


def _movable(arr):
    """True when ``arr`` can move into a flat buffer without breaking sharing anyone could observe:
    a floating, C-contiguous array owning its memory, referred to only by one Tensor slot."""
    # references when called as _movable(p._data): the slot, this frame's ``arr``, getrefcount's
    return (arr.dtype.kind == "f" and getattr(arr, "base", 1) is None and arr.flags.c_contiguous
            and sys.getrefcount(arr) <= 3)


class GroupPacks:
    """The flat packs of one param group (one per device and dtype) and the parameters left to the
    per-tensor path. Rebuilt when the group's parameters change or a packed parameter's array is
    replaced: packs still intact are kept; the other members of a broken pack stay where they are
    (views of its buffer, which someone may share) and go to the per-tensor path; replaced arrays
    that are movable form new packs."""

    def __init__(self, group, old_packs=(), min_numel=0):
        self.group = group
        self.params = list(group["params"])
        ids = {id(p) for p in self.params}
        mine = [pk for pk in old_packs if any(id(p) in ids for p in pk.params)]
        kept = [pk for pk in mine if pk.intact() and all(id(p) in ids for p in pk.params)]
        kept_ids = {id(p) for pk in kept for p in pk.params}
        stuck = {id(p) for pk in mine if pk not in kept for p, v in zip(pk.params, pk.views) if p._data is v}
        by_key, self.loose = {}, []
        for p in group["params"]:
            if id(p) in kept_ids:
                continue
            if id(p) not in stuck and p._data.size >= min_numel and _movable(p._data):
                by_key.setdefault((p.device, p.dtype), []).append(p)
            else:
                self.loose.append(p)
        self.packs = kept + [FlatPack(ps) for ps in by_key.values()]

    def valid(self, group):
        params = group["params"]
        if group is not self.group or len(params) != len(self.params) or not all(map(is_, params, self.params)):
            return False
        return all(pk.intact() for pk in self.packs)


def packs_for(opt, group, min_numel=0):
    """The (cached, checked) GroupPacks of ``group`` in optimizer ``opt``; parameters with fewer
    than ``min_numel`` elements stay on the per-tensor path."""
    cache = opt.__dict__.setdefault("_flat_packs", {})
    gp = cache.get(id(group))
    if gp is not None and gp.valid(group):
        return gp
    old_packs = [pk for g in cache.values() for pk in g.packs]
    live = {id(g) for g in opt.param_groups}
    for k in [k for k, g in cache.items() if k not in live or g.group is not group and k == id(group)]:
        del cache[k]               # groups replaced by load_state_dict, or a new dict reusing an id
    gp = cache[id(group)] = GroupPacks(group, old_packs, min_numel)
    return gp
