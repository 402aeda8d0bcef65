"""Loss modules: thin holders of options around ``F.cross_entropy`` and ``F.nll_loss``."""
from . import functional as F
from .module import Module


class _Loss(Module):
    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.weight, self.ignore_index, self.reduction = weight, ignore_index, reduction

    def _options(self):
        # only non-default options are passed, so the functional form need not know every one
        extra = {"reduction": self.reduction}
        if self.weight is not None:
            extra["weight"] = self.weight
        if self.ignore_index != -100:
            extra["ignore_index"] = self.ignore_index
        return extra


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits (N, C) against class ids (N,) (int64)."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(weight, ignore_index, reduction)
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        extra = self._options()
        if self.label_smoothing != 0.0:
            extra["label_smoothing"] = self.label_smoothing
        return F.cross_entropy(input, target, **extra)

    def extra_repr(self):
        s = f"reduction={self.reduction!r}" if self.reduction != "mean" else ""
        if self.label_smoothing:
            s += (", " if s else "") + f"label_smoothing={self.label_smoothing}"
        return s


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (N, C) against class ids (N,)."""

    def forward(self, input, target):
        return F.nll_loss(input, target, **self._options())
