"""``jetad.anomaly_score`` and ``jetad.encode``: detectors and pipelines alike."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["anomaly_score", "encode"]


def _split_pipeline(estimator):
    """``(transform steps or None, final estimator)`` of a Pipeline, else ``(None, estimator)``."""
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        final = estimator.steps[-1][-1]
        if final is None or (isinstance(final, str) and final == "passthrough"):
            raise TypeError("the pipeline ends in 'passthrough', not in a detector")
        return (estimator[:-1] if len(estimator.steps) > 1 else None), final
    return None, estimator


def anomaly_score(estimator, X):
    """Anomaly scores of a fitted detector or pipeline: higher = more anomalous.

    The physicists' sign for any detector: a jetad detector's
    :meth:`~jetad.detectors.BaseNeuralDetector.anomaly_score`; a
    :class:`~sklearn.pipeline.Pipeline` ending in one (the steps before
    transform ``X`` first); any other estimator (scikit-learn or PyOD outlier
    detectors, or one declaring ``_anomaly_score_sign``) through
    ``score_samples`` / ``decision_function`` oriented by
    :func:`jetad.metrics.anomaly_score_sign`.

    Parameters
    ----------
    estimator : fitted estimator
        A detector, or a pipeline whose last step is one.
    X : array-like
        Input of ``estimator`` (of the pipeline's first step).

    Returns
    -------
    scores : ndarray of shape (n_samples,), float64

    Raises
    ------
    TypeError
        If the (final) estimator has none of ``anomaly_score``,
        ``score_samples`` or ``decision_function``.
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> import jetad
    >>> X = np.random.default_rng(0).normal(size=(100, 2))
    >>> pipe = make_pipeline(StandardScaler(), IsolationForest(random_state=0)).fit(X)
    >>> bool(np.allclose(jetad.anomaly_score(pipe, X), -pipe.score_samples(X)))
    True
    """
    from jetad.metrics._scorer import _anomaly_scores

    check_is_fitted(estimator)
    transform, final = _split_pipeline(estimator)
    if transform is not None:
        X = transform.transform(X)
    return np.asarray(_anomaly_scores(final, X), dtype=np.float64).reshape(-1)


def encode(estimator, X):
    """Latent coordinates from a fitted detector or a pipeline ending in one.

    Parameters
    ----------
    estimator : fitted estimator
        A detector with an ``encode`` method (every jetad detector), or a
        :class:`~sklearn.pipeline.Pipeline` whose last step has one: the
        steps before transform ``X`` first.
    X : array-like

    Returns
    -------
    z : ndarray of shape (n_samples, latent_dim), float64

    Raises
    ------
    TypeError
        If the (final) estimator has no ``encode`` method.
    """
    check_is_fitted(estimator)
    transform, final = _split_pipeline(estimator)
    if not callable(getattr(final, "encode", None)):
        raise TypeError(f"{type(final).__name__} has no encode method; jetad.encode needs a "
                        "detector with latent coordinates (or a pipeline ending in one)")
    if transform is not None:
        X = transform.transform(X)
    return np.asarray(final.encode(X), dtype=np.float64)
