"""The NAE phase: contrastive or Wasserstein loss, one optimisation step, the loop."""

import math
import time
from dataclasses import dataclass

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .._progress import NAEProgress
from ._monitor import TrainingMonitor, state_copy
from ._wasserstein import wasserstein_loss

__all__ = ["NAEResult", "NAETrainer", "nae_loss", "torch_generator", "wnae_loss"]


def torch_generator(seed, device):
    """Private generator on ``device`` (all sampler randomness)."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator


def _mean(values, weight):
    return values.mean() if weight is None else (values * weight).sum() / weight.sum()


def nae_loss(e_pos, e_neg, module, settings, weight=None):
    r"""The NAE loss on scaled energies, and the squared L2 norm of the weights.

    :math:`(\langle\tilde E^+\rangle - \langle\tilde E^-\rangle)/T
    + \gamma\langle(\tilde E^-)^2\rangle + \gamma_+\langle(\tilde E^+)^2\rangle
    + \lambda_{L2}\lVert\theta\rVert^2`; with per-jet ``weight`` of the
    positive batch, the averages over positives are weighted means.

    Returns
    -------
    loss, squared_norm : torch.Tensor
    """
    loss = ((_mean(e_pos, weight) - e_neg.mean()) / float(settings.temperature)
            + settings.gamma * (e_neg ** 2).mean())
    if settings.gamma_pos:
        loss = loss + settings.gamma_pos * _mean(e_pos ** 2, weight)
    squared_norm = sum((p ** 2).sum() for p in module.parameters())
    if settings.l2_norm_reg:
        loss = loss + settings.l2_norm_reg * squared_norm
    return loss, squared_norm


def wnae_loss(x_pos, x_neg, module, settings, scale, weight=None):
    r"""The Wasserstein NAE loss, and the squared L2 norm of the weights.

    :math:`S_\varepsilon(x^+, x^-) / (d\,s) + \lambda_{L2}\lVert\theta\rVert^2`:
    the debiased Sinkhorn divergence of the two batches (squared Euclidean
    cost, see :mod:`._wasserstein`) per pixel (``d`` pixels) in units of the
    energy scale ``s``, which keeps it of order 1 like the contrastive loss.
    ``x_neg`` must carry its graph to the parameters (a differentiable chain).

    Returns
    -------
    loss, squared_norm : torch.Tensor
    """
    n_pixels = x_pos[0].numel()
    distance = wasserstein_loss(x_pos, x_neg, settings.sinkhorn_epsilon,
                                settings.sinkhorn_iterations, pos_weights=weight)
    loss = distance / (n_pixels * scale)
    squared_norm = sum((p ** 2).sum() for p in module.parameters())
    if settings.l2_norm_reg:
        loss = loss + settings.l2_norm_reg * squared_norm
    return loss, squared_norm


def _spread(x, batch_size):
    return float(x.flatten(1).var(0).sum()) if batch_size > 1 else 1.0


def _diagnostics(loss, e_pos, e_neg, squared_norm, x_pos, x_neg, z_result, x_result,
                 from_buffer):
    """The ``history_`` row of one step (without iteration, epoch and time)."""
    batch_size = x_pos.shape[0]
    with torch.no_grad():
        spread_pos = _spread(x_pos, batch_size)
        spread_neg = _spread(x_neg, batch_size)
    return {
        "loss": float(loss.detach()),
        "pos_energy": float(e_pos.detach().mean()),
        "neg_energy": float(e_neg.detach().mean()),
        "neg_energy_z0": float(z_result.energy_start.mean()),
        "neg_energy_z": float(z_result.energy.mean()),
        "neg_energy_x": float(x_result.energy.mean()),
        "accept_z": z_result.accept_rate, "accept_x": x_result.accept_rate,
        "weight_norm": float(squared_norm.detach().sqrt()),
        "sample_spread": spread_neg / spread_pos if spread_pos > 0 else 1.0,
        "buffer_fraction": float(from_buffer.float().mean()),
        "pos_x2": float(x_pos.flatten(1).pow(2).mean()),
        "neg_x2": float(x_neg.flatten(1).pow(2).mean()),
        "pos_sum": float(x_pos.flatten(1).sum(1).mean()),
        "neg_sum": float(x_neg.flatten(1).sum(1).mean()),
    }


@dataclass
class NAEResult:
    """What one NAE phase leaves behind (set on the detector as fitted attributes)."""

    history: list
    best_iteration: int
    collapsed: bool
    rollback_iteration: object
    checkpoints: list
    energy_scale: float
    chain_temperatures: dict


class NAETrainer:
    """Runs the NAE phase on a pre-trained module.

    Parameters
    ----------
    module : torch.nn.Module
        The NAE module, starting from the pre-trained AE.
    settings : NAESettings
    buffer : ReplayBuffer
        Replay buffer of the sampler (kept across a warm start).
    generator : torch.Generator
        Source of the batch order and of all sampler randomness.
    latent_dim : int
    score_batch_size : int
        Batch size of the validation passes.
    progress : NAEProgress or None, default=None
        Bar, table lines and user callbacks (None: ``NAEProgress`` at ``settings.verbose``).
    """

    def __init__(self, module, settings, *, buffer, generator, latent_dim, score_batch_size,
                 progress=None):
        self.module, self.settings = module, settings
        self.sampler = settings.sampler
        self.buffer, self.generator = buffer, generator
        self.latent_dim, self.score_batch_size = latent_dim, score_batch_size
        self.device = next(module.parameters()).device
        self.optimizer = torch.optim.Adam(module.parameters(), lr=settings.nae_lr)
        self.scale = 1.0  # set from the pre-trained AE by ``run``
        self.n_iterations = None
        self.chain_temperatures = None
        self.average = None  # the EMA of the weights (``settings.ema_decay``), set by ``run``
        self.progress = progress if progress is not None else NAEProgress(
            verbose=settings.verbose)

    def sample_negatives(self, n):
        """Negative samples from the replay buffer and the chains (no power iterations)."""
        self.module.eval()
        return self.sampler.draw(self.module, n, latent_dim=self.latent_dim,
                                 generator=self.generator, buffer=self.buffer)

    def step(self, x_pos, w_pos=None):
        """One optimisation step on a positive batch; returns its diagnostics (no bookkeeping)."""
        if self.settings.loss == "wasserstein":
            return self._wasserstein_step(x_pos, w_pos)
        module, batch_size = self.module, x_pos.shape[0]
        z_result, x_result, from_buffer = self.sample_negatives(batch_size)
        x_neg = x_result.x.detach()
        module.train()
        self.optimizer.zero_grad(set_to_none=True)
        energy = module.energy(torch.cat([x_pos, x_neg])) / self.scale
        e_pos, e_neg = energy[:batch_size], energy[batch_size:]
        loss, squared_norm = nae_loss(e_pos, e_neg, module, self.settings, w_pos)
        loss.backward()
        self.optimizer.step()
        return _diagnostics(loss, e_pos, e_neg, squared_norm, x_pos, x_neg, z_result, x_result,
                            from_buffer)

    def _wasserstein_step(self, x_pos, w_pos):
        """The WNAE step: back-propagation through the image chain into the parameters."""
        module, batch_size = self.module, x_pos.shape[0]
        module.eval()
        z_result, x_result, from_buffer = self.sampler.draw(
            module, batch_size, latent_dim=self.latent_dim, generator=self.generator,
            buffer=self.buffer, differentiable=True)
        module.train()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():  # diagnostics only; in train mode for the power iteration
            e_pos = module.energy(x_pos) / self.scale
        e_neg = x_result.energy / self.scale
        loss, squared_norm = wnae_loss(x_pos, x_result.x, module, self.settings, self.scale,
                                       w_pos)
        loss.backward()
        self.optimizer.step()
        return _diagnostics(loss, e_pos, e_neg, squared_norm, x_pos, x_result.x.detach(),
                            z_result, x_result, from_buffer)

    def averaged_state(self):
        """The module's state with its parameters replaced by their running average.

        Buffers (the spectral-norm power-iteration vectors, ``input_scale``)
        are the training module's own: the vectors of the current weights are
        the best estimate of the averaged weights' singular vectors.
        """
        state = state_copy(self.module)
        for name, value in self.average.module.named_parameters():
            state[name] = value.detach().clone()
        return state

    def _checkpoint(self, monitor, row):
        """Validate and store a checkpoint: the averaged weights when averaging is on.

        With averaging, the monitor validates, stores and may select the
        averaged state, and training goes on from the raw weights (unless the
        check rolled back, which ends the phase).
        """
        if self.average is None:
            return monitor.checkpoint(row)
        training_state = state_copy(self.module)
        self.module.load_state_dict(self.averaged_state())
        healthy = monitor.checkpoint(row)
        if healthy:
            self.module.load_state_dict(training_state)
        return healthy

    def _energy_scale(self, val_energy):
        """``s`` of the loss: the pre-trained AE's mean validation energy with "auto"."""
        if self.settings.energy_scale == "auto":
            scale = val_energy if math.isfinite(val_energy) and val_energy > 0 else 1.0
        else:
            scale = float(self.settings.energy_scale)
        return max(scale, 1e-30)

    def _start(self, monitor, batch_size):
        """Iteration 0: energy scale, chain temperatures and the pre-trained AE's checkpoint."""
        val_energy, spread, corr = monitor.validation_diagnostics()
        self.scale = monitor.scale = self._energy_scale(val_energy)
        temperatures = self.sampler.temperatures()
        self.chain_temperatures = {"z": temperatures["z"], "x": temperatures["x"],
                                   "z_scaled": temperatures["z"] / self.scale,
                                   "x_scaled": temperatures["x"] / self.scale}
        first_row = {"iteration": 0, "epoch": 0, "val_energy": val_energy / self.scale,
                     "latent_spread": spread, "val_x2_corr": corr, "healthy": True, "time": 0.0}
        neg_energy0 = None
        if monitor.selection == "loss" and self.n_iterations > 0:
            # one sampler pass (pushed into the replay buffer like any iteration's)
            # gives the pre-trained AE its negative energy for the selection
            _, x_result, _ = self.sample_negatives(batch_size)
            with torch.no_grad():
                neg_energy0 = float(self.module.energy(x_result.x.detach()).mean()) / self.scale
        monitor.start(first_row, neg_energy0)
        return first_row

    def run(self, X_train, X_val, sample_weight=None):
        """Train on ``X_train`` (checkpoints validated on ``X_val``) and keep the selected state.

        Parameters
        ----------
        X_train, X_val : ndarray of shape (n, 1, H, W), float32
        sample_weight : ndarray of shape (n_train,) or None
            Weights of the positive (training) jets.

        Returns
        -------
        NAEResult
        """
        settings, generator = self.settings, self.generator
        n_train = X_train.shape[0]
        batch_size = int(min(settings.nae_batch_size, n_train))
        per_epoch = max(1, math.ceil(n_train / batch_size))
        self.n_iterations = n_iterations = (
            settings.nae_iterations if settings.nae_iterations is not None
            else settings.nae_epochs * per_epoch)
        check_interval = settings.check_interval or max(1, n_iterations // 20)
        monitor = TrainingMonitor(self.module, self.optimizer, self.buffer, X_val, settings,
                                  batch_size=self.score_batch_size)
        history = [self._start(monitor, batch_size)]
        if settings.ema_decay:
            self.average = AveragedModel(self.module, use_buffers=False,
                                         multi_avg_fn=get_ema_multi_avg_fn(settings.ema_decay))
        t_start = time.perf_counter()
        X_tensor = torch.as_tensor(X_train)
        w_tensor = None if sample_weight is None else torch.as_tensor(sample_weight)
        order = torch.randperm(n_train, generator=generator, device=generator.device).cpu()
        position = 0
        self.progress.start(n_iterations)
        for iteration in range(1, n_iterations + 1):
            if position + batch_size > n_train:
                order = torch.randperm(n_train, generator=generator, device=generator.device)
                order, position = order.cpu(), 0
            batch = order[position:position + batch_size]
            x_pos = X_tensor[batch].to(self.device)
            w_pos = None if w_tensor is None else w_tensor[batch].to(self.device)
            position += batch_size
            row = {"iteration": iteration, "epoch": (iteration - 1) // per_epoch + 1,
                   **self.step(x_pos, w_pos), "time": time.perf_counter() - t_start}
            history.append(row)
            if self.average is not None:
                self.average.update_parameters(self.module)
            healthy = monitor.record(row)
            check = iteration % check_interval == 0 or iteration == n_iterations
            go_on = healthy and (not check or self._checkpoint(monitor, row))
            stop = self.progress.iteration_end(row)
            if stop and go_on and not check:
                self._checkpoint(monitor, row)  # a callback stopped the phase: it competes too
            if stop or not go_on:
                break
        self.progress.close(history)
        best_iteration = monitor.select()
        return NAEResult(history, best_iteration, monitor.collapsed, monitor.rollback_iteration,
                         monitor.checkpoints, self.scale, self.chain_temperatures)
