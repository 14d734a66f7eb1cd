"""Langevin samplers and the replay buffer of the Normalized Autoencoder.

The chains follow Eqs. (6), (7) and (11) of arXiv:2206.14225::

    x_{t+1} = x_t - step_size * clip(grad E(x_t)) + noise_std_t * eps_t,   eps_t ~ N(0, 1)

so that, without clipping, bounds or projection, the chain samples
``p(x) ~ exp(-E(x) / T)`` at the implied temperature ``T = noise_std**2 /
(2 * step_size)`` in the units of ``E``. The optional Metropolis-Hastings step
is the MALA correction *for that same temperature* (the public NAE code used
``T = 1`` in the acceptance ratio, which made it a no-op for energies of order
1e-4). With noise annealing the temperature of step ``t`` is
``noise_std_t**2 / (2 * step_size)``.

Every gradient is taken with :func:`torch.autograd.grad` on a detached copy of
the state, so the ``.grad`` of the network parameters is never touched, and all
randomness comes from an explicit :class:`torch.Generator`. With
``differentiable=True`` (the Wasserstein NAE) the states are not detached and
the input gradients keep their graph (``create_graph``), so the final states
are differentiable functions of the network parameters through every step.
"""

from dataclasses import dataclass, field

import torch

__all__ = [
    "LangevinResult",
    "ReplayBuffer",
    "clip_grad_per_sample",
    "implied_temperature",
    "langevin_chain",
    "uniform_sphere",
]


def implied_temperature(step_size, noise_std):
    """Temperature ``noise_std**2 / (2 * step_size)`` sampled by a Langevin chain (Eq. 7)."""
    return float(noise_std) ** 2 / (2.0 * float(step_size))


def uniform_sphere(n, dim, *, generator=None, device="cpu", dtype=torch.float32):
    """``n`` points drawn uniformly on the unit sphere ``S^{dim-1}``.

    Parameters
    ----------
    n, dim : int
    generator : torch.Generator or None
    device, dtype
        Of the returned tensor.

    Returns
    -------
    z : torch.Tensor of shape (n, dim), unit row norms
    """
    z = torch.randn(n, dim, generator=generator, device=device, dtype=dtype)
    return z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)


def clip_grad_per_sample(grad, max_norm):
    """Rescale each sample's gradient to an L2 norm of at most ``max_norm``.

    The norm is taken over all non-batch dimensions (one norm per image or
    latent vector), unlike the public NAE code, which clipped each image row.

    Parameters
    ----------
    grad : torch.Tensor of shape (n, ...)
    max_norm : float or None
        None disables clipping.

    Returns
    -------
    torch.Tensor of the shape of ``grad``
    """
    if max_norm is None:
        return grad
    norms = grad.flatten(1).norm(dim=1).clamp_min(1e-30)
    factor = (float(max_norm) / norms).clamp(max=1.0)
    return grad * factor.view(-1, *([1] * (grad.dim() - 1)))


