"""Named NAE presets and the frozen settings one fit resolves them into."""

import warnings
from dataclasses import dataclass

from ._monitor import external_stacklevel
from ._sampler import SAMPLER_PARAMS, LangevinSampler

__all__ = ["ADDED_PARAMS", "NAE_PRESETS", "NAESettings", "resolve_settings"]


#: Named settings. ``"paper"`` is Table 1 (and appendix A) of arXiv:2206.14225;
#: ``"cpu"`` is a short schedule that runs in minutes on a laptop CPU: Table 1's chains
#: shortened to 5 + 5 steps, 1000 NAE iterations at batch 32 and lr 1e-4, and unit-norm
#: encoder input (``input_scale="auto"``): the setting of both directions chosen in
#: benchmarks/results/nae_study*/ (issue 12).
NAE_PRESETS = {
    "paper": dict(
        max_epochs=300, batch_size=2048, lr=1e-3,
        nae_epochs=50, nae_batch_size=128, nae_lr=1e-5,
        n_z_steps=30, z_step_size=100.0, z_noise_std=1e-2, z_clip_grad=0.01, z_metropolis=True,
        n_x_steps=30, x_step_size=50.0, x_noise_std=1e-4, x_clip_grad=0.01, x_metropolis=True,
        x_noise_anneal=True, l2_norm_reg=1e-8, input_scale=1.0,
        nae_iterations=None,
    ),
    "cpu": dict(
        max_epochs=30, batch_size=128, lr=1e-3,
        nae_epochs=None, nae_iterations=1000, nae_batch_size=32, nae_lr=1e-4,
        n_z_steps=5, z_step_size=100.0, z_noise_std=1e-2, z_clip_grad=0.01, z_metropolis=True,
        n_x_steps=5, x_step_size=50.0, x_noise_std=1e-4, x_clip_grad=0.01, x_metropolis=True,
        x_noise_anneal=True, l2_norm_reg=1e-8, input_scale="auto",
    ),
}

#: Detector parameters that fall back to the preset when None.
_PRESET_DETECTOR_PARAMS = ("max_epochs", "batch_size", "lr", "nae_batch_size", "nae_lr",
                           "l2_norm_reg", "input_scale")
#: Detector parameters added after detectors were first pickled, with their defaults.
ADDED_PARAMS = {"loss": "contrastive", "sinkhorn_epsilon": 0.1, "sinkhorn_iterations": 100,
                "ema_decay": None}
#: Deprecated flat aliases of the sampler's parameters (value when not given).
DEPRECATED = "deprecated"


@dataclass(frozen=True)
class NAESettings:
    """Every setting of one NAE fit, with the preset's values filled in.

    Built once per fit by :func:`resolve_settings`; the trainer, the monitor
    and the sampler read it and never the detector's parameters.
    """

    max_epochs: int
    batch_size: int
    lr: float
    nae_epochs: int
    nae_iterations: object
    nae_batch_size: int
    nae_lr: float
    l2_norm_reg: float
    input_scale: object
    temperature: float
    gamma: float
    gamma_pos: float
    energy_scale: object
    collapse_threshold: float
    check_interval: object
    selection: str
    keep_checkpoints: bool
    verbose: int
    sampler: LangevinSampler
    loss: str = "contrastive"
    sinkhorn_epsilon: float = 0.1
    sinkhorn_iterations: int = 100
    ema_decay: object = None


def _sampler_with_aliases(detector):
    """The detector's sampler (never the passed object) with deprecated flat aliases applied."""
    sampler = detector.sampler if detector.sampler is not None else LangevinSampler()
    params = sampler.get_params(deep=False)
    for name in SAMPLER_PARAMS:
        value = getattr(detector, name, DEPRECATED)
        if isinstance(value, str) and value == DEPRECATED:
            continue
        warnings.warn(
            f"NAEDetector({name}=...) is deprecated and will be removed in a future version; "
            f"use NAEDetector(sampler=LangevinSampler({name}=...)) (in searches: "
            f"'sampler__{name}').", FutureWarning, stacklevel=external_stacklevel())
        params[name] = value
    return LangevinSampler(**params)


def resolve_settings(detector):
    """Resolve the parameters of an ``NAEDetector`` against its preset.

    Parameters
    ----------
    detector : NAEDetector
        Its parameters are read, never modified (nor is its sampler).

    Returns
    -------
    NAESettings

    Raises
    ------
    ValueError
        For an unknown preset or an invalid sampler parameter.
    """
    if detector.preset not in NAE_PRESETS:
        raise ValueError(f"preset must be one of {sorted(NAE_PRESETS)}, "
                         f"got {detector.preset!r}")
    preset = NAE_PRESETS[detector.preset]
    values = {}
    for name in _PRESET_DETECTOR_PARAMS:
        value = getattr(detector, name)
        values[name] = preset[name] if value is None else value
    # the phase length: the detector's nae_iterations, else its nae_epochs, else the preset's
    values["nae_epochs"], values["nae_iterations"] = preset["nae_epochs"], preset["nae_iterations"]
    if detector.nae_iterations is not None:
        values["nae_iterations"] = detector.nae_iterations
    elif detector.nae_epochs is not None:
        values["nae_epochs"], values["nae_iterations"] = detector.nae_epochs, None
    sampler = _sampler_with_aliases(detector).resolved(preset)
    sampler._check_params()
    return NAESettings(
        **values, temperature=detector.temperature,
        gamma=detector.gamma, gamma_pos=detector.gamma_pos, energy_scale=detector.energy_scale,
        collapse_threshold=detector.collapse_threshold, check_interval=detector.check_interval,
        selection=detector.selection, keep_checkpoints=detector.keep_checkpoints,
        verbose=detector.verbose, sampler=sampler, loss=detector.loss,
        sinkhorn_epsilon=detector.sinkhorn_epsilon,
        sinkhorn_iterations=detector.sinkhorn_iterations, ema_decay=detector.ema_decay,
    )
