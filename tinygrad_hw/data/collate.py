"""Turning a list of samples into a batch, as torch.utils.data.default_collate / default_convert."""
import collections.abc

import numpy as np

from .. import backend
from ..tensor import Tensor

_ERROR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def _is_array(x):
    return isinstance(x, np.ndarray) or (type(x).__module__.startswith("cupy") and hasattr(x, "__cuda_array_interface__"))


def _wrap(array):
    return Tensor._wrap(array, backend.device_of_data(array))


def default_collate(batch):
    """Stack a list of samples: Tensors and arrays are stacked on a new first axis, Python ints
    become int64, floats float64 (as torch), NumPy scalars keep their dtype; tuples, lists, named
    tuples and dicts are collated field by field (a tuple comes back as a list, as in torch);
    strings stay a list.
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        from ..ops import stack
        return stack(list(batch), 0)
    if _is_array(elem):
        if elem.dtype.kind in "USO":
            raise TypeError(_ERROR.format(elem.dtype))
        return _wrap(backend.device_of_data(elem).xp.stack(batch))
    if isinstance(elem, np.generic):
        if elem.dtype.kind in "USO":
            raise TypeError(_ERROR.format(elem.dtype))
        return _wrap(np.array(batch))
    if isinstance(elem, bool):
        return _wrap(np.array(batch, np.bool_))
    if isinstance(elem, float):
        return _wrap(np.array(batch, np.float64))
    if isinstance(elem, int):
        return _wrap(np.array(batch, np.int64))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        out = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return type(elem)(out)
        except TypeError:            # a mapping type that cannot be built from a dict
            return out
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):          # namedtuple
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(s) != len(elem) for s in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [default_collate(s) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return columns
        try:
            return type(elem)(columns)
        except TypeError:
            return columns
    raise TypeError(_ERROR.format(type(elem)))


def default_convert(data):
    """One sample as it is, with NumPy arrays (and scalars) turned into Tensors, recursively
    (the collate of ``batch_size=None``)."""
    if isinstance(data, Tensor):
        return data
    if _is_array(data) or isinstance(data, np.generic):
        return data if data.dtype.kind in "USO" else _wrap(data)
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        return type(data)({k: default_convert(v) for k, v in data.items()})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


def to_device(data, device):
    """Every Tensor inside ``data`` (nested lists, tuples, dicts) moved to ``device``."""
    if isinstance(data, Tensor):
        return data if data.device == device else data.to(device)
    if isinstance(data, collections.abc.Mapping):
        return type(data)({k: to_device(v, device) for k, v in data.items()})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(to_device(d, device) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(to_device(d, device) for d in data)
    return data
