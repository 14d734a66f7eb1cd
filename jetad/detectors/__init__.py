"""Neural anomaly detectors: scikit-learn outlier detectors built on skorch."""

from ._ae import AEDetector
from ._base import BaseNeuralDetector
from ._dvae import DVAEDetector
from ._gmvae import GMVAEDetector
from ._nae import NAE_PRESETS, LangevinSampler, NAECollapseWarning, NAEDetector
from ._vae import VAEDetector

__all__ = ["AEDetector", "BaseNeuralDetector", "DVAEDetector", "GMVAEDetector",
           "LangevinSampler", "NAECollapseWarning", "NAEDetector", "NAE_PRESETS",
           "VAEDetector"]
