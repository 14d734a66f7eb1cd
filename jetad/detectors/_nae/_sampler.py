"""The NAE's negative sampler: replay buffer, latent Langevin chain, image Langevin chain."""

from numbers import Integral, Real

import torch
from sklearn.base import BaseEstimator

from .._inference import fast_eval
from .._validation import (
    Interval,
    Predicate,
    non_negative_float,
    positive_float,
    validate_param_constraints,
)
from ._langevin import ReplayBuffer, implied_temperature, langevin_chain, uniform_sphere

__all__ = ["SAMPLER_PARAMS", "LangevinSampler", "NestedSamplerMixin"]

_non_negative_int = Interval(Integral, 0, None, closed="left")


def _is_bounds(value):
    low, high = value
    return float(low) < float(high)


#: Parameters of :class:`LangevinSampler`, in signature order.
SAMPLER_PARAMS = ("n_z_steps", "z_step_size", "z_noise_std", "z_clip_grad", "z_metropolis",
                  "n_x_steps", "x_step_size", "x_noise_std", "x_clip_grad", "x_metropolis",
                  "x_noise_anneal", "x_bounds", "buffer_size", "replay_ratio")
#: The chain parameters whose None means "from the detector's preset".
_FROM_PRESET = SAMPLER_PARAMS[:11]


