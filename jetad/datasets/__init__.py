"""Jet samples: simulation (Pythia 8 + simulated detector response + FastJet), I/O, public datasets.

Pythia (``pythia8mc``), FastJet and uproot are imported lazily, inside the
functions that need them, so ``import jetad.datasets`` works without them.
"""

from ._cards import KINDS, default_card
from ._fetch import fetch_generated
from ._generate import generate_jets
from ._io import load_jets, save_jets
from ._local_formats import load_energyflow, load_jetnet
from ._mixing import make_contaminated_sample
from ._response import apply_detector_response, detector_response
from ._root import load_root
from ._top_tagging import load_top_tagging

__all__ = [
    "KINDS",
    "apply_detector_response",
    "default_card",
    "fetch_generated",
    "detector_response",
    "generate_jets",
    "load_energyflow",
    "load_jetnet",
    "load_jets",
    "load_root",
    "load_top_tagging",
    "make_contaminated_sample",
    "save_jets",
]
