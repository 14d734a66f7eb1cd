"""The base every neural detector in jetad keeps.

A detector is a plain ``OutlierMixin, BaseEstimator`` that *composes* a skorch
``NeuralNet`` (built in :meth:`fit`, stored as ``net_``). The torch module a
subclass builds must implement

* ``forward(x) -> (n,)`` per-jet training loss (skorch averages it),
* ``energy(x) -> (n,)`` per-jet energy, higher = more anomalous -- or, for a
  detector with a ``score_type``, the methods its ``_score_methods`` table
  names (picked at scoring time; scoring never writes into the module),
* ``encode(x) -> (n, latent_dim)`` and ``reconstruct(x) -> (n, 1, H, W)``.

Parameters are validated once, at the start of :meth:`fit`, against the
``_param_constraints`` dicts of the class and its bases (merged over the
MRO, see :mod:`jetad.detectors._validation`).

sklearn's outlier-detector signs are kept exactly: ``score_samples`` is the
negative energy (higher = more normal), ``decision_function = score_samples -
offset_`` and ``predict`` returns -1 for outliers, +1 for inliers. PyOD's
fitted attributes are derived from them: ``decision_scores_ = -train_scores_``
(higher = more anomalous), ``threshold_ = -offset_`` and ``labels_`` (1 for
the training jets above ``threshold_``, i.e. where ``predict`` gives -1).
"""

import math
from abc import abstractmethod
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
from skorch.callbacks import EarlyStopping
from skorch.dataset import ValidSplit

from jetad.jets import _check_float32_range, _check_real_input
from jetad.utils import check_random_seed

from ._inference import batched_inference
from ._progress import EpochProgressBar, make_print_log
from ._threshold import _ThresholdMixin
from ._training import (
    _OPTIMIZER_PREFIX,
    _is_device,
    _is_optimizer,
    _OptimizerParamsMixin,
    _PerSampleLossNet,
    _resolve_device,
    _seeded_torch,
    _silent,
)
from ._validation import (
    Interval,
    Predicate,
    StrOptions,
    non_negative_float,
    positive_float,
    positive_int,
    validate_param_constraints,
)

__all__ = ["BaseNeuralDetector"]


def _rows(sample_weight, rows):
    """``sample_weight[rows]``; None without weights."""
    return None if sample_weight is None else sample_weight[rows]


#: Constraints of the convolutional encoder/decoder parameters (AE, VAE, GMVAE).
_CONV_CONSTRAINTS = {
    "latent_dim": [positive_int],
    "n_filters": [positive_int],
    "hidden_dim": [positive_int],
    "output_activation": [StrOptions({"sigmoid", "linear"})],
}


