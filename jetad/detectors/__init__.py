"""Neural anomaly detectors: scikit-learn outlier detectors built on skorch."""

from ._ae import AEDetector
from ._base import BaseNeuralDetector
from ._vae import VAEDetector

__all__ = ["AEDetector", "BaseNeuralDetector", "VAEDetector"]
