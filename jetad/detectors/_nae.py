"""Normalized Autoencoder detector (arXiv:2206.14225, after arXiv:2105.05735)."""

import copy
import math
import numbers
import time
import warnings

import numpy as np
import torch
from scipy.stats import spearmanr
from skorch.callbacks import Callback

from jetad.metrics import image_concentration
from jetad.utils import check_random_seed

from ._ae import AEModule
from ._base import BaseNeuralDetector
from ._langevin import ReplayBuffer, implied_temperature, langevin_chain, uniform_sphere

__all__ = ["NAECollapseWarning", "NAEDetector", "NAE_PRESETS"]


class NAECollapseWarning(UserWarning):
    """The NAE sampler or loss collapsed; training was rolled back to a healthy state."""


#: Named settings. ``"paper"`` is Table 1 (and appendix A) of arXiv:2206.14225;
#: ``"cpu"`` is a short schedule that runs in minutes on a laptop CPU: Table 1's chains
#: (image noise 1e-4 with Metropolis) shortened to 5 + 5 steps, batch 32, lr 1e-4.
#: benchmarks/results/nae_tuning.json: on 3000 training jets (one seed) this NAE
#: phase kept the top-as-anomaly AUC of its pre-trained AE (0.874 -> 0.874, the AE
#: itself selected; 0.888 at the last iteration) and raised the QCD-as-anomaly AUC
#: (0.747 -> 0.892), where the earlier demo settings (image noise 1e-2 without
#: Metropolis, lr 1e-3) dropped top to 0.447. Those numbers predate the zero-bias
#: encoder initialisation (the pre-trained AEs were collapsed); after it, same data,
#: demo schedule: top 0.903 -> 0.894, QCD 0.759 -> 0.677 (nae_tuning.md, last section).
#: At scale (benchmarks/results/nae.md: 100k training jets, 3 seeds, this preset with
#: max_epochs=3 and nae_iterations=1000, ~20 min per model on one thread) the NAE
#: phase raises top 0.924 -> 0.935 and QCD 0.608 -> 0.791 over its pre-trained AE.
NAE_PRESETS = {
    "paper": dict(
        max_epochs=300, batch_size=2048, lr=1e-3,
        nae_epochs=50, nae_batch_size=128, nae_lr=1e-5,
        n_z_steps=30, z_step_size=100.0, z_noise_std=1e-2, z_clip_grad=0.01, z_metropolis=True,
        n_x_steps=30, x_step_size=50.0, x_noise_std=1e-4, x_clip_grad=0.01, x_metropolis=True,
        x_noise_anneal=True, l2_norm_reg=1e-8, input_scale=1.0,
    ),
    "cpu": dict(
        max_epochs=30, batch_size=128, lr=1e-3,
        nae_epochs=2, nae_batch_size=32, nae_lr=1e-4,
        n_z_steps=5, z_step_size=100.0, z_noise_std=1e-2, z_clip_grad=0.01, z_metropolis=True,
        n_x_steps=5, x_step_size=50.0, x_noise_std=1e-4, x_clip_grad=0.01, x_metropolis=True,
        x_noise_anneal=True, l2_norm_reg=1e-8, input_scale=1.0,
    ),
}

_SELECTIONS = ("loss", "last")


class _KeepBestWeights(Callback):
    """Keep the module weights of the epoch with the lowest validation (or train) loss."""

    def initialize(self):
        self.best_loss_ = math.inf
        self.best_state_ = None
        self.best_epoch_ = None
        return self

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        loss = row.get("valid_loss", row.get("train_loss"))
        if loss is not None and math.isfinite(loss) and loss < self.best_loss_:
            self.best_loss_ = float(loss)
            self.best_epoch_ = int(row["epoch"])
            self.best_state_ = copy.deepcopy(net.module_.state_dict())


