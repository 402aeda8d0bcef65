"""torch's ``torch.utils`` names: ``thw.utils.data`` is ``thw.data``, so ``torch.utils.data.DataLoader`` ports."""
from . import data  # noqa: F401
