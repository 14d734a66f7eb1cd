"""Map fitted estimators over the row blocks of a Dask array (out of core).

The input is never computed as a whole: each block of jets (rows) is scored
or transformed by a task of its own, on whatever scheduler is active (a
``dask.distributed`` client, threads, processes). The fitted estimator enters
the task graph once, as a single key, and is shipped to each worker once.
"""

import numpy as np

from ._optional import import_optional

__all__ = ["score_dask", "transform_dask"]

_SCORE_METHODS = ("anomaly_score", "score_samples", "decision_function", "predict")


def _dask_array(X):
    da = import_optional("dask.array", extra="dask")
    if not isinstance(X, da.Array):
        raise TypeError(f"X must be a dask.array.Array, got {type(X).__name__}; wrap an "
                        "in-memory or on-disk array with dask.array.from_array")
    if X.ndim < 1:
        raise ValueError("X must have at least one dimension (the jets)")
    # one chunk across the feature axes: every block holds whole jets
    if X.ndim > 1 and any(len(c) > 1 for c in X.chunks[1:]):
        X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
    return X


def _delayed_estimator(estimator):
    dask = import_optional("dask", extra="dask")
    return dask.delayed(estimator, pure=True, traverse=False)


def _score_block(block, estimator, method):
    if method == "anomaly_score":
        from jetad.metrics._scorer import _anomaly_scores

        scores = _anomaly_scores(estimator, block)
    else:
        scores = getattr(estimator, method)(block)
    scores = np.asarray(scores)
    if scores.shape != (block.shape[0],):
        raise ValueError(f"{method} returned shape {scores.shape} for a block of "
                         f"{block.shape[0]} jets; score_dask needs one value per jet")
    return scores


def score_dask(estimator, X, *, method="anomaly_score"):
    """Score every jet of a Dask array with a fitted detector or pipeline, lazily.

    Parameters
    ----------
    estimator : fitted estimator
        A detector or a pipeline ending in one (e.g. ``JetImager`` then a
        detector), fitted in memory.
    X : dask.array.Array of shape (n_jets, ...)
        Jets in any form the estimator accepts (constituents ``(n, 200, 4)``
        for a pipeline starting with :class:`~jetad.JetImager`, images
        ``(n, H*W)`` for a detector). Chunked along the jets; chunks of the
        other axes are merged.
    method : {"anomaly_score", "score_samples", "decision_function", "predict"}, \
default="anomaly_score"
        ``"anomaly_score"`` is higher for more anomalous jets: the estimator's
        ``anomaly_score``, else its ``score_samples`` or ``decision_function``
        with the sign that makes it so (as :func:`jetad.model_selection.compare_detectors`
        does; a :class:`~sklearn.pipeline.Pipeline` has no ``anomaly_score``).

    Returns
    -------
    scores : dask.array.Array of shape (n_jets,)
        float64 (int64 for ``"predict"``), chunked like ``X`` along the jets;
        nothing is computed until you ask for it.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from jetad.utils import score_dask
    >>> X = np.random.default_rng(0).normal(size=(1000, 4))
    >>> forest = IsolationForest(n_estimators=10, random_state=0).fit(X)
    >>> scores = score_dask(forest, da.from_array(X, chunks=250))
    >>> scores.chunks
    ((250, 250, 250, 250),)
    >>> bool(np.allclose(scores.compute(), -forest.score_samples(X)))
    True
    """
    if method not in _SCORE_METHODS:
        raise ValueError(f"method must be one of {_SCORE_METHODS}, got {method!r}")
    X = _dask_array(X)
    dtype = np.int64 if method == "predict" else np.float64
    return X.map_blocks(
        _score_block, _delayed_estimator(estimator), method,
        drop_axis=list(range(1, X.ndim)), chunks=(X.chunks[0],), dtype=dtype,
        meta=np.empty((0,), dtype=dtype),
    )


def _transform_block(block, estimator, shape):
    out = estimator.transform(block)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"transform returned {type(out).__name__}; transform_dask needs a "
                        "numpy array per block")
    if out.shape[1:] != shape or out.shape[0] != block.shape[0]:
        raise ValueError(f"transform returned shape {out.shape} for {block.shape[0]} jets; "
                         f"expected (n, {', '.join(map(str, shape))}) as for the first jet")
    return out


def transform_dask(estimator, X):
    """Transform every jet of a Dask array with a fitted transformer, lazily.

    The shape and dtype of one transformed jet are taken from the first jet of
    ``X`` (the only row computed eagerly); every block must transform to rows
    of that shape.

    Parameters
    ----------
    estimator : fitted transformer
        E.g. :class:`~jetad.JetImager` or a pipeline of transformers, returning
        numpy arrays.
    X : dask.array.Array of shape (n_jets, ...)
        Chunked along the jets; chunks of the other axes are merged.

    Returns
    -------
    Xt : dask.array.Array of shape (n_jets, ...)
        Chunked like ``X`` along the jets, one chunk across the other axes.
    """
    X = _dask_array(X)
    if X.shape[0] == 0:
        raise ValueError("X has no jets")
    first = estimator.transform(np.asarray(X[:1].compute()))
    if not isinstance(first, np.ndarray):
        raise TypeError(f"transform returned {type(first).__name__}; transform_dask needs "
                        "numpy arrays")
    shape = first.shape[1:]
    return X.map_blocks(
        _transform_block, _delayed_estimator(estimator), shape,
        drop_axis=list(range(1, X.ndim)), new_axis=list(range(1, 1 + len(shape))),
        chunks=(X.chunks[0], *((s,) for s in shape)), dtype=first.dtype,
        meta=np.empty((0,) * (1 + len(shape)), dtype=first.dtype),
    )
