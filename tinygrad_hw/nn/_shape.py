"""Shape helpers of torch.nn.functional: ``pad`` and ``flatten`` (thin wrappers of Tensor methods)."""


def pad(x, pad, mode="constant", value=0.0):
    """Constant padding as torch.nn.functional.pad: (left, right) of the last dim, then the one before."""
    if mode != "constant":
        raise NotImplementedError(f"pad: only mode='constant' is supported, got {mode!r}")
    return x.pad(pad, 0.0 if value is None else value)


def flatten(x, start_dim=0, end_dim=-1):
    return x.flatten(start_dim, end_dim)
