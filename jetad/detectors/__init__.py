"""Neural anomaly detectors: scikit-learn outlier detectors built on skorch."""

from ._ae import AEDetector
from ._base import BaseNeuralDetector
from ._dvae import DVAEDetector
from ._gmvae import GMVAEDetector
from ._nae import NAE_PRESETS as NAE_PRESETS  # public; a constant, so not in __all__
from ._nae import LangevinSampler, NAECollapseWarning, NAEDetector
from ._vae import VAEDetector

# __all__ lists the classes: the API reference and its test document each of them.
__all__ = ["AEDetector", "BaseNeuralDetector", "DVAEDetector", "GMVAEDetector",
           "LangevinSampler", "NAECollapseWarning", "NAEDetector", "VAEDetector"]