class BaseNeuralDetector(_ThresholdMixin, _OptimizerParamsMixin, OutlierMixin,
                         BaseEstimator):
    """Base class for jetad's neural anomaly detectors (not for direct use).

    Subclasses define ``__init__`` listing every parameter (sklearn style),
    storing their own and passing the shared ones below to ``super().__init__``,
    declare the allowed values of their own parameters in a
    ``_param_constraints`` dict (merged with the base's), and define
    :meth:`_build_module`. Everything else -- input validation, seeding, the
    skorch training loop with its callbacks, sklearn's signs and thresholds --
    lives here.

    Parameters
    ----------
    image_shape : tuple of int or None
        ``(H, W)`` of the images. None infers a square image from the number of
        features (1600 -> 40x40); a non-square width ``n`` becomes a ``(1, n)``
        image. Inputs of shape ``(n, 1, H, W)`` set it from the array.
    max_epochs, batch_size, lr, weight_decay
        Training settings of the optimiser (``lr`` and ``weight_decay`` are
        passed to any ``optimizer``).
    validation_fraction : float or None
        Fraction held out for the validation loss (skorch ``ValidSplit``);
        None trains on everything.
    early_stopping : int or None
        Patience (epochs) of early stopping on the validation loss; None or 0
        stops after ``max_epochs`` only.
    callbacks : list of skorch callbacks or None
        Extra callbacks (checkpoints, learning-rate schedules, ...).
    contamination : float in (0, 0.5] or "auto"
        Fraction of training jets flagged as outliers: ``offset_`` is that
        quantile of the training scores. ``"auto"`` assumes no fraction (as
        sklearn's ``IsolationForest`` and ``LocalOutlierFactor`` do) and takes
        Tukey's fence of the training energies: ``offset_ = Q1 - 1.5 IQR`` of
        ``train_scores_``, i.e. jets with an energy above ``Q3 + 1.5 IQR`` are
        outliers. sklearn's "auto" is a fixed constant on a score scale its
        estimators share; neural energies have no common scale (it changes
        with the detector, the ``score_type`` and the input normalisation), and
        the fence is scale-free and the boxplot rule physicists know.
    device : {"auto", "cpu", "cuda", "cuda:i", "mps"} or torch.device
        ``"auto"`` is CUDA when available, else the CPU (``"mps"`` is used
        only when asked for). An unavailable device is refused by :meth:`fit`
        with a ValueError, not at construction.
    random_state : int, RandomState instance or None
        Seeds torch generators inside a forked RNG state, so torch's global
        random state is left untouched. ``None`` follows the scikit-learn
        convention: the seed is drawn from numpy's global RNG
        (``np.random``), which advances it; an int gives reproducible fits.
    warm_start : bool
        Continue training the fitted network for ``max_epochs`` more epochs.
    verbose : int
        0 silent; 1 a tqdm bar over the epochs (ETA, losses) on stderr; 2 the
        bar and a flushed table line per epoch on stdout (colours only on a
        terminal). The fit is the same at every level.
    optimizer : torch.optim.Optimizer subclass or None, default=None
        Optimiser of the skorch training loop (for the NAE: the pre-training),
        e.g. ``torch.optim.AdamW``; None is ``torch.optim.Adam``. Every
        subclass ``__init__`` accepts it (added by ``__init_subclass__``).
    **optimizer_params
        ``optimizer__<name>=value`` keywords passed to the optimiser, as in
        skorch (e.g. ``optimizer__betas=(0.9, 0.99)``); searchable by
        ``GridSearchCV`` and reported by ``get_params``. ``optimizer__lr``
        and ``optimizer__weight_decay`` are refused: use ``lr`` and
        ``weight_decay``.
    """

    _score_batch_size = 4096

    #: ``decision_function`` and ``score_samples`` are higher = more normal; declared
    #: because the PyOD attributes would otherwise make the detector look like PyOD's.
    _anomaly_score_sign = -1

    #: Keyword parameters beyond the signature (read by :mod:`jetad._model_state`).
    _keyword_param_prefix = _OPTIMIZER_PREFIX

    #: Label of the epoch bar (``verbose >= 1``).
    _epochs_desc = "training"

    #: Allowed values of each parameter, merged over the MRO by
    #: :meth:`_get_param_constraints` (a subclass adds or overrides entries).
    _param_constraints = {
        "image_shape": [None, tuple, list, np.ndarray],
        "max_epochs": [positive_int],
        "batch_size": [positive_int],
        "lr": [positive_float],
        "weight_decay": [non_negative_float],
        "validation_fraction": [None, Interval(Real, 0, 1, closed="neither")],
        "early_stopping": [None, Interval(Integral, 0, None, closed="left")],
        "callbacks": [None, list, tuple],
        "contamination": [Interval(Real, 0, 0.5, closed="right"), StrOptions({"auto"})],
        "device": [Predicate(_is_device, "'auto', 'cpu', 'cuda[:i]', 'mps' or a torch.device")],
        "optimizer": [None, Predicate(_is_optimizer, "a torch.optim.Optimizer subclass")],
        "random_state": [None, Interval(Integral, 0, 2**32, closed="left"),
                         np.random.RandomState],
        "warm_start": ["boolean"],
        "verbose": [Interval(Integral, 0, None, closed="left"), "boolean"],
    }

    #: ``score_type`` -> name of the module method returning the per-jet energy;
    #: None: the module's ``energy``.
    _score_methods = None

    #: Parameters that scoring reads and ``set_params`` may change after fit:
    #: checked again by every ``score_samples``.
    _score_parameters = ()

    def __init__(self, *, image_shape, max_epochs, batch_size, lr, weight_decay,
                 validation_fraction, early_stopping, callbacks, contamination, device,
                 random_state, warm_start, verbose):
        # sklearn reads the parameters from each subclass's explicit signature; the
        # subclass passes the shared ones on so they are stored in one place.
        self.image_shape = image_shape
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.callbacks = callbacks
        self.contamination = contamination
        self.device = device
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _build_module(self):
        """Return the torch module for ``self.image_shape_``."""

    def _batch_energy(self, module, x):
        """Per-jet energy of a batch (higher = more anomalous).

        The module method is looked up in ``_score_methods`` from the current
        ``score_type``; the module itself holds no scoring state.
        """
        if self._score_methods is None:
            return module.energy(x)
        method = getattr(module, self._score_methods[self.score_type])
        return method(x, **self._score_kwargs())

    def _score_kwargs(self):
        """Keyword arguments of the scoring method (e.g. the component to score)."""
        return {}

    def _extra_callbacks(self):
        return []

    def _net_kwargs(self):
        return {}

    # ------------------------------------------------------------ validation
    @classmethod
    def _get_param_constraints(cls):
        """``_param_constraints`` of the class and its bases, subclasses winning."""
        merged = {}
        for klass in reversed(cls.__mro__):
            merged.update(vars(klass).get("_param_constraints", {}))
        return merged

    def _check_params(self):
        """Validate the parameters (called once, at the start of :meth:`fit`).

        Subclasses extend it (calling ``super()``) for checks that involve
        several parameters.
        """
        validate_param_constraints(self._get_param_constraints(),
                                       self.get_params(deep=False))

    def _check_score_params(self):
        """Validate the parameters scoring reads (they may change after fit)."""
        validate_param_constraints(self._get_param_constraints(),
                                       self.get_params(deep=False),
                                       names=self._score_parameters)

    def _infer_image_shape(self, n_features):
        if self.image_shape is not None:
            shape = tuple(int(s) for s in self.image_shape)
            if len(shape) != 2 or min(shape) < 1:
                raise ValueError(f"image_shape must be (H, W) positive, got {self.image_shape!r}")
            if shape[0] * shape[1] != n_features:
                raise ValueError(
                    f"image_shape={shape} needs {shape[0] * shape[1]} features, "
                    f"X has {n_features}"
                )
            return shape
        side = math.isqrt(n_features)
        if side * side == n_features:
            return (side, side)
        return (1, n_features)

    def _validate_images(self, X, *, reset):
        """Validate ``X`` and return it as a C-contiguous float32 ``(n, 1, H, W)`` array.

        Refused: masked arrays, booleans, strings (numeric ones too), complex
        numbers (``TypeError``), NaN, infinity and float64 values beyond the
        float32 range (``ValueError``). Negative strides are copied.
        """
        if not sp.issparse(X):
            _check_real_input(X)
        shape4d = None
        if hasattr(X, "ndim") and getattr(X, "ndim", 0) == 4:
            X = np.asarray(X)
            if X.shape[1] != 1:
                raise ValueError(
                    f"4-D input must be (n_samples, 1, H, W) single-channel images, "
                    f"got shape {X.shape}"
                )
            shape4d = X.shape[2:]
            if not reset and tuple(shape4d) != tuple(self.image_shape_):
                raise ValueError(
                    f"X has images of shape {tuple(shape4d)}, but {type(self).__name__} was "
                    f"fitted on images of shape {self.image_shape_}"
                )
            X = X.reshape(X.shape[0], -1)
        X = validate_data(self, X, reset=reset, dtype=[np.float32, np.float64])
        if reset:
            if shape4d is not None and self.image_shape is not None:
                if tuple(self.image_shape) != tuple(shape4d):
                    raise ValueError(
                        f"image_shape={self.image_shape} does not match input images {shape4d}"
                    )
            self.image_shape_ = tuple(shape4d) if shape4d is not None else (
                self._infer_image_shape(X.shape[1])
            )
        _check_float32_range(X)
        X = np.ascontiguousarray(X, dtype=np.float32)
        return X.reshape(X.shape[0], 1, *self.image_shape_)

    # -------------------------------------------------------------- training
    def _callbacks(self):
        cbs = []
        if self.verbose:
            cbs.append(("progress_bar", EpochProgressBar(self._epochs_desc)))
        if self.early_stopping:
            if self.validation_fraction is None:
                raise ValueError("early_stopping needs a validation_fraction")
            cbs.append(("early_stopping", EarlyStopping(patience=int(self.early_stopping),
                                                        load_best=True, sink=_silent)))
        cbs += list(self._extra_callbacks())
        cbs += [(f"user_{i}", cb) for i, cb in enumerate(self.callbacks or [])]
        return [(name, cb) for name, cb in cbs if cb is not None]

    def _make_net(self, device, seed):
        split = (
            ValidSplit(self.validation_fraction, stratified=False, random_state=seed)
            if self.validation_fraction
            else None
        )
        cbs = self._callbacks()
        net = _PerSampleLossNet(
            module=self._build_module(),
            # skorch requires a criterion; _PerSampleLossNet.get_loss never calls it
            criterion=torch.nn.Identity,
            optimizer=self.optimizer or torch.optim.Adam,
            lr=self.lr,
            optimizer__weight_decay=self.weight_decay,
            **self._optimizer_kwargs(),
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train__shuffle=True,
            train_split=split,
            callbacks=cbs,
            callbacks__print_log=make_print_log(self.verbose),
            device=device,
            verbose=int(self.verbose >= 2),
            **self._own_net_kwargs(),
        )
        return net

    def _train(self, X, seed, sample_weight=None):
        """Run the training loop on validated images (subclasses may extend).

        ``sample_weight`` (float32 or None) travels as skorch's ``y``, so the
        validation split keeps the weights of its rows.
        """
        self.net_.partial_fit_weighted(X, sample_weight)

    def fit(self, X, y=None, sample_weight=None):
        """Fit the detector on background jets.

        Parameters
        ----------
        X : array-like of shape (n_samples, H*W) or (n_samples, 1, H, W)
            Jet images, e.g. from :class:`jetad.JetImager`.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Per-jet weights (event or generator weights), checked with
            sklearn's ``_check_sample_weight`` (non-negative, finite). The
            training loss of a batch becomes the weighted mean
            ``sum(w_i l_i) / sum(w_i)`` of the per-jet losses, so integer
            weights equal repeating rows (exactly with one full batch). For
            the NAE they weight the pre-training loss and the positive-energy
            terms of the NAE loss; the negative samples are unweighted.
            ``offset_`` is the weighted quantile (that of the rows repeated by
            weight); ``train_scores_`` and the PyOD attributes list every row.

        Returns
        -------
        self : object
            The fitted detector.
        """
        self._check_params()
        warm = bool(self.warm_start) and hasattr(self, "net_")
        X = self._validate_images(X, reset=not warm)
        if X.shape[0] < 2:
            raise ValueError(
                f"n_samples={X.shape[0]}: {type(self).__name__} needs at least 2 samples to fit"
            )
        sample_weight = self._validate_sample_weight(sample_weight, X)
        device = _resolve_device(self.device)
        seed = check_random_seed(self.random_state)
        with _seeded_torch(seed, device):
            if not warm:
                self.net_ = self._make_net(device, seed)
                self.net_.initialize()
            self._train(X, seed, sample_weight)
        self._set_training_scores(X, sample_weight)
        return self

    @staticmethod
    def _validate_sample_weight(sample_weight, X):
        """Weights as float32 (None stays None); ValueError for negative, NaN or all zero."""
        if sample_weight is None:
            return None
        return _check_sample_weight(sample_weight, X, dtype=np.float64,
                                    ensure_non_negative=True).astype(np.float32)

    def _set_training_scores(self, X, sample_weight=None):
        """``train_scores_`` and ``offset_`` from the fitted network (refused if not finite)."""
        train_scores = self._score(X)
        self._check_training_health(train_scores)
        self.train_scores_ = train_scores
        self._set_offset(sample_weight)

    def _check_training_health(self, train_scores):
        """Refuse a fit whose training scores are not finite (a diverged network)."""
        bad = ~np.isfinite(train_scores)
        if np.any(bad):
            for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
                delattr(self, name)  # the detector stays unfitted
            raise ValueError(
                f"{type(self).__name__} training diverged: {int(bad.sum())} of "
                f"{len(train_scores)} training scores are not finite (NaN or inf); lower the "
                f"learning rate (lr={self.lr!r}) or check the input scale"
            )

    # --------------------------------------------------------------- scoring
    def _batched(self, X, fn):
        return batched_inference(self.net_.module_, X, fn)

    def _score(self, X):
        return -self._batched(X, self._batch_energy).reshape(-1)

    def score_samples(self, X):
        """Negative energy of each jet: higher = more normal (sklearn convention).

        Parameters
        ----------
        X : array-like of shape (n_samples, H*W) or (n_samples, 1, H, W)

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
        """
        check_is_fitted(self)
        self._check_score_params()
        return self._score(self._validate_images(X, reset=False))

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers.

        Returns
        -------
        decision : ndarray of shape (n_samples,), float64
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """-1 for outliers (anomalous jets), +1 for inliers.

        Returns
        -------
        labels : ndarray of shape (n_samples,), int
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    def anomaly_score(self, X):
        """Energy of each jet: higher = more anomalous (the physicists' sign).

        Returns
        -------
        energy : ndarray of shape (n_samples,), float64
        """
        return -self.score_samples(X)

    def encode(self, X):
        """Latent coordinates of each jet (posterior means for variational models).

        Returns
        -------
        z : ndarray of shape (n_samples, latent_dim), float64
        """
        check_is_fitted(self)
        return self._batched(self._validate_images(X, reset=False), lambda m, x: m.encode(x))

    def reconstruct(self, X):
        """Decoded images, in the layout of the input (flat or ``(n, 1, H, W)``).

        Returns
        -------
        X_rec : ndarray, float64
        """
        check_is_fitted(self)
        images = self._validate_images(X, reset=False)
        rec = self._batched(images, lambda m, x: m.reconstruct(x))
        return rec if getattr(X, "ndim", 2) == 4 else rec.reshape(rec.shape[0], -1)

    def to_onnx(self, path, *, opset=18):
        """Write the anomaly energy as an ONNX model (needs the ``export`` extra).

        The model maps float32 images ``"images"`` ``(n, H*W)``, any ``n``, to
        ``"energy"`` ``(n,)`` float64, the values of :meth:`anomaly_score` for
        the current ``score_type`` (and ``score_component``), computed from an
        eval-mode copy of the module with spectral normalisation folded into
        plain weights. Every jetad score type is deterministic; a score method
        that samples is refused with a ``ValueError``.

        Parameters
        ----------
        path : str or os.PathLike
            Output file (written atomically).
        opset : int, default=18
            ONNX opset version.

        Returns
        -------
        path : str
        """
        from ._export import export_onnx

        return export_onnx(self, path, opset=opset)

    def __getstate__(self):
        # torch cannot pickle spectrally normalised (parametrized) modules, so the fitted
        # skorch net travels as its module weights and history and is rebuilt on load.
        # The optimizer state is not kept: a warm start after unpickling restarts Adam.
        state = self.__dict__.copy()
        net = state.pop("net_", None)
        if net is not None:
            state["_net_pickle"] = {
                "module": {k: v.detach().cpu() for k, v in net.module_.state_dict().items()},
                "history": net.history,
                "device": str(net.device),
            }
        return state

    def __setstate__(self, state):
        saved = state.pop("_net_pickle", None)
        self.__dict__.update(state)
        if saved is not None:
            self._restore_net(saved["module"], saved["history"], saved["device"],
                              on_nonfinite="warn")

    def _restore_net(self, module_state, history, device, *, on_nonfinite="raise"):
        """Rebuild ``net_`` as :meth:`fit` builds it and load saved module weights.

        Used by unpickling and :func:`jetad.load_model`; the fitted attributes the
        module depends on (``image_shape_``) must be set first. The optimizer state
        is not restored and the global torch RNG is left untouched.

        Parameters
        ----------
        module_state : dict of str to torch.Tensor
            State dict of ``net_.module_``.
        history : list of dict
            ``net_.history`` rows.
        device : str
            Device of the saved net; CUDA falls back to the CPU when unavailable.
        on_nonfinite : {"raise", "warn"}, default="raise"
            What NaN or infinite weights give: a ValueError or a RuntimeWarning
            (unpickling warns, so that joblib inside scikit-learn keeps working).
        """
        import warnings

        from skorch.history import History

        bad = [name for name, t in module_state.items()
               if t.is_floating_point() and not bool(torch.isfinite(t).all())]
        if bad:
            message = (f"{type(self).__name__}: the saved weights {bad[:5]} hold NaN or "
                       "infinite values (a diverged or corrupted model): every score "
                       "would be NaN")
            if on_nonfinite == "raise":
                raise ValueError(message)
            warnings.warn(message, RuntimeWarning, stacklevel=3)
        device = str(device)
        if ((device.startswith("cuda") and not torch.cuda.is_available())
                or (device == "mps" and not torch.backends.mps.is_available())):
            device = "cpu"
        with _seeded_torch(0, device):
            self.net_ = self._make_net(device, 0)
            self.net_.initialize()
        self.net_.module_.load_state_dict(module_state)
        self.net_.module_.eval()
        self.net_.history = history if isinstance(history, History) else History(history)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
