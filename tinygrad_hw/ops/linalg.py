"""Products with torch's strict shape rules (mm, bmm, dot, outer), einsum, and vector norms.

``thw.linalg`` is this module: ``thw.linalg.vector_norm`` lives here.
"""
import string

from ..tensor import Function, Tensor
from .reduce import Norm, _axes


def _same_dtype(a, b, name):
    if a.dtype != b.dtype:
        raise RuntimeError(f"{name}(): expected both tensors to have the same dtype, "
                           f"got {a.dtype} and {b.dtype}")


def mm(a, b):
    """(n, m) @ (m, p) -> (n, p); both must be matrices."""
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm(): both arguments must be 2-d, got shapes {a.shape} and {b.shape}")
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(f"mm(): shapes {a.shape} and {b.shape} cannot be multiplied "
                           f"({a.shape[1]} != {b.shape[0]})")
    _same_dtype(a, b, "mm")
    return a @ b


def bmm(a, b):
    """(B, n, m) @ (B, m, p) -> (B, n, p), no broadcasting of the batch."""
    if a.ndim != 3 or b.ndim != 3:
        raise RuntimeError(f"bmm(): both arguments must be 3-d, got shapes {a.shape} and {b.shape}")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise RuntimeError(f"bmm(): shapes {a.shape} and {b.shape} do not match as (B, n, m) and (B, m, p)")
    _same_dtype(a, b, "bmm")
    return a @ b


def dot(a, b):
    """The inner product of two 1-d tensors of one length (a 0-d tensor)."""
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"dot(): both arguments must be 1-d, got shapes {a.shape} and {b.shape}")
    if a.shape != b.shape:
        raise RuntimeError(f"dot(): inconsistent tensor size, {a.shape[0]} and {b.shape[0]} elements")
    _same_dtype(a, b, "dot")
    return a @ b


def outer(a, b):
    """(n,) x (m,) -> (n, m) with entries a_i * b_j."""
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"outer(): both arguments must be 1-d, got shapes {a.shape} and {b.shape}")
    return a.reshape(-1, 1) * b.reshape(1, -1)