class _NAEModule(AEModule):
    """:class:`AEModule` whose encoder sees the images multiplied by ``input_scale``.

    Spectral normalisation makes every layer (about) 1-Lipschitz, so the encoder
    output can vary across jets by at most the spread of the inputs (unit-sum
    40x40 images have L2 norms of a few 1e-2). The encoder's biases start at
    zero (``ConvEncoder`` under spectral norm), which keeps the
    initial latent direction independent of the image scale; biases learned in
    training can still dominate such small inputs. A fixed input scale (a
    buffer, not trained) lifts the images to unit norm; the energy is still the
    MSE of the unscaled image and its reconstruction.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_buffer("input_scale", torch.ones(()))

    def encode(self, x):
        return super().encode(x * self.input_scale)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # state dicts of detectors pickled before the input scale existed: scale 1
        state_dict.setdefault(prefix + "input_scale", torch.ones(()))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _state_copy(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class NAEDetector(BaseNeuralDetector):
    r"""Normalized Autoencoder: an energy-based autoencoder trained on background jets.

    The network is the spherical, spectrally normalised convolutional
    autoencoder of :class:`AEDetector` (Table 2 of arXiv:2206.14225), with
    energy ``E(x)`` = per-jet mean squared reconstruction error (Eq. 9), which
    is also the anomaly score (``score_samples = -E``). Training has two phases:

    1. **AE pre-training** on the MSE for ``max_epochs`` (Adam, ``lr``,
       ``batch_size``); the weights with the lowest background validation loss
       are kept and the NAE phase starts from them.
    2. **NAE training** (``nae_epochs`` or ``nae_iterations``, Adam ``nae_lr``)
       on the loss

       .. math::

           L = \frac{\tilde E(x^+) - \tilde E(x^-)}{T}
               + \gamma\,\tilde E(x^-)^2 + \gamma_+\,\tilde E(x^+)^2
               + \lambda_{L2} \lVert\theta\rVert^2,

       where :math:`x^+` are background jets and :math:`x^-` model samples
       drawn by on-manifold initialisation: latent starts uniform on the sphere
       :math:`S^{D_z-1}` or from a replay buffer, a projected latent Langevin
       chain on :math:`H(z) = E(f_D(z))`, decoding, and an image-space
       Langevin chain kept inside ``x_bounds``.

    **Energy scale.** Per-pixel MSEs of unit-sum jet images are tiny
    (1e-6 to 1e-3), which makes ``T = 1`` and ``gamma = 1`` meaningless in the
    public code (Metropolis never rejects, the ``gamma`` term vanishes, the L2
    term dominates). Here the loss uses the dimensionless energy
    :math:`\tilde E = E / s` with the data-derived scale ``s = energy_scale_``:
    by default the mean MSE of the pre-trained AE on the background validation
    jets, so background jets have :math:`\tilde E \approx 1` whatever the image
    preprocessing. On that scale ``temperature`` sets the weight of the
    contrastive term and ``gamma`` caps the negative energies: the two terms
    balance at :math:`\tilde E^- = 1/(2\gamma T)`, 5 background units with the
    defaults (``gamma=0.1``, ``T=1``). The Langevin chains work in the paper's
    raw MSE units, so the values of Table 1 apply literally; each chain samples
    at its implied temperature ``noise_std**2 / (2 * step_size)`` (Eq. 7;
    reported in ``chain_temperatures_`` in raw and in :math:`\tilde E`
    units), and its Metropolis step uses that same temperature, so it is a
    real MALA correction rather than a no-op.

    **Spectral norm.** Power iterations only advance in training steps (the
    sampler and scoring run the module in eval mode).

    **Collapse and model selection.** Every iteration is checked for a
    diverging or non-finite loss or energy and for collapsing samples (see
    ``collapse_threshold``). Every ``check_interval`` iterations a healthy state
    is checkpointed, together with the background validation energy. On a
    collapse the last healthy state is restored, an :class:`NAECollapseWarning`
    is issued and the NAE phase stops. The kept model is chosen without signal
    labels: with ``selection="loss"`` the healthy checkpoint whose contrastive
    gap :math:`|\langle\tilde E^-\rangle - \langle\tilde E_{\rm val}\rangle|`
    (validation background against the negative samples of the preceding
    iterations) is closest to zero -- the paper's "loss closest to zero with
    stable energies" -- and with ``selection="last"`` the last healthy state.
    Iteration 0 (the pre-trained AE) competes too: before the first update one
    sampler pass (pushed into the replay buffer like every later one) gives its
    negative energy, so the pre-trained AE is kept when no NAE state has a
    smaller gap.

    **Encoder collapse.** A pre-trained AE can map every jet to (nearly) the
    same latent point and reconstruct the same image for all of them; its
    energy is then ``|x - c|^2`` for a fixed image ``c``, a variant of the
    trivial ``mean(x^2)`` ordering, and the decoded negative samples all look
    alike (tiny ``sample_spread``), so the NAE phase cannot reshape it. The
    checkpoint rows of ``history_`` record the ``latent_spread`` of the encoded
    validation jets (``1 - |<z>|``; about 0 for a collapsed encoder) and the
    rank correlation ``val_x2_corr`` of the validation energy with
    ``mean(x^2)``. ``input_scale`` multiplies the encoder input (see there).

    Parameters
    ----------
    latent_dim : int, default=3
        Dimension of the latent space; latents lie on ``S^{latent_dim-1}``.
    preset : {"cpu", "paper"}, default="cpu"
        Source of every parameter left at None. ``"paper"``: Table 1 and
        appendix A of arXiv:2206.14225 (pre-training 300 epochs at batch 2048,
        lr 1e-3; NAE 50 epochs ~ 40k iterations at batch 128, lr 1e-5; latent
        chain 30 steps, step 100, noise 1e-2; image chain 30 steps, step 50,
        noise 1e-4 annealed; Metropolis in both; L2 1e-8). ``"cpu"``: the same
        chains shortened to 5 + 5 steps, 30 pre-training epochs at batch 128,
        2 NAE epochs at batch 32 and lr 1e-4 (about 0.6 s per iteration on one
        CPU thread). See ``NAE_PRESETS``.
    spectral_norm : bool, default=True
        Spectral normalisation on every layer.
    n_filters, hidden_dim : int, default=8, 100
    output_activation : {"sigmoid", "linear"}, default="sigmoid"
    image_shape : tuple of int or None, default=None
    max_epochs, batch_size, lr : int, int, float or None, default=None
        AE pre-training (None: from ``preset``).
    weight_decay : float, default=0.0
        Adam weight decay of the pre-training.
    validation_fraction : float or None, default=0.1
        Background fraction held out for the pre-training validation loss (best
        weights), the energy scale and the NAE model selection. Ignored (the
        training set is used) when it would hold fewer than 2 jets.
    early_stopping : int or None, default=None
        Patience of early stopping in the pre-training.
    callbacks : list or None, default=None
        Extra skorch callbacks of the pre-training.
    nae_epochs : int or None, default=None
        Length of the NAE phase in passes over the training jets.
    nae_iterations : int or None, default=None
        Length of the NAE phase in iterations; overrides ``nae_epochs``. 0 skips
        the NAE phase (a spherical, spectrally normalised AE).
    nae_batch_size : int or None, default=None
    nae_lr : float or None, default=None
    temperature : float, default=1.0
        ``T`` of the loss, on the :math:`\tilde E` scale.
    gamma : float, default=0.1
        Weight of :math:`\tilde E(x^-)^2`.
    gamma_pos : float, default=0.0
        Weight of :math:`\tilde E(x^+)^2`.
    l2_norm_reg : float or None, default=None
        Weight of the squared L2 norm of all parameters.
    energy_scale : "auto" or float, default="auto"
        ``s`` in :math:`\tilde E = E / s`. "auto": mean MSE of the pre-trained
        AE on the validation background. A float fixes it (``1.0`` gives the
        raw per-pixel MSE of the public code, ``1/n_pixels`` per-jet sums).
    n_z_steps, z_step_size, z_noise_std, z_clip_grad, z_metropolis
        Latent chain (None: from ``preset``): steps, ``lambda_z``,
        ``sigma_z``, per-sample gradient-norm bound, Metropolis acceptance.
    n_x_steps, x_step_size, x_noise_std, x_clip_grad, x_metropolis, x_noise_anneal
        Image chain (None: from ``preset``); annealing uses
        ``sigma_x / max(1, t)`` at step ``t``.
    input_scale : "auto", float or None, default=None
        Factor applied to the images before the encoder (a fixed buffer of the
        module; the energy is still the MSE of the unscaled image). With
        spectral normalisation every layer is about 1-Lipschitz, so for
        unit-sum images (L2 norm ~0.1) the input-dependent part of the encoder
        output can end up small next to the biases learned in training (they
        start at zero). "auto": one over the mean L2 norm of the training
        images. None: from ``preset`` (1.0 in both).
    x_bounds : tuple of float or None, default=(0.0, 1.0)
        Valid pixel range kept by the image chain.
    buffer_size : int, default=10000
        Replay buffer of final latent states.
    replay_ratio : float, default=0.95
        Probability to start a latent chain from the buffer.
    collapse_threshold : float, default=100.0
        An iteration is a collapse when a loss or energy is not finite, when
        :math:`\langle\tilde E^-\rangle` or :math:`|L|` exceeds it, or when the
        per-pixel variance of the negative batch falls below
        ``1/collapse_threshold`` times that of the data batch.
    check_interval : int or None, default=None
        Iterations between checkpoints and validation checks (None: about 20
        checks over the NAE phase).
    selection : {"loss", "last"}, default="loss"
        Label-free choice of the kept NAE state (see above).
    keep_checkpoints : bool, default=False
        Store every healthy checkpoint in ``checkpoints_`` (for AUC-vs-time
        studies with :meth:`load_checkpoint`).
    contamination : float, default=0.1
    device : {"auto", "cpu", "cuda"}, default="auto"
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
        Continue both phases from the fitted state.
    verbose : int, default=0

    Attributes
    ----------
    net_ : skorch.NeuralNet
        ``net_.history`` is the pre-training history.
    history_ : list of dict
        One row per NAE iteration: ``iteration``, ``epoch``, ``loss``,
        ``pos_energy``, ``neg_energy`` (on the :math:`\tilde E` scale),
        ``neg_energy_z0`` / ``neg_energy_z`` / ``neg_energy_x`` (raw energy of the
        decoded chain start, after the latent chain and after the image chain),
        ``accept_z``, ``accept_x``, ``weight_norm``, ``sample_spread``,
        ``buffer_fraction``, ``pos_x2`` / ``neg_x2`` (mean squared pixel of the
        positive / negative batch), ``pos_sum`` / ``neg_sum`` (mean pixel sum),
        ``healthy``, ``time``; checkpoint rows (iteration 0 included) also have
        ``val_energy``, ``selection_score``, ``latent_spread`` and
        ``val_x2_corr`` (row 0: ``neg_energy`` of the warm-up sampler pass).
    energy_scale_ : float
    input_scale_ : float
        Factor applied to the encoder input.
    chain_temperatures_ : dict
        Implied temperatures of the chains, raw and on the :math:`\tilde E` scale.
    pretrained_state_ : dict
        State dict of the best pre-trained AE (see :meth:`score_samples_pretrained`).
    pretrain_best_epoch_ : int or None
    best_iteration_ : int
        NAE iteration of the kept state (0: the pre-trained AE).
    collapsed_ : bool
    rollback_iteration_ : int or None
        Iteration the training was rolled back to after a collapse.
    n_nae_iterations_ : int
    pretrain_time_, nae_time_ : float
        Wall time of the two phases in seconds.
    checkpoints_ : list of dict
        Only with ``keep_checkpoints``: ``iteration``, ``time``, ``state``.
    image_shape_, n_features_in_, train_scores_, offset_
        As in :class:`AEDetector`.

    Examples
    --------
    >>> import numpy as np
    >>> from jetad import NAEDetector
    >>> X = np.random.default_rng(0).random((64, 16 * 16)).astype(np.float32)
    >>> det = NAEDetector(max_epochs=1, nae_iterations=2, random_state=0).fit(X)
    >>> det.score_samples(X).shape
    (64,)
    >>> det.sample(4, random_state=0).shape
    (4, 256)
    """

    def __init__(self, latent_dim=3, *, preset="cpu", spectral_norm=True, n_filters=8,
                 hidden_dim=100, output_activation="sigmoid", image_shape=None, max_epochs=None,
                 batch_size=None, lr=None, weight_decay=0.0, validation_fraction=0.1,
                 early_stopping=None, callbacks=None, nae_epochs=None, nae_iterations=None,
                 nae_batch_size=None, nae_lr=None, temperature=1.0, gamma=0.1, gamma_pos=0.0,
                 l2_norm_reg=None, energy_scale="auto", n_z_steps=None, z_step_size=None,
                 z_noise_std=None, z_clip_grad=None, z_metropolis=None, n_x_steps=None,
                 x_step_size=None, x_noise_std=None, x_clip_grad=None, x_metropolis=None,
                 x_noise_anneal=None, input_scale=None, x_bounds=(0.0, 1.0), buffer_size=10000,
                 replay_ratio=0.95, collapse_threshold=100.0, check_interval=None,
                 selection="loss", keep_checkpoints=False, contamination=0.1, device="auto",
                 random_state=None, warm_start=False, verbose=0):
        self.latent_dim = latent_dim
        self.preset = preset
        self.spectral_norm = spectral_norm
        self.n_filters = n_filters
        self.hidden_dim = hidden_dim
        self.output_activation = output_activation
        self.image_shape = image_shape
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.callbacks = callbacks
        self.nae_epochs = nae_epochs
        self.nae_iterations = nae_iterations
        self.nae_batch_size = nae_batch_size
        self.nae_lr = nae_lr
        self.temperature = temperature
        self.gamma = gamma
        self.gamma_pos = gamma_pos
        self.l2_norm_reg = l2_norm_reg
        self.energy_scale = energy_scale
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
        self.input_scale = input_scale
        self.x_bounds = x_bounds
        self.buffer_size = buffer_size
        self.replay_ratio = replay_ratio
        self.collapse_threshold = collapse_threshold
        self.check_interval = check_interval
        self.selection = selection
        self.keep_checkpoints = keep_checkpoints
        self.contamination = contamination
        self.device = device
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose

    # ------------------------------------------------------------- settings
    def _settings(self):
        """Parameters with None resolved from the preset."""
        if self.preset not in NAE_PRESETS:
            raise ValueError(f"preset must be one of {sorted(NAE_PRESETS)}, got {self.preset!r}")
        out = dict(NAE_PRESETS[self.preset])
        for key in out:
            value = getattr(self, key, None)  # None: attribute of a newer version
            if value is not None:
                out[key] = value
        out["nae_iterations"] = self.nae_iterations
        return out

    def _check_params(self):
        s = self._settings()
        c = self.contamination
        if not isinstance(c, numbers.Real) or not 0 < c <= 0.5:
            raise ValueError(f"contamination must be a float in (0, 0.5], got {c!r}")
        vf = self.validation_fraction
        if vf is not None and not (isinstance(vf, numbers.Real) and 0 < vf < 1):
            raise ValueError(f"validation_fraction must be None or in (0, 1), got {vf!r}")
        lows = {"max_epochs": 1, "batch_size": 1, "nae_batch_size": 1, "n_z_steps": 0,
                "n_x_steps": 0, "nae_epochs": 0}
        for name, low in lows.items():
            v = s[name]
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
        ni = self.nae_iterations
        if ni is not None and (not isinstance(ni, numbers.Integral) or ni < 0):
            raise ValueError(f"nae_iterations must be None or an integer >= 0, got {ni!r}")
        for name in ("lr", "nae_lr", "z_step_size", "x_step_size"):
            if not (isinstance(s[name], numbers.Real) and s[name] > 0):
                raise ValueError(f"{name} must be a positive float, got {s[name]!r}")
        for name in ("z_noise_std", "x_noise_std", "l2_norm_reg"):
            if not (isinstance(s[name], numbers.Real) and s[name] >= 0):
                raise ValueError(f"{name} must be a float >= 0, got {s[name]!r}")
        if not (isinstance(self.temperature, numbers.Real) and self.temperature > 0):
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")
        for name in ("gamma", "gamma_pos"):
            v = getattr(self, name)
            if not (isinstance(v, numbers.Real) and v >= 0):
                raise ValueError(f"{name} must be a float >= 0, got {v!r}")
        es = self.energy_scale
        if not (es == "auto" or (isinstance(es, numbers.Real) and es > 0)):
            raise ValueError(f"energy_scale must be 'auto' or a positive float, got {es!r}")
        if not (isinstance(self.latent_dim, numbers.Integral) and self.latent_dim >= 2):
            raise ValueError(f"latent_dim must be an integer >= 2, got {self.latent_dim!r}")
        if not 0 <= self.replay_ratio <= 1:
            raise ValueError(f"replay_ratio must be in [0, 1], got {self.replay_ratio!r}")
        if not (isinstance(self.buffer_size, numbers.Integral) and self.buffer_size >= 0):
            raise ValueError(f"buffer_size must be an integer >= 0, got {self.buffer_size!r}")
        if not (isinstance(self.collapse_threshold, numbers.Real) and self.collapse_threshold > 1):
            raise ValueError(f"collapse_threshold must be > 1, got {self.collapse_threshold!r}")
        ci = self.check_interval
        if ci is not None and not (isinstance(ci, numbers.Integral) and ci >= 1):
            raise ValueError(f"check_interval must be None or a positive integer, got {ci!r}")
        if self.selection not in _SELECTIONS:
            raise ValueError(f"selection must be one of {_SELECTIONS}, got {self.selection!r}")
        sc = s["input_scale"]
        if not (sc == "auto" or (isinstance(sc, numbers.Real) and sc > 0)):
            raise ValueError(f"input_scale must be 'auto' or a positive float, got {sc!r}")
        if self.x_bounds is not None and (len(self.x_bounds) != 2
                                          or not self.x_bounds[0] < self.x_bounds[1]):
            raise ValueError(f"x_bounds must be None or (low, high), got {self.x_bounds!r}")
        return s

    # --------------------------------------------------------------- module
    def _build_module(self):
        return _NAEModule(self.image_shape_, self.latent_dim, latent_sphere=True,
                        spectral_norm=self.spectral_norm, n_filters=self.n_filters,
                        hidden_dim=self.hidden_dim, output_activation=self.output_activation)

    def _extra_callbacks(self):
        return [("keep_best", _KeepBestWeights())]

    def _make_net(self, device, seed):
        s = self._settings()
        net = super()._make_net(device, seed)
        net.set_params(max_epochs=s["max_epochs"], batch_size=s["batch_size"], lr=s["lr"])
        return net

    # ------------------------------------------------------------- sampling
    def _device_of(self, module):
        return next(module.parameters()).device

    def _sample_negatives(self, module, n, s, generator, buffer=None):
        """On-manifold initialisation + latent chain + image chain (module in eval mode)."""
        device = self._device_of(module)
        if buffer is not None:
            z0, from_buffer = buffer.draw(n, generator=generator)
        else:
            z0 = uniform_sphere(n, self.latent_dim, generator=generator, device=generator.device)
            from_buffer = torch.zeros(n, dtype=torch.bool)
        z0 = z0.to(device)

        def latent_energy(z):
            return module.energy(module.decode(z))

        zres = langevin_chain(latent_energy, z0, n_steps=s["n_z_steps"],
                              step_size=s["z_step_size"], noise_std=s["z_noise_std"],
                              clip_grad=s["z_clip_grad"], sphere=True,
                              metropolis=s["z_metropolis"], generator=generator)
        if buffer is not None:
            buffer.push(zres.x)
        with torch.no_grad():
            x0 = module.decode(zres.x)
        bounds = None if self.x_bounds is None else tuple(float(b) for b in self.x_bounds)
        xres = langevin_chain(module.energy, x0, n_steps=s["n_x_steps"],
                              step_size=s["x_step_size"], noise_std=s["x_noise_std"],
                              clip_grad=s["x_clip_grad"], bounds=bounds,
                              metropolis=s["x_metropolis"], noise_anneal=s["x_noise_anneal"],
                              generator=generator)
        return zres, xres, from_buffer

    def _torch_generator(self, seed, device):
        """Private generator on the module's device (all sampler randomness)."""
        gen = torch.Generator(device=device)
        gen.manual_seed(int(seed))
        return gen

    # ------------------------------------------------------------- training
    def _split_indices(self, n, seed):
        """Training and validation indices of the skorch split (same jets in both phases)."""
        vf = self.validation_fraction
        if vf is None or int(n * vf) < 2 or n - int(n * vf) < 2:
            if self.net_.train_split is not None:
                self.net_.set_params(train_split=None)
            idx = np.arange(n)
            return idx, idx
        ds_train, ds_valid = self.net_.get_split_datasets(np.zeros((n, 1), np.float32), None)
        return np.asarray(ds_train.indices), np.asarray(ds_valid.indices)

    def _val_diagnostics(self, module, X, concentration):
        """Label-free checks on the validation background (module in eval mode).

        ``concentration`` is ``image_concentration(X)``, computed once per fit.
        Returns the mean energy, the latent spread ``1 - |<z>|`` of the encoded
        jets (0 when the encoder maps every jet to one point of the sphere,
        about 1 for jets spread over it) and the Spearman correlation of the
        energy with the image concentration ``mean(x^2)`` (near +-1 when the
        energy has degenerated into the trivial intensity ordering).
        """
        module.eval()
        device = self._device_of(module)
        energies, latents = [], []
        with torch.no_grad():
            for start in range(0, X.shape[0], self._score_batch_size):
                xb = torch.as_tensor(X[start:start + self._score_batch_size]).to(device)
                z = module.encode(xb)
                e = ((xb - module.decode(z)) ** 2).flatten(1).mean(dim=1)
                energies.append(e.double().cpu().numpy())
                latents.append(z.double().cpu().numpy())
        e = np.concatenate(energies)
        z = np.concatenate(latents)
        spread = 1.0 - float(np.linalg.norm(z.mean(axis=0))) if len(z) else float("nan")
        corr = float("nan")
        if len(e) > 2 and np.ptp(e) > 0 and np.ptp(concentration) > 0:
            corr = float(spearmanr(e, concentration).statistic)
        return float(e.mean()), spread, corr

    def _train(self, X, seed):
        s = self._check_params()
        module = self.net_.module_
        train_idx, valid_idx = self._split_indices(X.shape[0], seed)
        X_val = X[valid_idx]

        # ---- input scale of the encoder (see _NAEModule)
        if not (self.warm_start and hasattr(self, "input_scale_")):
            if s["input_scale"] == "auto":
                norm = float(np.mean(np.linalg.norm(X.reshape(X.shape[0], -1), axis=1)))
                scale = 1.0 / norm if math.isfinite(norm) and norm > 0 else 1.0
            else:
                scale = float(s["input_scale"])
            self.input_scale_ = scale
            module.input_scale.fill_(scale)

        # ---- phase 1: AE pre-training, keep the best weights
        t0 = time.perf_counter()
        self.net_.partial_fit(X, None)
        keep = dict(self.net_.callbacks_)["keep_best"]
        if keep.best_state_ is not None:
            module.load_state_dict(keep.best_state_)
        self.pretrain_best_epoch_ = keep.best_epoch_
        self.pretrained_state_ = {k: v.detach().cpu().clone()
                                  for k, v in module.state_dict().items()}
        self.pretrain_time_ = time.perf_counter() - t0

        # ---- phase 2: NAE
        t1 = time.perf_counter()
        self._train_nae(X[train_idx], X_val, s, seed)
        self.nae_time_ = time.perf_counter() - t1
        module.eval()

    def _healthy(self, row, threshold, spread_ref):
        """Collapse detection on one iteration's diagnostics."""
        values = (row["loss"], row["pos_energy"], row["neg_energy"])
        if not all(math.isfinite(v) for v in values):
            return False
        if row["neg_energy"] > threshold or abs(row["loss"]) > threshold:
            return False
        if row["pos_energy"] > threshold:
            return False
        return row["sample_spread"] >= spread_ref / threshold

    def _train_nae(self, X_train, X_val, s, seed):
        module = self.net_.module_
        device = self._device_of(module)
        n = X_train.shape[0]
        bs = int(min(s["nae_batch_size"], n))
        per_epoch = max(1, math.ceil(n / bs))
        n_iter = s["nae_iterations"] if s["nae_iterations"] is not None else (
            s["nae_epochs"] * per_epoch)
        check = self.check_interval or max(1, n_iter // 20)
        T, thr = float(self.temperature), float(self.collapse_threshold)
        gen = self._torch_generator(seed + 1, device)
        if not (self.warm_start and getattr(self, "replay_buffer_", None) is not None):
            self.replay_buffer_ = ReplayBuffer(self.buffer_size, self.replay_ratio,
                                               self.latent_dim)
        buffer = self.replay_buffer_
        opt = torch.optim.Adam(module.parameters(), lr=s["nae_lr"])
        Xt = torch.as_tensor(X_train)
        history = []
        self.checkpoints_ = []
        self.collapsed_ = False
        self.rollback_iteration_ = None

        def snapshot(it):
            return {"iteration": it, "state": _state_copy(module),
                    "opt": copy.deepcopy(opt.state_dict()), "buffer": buffer.state()}

        concentration = image_concentration(X_val)
        val0, spread0, corr0 = self._val_diagnostics(module, X_val, concentration)
        # energy scale: the mean validation energy of the pre-trained AE ("auto")
        if self.energy_scale == "auto":
            scale = val0 if math.isfinite(val0) and val0 > 0 else 1.0
        else:
            scale = float(self.energy_scale)
        scale = self.energy_scale_ = max(scale, 1e-30)
        tz = implied_temperature(s["z_step_size"], s["z_noise_std"])
        tx = implied_temperature(s["x_step_size"], s["x_noise_std"])
        self.chain_temperatures_ = {"z": tz, "x": tx, "z_scaled": tz / scale,
                                    "x_scaled": tx / scale}
        val0 /= scale
        row0 = {"iteration": 0, "epoch": 0, "val_energy": val0, "latent_spread": spread0,
                "val_x2_corr": corr0, "healthy": True, "time": 0.0}
        last_healthy = snapshot(0)
        best = {"iteration": 0, "state": last_healthy["state"], "score": -math.inf}
        if self.selection == "loss" and n_iter > 0:
            # Iteration 0 (the pre-trained AE) competes on the same footing as
            # the later checkpoints: one sampler pass (pushed into the replay
            # buffer like any iteration's) gives its negative energy.
            module.eval()
            _, xres0, _ = self._sample_negatives(module, bs, s, gen, buffer)
            with torch.no_grad():
                e0 = float(module.energy(xres0.x.detach()).mean()) / scale
            best["score"] = abs(e0 - val0) if math.isfinite(e0) else math.inf
            row0.update(neg_energy=e0, selection_score=best["score"])
            last_healthy = snapshot(0)
            best["state"] = last_healthy["state"]
        window, spread_ref = [], None
        t_start = time.perf_counter()
        if self.keep_checkpoints:
            self.checkpoints_.append({"iteration": 0, "time": 0.0,
                                      "state": {k: v.cpu() for k, v in
                                                last_healthy["state"].items()}})
        history.append(row0)
        perm = torch.randperm(n, generator=gen, device=gen.device).cpu()
        pos = 0
        for it in range(1, n_iter + 1):
            if pos + bs > n:
                perm, pos = torch.randperm(n, generator=gen, device=gen.device).cpu(), 0
            x_pos = Xt[perm[pos:pos + bs]].to(device)
            pos += bs
            module.eval()  # sampler: no spectral-norm power iterations
            zres, xres, from_buffer = self._sample_negatives(module, bs, s, gen, buffer)
            x_neg = xres.x.detach()
            module.train()
            opt.zero_grad(set_to_none=True)
            e = module.energy(torch.cat([x_pos, x_neg])) / scale
            e_pos, e_neg = e[:bs], e[bs:]
            loss = (e_pos.mean() - e_neg.mean()) / T + self.gamma * (e_neg ** 2).mean()
            if self.gamma_pos:
                loss = loss + self.gamma_pos * (e_pos ** 2).mean()
            sq = sum((p ** 2).sum() for p in module.parameters())
            if s["l2_norm_reg"]:
                loss = loss + s["l2_norm_reg"] * sq
            loss.backward()
            opt.step()
            with torch.no_grad():
                spread_pos = float(x_pos.flatten(1).var(0).sum()) if bs > 1 else 1.0
                spread_neg = float(x_neg.flatten(1).var(0).sum()) if bs > 1 else 1.0
            row = {
                "iteration": it, "epoch": (it - 1) // per_epoch + 1, "loss": float(loss.detach()),
                "pos_energy": float(e_pos.detach().mean()),
                "neg_energy": float(e_neg.detach().mean()),
                "neg_energy_z0": float(zres.energy_start.mean()),
                "neg_energy_z": float(zres.energy.mean()),
                "neg_energy_x": float(xres.energy.mean()),
                "accept_z": zres.accept_rate, "accept_x": xres.accept_rate,
                "weight_norm": float(sq.detach().sqrt()),
                "sample_spread": spread_neg / spread_pos if spread_pos > 0 else 1.0,
                "buffer_fraction": float(from_buffer.float().mean()),
                "pos_x2": float(x_pos.flatten(1).pow(2).mean()),
                "neg_x2": float(x_neg.flatten(1).pow(2).mean()),
                "pos_sum": float(x_pos.flatten(1).sum(1).mean()),
                "neg_sum": float(x_neg.flatten(1).sum(1).mean()),
                "time": time.perf_counter() - t_start,
            }
            if spread_ref is None:
                spread_ref = row["sample_spread"]
            row["healthy"] = self._healthy(row, thr, spread_ref)
            history.append(row)
            if self.verbose:
                print(f"NAE it {it:6d} loss {row['loss']:+.4f} E+ {row['pos_energy']:.4f} "
                      f"E- {row['neg_energy']:.4f} acc_z {row['accept_z']:.2f} "
                      f"acc_x {row['accept_x']:.2f}")
            if not row["healthy"]:
                module.load_state_dict(last_healthy["state"])
                opt.load_state_dict(last_healthy["opt"])
                buffer.load_state(last_healthy["buffer"])
                self.collapsed_ = True
                self.rollback_iteration_ = last_healthy["iteration"]
                warnings.warn(
                    f"NAE training collapsed at iteration {it} (loss {row['loss']:.3g}, "
                    f"E+ {row['pos_energy']:.3g}, E- {row['neg_energy']:.3g}, sample spread "
                    f"{row['sample_spread']:.3g}); rolled back to the healthy state of "
                    f"iteration {last_healthy['iteration']} and stopped.",
                    NAECollapseWarning, stacklevel=4)
                break
            window.append(row["neg_energy"])
            if it % check == 0 or it == n_iter:
                val, spread, corr = self._val_diagnostics(module, X_val, concentration)
                val /= scale
                score = abs(float(np.mean(window)) - val)
                window = []
                row.update(val_energy=val, selection_score=score, latent_spread=spread,
                           val_x2_corr=corr)
                last_healthy = snapshot(it)
                if self.keep_checkpoints:
                    self.checkpoints_.append({"iteration": it, "time": row["time"],
                                              "state": {k: v.cpu() for k, v in
                                                        last_healthy["state"].items()}})
                if self.selection == "last" or score < best["score"]:
                    best = {"iteration": it, "state": last_healthy["state"], "score": score}
        if self.collapsed_ and self.selection == "last":
            best = {"iteration": last_healthy["iteration"], "state": last_healthy["state"]}
        module.load_state_dict(best["state"])
        module.eval()
        self.best_iteration_ = best["iteration"]
        self.n_nae_iterations_ = len(history) - 1
        self.history_ = history

    # -------------------------------------------------------------- pickling
    # ------------------------------------------------------------ public API
    def score_samples_pretrained(self, X):
        """``score_samples`` of the best pre-trained AE (before the NAE phase).

        Parameters
        ----------
        X : array-like of shape (n_samples, H*W) or (n_samples, 1, H, W)

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
        """
        return self._score_with_state(X, self.pretrained_state_)

    def load_checkpoint(self, iteration):
        """Load the weights of a stored checkpoint (needs ``keep_checkpoints=True``).

        The detector then scores with those weights; ``offset_`` is not updated.

        Parameters
        ----------
        iteration : int
            An ``iteration`` of ``checkpoints_``.

        Returns
        -------
        self
        """
        self._check_fitted()
        for ck in getattr(self, "checkpoints_", []):
            if ck["iteration"] == iteration:
                self.net_.module_.load_state_dict(ck["state"])
                return self
        raise ValueError(f"no checkpoint for iteration {iteration}; stored: "
                         f"{[c['iteration'] for c in getattr(self, 'checkpoints_', [])]}")

    def _check_fitted(self):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)

    def _score_with_state(self, X, state):
        self._check_fitted()
        module = self.net_.module_
        current = _state_copy(module)
        try:
            module.load_state_dict(state)
            return self.score_samples(X)
        finally:
            module.load_state_dict(current)

    def sample(self, n_samples, random_state=None):
        """Draw model samples with the NAE sampler (fresh uniform latent starts).

        Parameters
        ----------
        n_samples : int
        random_state : int, RandomState instance or None, default=None
            Seeds a private torch generator; no global random state is used.

        Returns
        -------
        X : ndarray of shape (n_samples, H*W), float64
            Images after the latent and the image Langevin chains.
        """
        self._check_fitted()
        if not isinstance(n_samples, numbers.Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        s = self._settings()
        module = self.net_.module_
        module.eval()
        gen = self._torch_generator(check_random_seed(random_state), self._device_of(module))
        out = []
        for start in range(0, n_samples, self._score_batch_size):
            m = min(self._score_batch_size, n_samples - start)
            _, xres, _ = self._sample_negatives(module, m, s, gen, None)
            out.append(xres.x.detach().cpu().double().numpy().reshape(m, -1))
        return np.concatenate(out)

    def latent_energy_map(self, n_theta=90, n_phi=180, center=None):
        """Energy of decoded latent points on an equirectangular grid of ``S^2`` (Fig. 2).

        Parameters
        ----------
        n_theta : int, default=90
            Number of latitudes in ``(-pi/2, pi/2)`` (cell centres).
        n_phi : int, default=180
            Number of longitudes in ``(-pi, pi)`` (cell centres).
        center : array-like or None, default=None
            Rotate the sphere so that this point lies at latitude = longitude
            = 0: a latent 3-vector, or jet images whose mean latent direction
            is used (the paper centres on the region with most jets).

        Returns
        -------
        result : sklearn.utils.Bunch
            ``energy`` (n_theta, n_phi) raw energy ``E(f_D(z))``, ``latitude``
            (n_theta,), ``longitude`` (n_phi,), ``rotation`` (3, 3) with
            ``z_map = z @ rotation.T``, and ``project(z)`` returning
            ``(latitude, longitude)`` of latent points in the same map.
        """
        from sklearn.utils import Bunch

        self._check_fitted()
        if self.latent_dim != 3:
            raise ValueError(f"latent_energy_map needs latent_dim=3, got {self.latent_dim}")
        for name, v in (("n_theta", n_theta), ("n_phi", n_phi)):
            if not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        rot = np.eye(3)
        if center is not None:
            c = np.asarray(center, dtype=np.float64)
            if c.ndim == 1 and c.shape[0] == 3:
                d = c
            else:
                d = self.encode(center).mean(axis=0)
            rot = _rotation_to_x(d)
        lat = (np.arange(n_theta) + 0.5) / n_theta * np.pi - np.pi / 2
        lon = (np.arange(n_phi) + 0.5) / n_phi * 2 * np.pi - np.pi
        la, lo = np.meshgrid(lat, lon, indexing="ij")
        zmap = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], -1)
        z = zmap.reshape(-1, 3) @ rot  # back to model coordinates (rot is orthogonal)
        module = self.net_.module_
        module.eval()
        device = self._device_of(module)
        energies = []
        with torch.no_grad():
            for start in range(0, z.shape[0], self._score_batch_size):
                zb = torch.as_tensor(z[start:start + self._score_batch_size],
                                     dtype=torch.float32, device=device)
                energies.append(module.energy(module.decode(zb)).double().cpu().numpy())
        energy = np.concatenate(energies).reshape(n_theta, n_phi)

        def project(zz):
            zz = np.asarray(zz, dtype=np.float64) @ rot.T
            zz = zz / np.linalg.norm(zz, axis=1, keepdims=True)
            return np.arcsin(np.clip(zz[:, 2], -1, 1)), np.arctan2(zz[:, 1], zz[:, 0])

        return Bunch(energy=energy, latitude=lat, longitude=lon, rotation=rot, project=project)


def _rotation_to_x(d):
    """Orthogonal matrix mapping the direction ``d`` onto ``(1, 0, 0)``."""
    d = np.asarray(d, dtype=np.float64)
    norm = np.linalg.norm(d)
    if not np.isfinite(norm) or norm == 0:
        return np.eye(3)
    a = d / norm
    b = np.array([1.0, 0.0, 0.0])
    v = np.cross(a, b)
    c = float(a @ b)
    if np.linalg.norm(v) < 1e-12:
        return np.eye(3) if c > 0 else np.diag([-1.0, -1.0, 1.0])
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx * (1.0 / (1.0 + c))
