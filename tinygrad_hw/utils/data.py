"""``thw.utils.data`` (torch.utils.data's home): the same objects as ``tinygrad_hw.data``."""
from ..data import *  # noqa: F401,F403
from ..data import __all__  # noqa: F401
