"""Shared machinery of the stateless constituent transformers."""

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..jets import _check_columns, as_padded, as_ptetaphi, flat_ptetaphi

__all__ = ["EmptyJetWarning"]

# Jets per chunk: bounds the memory of the padded float64 intermediates.
_CHUNK = 4096


class EmptyJetWarning(UserWarning):
    """Some jets of a batch gave an all-zero output (no constituents / no emissions)."""


def _n_jets(X):
    """Number of jets of ``X`` if it can be sliced along the jet axis, else None."""
    if isinstance(X, (str, bytes, numbers.Number)) or X is None:
        return None
    if isinstance(X, np.ndarray) and X.ndim == 0:
        return None
    try:
        return len(X)
    except TypeError:
        return None


def _iter_chunks(X, columns, chunk=None, convert=as_ptetaphi):
    """Validate ``X`` and yield ``(start, n_jets, *convert(chunk, columns))`` chunk by chunk.

    Input validation (types, shapes, columns, NaN/inf, negative pT or E, zero
    jets) is done by :func:`jetad.jets.as_padded` inside ``convert`` (default
    :func:`jetad.jets.as_ptetaphi`, yielding ``pt, eta, phi, mask``); chunking
    only keeps the float64 intermediates small for large inputs.
    """
    chunk = _CHUNK if chunk is None else chunk
    n = _n_jets(X)
    sliceable = (
        isinstance(X, (list, tuple))
        or type(X).__module__.startswith("awkward")
        or (isinstance(X, np.ndarray) and (X.ndim == 3 or X.dtype == object))
    )
    if n is None or n <= chunk or not sliceable:
        out = convert(X, columns)
        yield (0, len(out[0]), *out)
        return
    for start in range(0, n, chunk):
        yield (start, n, *convert(X[start:start + chunk], columns))


def _flat_ptetaphi(X, columns):
    """Validate ``X`` and return its real constituents as flat arrays.

    :func:`jetad.jets.flat_ptetaphi` (coordinates computed for the real
    constituents only: the padding of a typical 200-wide array is 3/4 of it)
    plus the jet of each constituent and the leading constituent of each jet.

    Returns
    -------
    counts : ndarray of int, shape (n_jets,)
        Constituents per jet.
    jet : ndarray of int, shape (n,)
        Jet index of each constituent (non-decreasing).
    pt, eta, phi : ndarray of shape (n,)
    eta_lead, phi_lead : ndarray of shape (n_jets,)
        Coordinates of the leading (highest-pT; the first one on ties)
        constituent of each jet (0 for jets without constituents).
    """
    mask, pt, eta, phi = flat_ptetaphi(X, columns)
    counts = mask.sum(axis=1)
    rows = np.arange(len(mask))
    jet = np.repeat(rows, counts)
    starts = np.cumsum(counts) - counts
    if len(pt):
        padded_pt = np.full(mask.shape, -1.0)
        padded_pt[mask] = pt
        lead = starts + np.cumsum(mask, axis=1)[rows, np.argmax(padded_pt, axis=1)] - 1
        lead = np.clip(lead, 0, len(pt) - 1)  # empty jets: any index, zeroed below
        empty = counts == 0
        eta_lead = np.where(empty, 0.0, eta[lead])
        phi_lead = np.where(empty, 0.0, phi[lead])
    else:
        eta_lead = phi_lead = np.zeros(len(mask))
    return counts, jet, pt, eta, phi, eta_lead, phi_lead


def _check_shape_param(value, name, kind=numbers.Integral, positive=True):
    """Return a (rows, cols) pair from a scalar or a pair."""
    if isinstance(value, kind) and not isinstance(value, bool):
        pair = (value, value)
    elif isinstance(value, (tuple, list, np.ndarray)) and len(value) == 2:
        pair = tuple(value)
    else:
        raise ValueError(f"{name} must be a {kind.__name__} or a pair of them, got {value!r}")
    for v in pair:
        if not isinstance(v, kind) or isinstance(v, bool) or not np.isfinite(v):
            raise ValueError(f"{name} must be a {kind.__name__} or a pair of them, got {value!r}")
        if positive and v <= 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    return pair


def _warn_empty(n_empty, n_total, what):
    if n_empty:
        warnings.warn(
            f"{n_empty} of {n_total} jets {what}; their output is all zero",
            EmptyJetWarning,
            stacklevel=3,
        )


class _ConstituentTransformer(TransformerMixin, BaseEstimator):
    """Base of stateless transformers from jet constituents to 2-D images."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = []
        return tags

    # -- subclasses provide ---------------------------------------------------
    def _image_shape(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_params(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _feature_prefix(self):
        return "pixel"

    # -- common API -----------------------------------------------------------
    def _check_common_params(self):
        _check_columns(self.columns)
        if self.output_shape not in ("flat", "image"):
            raise ValueError(
                f"output_shape must be 'flat' or 'image', got {self.output_shape!r}"
            )

    def fit(self, X, y=None):
        """Validate the parameters and the input; the transformer learns nothing.

        Parameters
        ----------
        X : array-like of shape (n_jets, n_constituents, n_columns), list of arrays or awkward array
            Jet constituents, see :mod:`jetad.jets`.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The unchanged transformer.
        """
        self._check_params()
        for _ in _iter_chunks(X, self.columns, convert=lambda x, c: (as_padded(x, c),)):
            pass
        return self

    def fit_transform(self, X, y=None, **fit_params):
        """Same as :meth:`transform` (the transformer is stateless)."""
        return self.transform(X)

    def get_feature_names_out(self, input_features=None):
        """Names of the output pixels, ``"<prefix>_<row>_<col>"`` in row-major order.

        Parameters
        ----------
        input_features : None
            Ignored (the output does not depend on input feature names).

        Returns
        -------
        feature_names_out : ndarray of str objects, shape (H * W,)
        """
        self._check_params()
        h, w = self._image_shape()
        prefix = self._feature_prefix()
        rows, cols = np.divmod(np.arange(h * w), w)
        return np.asarray([f"{prefix}_{r}_{c}" for r, c in zip(rows, cols, strict=True)], dtype=object)

    def _finish(self, images, n_channels=1):
        """(n, C * H, W) -> float32, flat ``(n, C * H * W)`` or channel-first ``(n, C, H, W)``."""
        images = np.asarray(images, dtype=np.float32)
        n, ch, w = images.shape
        if self.output_shape == "image":
            return images.reshape(n, n_channels, ch // n_channels, w)
        return images.reshape(n, ch * w)
