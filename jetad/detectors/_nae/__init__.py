"""The Normalized Autoencoder, one module per part of the algorithm.

* ``_estimator``: :class:`NAEDetector` (parameters, fit = pre-training + NAE
  phase, scoring, sampling);
* ``_checkpoints``: scoring with the stored pre-trained AE and NAE checkpoints;
* ``_module``: the torch module (an AE with a fixed encoder input scale) and
  the callback keeping the best pre-training epoch;
* ``_settings``: the named presets and the frozen settings one fit resolves;
* ``_sampler``: :class:`LangevinSampler` (replay buffer, latent and image chains);
* ``_langevin``: the Langevin chains and the replay buffer themselves;
* ``_trainer``: the loss, one optimisation step, the loop over iterations;
* ``_monitor``: health checks, snapshots and rollback, label-free selection.
"""

from ._estimator import NAEDetector
from ._monitor import NAECollapseWarning
from ._sampler import LangevinSampler
from ._settings import NAE_PRESETS

__all__ = ["NAE_PRESETS", "LangevinSampler", "NAECollapseWarning", "NAEDetector"]
