"""jetad: unsupervised anomaly detection on LHC jets with scikit-learn estimators.

The public names are imported lazily, so that ``import jetad`` and the command
line stay fast and optional dependencies (torch for the detectors, pythia8mc
and fastjet for generation) are only loaded when used.
"""

import importlib

__version__ = "0.1.0.dev0"

_LAZY = {
    "JetImager": "jetad.preprocessing",
    "LundPlane": "jetad.preprocessing",
    "AEDetector": "jetad.detectors",
    "VAEDetector": "jetad.detectors",
    "GMVAEDetector": "jetad.detectors",
    "DVAEDetector": "jetad.detectors",
    "NAEDetector": "jetad.detectors",
    "load_model": "jetad._model_io",
    "save_model": "jetad._model_io",
    "anomaly_score": "jetad._scores",
    "encode": "jetad._scores",
}
_SUBMODULES = {"datasets", "detectors", "jets", "metrics", "model_selection", "plotting",
               "preprocessing", "utils"}

__all__ = sorted(_LAZY) + sorted(_SUBMODULES) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"jetad.{name}")
    raise AttributeError(f"module 'jetad' has no attribute {name!r}")


def __dir__():
    return __all__
