"""``python -m tinygrad_hw`` trains a model on MNIST (the same options as ``python -m tinygrad_hw.train``)."""
import sys

from .train import main

sys.exit(main())
