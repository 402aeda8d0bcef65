"""Embedding lookup: rows of a weight matrix picked by integer ids; the gradient scatter-adds back.

Notation: ids (*B) integers in [0, V), weight (V, E) -> out (*B, E).
"""
from .. import backend
from ..tensor import Function, Tensor


class Embedding(Function):
    def forward(self, weight, ids, padding_idx):
        self.ids, self.rows, self.padding_idx = ids, weight.shape[0], padding_idx
        return weight[ids]

    def backward(self, g):
        xp = self.xp
        gw = xp.zeros((self.rows,) + g.shape[-1:], dtype=g.dtype)
        # repeated ids add up: the scatter-add seam of the backend (np.add.at / cupyx.scatter_add)
        backend.scatter_add(gw, self.ids.reshape(-1), g.reshape(-1, g.shape[-1]))
        if self.padding_idx is not None:
            gw[self.padding_idx] = 0
        return gw, None


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of ``weight`` (V, E) at the integer ids ``input``, as torch.nn.functional.embedding;
    the row at ``padding_idx`` gets no gradient.

    >>> import tinygrad_hw as thw, tinygrad_hw.nn.functional as F
    >>> F.embedding(thw.tensor([[0, 2]]), thw.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])).tolist()
    [[[0.0, 1.0], [4.0, 5.0]]]
    """
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    if not isinstance(input, Tensor) or input.dtype.kind not in "iu":
        what = input.dtype if isinstance(input, Tensor) else type(input).__name__
        raise TypeError(f"embedding: input must be an integer Tensor of ids, got {what}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    if input.device is not weight.device:
        raise RuntimeError(f"embedding: ids are on {input.device} but weight is on {weight.device}")
    V = weight.shape[0]
    if padding_idx is not None:
        if not -V <= padding_idx < V:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within [-{V}, {V})")
        padding_idx %= V
    ids = input._data
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= V):
        raise IndexError(f"embedding: ids must lie in [0, {V}), got min {int(ids.min())}, max {int(ids.max())}")
    return Embedding.apply(weight, ids, padding_idx=padding_idx)
