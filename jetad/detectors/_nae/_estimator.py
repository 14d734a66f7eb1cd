"""The Normalized Autoencoder detector (arXiv:2206.14225, after arXiv:2105.05735)."""

import math
import numbers
import time
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils.validation import check_is_fitted

from jetad.utils import check_random_seed

from .._base import _CONV_CONSTRAINTS, BaseNeuralDetector, _resolve_device, _rows, _seeded_torch
from .._progress import NAEProgress
from .._validation import (
    Interval,
    StrOptions,
    non_negative_float,
    positive_float,
    positive_int,
)
from ._checkpoints import StoredStatesMixin
from ._module import KeepBestWeights, NAEModule
from ._sampler import SAMPLER_PARAMS, LangevinSampler, NestedSamplerMixin
from ._settings import ADDED_PARAMS, DEPRECATED, NAE_PRESETS, resolve_settings
from ._trainer import NAETrainer, torch_generator

__all__ = ["NAEDetector"]

_non_negative_int = Interval(Integral, 0, None, closed="left")


class NAEDetector(StoredStatesMixin, NestedSamplerMixin, BaseNeuralDetector):
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
       Langevin chain kept inside ``x_bounds`` (all of it configured by
       ``sampler``, a :class:`LangevinSampler`).

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
        1000 NAE iterations at batch 32 and lr 1e-4 (about 0.2 s per iteration
        on two CPU threads) and ``input_scale="auto"``: one setting for both
        directions of the top/QCD benchmark (``benchmarks/results/nae.md``,
        where pre-training is cut to 3 epochs of 100k jets). See ``NAE_PRESETS``.
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
        Extra skorch callbacks of the pre-training; those that define
        ``on_nae_begin(detector, n_iterations)``,
        ``on_nae_iteration_end(detector, iteration, row)`` (``row``: the
        iteration's ``history_`` row) or ``on_nae_end(detector, history)`` are
        also called by the NAE phase. Raising ``KeyboardInterrupt`` in
        ``on_nae_iteration_end`` stops the phase after that iteration (as
        skorch's ``EarlyStopping`` stops epochs); the state then competes in
        the model selection like a checkpoint.
    nae_epochs : int or None, default=None
        Length of the NAE phase in passes over the training jets (None: from
        ``preset``, unless ``nae_iterations`` is given).
    nae_iterations : int or None, default=None
        Length of the NAE phase in iterations; overrides ``nae_epochs``. 0 skips
        the NAE phase (a spherical, spectrally normalised AE). None: the
        detector's ``nae_epochs`` if given, else ``preset`` (``"cpu"``: 1000
        iterations; ``"paper"``: 50 epochs).
    nae_batch_size : int or None, default=None
    nae_lr : float or None, default=None
    temperature : float, default=1.0
        ``T`` of the loss, on the :math:`\tilde E` scale.
    gamma : float, default=0.1
        Weight of :math:`\tilde E(x^-)^2`.
    gamma_pos : float, default=0.0
        Weight of :math:`\tilde E(x^+)^2`.
    loss : {"contrastive", "wasserstein"}, default="contrastive"
        NAE-phase loss: ``"contrastive"`` is :math:`L` above; ``"wasserstein"``
        the Wasserstein NAE (WNAE, arXiv:2510.02168, CMS),
        :math:`S_\varepsilon(x^+, x^-) / (d\,s) + \lambda_{L2}\lVert\theta\rVert^2`:
        the distance between the jet batch and the negative batch as point
        clouds in image space (``d`` pixels, energy scale ``s``), with the
        squared Euclidean cost of the public WNAE code, whose exact
        ``ot.emd2`` becomes a debiased log-domain Sinkhorn divergence (tends to
        :math:`W_2^2` as :math:`\varepsilon \to 0`; ``sample_weight`` weights
        the jets). Gradients flow through *every* image-chain step as in the
        WNAE code (latent chain, chain start detached); ``temperature``, ``gamma*`` unused.
    sinkhorn_epsilon, sinkhorn_iterations : float, int, default=0.1, 100
        Entropic regularisation relative to the standard deviation of the
        pairwise costs (0.1: about 0.5 % from the exact :math:`W_2^2` at batch
        32), and the fixed number of Sinkhorn iterations.
    l2_norm_reg : float or None, default=None
        Weight of the squared L2 norm of all parameters.
    energy_scale : "auto" or float, default="auto"
        ``s`` in :math:`\tilde E = E / s`. "auto": mean MSE of the pre-trained
        AE on the validation background. A float fixes it (``1.0`` gives the
        raw per-pixel MSE of the public code, ``1/n_pixels`` per-jet sums).
    input_scale : "auto", float or None, default=None
        Factor applied to the images before the encoder (a fixed buffer of the
        module; the energy is still the MSE of the unscaled image). With
        spectral normalisation every layer is about 1-Lipschitz, so for
        unit-sum images (L2 norm ~0.1) the input-dependent part of the encoder
        output can end up small next to the biases learned in training (they
        start at zero). "auto": one over the mean L2 norm of the training
        images. None: from ``preset`` ("auto" in ``"cpu"``, 1.0 in
        ``"paper"``).
    sampler : LangevinSampler or None, default=None
        The negative sampler: replay buffer, latent chain and image chain
        (steps, step sizes, noise, clipping, Metropolis, noise annealing, pixel
        bounds). Its fields left at None come from ``preset``; None is
        ``LangevinSampler()``. The object passed is never modified; its fields
        are reachable in searches and ``set_params`` as ``sampler__<name>``.
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
        studies with :meth:`load_checkpoint`; :meth:`fit_nae` re-runs the NAE
        phase from the same pre-trained AE with other settings).
    ema_decay : float in (0, 1) or None, default=None
        Exponential moving average of the NAE-phase weights
        (``torch.optim.swa_utils.AveragedModel``), updated after every
        iteration: ``0.99`` averages over about 100 iterations. The chains
        always sample the raw weights; every checkpoint validates, stores and
        can select the averaged weights instead, which damps the
        checkpoint-to-checkpoint noise of the raw ones. None: no averaging.
    contamination : float, default=0.1
    device : {"auto", "cpu", "cuda"}, default="auto"
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
        Continue both phases from the fitted state.
    verbose : int, default=0
        0 silent; 1 one tqdm bar on stderr for the pre-training epochs and one
        for the NAE iterations (ETA, losses); 2 also one flushed line per epoch
        and per NAE iteration on stdout. The fit is the same at every level.
    n_z_steps, z_step_size, z_noise_std, z_clip_grad, z_metropolis : deprecated
    n_x_steps, x_step_size, x_noise_std, x_clip_grad, x_metropolis : deprecated
    x_noise_anneal, x_bounds, buffer_size, replay_ratio : deprecated
        Flat aliases of the ``sampler`` fields: a value given here overrides
        the sampler's field with a ``FutureWarning``; they will be removed.

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
    settings_ : NAESettings
        Frozen record of every setting of the last fit (preset values filled
        in), including the resolved ``sampler``.
    replay_buffer_ : ReplayBuffer
        Final latent states of the sampler (kept by a warm start).
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

    Shorter chains; ``sampler__x_step_size`` is searchable like any parameter:

    >>> from jetad.detectors import LangevinSampler
    >>> det = NAEDetector(sampler=LangevinSampler(n_z_steps=2, n_x_steps=2))
    >>> det.set_params(sampler__x_step_size=20.0).get_params()["sampler__x_step_size"]
    20.0
    """

    _param_constraints = {
        **_CONV_CONSTRAINTS,
        "latent_dim": [Interval(Integral, 2, None, closed="left")],
        "preset": [StrOptions(set(NAE_PRESETS))],
        "spectral_norm": ["boolean"],
        "max_epochs": [None, positive_int],
        "batch_size": [None, positive_int],
        "lr": [None, positive_float],
        "nae_epochs": [None, _non_negative_int],
        "nae_iterations": [None, _non_negative_int],
        "nae_batch_size": [None, positive_int],
        "nae_lr": [None, positive_float],
        "temperature": [positive_float],
        "gamma": [non_negative_float],
        "gamma_pos": [non_negative_float],
        "loss": [StrOptions({"contrastive", "wasserstein"})],
        "sinkhorn_epsilon": [positive_float],
        "sinkhorn_iterations": [positive_int],
        "l2_norm_reg": [None, non_negative_float],
        "energy_scale": [StrOptions({"auto"}), positive_float],
        "input_scale": [None, StrOptions({"auto"}), positive_float],
        "sampler": [None, LangevinSampler],
        "collapse_threshold": [Interval(Real, 1, None, closed="neither")],
        "check_interval": [None, positive_int],
        "selection": [StrOptions({"loss", "last"})],
        "keep_checkpoints": ["boolean"],
        "ema_decay": [None, Interval(Real, 0, 1, closed="neither")],
        **{name: [StrOptions({DEPRECATED}), *LangevinSampler._param_constraints[name]]
           for name in SAMPLER_PARAMS},
    }

    def __init__(self, latent_dim=3, *, preset="cpu", spectral_norm=True, n_filters=8,
                 hidden_dim=100, output_activation="sigmoid", image_shape=None, max_epochs=None,
                 batch_size=None, lr=None, weight_decay=0.0, validation_fraction=0.1,
                 early_stopping=None, callbacks=None, nae_epochs=None, nae_iterations=None,
                 nae_batch_size=None, nae_lr=None, temperature=1.0, gamma=0.1, gamma_pos=0.0,
                 loss="contrastive", sinkhorn_epsilon=0.1, sinkhorn_iterations=100,
                 l2_norm_reg=None, energy_scale="auto", input_scale=None, sampler=None,
                 collapse_threshold=100.0, check_interval=None, selection="loss",
                 keep_checkpoints=False, ema_decay=None, contamination=0.1, device="auto", random_state=None,
                 warm_start=False, verbose=0, n_z_steps=DEPRECATED, z_step_size=DEPRECATED,
                 z_noise_std=DEPRECATED, z_clip_grad=DEPRECATED, z_metropolis=DEPRECATED,
                 n_x_steps=DEPRECATED, x_step_size=DEPRECATED, x_noise_std=DEPRECATED,
                 x_clip_grad=DEPRECATED, x_metropolis=DEPRECATED, x_noise_anneal=DEPRECATED,
                 x_bounds=DEPRECATED, buffer_size=DEPRECATED, replay_ratio=DEPRECATED):
        self.latent_dim = latent_dim
        self.preset = preset
        self.spectral_norm = spectral_norm
        self.n_filters = n_filters
        self.hidden_dim = hidden_dim
        self.output_activation = output_activation
        self.nae_epochs = nae_epochs
        self.nae_iterations = nae_iterations
        self.nae_batch_size = nae_batch_size
        self.nae_lr = nae_lr
        self.temperature = temperature
        self.gamma = gamma
        self.gamma_pos = gamma_pos
        self.loss = loss
        self.sinkhorn_epsilon = sinkhorn_epsilon
        self.sinkhorn_iterations = sinkhorn_iterations
        self.l2_norm_reg = l2_norm_reg
        self.energy_scale = energy_scale
        self.input_scale = input_scale
        self.sampler = sampler
        self.collapse_threshold = collapse_threshold
        self.check_interval = check_interval
        self.selection = selection
        self.keep_checkpoints = keep_checkpoints
        self.ema_decay = ema_decay
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
        super().__init__(
            image_shape=image_shape, max_epochs=max_epochs, batch_size=batch_size, lr=lr,
            weight_decay=weight_decay, validation_fraction=validation_fraction,
            early_stopping=early_stopping, callbacks=callbacks, contamination=contamination,
            device=device, random_state=random_state, warm_start=warm_start, verbose=verbose,
        )

    # ------------------------------------------------------------- settings
    def _check_params(self):
        """Validate the parameters and resolve them, once per fit, into ``settings_``."""
        super()._check_params()
        if self.sampler is not None:
            self.sampler._check_params()
        self.settings_ = resolve_settings(self)

    def __setstate__(self, state):
        for name, default in ADDED_PARAMS.items():  # pickled before they existed
            state.setdefault(name, default)
        if "settings_" not in state and "net_" not in state and "_net_pickle" in state:
            # a detector pickled before the sampler existed: flat chain settings
            chain = {name: state.get(name) for name in SAMPLER_PARAMS}
            state.update(dict.fromkeys(SAMPLER_PARAMS, DEPRECATED), sampler=LangevinSampler(
                **{name: value for name, value in chain.items() if value is not None}))
            self.__dict__.update({k: v for k, v in state.items() if k != "_net_pickle"})
            state["settings_"] = resolve_settings(self)
        super().__setstate__(state)

    # --------------------------------------------------------------- module
    def _build_module(self):
        return NAEModule(self.image_shape_, self.latent_dim, latent_sphere=True,
                          spectral_norm=self.spectral_norm, n_filters=self.n_filters,
                          hidden_dim=self.hidden_dim, output_activation=self.output_activation)

    _epochs_desc = "pre-training"

    def _extra_callbacks(self):
        return [("keep_best", KeepBestWeights())]

    def _make_net(self, device, seed):
        settings = self.settings_
        net = super()._make_net(device, seed)
        net.set_params(max_epochs=settings.max_epochs, batch_size=settings.batch_size,
                       lr=settings.lr)
        return net

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

    def _set_input_scale(self, X, sample_weight=None):
        """Input scale of the encoder (see ``NAEModule``); kept by a warm start."""
        if self.warm_start and hasattr(self, "input_scale_"):
            return
        if self.settings_.input_scale == "auto":
            norm = float(np.average(np.linalg.norm(X.reshape(X.shape[0], -1), axis=1),
                                    weights=sample_weight))
            scale = 1.0 / norm if math.isfinite(norm) and norm > 0 else 1.0
        else:
            scale = float(self.settings_.input_scale)
        self.input_scale_ = scale
        self.net_.module_.input_scale.fill_(scale)

    def _pretrain(self, X, sample_weight=None):
        """Phase 1: AE pre-training; the weights of the best epoch are kept."""
        t0 = time.perf_counter()
        module = self.net_.module_
        self.net_.partial_fit_weighted(X, sample_weight)
        keep = dict(self.net_.callbacks_)["keep_best"]
        if keep.best_state_ is not None:
            module.load_state_dict(keep.best_state_)
        self.pretrain_best_epoch_ = keep.best_epoch_
        self.pretrained_state_ = {k: v.detach().cpu().clone()
                                  for k, v in module.state_dict().items()}
        self.pretrain_time_ = time.perf_counter() - t0

    def _nae_phase(self, X_train, X_val, seed, sample_weight=None):
        """Phase 2: the NAE training from the current (pre-trained) module."""
        t0 = time.perf_counter()
        module = self.net_.module_
        generator = torch_generator(seed + 1, next(module.parameters()).device)
        if not (self.warm_start and getattr(self, "replay_buffer_", None) is not None):
            self.replay_buffer_ = self.settings_.sampler.make_buffer(self.latent_dim)
        trainer = NAETrainer(module, self.settings_, buffer=self.replay_buffer_,
                             generator=generator, latent_dim=self.latent_dim,
                             score_batch_size=self._score_batch_size,
                             progress=NAEProgress(self, self.callbacks, self.settings_.verbose))
        result = trainer.run(X_train, X_val, sample_weight=sample_weight)
        self.energy_scale_ = result.energy_scale
        self.chain_temperatures_ = result.chain_temperatures
        self.history_ = result.history
        self.checkpoints_ = result.checkpoints
        self.collapsed_ = result.collapsed
        self.rollback_iteration_ = result.rollback_iteration
        self.best_iteration_ = result.best_iteration
        self.n_nae_iterations_ = len(result.history) - 1
        self.nae_time_ = time.perf_counter() - t0
        module.eval()

    def _train(self, X, seed, sample_weight=None):
        train_idx, valid_idx = self._split_indices(X.shape[0], seed)
        self._set_input_scale(X, sample_weight)
        self._pretrain(X, sample_weight)
        self._nae_phase(X[train_idx], X[valid_idx], seed, _rows(sample_weight, train_idx))

    def fit_nae(self, X, y=None, sample_weight=None):
        """Re-run the NAE phase from the pre-trained AE of a fitted detector.

        The module restarts from ``pretrained_state_`` and is trained with the
        current NAE-phase parameters (``nae_*``, ``sampler``, ``temperature``,
        ``gamma``, ``selection``, ``keep_checkpoints``, ...; change them with
        :meth:`set_params`), on the training/validation split of :meth:`fit`.
        The pre-training parameters and ``input_scale`` are not used again.
        This is how studies compare NAE settings on one pre-trained AE;
        ``history_``, ``checkpoints_``, ``offset_`` and the other NAE-phase
        attributes are replaced.

        Parameters
        ----------
        X : array-like of shape (n_samples, H*W) or (n_samples, 1, H, W)
            The background jets the detector was fitted on.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weights of the positive-energy terms, as in :meth:`fit`.

        Returns
        -------
        self : object
        """
        check_is_fitted(self)
        self._check_params()
        X = self._validate_images(X, reset=False)
        sample_weight = self._validate_sample_weight(sample_weight, X)
        module = self.net_.module_
        module.load_state_dict(self.pretrained_state_)
        seed = check_random_seed(self.random_state)
        train_idx, valid_idx = self._split_indices(X.shape[0], seed)
        with _seeded_torch(seed, _resolve_device(self.device)):
            self._nae_phase(X[train_idx], X[valid_idx], seed, _rows(sample_weight, train_idx))
        self._set_training_scores(X, sample_weight)
        return self

    # ------------------------------------------------------------ public API
    def sample(self, n_samples, random_state=None):
        """Draw model samples with the NAE sampler (fresh uniform latent starts).

        The chains use the current ``sampler`` parameters (``set_params``
        after fit included), resolved against ``preset``.

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
        check_is_fitted(self)
        if not isinstance(n_samples, numbers.Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        sampler = resolve_settings(self).sampler
        module = self.net_.module_
        module.eval()
        generator = torch_generator(check_random_seed(random_state),
                                    next(module.parameters()).device)
        out = []
        for start in range(0, n_samples, self._score_batch_size):
            size = min(self._score_batch_size, n_samples - start)
            _, x_result, _ = sampler.draw(module, size, latent_dim=self.latent_dim,
                                          generator=generator)
            out.append(x_result.x.detach().cpu().double().numpy().reshape(size, -1))
        return np.concatenate(out)

    def latent_energy_map(self, n_theta=90, n_phi=180, center=None):
        """Deprecated: use :func:`jetad.plotting.latent_energy_map` (plot geometry left the
        estimator)."""
        warnings.warn("NAEDetector.latent_energy_map is deprecated; use "
                      "jetad.plotting.latent_energy_map(detector, ...)", FutureWarning,
                      stacklevel=2)
        from jetad.plotting import latent_energy_map

        return latent_energy_map(self, n_theta=n_theta, n_phi=n_phi, center=center)