# --- einsum ------------------------------------------------------------------------------------
def _parse(equation, shapes):
    """Subscripts of each operand and of the output, with '...' replaced by explicit letters (the
    broadcast dims, aligned right) and the implicit output (letters seen once, sorted) spelled."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum(): the equation {equation!r} names {len(terms)} operands but "
                         f"{len(shapes)} were given")
    for part in terms + [rhs]:
        rest = part.replace("...", "")
        if "." in rest or any(c not in string.ascii_letters for c in rest):
            raise ValueError(f"einsum(): invalid subscripts {part!r} in {equation!r}")
    used = set(c for c in eq if c in string.ascii_letters)
    spare = [c for c in string.ascii_letters if c not in used]
    n_ell = 0
    for term, shape in zip(terms, shapes):
        named = len(term.replace("...", ""))
        if "..." in term:
            n_ell = max(n_ell, len(shape) - named)
        elif named != len(shape):
            raise ValueError(f"einsum(): subscripts {term!r} name {named} dims but the operand has "
                             f"shape {tuple(shape)}")
    ell = "".join(spare[:n_ell])
    subs = []
    for term, shape in zip(terms, shapes):
        if "..." in term:
            k = len(shape) - len(term.replace("...", ""))
            if k < 0:
                raise ValueError(f"einsum(): subscripts {term!r} name more dims than shape {tuple(shape)}")
            term = term.replace("...", ell[n_ell - k:])
        subs.append(term)
    if arrow:
        rhs = rhs.replace("...", ell)     # without '...' in the output, those dims are summed
        for c in rhs:
            if c not in "".join(subs):
                raise ValueError(f"einsum(): output subscript {c!r} appears in no operand of {equation!r}")
        out = rhs
    else:
        counts = {}
        for c in "".join(subs):
            counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted((c for c, k in counts.items() if k == 1 and c not in ell),
                                   key=lambda c: (c.isupper(), c)))
    return subs, out


class Einsum(Function):
    """``xp.einsum`` over letter subscripts; d/d(operand i) is another einsum of the output
    gradient with the other operands, then (for a letter summed only inside operand i) a
    broadcast, (for a repeated letter, a diagonal) a write onto that diagonal, and (for a
    size-1 dim broadcast against the others) a sum."""

    def forward(self, *arrays, subs, out):
        self.arrays, self.subs, self.out = arrays, subs, out
        self.sizes = {}
        for term, a in zip(subs, arrays):
            for c, s in zip(term, a.shape):
                if s != 1 or c not in self.sizes:
                    self.sizes[c] = s
        return self.xp.einsum(",".join(subs) + "->" + out, *arrays, optimize=len(arrays) > 1)

    def backward(self, g):
        xp, subs = self.xp, self.subs
        grads = []
        for i, (term, a) in enumerate(zip(subs, self.arrays)):
            if not self.needs_input_grad[i]:
                grads.append(None)
                continue
            unique = "".join(dict.fromkeys(term))
            others = [s for j, s in enumerate(subs) if j != i]
            elsewhere = set(self.out).union(*others)
            kept = "".join(c for c in unique if c in elsewhere)
            ops = [g] + [x for j, x in enumerate(self.arrays) if j != i]
            eq = ",".join([self.out] + others) + "->" + kept
            gi = xp.einsum(eq, *ops, optimize=len(ops) > 1)
            if kept != unique:      # letters summed only inside this operand: broadcast back
                shape = tuple(self.sizes[c] if c in kept else 1 for c in unique)
                gi = gi.reshape(shape)
                gi = xp.broadcast_to(gi, tuple(self.sizes[c] for c in unique))
            if unique != term:      # a repeated letter reads a diagonal: write onto it
                full = xp.zeros(tuple(self.sizes[c] for c in term), dtype=g.dtype)
                n = len(unique)
                index = tuple(xp.arange(self.sizes[c]).reshape(
                    tuple(-1 if k == unique.index(c) else 1 for k in range(n))) for c in term)
                full[index] = gi
                gi = full
            if gi.shape != a.shape:     # size-1 dims broadcast against the other operands
                axes = tuple(d for d, (s, t) in enumerate(zip(a.shape, gi.shape)) if s == 1 and t != 1)
                gi = gi.sum(axis=axes, keepdims=True)
            grads.append(xp.ascontiguousarray(gi).astype(a.dtype, copy=False))
        return tuple(grads)


def einsum(equation, *operands):
    """``torch.einsum(equation, *operands)`` (operands also as one list), differentiable."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands or not all(isinstance(t, Tensor) for t in operands):
        raise TypeError("einsum() needs its operands as Tensors")
    first = operands[0]
    for t in operands[1:]:
        if t.dtype != first.dtype:
            raise RuntimeError(f"einsum(): expected operands of one dtype, got {first.dtype} and {t.dtype}")
    subs, out = _parse(equation, [t.shape for t in operands])
    sizes = {}
    for term, t in zip(subs, operands):
        for c, s in zip(term, t.shape):
            if sizes.get(c, 1) != 1 and s != 1 and sizes[c] != s:
                raise RuntimeError(f"einsum(): subscript {c!r} has size {s} for one operand and "
                                   f"{sizes[c]} for another (shapes {[x.shape for x in operands]})")
            if s != 1 or c not in sizes:
                sizes[c] = s
    return Einsum.apply(*operands, subs=subs, out=out)


def vector_norm(x, ord=2, dim=None, keepdim=False, dtype=None):
    """``torch.linalg.vector_norm``: the ord-norm of the entries over dim (all dims when None)."""
    if x.dtype.kind not in "fc":
        raise RuntimeError(f"linalg.vector_norm(): expected a floating point input, got {x.dtype}")
    if dtype is not None:
        x = x.to(dtype=dtype)
    if isinstance(ord, str):
        raise ValueError(f"linalg.vector_norm(): ord must be a number, got {ord!r}")
    return Norm.apply(x, p=float(ord), axis=_axes(dim, x.ndim), keepdims=keepdim)

