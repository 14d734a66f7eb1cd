"""``BackgroundOnly``: fit a detector on the background rows of a labelled set."""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, MetaEstimatorMixin, OutlierMixin, clone
from sklearn.utils import _safe_indexing, check_consistent_length, column_or_1d, get_tags
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _num_samples, check_is_fitted

__all__ = ["BackgroundOnly"]


def _detector_has(attr):
    """Check the fitted ``detector_`` if there is one, else ``detector``."""

    def check(self):
        if hasattr(self, "detector_"):
            getattr(self.detector_, attr)
        else:
            getattr(self.detector, attr)
        return True

    return check


class BackgroundOnly(OutlierMixin, MetaEstimatorMixin, BaseEstimator):
    """Fit an anomaly detector on the background rows of labelled data only.

    Model selection for an unsupervised detector needs labelled folds (to
    score it with signal present), but the detector must be *trained* on
    background alone. ``BackgroundOnly`` does the filtering inside ``fit``:
    it fits a clone of ``detector`` on ``X[y == background_label]`` and
    delegates scoring to it. Because the filtering is part of the estimator,
    :class:`~sklearn.model_selection.GridSearchCV` and
    :func:`~sklearn.model_selection.cross_validate` train on the background
    of each training fold, and ``refit=True`` also refits on background only
    (a custom CV splitter that drops signal from the training indices would
    not protect the final refit).

    Parameters
    ----------
    detector : estimator object
        The anomaly detector (or a :class:`~sklearn.pipeline.Pipeline` ending
        in one) to fit: a jetad detector, a scikit-learn outlier detector
        (``score_samples`` higher = more normal), a PyOD model
        (``decision_function`` higher = more anomalous) or any estimator
        declaring its orientation with ``_anomaly_score_sign`` (see
        :func:`jetad.metrics.anomaly_score_sign`). Its parameters are
        searched as ``detector__<param>``.
    background_label : int, float, bool or str, default=0
        Label of the background class in ``y``; all other rows (signal) are
        dropped before fitting.

    Attributes
    ----------
    detector_ : estimator object
        The fitted clone of ``detector``.
    n_background_ : int
        Number of rows the detector was fitted on.
    offset_ : float
        ``detector_.offset_`` (``decision_function = score_samples - offset_``),
        if the detector has one.
    n_features_in_ : int
        ``detector_.n_features_in_``, if the detector has one.
    feature_names_in_ : ndarray of str
        ``detector_.feature_names_in_``, if the detector has one.

    See Also
    --------
    jetad.metrics.make_anomaly_scorer : Scorers for labelled folds.
    compare_detectors : Repeated train/test comparison of several detectors.

    Notes
    -----
    Without labels (``y=None``) every row of ``X`` is taken as background
    and the fit is the wrapped detector's own fit on all of ``X``; this is
    also what lets scikit-learn's estimator checks, which fit outlier
    detectors without ``y``, run on ``BackgroundOnly``.

    ``X`` is not validated here (the detector validates it), so 3-D
    constituent arrays and lists of variable-length jets pass through to a
    pipeline that starts with a jet transformer. Sample-aligned fit
    parameters (e.g. ``sample_weight``) are filtered with the same mask.

    ``score_samples``, ``decision_function`` and ``predict`` delegate
    unchanged, in the wrapped detector's own convention (for a PyOD model
    ``predict`` gives 1 for outliers, 0 for inliers); :meth:`anomaly_score`
    and :meth:`score` are oriented for every supported detector.

    **Pass a stratified splitter as** ``cv``: ``BackgroundOnly`` is an
    outlier detector, not a classifier, so ``GridSearchCV(..., cv=5)`` uses an
    unshuffled :class:`~sklearn.model_selection.KFold`, and on data sorted by
    class some test folds hold no signal (their score is ``nan``). Use e.g.
    ``cv=StratifiedKFold(5, shuffle=True, random_state=0)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from sklearn.model_selection import GridSearchCV, StratifiedKFold
    >>> from jetad.metrics import anomaly_auc_scorer
    >>> from jetad.model_selection import BackgroundOnly
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(size=(200, 2)), rng.normal(4, 1, size=(40, 2))]
    >>> y = np.r_[np.zeros(200), np.ones(40)]
    >>> search = GridSearchCV(
    ...     BackgroundOnly(IsolationForest(random_state=0)),
    ...     {"detector__n_estimators": [20, 50]},
    ...     scoring=anomaly_auc_scorer,
    ...     cv=StratifiedKFold(3, shuffle=True, random_state=0),
    ... ).fit(X, y)
    >>> search.best_estimator_.n_background_
    200
    >>> bool(search.best_score_ > 0.9)
    True
    """

    def __init__(self, detector, *, background_label=0):
        self.detector = detector
        self.background_label = background_label

    def fit(self, X, y=None, **fit_params):
        """Fit a clone of ``detector`` on the rows of ``X`` labelled background.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training data with signal and background; anything the detector
            accepts and that :func:`sklearn.utils._safe_indexing` can index by
            rows.
        y : array-like of shape (n_samples,) or None, default=None
            Labels; rows equal to ``background_label`` are kept. ``None``
            means all rows are background (no row is dropped).
        **fit_params : dict
            Passed to ``detector.fit``; sample-aligned arrays are filtered
            like ``X``: ``sample_weight=w`` trains the detector with the
            weights of the background rows, ``w[y == background_label]``.
            With metadata routing enabled, only parameters the detector
            requested are routed.

        Returns
        -------
        self : object
            The fitted meta-estimator.
        """
        if not hasattr(self.detector, "fit"):
            raise TypeError(
                f"detector must be an estimator with a fit method, got {self.detector!r}."
            )
        if sparse.issparse(X):  # e.g. DIA and COO cannot be indexed by rows
            X = X.tocsr()
        rows, n_samples = self._background_rows(X, y)
        if _routing_enabled():
            params = process_routing(self, "fit", **fit_params).detector.fit
        else:
            params = fit_params
        params = {
            key: _safe_indexing(value, rows)
            if y is not None and _is_sample_aligned(value, n_samples) else value
            for key, value in params.items()
        }
        self.detector_ = clone(self.detector)
        self.detector_.fit(X if y is None else _safe_indexing(X, rows), **params)
        self.n_background_ = int(rows.size)
        return self

    def _background_rows(self, X, y):
        """Row indices of the background in ``X`` (all rows when ``y`` is None)."""
        if y is None:
            n_samples = _num_samples(X)
            return np.arange(n_samples), n_samples
        y = column_or_1d(y, warn=True)
        check_consistent_length(X, y)
        n_samples = y.shape[0]
        mask = y == self.background_label
        if mask.shape != y.shape:  # comparison of str labels with a number
            mask = np.zeros(n_samples, dtype=bool)
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            raise ValueError(
                f"No background rows: no label equals background_label="
                f"{self.background_label!r}; labels are {np.unique(y)[:10].tolist()}."
            )
        return rows, n_samples

    # -- delegation --------------------------------------------------------- #
    @available_if(_detector_has("score_samples"))
    def score_samples(self, X):
        """Delegate to ``detector_.score_samples``: higher = more normal.

        Parameters
        ----------
        X : array-like
            Samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.detector_.score_samples(X)

    @available_if(_detector_has("decision_function"))
    def decision_function(self, X):
        """Delegate to ``detector_.decision_function``: < 0 means outlier.

        Parameters
        ----------
        X : array-like
            Samples.

        Returns
        -------
        decision : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.detector_.decision_function(X)

    @available_if(_detector_has("predict"))
    def predict(self, X):
        """Delegate to ``detector_.predict``: +1 inlier, -1 outlier.

        Parameters
        ----------
        X : array-like
            Samples.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.detector_.predict(X)

    @available_if(_detector_has("predict"))
    def fit_predict(self, X, y=None, **fit_params):
        """Fit on the background rows of ``X``, then predict all of ``X``.

        Parameters
        ----------
        X : array-like
            Samples.
        y : array-like of shape (n_samples,) or None, default=None
            Labels, see :meth:`fit`.
        **fit_params : dict
            See :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            +1 inlier, -1 outlier.
        """
        return self.fit(X, y, **fit_params).predict(X)

    def anomaly_score(self, X):
        """Anomaly score, higher = more anomalous.

        ``detector_.anomaly_score(X)`` if the detector has it; else its
        ``score_samples`` / ``decision_function`` oriented by
        :func:`jetad.metrics.anomaly_score_sign`: ``decision_function(X)``
        for PyOD models and estimators declaring ``_anomaly_score_sign = +1``,
        ``-score_samples(X)`` (or ``-decision_function(X)``) for sklearn
        outlier detectors.

        Parameters
        ----------
        X : array-like
            Samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,), dtype float64
            Higher = more anomalous.
        """
        from ..metrics._scorer import _anomaly_scores

        check_is_fitted(self)
        return _anomaly_scores(self.detector_, X)

    @available_if(_detector_has("encode"))
    def encode(self, X):
        """Delegate to ``detector_.encode`` (latent representation).

        Parameters
        ----------
        X : array-like
            Samples.

        Returns
        -------
        Z : ndarray
        """
        check_is_fitted(self)
        return self.detector_.encode(X)

    @available_if(_detector_has("reconstruct"))
    def reconstruct(self, X):
        """Delegate to ``detector_.reconstruct``.

        Parameters
        ----------
        X : array-like
            Samples.

        Returns
        -------
        X_rec : ndarray
        """
        check_is_fitted(self)
        return self.detector_.reconstruct(X)

    def score(self, X, y):
        """AUC of the anomaly scores, signal = every label but ``background_label``.

        Makes ``GridSearchCV(..., scoring=None)`` rank detectors by
        :func:`jetad.metrics.anomaly_auc` instead of failing.

        Parameters
        ----------
        X : array-like
            Samples.
        y : array-like of shape (n_samples,)
            Labels.

        Returns
        -------
        auc : float
        """
        from ..metrics import anomaly_auc

        y = column_or_1d(y, warn=True)
        return anomaly_auc(y != self.background_label, self.anomaly_score(X))

    # -- fitted attributes of the detector ---------------------------------- #
    @property
    def offset_(self):
        """``detector_.offset_``."""
        check_is_fitted(self)
        return self.detector_.offset_

    @property
    def n_features_in_(self):
        """``detector_.n_features_in_``."""
        check_is_fitted(self)
        return self.detector_.n_features_in_

    @property
    def feature_names_in_(self):
        """``detector_.feature_names_in_``."""
        check_is_fitted(self)
        return self.detector_.feature_names_in_

    def __sklearn_is_fitted__(self):
        return hasattr(self, "detector_")

    # -- sklearn protocol --------------------------------------------------- #
    def get_metadata_routing(self):
        """Get the metadata routing of this object.

        Returns
        -------
        routing : MetadataRouter
            Metadata of ``fit`` is routed to ``detector.fit``; the scoring
            methods take no metadata.
        """
        return MetadataRouter(owner=self).add(
            detector=self.detector,
            method_mapping=MethodMapping().add(caller="fit", callee="fit"),
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False  # y=None: all rows are background
        try:
            inner = get_tags(self.detector)
        except (TypeError, AttributeError, ValueError):
            return tags
        tags.input_tags = inner.input_tags
        tags.non_deterministic = inner.non_deterministic
        return tags


def _is_sample_aligned(value, n_samples):
    if not hasattr(value, "__len__") or isinstance(value, (str, bytes, dict)):
        return False
    try:
        return _num_samples(value) == n_samples
    except TypeError:
        return False