class LangevinSampler(BaseEstimator):
    """Negative sampler of the NAE: on-manifold initialisation and two Langevin chains.

    A chain of ``n`` negative samples starts from latent points drawn from a
    replay buffer of earlier final latent states (each with probability
    ``replay_ratio``) or uniformly on the sphere ``S^{D_z-1}``, runs a
    projected latent Langevin chain on ``H(z) = E(f_D(z))``, decodes, and runs
    an image-space Langevin chain kept inside ``x_bounds`` (Eqs. 6, 7 and 11 of
    arXiv:2206.14225). The chains work in the raw MSE units of the energy, so
    the values of the paper's Table 1 apply literally; each samples at its
    implied temperature ``noise_std**2 / (2 * step_size)`` and its Metropolis
    step uses that same temperature.

    It holds settings only; :class:`NAEDetector` takes it as
    ``sampler=LangevinSampler(...)`` (its fields are reachable in searches as
    ``sampler__<name>``) and fills the fields left at None from its ``preset``
    into a copy at every fit; the object passed is never modified.

    Parameters
    ----------
    n_z_steps : int or None, default=None
        Latent-chain steps (None: from the detector's preset).
    z_step_size, z_noise_std : float or None, default=None
        ``lambda_z`` and ``sigma_z`` of the latent chain.
    z_clip_grad : float or None, default=None
        Per-sample gradient-norm bound of the latent chain.
    z_metropolis : bool or None, default=None
        Metropolis (MALA) acceptance in the latent chain.
    n_x_steps : int or None, default=None
        Image-chain steps.
    x_step_size, x_noise_std, x_clip_grad : float or None, default=None
        Image chain, as for the latent chain.
    x_metropolis : bool or None, default=None
    x_noise_anneal : bool or None, default=None
        Anneal the image-chain noise as ``sigma_x / max(1, t)`` at step ``t``.
    x_bounds : tuple of float or None, default=(0.0, 1.0)
        Valid pixel range kept by the image chain (None: unbounded).
    buffer_size : int, default=10000
        Replay buffer of final latent states (0: always fresh starts).
    replay_ratio : float, default=0.95
        Probability to start a latent chain from the buffer.

    Examples
    --------
    >>> from jetad.detectors import LangevinSampler, NAEDetector
    >>> det = NAEDetector(sampler=LangevinSampler(n_z_steps=10, x_step_size=20.0))
    >>> det.get_params()["sampler__n_z_steps"]
    10
    """

    _param_constraints = {
        "n_z_steps": [None, _non_negative_int],
        "z_step_size": [None, positive_float],
        "z_noise_std": [None, non_negative_float],
        "z_clip_grad": [None, positive_float],
        "z_metropolis": [None, "boolean"],
        "n_x_steps": [None, _non_negative_int],
        "x_step_size": [None, positive_float],
        "x_noise_std": [None, non_negative_float],
        "x_clip_grad": [None, positive_float],
        "x_metropolis": [None, "boolean"],
        "x_noise_anneal": [None, "boolean"],
        "x_bounds": [None, Predicate(_is_bounds, "a pair (low, high) with low < high")],
        "buffer_size": [_non_negative_int],
        "replay_ratio": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, n_z_steps=None, z_step_size=None, z_noise_std=None, z_clip_grad=None,
                 z_metropolis=None, n_x_steps=None, x_step_size=None, x_noise_std=None,
                 x_clip_grad=None, x_metropolis=None, x_noise_anneal=None, x_bounds=(0.0, 1.0),
                 buffer_size=10000, replay_ratio=0.95):
        self.n_z_steps = n_z_steps
        self.z_step_size = z_step_size
        self.z_noise_std = z_noise_std
        self.z_clip_grad = z_clip_grad
        self.z_metropolis = z_metropolis
        self.n_x_steps = n_x_steps
        self.x_step_size = x_step_size
        self.x_noise_std = x_noise_std
        self.x_clip_grad = x_clip_grad
        self.x_metropolis = x_metropolis
        self.x_noise_anneal = x_noise_anneal
        self.x_bounds = x_bounds
        self.buffer_size = buffer_size
        self.replay_ratio = replay_ratio

    def _check_params(self):
        """Validate the parameters (``InvalidParameterError`` naming the first bad one)."""
        validate_param_constraints(self._param_constraints, self.get_params(deep=False))

    def resolved(self, defaults):
        """A new sampler whose chain settings left at None come from ``defaults``.

        Parameters
        ----------
        defaults : dict
            E.g. an entry of ``NAE_PRESETS``.

        Returns
        -------
        LangevinSampler
        """
        params = self.get_params(deep=False)
        for name in _FROM_PRESET:
            if params[name] is None:
                params[name] = defaults[name]
        return type(self)(**params)

    def make_buffer(self, latent_dim):
        """An empty :class:`ReplayBuffer` of this sampler's size and ratio."""
        return ReplayBuffer(self.buffer_size, self.replay_ratio, latent_dim)

    def temperatures(self):
        """Implied temperatures of the latent (``"z"``) and image (``"x"``) chains (raw units)."""
        return {"z": implied_temperature(self.z_step_size, self.z_noise_std),
                "x": implied_temperature(self.x_step_size, self.x_noise_std)}

    def draw(self, module, n, *, latent_dim, generator, buffer=None, differentiable=False):
        """Draw ``n`` negative samples from an NAE module (which must be in eval mode).

        Parameters
        ----------
        module : torch.nn.Module
            With ``decode(z)`` and ``energy(x)``.
        n : int
        latent_dim : int
        generator : torch.Generator
            Source of all randomness.
        buffer : ReplayBuffer or None, default=None
            Chains start from it (and their final latent states are pushed to
            it); None: fresh uniform starts.
        differentiable : bool, default=False
            Keep the graph of the image chain (the Wasserstein NAE): its final
            states are differentiable in the module's parameters through
            every image-chain step; the latent chain and the decoded chain
            start are not (as in the public WNAE code). The random draws are
            the same as without it.

        Returns
        -------
        z_result, x_result : LangevinResult
            The latent and the image chain.
        from_buffer : torch.Tensor of bool, shape (n,)
        """
        if differentiable:
            with fast_eval(module):
                z_result, x0, from_buffer = self._draw_latent(
                    module, n, latent_dim=latent_dim, generator=generator, buffer=buffer)
            # no cached spectral-norm weights here: they are computed without autograd
            x_result = self._x_chain(module, x0, generator, differentiable=True)
            return z_result, x_result, from_buffer
        with fast_eval(module):  # the weights do not change during the chains
            return self._draw(module, n, latent_dim=latent_dim, generator=generator,
                              buffer=buffer)

    def _draw(self, module, n, *, latent_dim, generator, buffer):
        z_result, x0, from_buffer = self._draw_latent(module, n, latent_dim=latent_dim,
                                                      generator=generator, buffer=buffer)
        return z_result, self._x_chain(module, x0, generator), from_buffer

    def _draw_latent(self, module, n, *, latent_dim, generator, buffer):
        """Latent starts, the latent chain and the decoded image-chain starts."""
        device = next(module.parameters()).device
        if buffer is not None:
            z0, from_buffer = buffer.draw(n, generator=generator)
        else:
            z0 = uniform_sphere(n, latent_dim, generator=generator, device=generator.device)
            from_buffer = torch.zeros(n, dtype=torch.bool)
        z0 = z0.to(device)

        def latent_energy(z):
            return module.energy(module.decode(z))

        z_result = langevin_chain(latent_energy, z0, n_steps=self.n_z_steps,
                                  step_size=self.z_step_size, noise_std=self.z_noise_std,
                                  clip_grad=self.z_clip_grad, sphere=True,
                                  metropolis=self.z_metropolis, generator=generator)
        if buffer is not None:
            buffer.push(z_result.x)
        with torch.no_grad():
            x0 = module.decode(z_result.x)
        return z_result, x0, from_buffer

    def _x_chain(self, module, x0, generator, differentiable=False):
        bounds = None if self.x_bounds is None else tuple(float(b) for b in self.x_bounds)
        return langevin_chain(module.energy, x0, n_steps=self.n_x_steps,
                              step_size=self.x_step_size, noise_std=self.x_noise_std,
                              clip_grad=self.x_clip_grad, bounds=bounds,
                              metropolis=self.x_metropolis, noise_anneal=self.x_noise_anneal,
                              generator=generator, differentiable=differentiable)


class NestedSamplerMixin:
    """``get_params`` / ``set_params`` of an estimator whose ``sampler`` may be ``None``.

    With ``sampler=None`` the deep parameters are those of ``LangevinSampler()``,
    so ``sampler__<name>`` is searchable before a sampler is passed.
    """

    def get_params(self, deep=True):
        """Parameters of the detector; with ``deep``, also ``sampler__<name>``.

        With ``sampler=None`` the deep parameters are those of
        ``LangevinSampler()``, which the detector then uses.
        """
        params = super().get_params(deep=deep)
        if deep and self.sampler is None:
            params.update(("sampler__" + key, value)
                          for key, value in LangevinSampler().get_params().items())
        return params

    def set_params(self, **params):
        """Set parameters; ``sampler__<name>`` with ``sampler=None`` starts from ``LangevinSampler()``.

        Returns
        -------
        self
        """
        if self.sampler is None and "sampler" not in params and any(
                key.startswith("sampler__") for key in params):
            self.sampler = LangevinSampler()
        return super().set_params(**params)
