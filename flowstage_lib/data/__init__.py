"""Data sets as one small dataclass (``ImageData``): MNIST-5k, the MNIST test set shipped in
``data/mnist``, Fashion-MNIST, digits, synthetic Gaussian clouds and a user's own arrays."""

from flowstage_lib.data.sources import *  # noqa: F403
from flowstage_lib.data.sources import __all__  # noqa: F401
