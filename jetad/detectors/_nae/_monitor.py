"""Health checks, snapshots and rollback, and the label-free model selection of the NAE phase."""

import copy
import math
import os
import sys
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import spearmanr

from jetad.metrics import image_concentration

from .._inference import batched_inference

__all__ = ["NAECollapseWarning", "TrainingMonitor", "external_stacklevel", "state_copy"]

# Collapse warnings point at the caller of the detector, outside jetad.detectors.
_DETECTORS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def external_stacklevel():
    """``stacklevel`` of the first frame outside jetad.detectors, seen from the caller."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_DETECTORS_DIR):
        frame, level = frame.f_back, level + 1
    return level


class NAECollapseWarning(UserWarning):
    """The NAE sampler or loss collapsed; training was rolled back to a healthy state."""


def state_copy(module):
    """Detached copy of a module's state dict (on the module's device)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _finite_state(state):
    return all(bool(torch.isfinite(v).all()) for v in state.values() if v.is_floating_point())


@dataclass
class Snapshot:
    """Everything a rollback restores: weights, optimiser and replay buffer."""

    iteration: int
    state: dict
    optimizer: dict
    buffer: tuple


class TrainingMonitor:
    """Watches one NAE phase: health of every iteration, checkpoints, selection.

    Parameters
    ----------
    module : torch.nn.Module
        The NAE module being trained.
    optimizer : torch.optim.Optimizer
    buffer : ReplayBuffer
    X_val : ndarray of shape (n, 1, H, W), float32
        Validation background for the checkpoint diagnostics.
    settings : NAESettings
    batch_size : int
        Batch size of the validation passes.
    """

    def __init__(self, module, optimizer, buffer, X_val, settings, *, batch_size):
        self.module, self.optimizer, self.buffer = module, optimizer, buffer
        self.X_val, self.batch_size = X_val, batch_size
        self.selection = settings.selection
        self.keep_checkpoints = settings.keep_checkpoints
        self.threshold = float(settings.collapse_threshold)
        self.concentration = image_concentration(X_val)
        self.scale = 1.0
        self.spread_ref = None
        self.window = []
        self.checkpoints = []
        self.collapsed = False
        self.rollback_iteration = None
        self.last_healthy = None
        self.best = None

    # ---------------------------------------------------------- diagnostics
    def validation_diagnostics(self):
        """Label-free checks on the validation background (module in eval mode).

        Returns the mean raw energy, the latent spread ``1 - |<z>|`` of the
        encoded jets (0 when the encoder maps every jet to one point of the
        sphere, about 1 for jets spread over it) and the Spearman correlation
        of the energy with the image concentration ``mean(x^2)`` (near +-1 when
        the energy has degenerated into the trivial intensity ordering).
        """
        def energy_and_latent(module, xb):
            z = module.encode(xb)
            e = ((xb - module.decode(z)) ** 2).flatten(1).mean(dim=1)
            return torch.cat([e[:, None], z], dim=1)

        out = batched_inference(self.module, self.X_val, energy_and_latent,
                                batch_size=self.batch_size)
        e, z = out[:, 0], out[:, 1:]
        spread = 1.0 - float(np.linalg.norm(z.mean(axis=0))) if len(z) else float("nan")
        corr = float("nan")
        if len(e) > 2 and np.ptp(e) > 0 and np.ptp(self.concentration) > 0:
            corr = float(spearmanr(e, self.concentration).statistic)
        return float(e.mean()), spread, corr

    def is_healthy(self, row):
        """Collapse detection on one iteration's diagnostics."""
        values = (row["loss"], row["pos_energy"], row["neg_energy"])
        if not all(math.isfinite(v) for v in values):
            return False
        if row["neg_energy"] > self.threshold or abs(row["loss"]) > self.threshold:
            return False
        if row["pos_energy"] > self.threshold:
            return False
        return row["sample_spread"] >= self.spread_ref / self.threshold

    # ---------------------------------------------------- snapshot/rollback
    def snapshot(self, iteration):
        """Remember the current state as the last healthy one."""
        self.last_healthy = Snapshot(iteration, state_copy(self.module),
                                     copy.deepcopy(self.optimizer.state_dict()),
                                     self.buffer.state())
        return self.last_healthy

    def rollback(self, iteration, reason):
        """Restore the last healthy state and warn; the phase then stops."""
        healthy = self.last_healthy
        self.module.load_state_dict(healthy.state)
        self.optimizer.load_state_dict(healthy.optimizer)
        self.buffer.load_state(healthy.buffer)
        self.collapsed = True
        self.rollback_iteration = healthy.iteration
        warnings.warn(
            f"NAE training collapsed at iteration {iteration} ({reason}); rolled back to the "
            f"healthy state of iteration {healthy.iteration} and stopped.",
            NAECollapseWarning, stacklevel=external_stacklevel())

    def _keep(self, iteration, time):
        if self.keep_checkpoints:
            self.checkpoints.append({"iteration": iteration, "time": time,
                                     "state": {k: v.cpu() for k, v in
                                               self.last_healthy.state.items()}})

    # ------------------------------------------------------------ selection
    def start(self, row0, neg_energy0=None):
        """Checkpoint the pre-trained AE as iteration 0 (``row0`` has its ``val_energy``).

        ``neg_energy0`` is the scaled negative energy of a warm-up sampler pass
        (only with ``selection="loss"``): iteration 0 then competes on the
        same footing as later checkpoints.
        """
        score = -math.inf
        if neg_energy0 is not None:
            score = abs(neg_energy0 - row0["val_energy"]) if math.isfinite(neg_energy0) else (
                math.inf)
            row0.update(neg_energy=neg_energy0, selection_score=score)
        snap = self.snapshot(0)
        self.best = {"iteration": 0, "state": snap.state, "score": score}
        self._keep(0, 0.0)

    def record(self, row):
        """Check one iteration's row; on a collapse roll back and return False."""
        if self.spread_ref is None:
            self.spread_ref = row["sample_spread"]
        row["healthy"] = self.is_healthy(row)
        if not row["healthy"]:
            self.rollback(row["iteration"], f"loss {row['loss']:.3g}, E+ {row['pos_energy']:.3g}"
                          f", E- {row['neg_energy']:.3g}, sample spread "
                          f"{row['sample_spread']:.3g}")
            return False
        self.window.append(row["neg_energy"])
        return True

    def checkpoint(self, row):
        """Validate the current state; store it as healthy only if it is finite.

        Returns False (after a rollback) when the validation energy or the
        weights are not finite.
        """
        val, spread, corr = self.validation_diagnostics()
        val /= self.scale
        if not (math.isfinite(val) and _finite_state(self.module.state_dict())):
            row["healthy"] = False
            reason = "non-finite weights" if math.isfinite(val) else (
                f"validation energy {val:.3g}")
            self.rollback(row["iteration"], reason)
            return False
        score = abs(float(np.mean(self.window)) - val)
        self.window = []
        row.update(val_energy=val, selection_score=score, latent_spread=spread,
                   val_x2_corr=corr)
        snap = self.snapshot(row["iteration"])
        self._keep(row["iteration"], row["time"])
        if self.selection == "last" or score < self.best["score"]:
            self.best = {"iteration": row["iteration"], "state": snap.state, "score": score}
        return True

    def select(self):
        """Load the kept state into the module and return its iteration."""
        best = self.best
        if self.collapsed and self.selection == "last":
            best = {"iteration": self.last_healthy.iteration, "state": self.last_healthy.state}
        self.module.load_state_dict(best["state"])
        self.module.eval()
        return best["iteration"]
