"""Stateless transformers from jet constituents to images.

* :class:`JetImager` -- centred, rotated, flipped, pixelated pT images.
* :class:`LundPlane` -- Lund-plane images from Cambridge/Aachen declusterings
  (needs the optional ``fastjet`` package).

Both take the constituent formats of :mod:`jetad.jets`, return float32
``(n_jets, H * W)`` arrays (or ``(n_jets, 1, H, W)`` with
``output_shape="image"``) and learn nothing in ``fit``.
"""

from ._base import EmptyJetWarning
from ._imager import JetImager

__all__ = ["EmptyJetWarning", "JetImager", "LundPlane"]


def __getattr__(name):
    if name == "LundPlane":
        from ._lund import LundPlane

        return LundPlane
    raise AttributeError(f"module 'jetad.preprocessing' has no attribute {name!r}")