def _energy_and_grad(energy_fn, x):
    """Energies and input gradients without touching parameter ``.grad``."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        e = energy_fn(x)
        (g,) = torch.autograd.grad(e.sum(), x)
    return e.detach(), g.detach()


def _energy_and_graph_grad(energy_fn, x):
    """Energies (detached) and input gradients that keep their graph to the parameters."""
    with torch.enable_grad():
        if not x.requires_grad:
            x = x.requires_grad_(True)
        e = energy_fn(x)
        (g,) = torch.autograd.grad(e.sum(), x, create_graph=True)
    return e.detach(), g


def _project(x, sphere, bounds):
    if bounds is not None:
        x = x.clamp(bounds[0], bounds[1])
    if sphere:
        x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return x


@dataclass
class LangevinResult:
    """Output of :func:`langevin_chain`.

    Attributes
    ----------
    x : torch.Tensor
        Final states (detached).
    energy : torch.Tensor of shape (n,)
        Energies of the final states.
    energy_start : torch.Tensor of shape (n,)
        Energies of the initial states.
    accept_rate : float
        Fraction of accepted proposals over all steps and chains (1.0 without
        Metropolis).
    trace : list of float
        Mean energy after every step.
    temperatures : list of float
        Temperature of every step (changes with noise annealing).
    """

    x: torch.Tensor
    energy: torch.Tensor
    energy_start: torch.Tensor
    accept_rate: float = 1.0
    trace: list = field(default_factory=list)
    temperatures: list = field(default_factory=list)


def langevin_chain(energy_fn, x0, *, n_steps, step_size, noise_std, clip_grad=None,
                   bounds=None, sphere=False, metropolis=False, noise_anneal=False,
                   generator=None, differentiable=False):
    """Run a batch of independent Langevin chains on ``energy_fn``.

    Parameters
    ----------
    energy_fn : callable
        Maps a tensor of shape ``x0.shape`` to per-sample energies ``(n,)``.
    x0 : torch.Tensor of shape (n, ...)
        Initial states (detached internally).
    n_steps : int
        Number of Langevin steps (0 returns ``x0``).
    step_size : float
        ``lambda`` of Eq. (6): the drift is ``-step_size * grad E``.
    noise_std : float
        ``sigma`` of Eq. (6).
    clip_grad : float or None, default=None
        Per-sample L2 bound on the energy gradient.
    bounds : tuple of float or None, default=None
        Clamp every state to ``[bounds[0], bounds[1]]`` (e.g. valid pixel values).
    sphere : bool, default=False
        Project every state back onto the unit sphere (latent chains).
    metropolis : bool, default=False
        Metropolis-Hastings (MALA) acceptance at the step's implied temperature
        ``noise_std_t**2 / (2 * step_size)``. The proposal density uses the
        clipped drift, which keeps the correction exact for clipping; clamping
        and sphere projection make it approximate (the Gaussian density of the
        un-projected move is used).
    noise_anneal : bool, default=False
        Noise of step ``t`` (0-based) is ``noise_std / max(1, t)``, as in the
        public NAE code.
    generator : torch.Generator or None, default=None
        Source of all randomness.
    differentiable : bool, default=False
        Keep the autograd graph of every step (the start ``x0`` is detached),
        so that the final states can be back-propagated into the parameters
        of ``energy_fn``. The random draws are the same as without it.

    Returns
    -------
    LangevinResult
    """
    if n_steps < 0:
        raise ValueError(f"n_steps must be >= 0, got {n_steps}")
    if step_size <= 0 or noise_std < 0:
        raise ValueError(
            f"step_size must be > 0 and noise_std >= 0, got {step_size}, {noise_std}")
    energy_and_grad = _energy_and_graph_grad if differentiable else _energy_and_grad
    x = _project(x0.detach(), sphere, bounds)
    e, g = energy_and_grad(energy_fn, x)
    e_start = e.clone()
    shape = (-1,) + (1,) * (x.dim() - 1)
    n_acc, n_tot, trace, temps = 0.0, 0, [], []
    for t in range(n_steps):
        sigma = noise_std / max(1, t) if noise_anneal else noise_std
        temps.append(sigma**2 / (2.0 * step_size))
        drift = -step_size * clip_grad_per_sample(g, clip_grad)
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        y = _project(x + drift + sigma * noise, sphere, bounds)
        e_y, g_y = energy_and_grad(energy_fn, y)
        if metropolis and sigma > 0:
            temp = temps[-1]
            drift_y = -step_size * clip_grad_per_sample(g_y, clip_grad)
            fwd = ((y - x - drift) ** 2).flatten(1).sum(1)
            bwd = ((x - y - drift_y) ** 2).flatten(1).sum(1)
            log_alpha = -(e_y - e) / temp - (bwd - fwd) / (2.0 * sigma**2)
            u = torch.rand(log_alpha.shape, generator=generator, device=x.device,
                           dtype=log_alpha.dtype)
            accept = torch.log(u.clamp_min(1e-38)) < log_alpha
            accept = accept & torch.isfinite(e_y)
            x = torch.where(accept.view(shape), y, x)
            e = torch.where(accept, e_y, e)
            g = torch.where(accept.view(shape), g_y, g)
            n_acc += float(accept.float().sum())
        else:
            x, e, g = y, e_y, g_y
            n_acc += x.shape[0]
        n_tot += x.shape[0]
        trace.append(float(e.mean()))
    rate = n_acc / n_tot if n_tot else 1.0
    return LangevinResult(x if differentiable else x.detach(), e, e_start, rate, trace, temps)


class ReplayBuffer:
    """FIFO buffer of final latent chain states (on-manifold initialisation).

    Each of the ``n`` initial states of a latent chain is drawn from the buffer
    with probability ``replay_ratio`` (independently, uniformly with
    replacement among the stored states) and otherwise uniformly on the sphere.

    Parameters
    ----------
    max_size : int, default=10000
    replay_ratio : float, default=0.95
    dim : int, default=3
        Latent dimension.
    """

    def __init__(self, max_size=10000, replay_ratio=0.95, dim=3):
        self.max_size = int(max_size)
        self.replay_ratio = float(replay_ratio)
        self.dim = int(dim)
        self._data = torch.empty(0, self.dim)
        self._pos = 0

    def __len__(self):
        return self._data.shape[0]

    def push(self, z):
        """Store latent states ``z`` of shape (n, dim), overwriting the oldest."""
        z = z.detach().to("cpu", torch.float32)
        if self.max_size <= 0 or z.shape[0] == 0:
            return
        z = z[-self.max_size:]
        if len(self) < self.max_size:
            room = self.max_size - len(self)
            self._data = torch.cat([self._data, z[:room]])
            z = z[room:]
        if z.shape[0]:
            idx = (self._pos + torch.arange(z.shape[0])) % self.max_size
            self._data[idx] = z
            self._pos = int((self._pos + z.shape[0]) % self.max_size)

    def draw(self, n, *, generator=None, device="cpu"):
        """Draw ``n`` initial latent states.

        Returns
        -------
        z : torch.Tensor of shape (n, dim)
        from_buffer : torch.Tensor of bool, shape (n,)
        """
        gdev = generator.device if generator is not None else torch.device("cpu")
        z = uniform_sphere(n, self.dim, generator=generator, device=gdev)
        from_buffer = torch.zeros(n, dtype=torch.bool, device=gdev)
        if len(self) > 0 and self.replay_ratio > 0:
            from_buffer = torch.rand(n, generator=generator, device=gdev) < self.replay_ratio
            idx = torch.randint(len(self), (n,), generator=generator, device=gdev)
            z = torch.where(from_buffer[:, None], self._data.to(gdev)[idx], z)
        return z.to(device), from_buffer.cpu()

    def state(self):
        """Copy of the buffer's contents (for checkpoints)."""
        return self._data.clone(), self._pos

    def load_state(self, state):
        """Restore contents saved by :meth:`state`."""
        self._data, self._pos = state[0].clone(), int(state[1])

