"""Property-based tests of the input gateways (issue 14): a clean error or a finite result.

Arbitrary shapes, dtypes, strides, masks and extreme values go through
:func:`jetad.jets.as_padded`, the two transformers, the detectors'
``_validate_images`` and :func:`jetad.datasets.load_jets`. Each either raises a
``TypeError`` / ``ValueError`` or returns a finite result of the documented
shape and dtype, with the values of the input (never a silently changed one).
"""

import json
import os
import tempfile
import warnings

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jetad import JetImager, LundPlane
from jetad.datasets import load_jets, save_jets
from jetad.detectors import AEDetector
from jetad.jets import as_padded
from jetad.preprocessing import EmptyJetWarning

F32_MAX = float(np.finfo(np.float32).max)
# A small budget: the whole module runs in well under a minute on one core.
FAST = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_DTYPES = st.one_of(
    hnp.floating_dtypes(), hnp.integer_dtypes(), hnp.unsigned_integer_dtypes(),
    hnp.boolean_dtypes(), hnp.complex_number_dtypes(),
    st.just(np.dtype("U8")), st.just(np.dtype("S4")), st.just(np.dtype(object)),
)
_EXTREME = st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e-45, 1e30, 3.4e38, 3.5e38, 1e200, -1e200,
                            np.nan, np.inf, -np.inf])


def _elements(dtype):
    if dtype.kind == "f":
        return st.one_of(st.floats(width=8 * min(dtype.itemsize, 8), allow_subnormal=False),
                         _EXTREME.map(lambda v: np.array(v).astype(dtype)[()]))
    if dtype.kind == "O":
        return st.one_of(st.floats(allow_nan=True), st.integers(-5, 5), st.text(max_size=3),
                         st.sampled_from([10**50, -(10**400), 1j, b"1", "2.5", None]),
                         st.booleans())
    return None


@st.composite
def arrays(draw, shapes):
    """Arrays of any dtype and shape, possibly strided, reversed or masked."""
    dtype = draw(_DTYPES)
    shape = draw(shapes)
    X = draw(hnp.arrays(dtype, shape, elements=_elements(dtype)))
    view = draw(st.sampled_from(["plain", "reversed", "strided", "fortran", "masked"]))
    if view == "reversed" and X.ndim:
        X = X[::-1] if X.ndim == 1 else X[::-1, ..., ::-1]
    elif view == "strided" and X.ndim:
        X = np.repeat(X, 2, axis=0)[::2]
    elif view == "fortran":
        X = np.asfortranarray(X)
    elif view == "masked":
        X = np.ma.masked_array(X, mask=draw(hnp.arrays(bool, X.shape)))
    return X


def _shapes(n_columns=4):
    return st.one_of(
        hnp.array_shapes(min_dims=0, max_dims=4, max_side=5),
        st.tuples(st.integers(0, 4), st.integers(0, 5), st.just(n_columns)),
    )


def _is_clean(exc):
    """The error is a TypeError/ValueError with a message, not an internal crash."""
    return isinstance(exc, (TypeError, ValueError)) and len(str(exc)) > 10


# --------------------------------------------------------------------------- as_padded
@FAST
@given(arrays(_shapes()))
def test_as_padded_error_or_same_finite_values(X):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning or overflow on the way
        try:
            out = as_padded(X)
        except Exception as exc:
            assert _is_clean(exc), repr(exc)
            return
    assert not isinstance(X, np.ma.MaskedArray)
    assert X.dtype.kind in "iufO"
    assert out.dtype == np.float64 and out.ndim == 3 and out.shape[2] == 4
    assert out.shape[0] == X.shape[0] >= 1
    assert np.all(np.isfinite(out)) and np.all(np.abs(out) <= F32_MAX)
    if X.dtype.kind == "O":  # read as a list of jets: padded to at least one entry
        assert out.shape[1] == max(X.shape[1], 1) and not out[:, X.shape[1]:].any()
        out = out[:, :X.shape[1]]
    np.testing.assert_array_equal(out, np.asarray(X, dtype=np.float64))
    p = np.linalg.norm(out[..., 1:], axis=-1)
    assert np.all(out[..., 0] >= p * (1 - 1e-4))


@FAST
@given(st.lists(arrays(st.tuples(st.integers(0, 4), st.integers(3, 5))), min_size=0,
                max_size=3))
def test_as_padded_ragged_error_or_padded(jets):
    try:
        out = as_padded(jets, columns=("pt", "eta", "phi"))
    except Exception as exc:
        assert _is_clean(exc), repr(exc)
        return
    assert out.shape[0] == len(jets) and out.shape[2] == 3
    for jet, padded in zip(jets, out, strict=True):
        np.testing.assert_array_equal(padded[:len(jet)], np.asarray(jet, dtype=np.float64))
        assert not padded[len(jet):].any()
    assert np.all(np.isfinite(out)) and np.all(out[..., 0] >= 0)


# --------------------------------------------------------------------------- transformers
@st.composite
def physical_jets(draw):
    """Valid (E, px, py, pz) jets, magnitudes from tiny to near the float32 maximum."""
    n, m = draw(st.integers(1, 4)), draw(st.integers(0, 6))
    scale = draw(st.sampled_from([1e-20, 1e-3, 1.0, 1e3, 1e20, 1e37]))
    p = draw(hnp.arrays(np.float64, (n, m, 3), elements=st.floats(-1, 1))) * scale
    mass = draw(hnp.arrays(np.float64, (n, m), elements=st.floats(0, 1))) * scale
    X = np.concatenate([np.sqrt(np.sum(p**2, axis=-1) + mass**2)[..., None], p], axis=-1)
    keep = draw(hnp.arrays(bool, (n, m)))
    X[~keep] = 0.0
    return X


@SLOW
@given(physical_jets(), st.sampled_from(["flat", "image"]))
def test_jet_imager_finite_images(X, output_shape):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyJetWarning)
        out = JetImager(n_pixels=8, output_shape=output_shape).transform(X)
    assert out.dtype == np.float32 and len(out) == len(X)
    assert out.shape[1:] == ((64,) if output_shape == "flat" else (1, 8, 8))
    assert np.all(np.isfinite(out)) and np.all(out >= 0)
    sums = out.reshape(len(X), -1).sum(axis=1)
    assert np.all((np.abs(sums - 1) < 1e-4) | (sums == 0))


@SLOW
@given(physical_jets())
def test_lund_plane_finite_images(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyJetWarning)
        out = LundPlane(n_bins=8).transform(X)
    assert out.dtype == np.float32 and out.shape == (len(X), 64)
    assert np.all(np.isfinite(out)) and np.all(out >= 0)


@SLOW
@given(arrays(_shapes()))
def test_transformers_error_or_finite(X):
    for transformer in (JetImager(n_pixels=4), LundPlane(n_bins=4)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EmptyJetWarning)
            try:
                out = transformer.transform(X)
            except Exception as exc:
                assert _is_clean(exc), repr(exc)
                continue
        assert out.shape == (len(X), 16) and np.all(np.isfinite(out))


# --------------------------------------------------------------------------- detectors
@FAST
@given(arrays(st.one_of(hnp.array_shapes(min_dims=0, max_dims=4, max_side=5),
                        st.tuples(st.integers(0, 4), st.just(1), st.integers(1, 3),
                                  st.integers(1, 3)))))
def test_validate_images_error_or_contiguous_float32(X):
    det = AEDetector()
    try:
        out = det._validate_images(X, reset=True)
    except Exception as exc:
        assert _is_clean(exc), repr(exc)
        return
    assert not isinstance(X, np.ma.MaskedArray) and X.dtype.kind in "iufO"
    assert out.dtype == np.float32 and out.flags.c_contiguous and out.ndim == 4
    assert out.shape[0] == X.shape[0] and out.shape[1] == 1
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out.reshape(len(X), -1),
                                  np.asarray(X, dtype=np.float32).reshape(len(X), -1))


# --------------------------------------------------------------------------- load_jets
@st.composite
def jet_files(draw):
    """The parts of a jet file: X, info and y of any dtype, shape and content."""
    X = draw(arrays(_shapes()).filter(
        lambda a: not isinstance(a, np.ma.MaskedArray) and a.dtype.kind not in "UOc"))
    info = draw(st.one_of(st.just("{}"), st.just('{"kind": "qcd"}'), st.just("[1, 2]"),
                          st.just("not json"), st.just('{"y": [1]}'), st.just('"text"')))
    y = draw(st.one_of(st.none(), hnp.arrays(
        st.sampled_from([np.int64, np.int8, np.float64, np.dtype("S1")]),
        st.integers(0, 5).map(lambda n: (n,)))))
    return X, info, y


@FAST
@given(jet_files())
def test_load_jets_error_or_valid(parts):
    X, info, y = parts
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "jets.h5")
        with h5py.File(path, "w") as f:
            f.attrs["info"] = info
            f.create_dataset("X", data=np.ascontiguousarray(X))
            if y is not None:
                f.create_dataset("y", data=y)
        try:
            X2, info2 = load_jets(path)
        except ValueError as exc:
            assert _is_clean(exc), repr(exc)
            return
    assert X2.dtype == np.float32 and X2.ndim == 3 and X2.shape[2] == 4
    assert np.all(np.isfinite(X2)) and np.all(X2[..., 0] >= 0)
    np.testing.assert_array_equal(X2, X.astype(np.float32))
    assert isinstance(info2, dict)
    if y is None:
        assert "y" not in info2
    else:
        assert info2["y"].dtype.kind in "iu" and info2["y"].shape == (len(X2),)
        assert json.loads(info) == {k: v for k, v in info2.items() if k != "y"}


@FAST
@given(physical_jets())
def test_save_load_round_trip(X):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "jets.h5")
        save_jets(path, X, info={"n": len(X)}, y=np.arange(len(X)) % 2)
        X2, info = load_jets(path)
        assert os.listdir(folder) == ["jets.h5"]
    np.testing.assert_array_equal(X2, X.astype(np.float32))
    assert info["n"] == len(X) and info["y"].tolist() == (np.arange(len(X)) % 2).tolist()


@pytest.mark.parametrize("masked", [np.ma.masked_array(np.ones((2, 3, 4)), mask=False)])
def test_masked_arrays_are_refused_everywhere(masked):
    with pytest.raises(TypeError, match="masked"):
        as_padded(masked)
    with pytest.raises(TypeError, match="masked"):
        AEDetector()._validate_images(masked.reshape(2, 12), reset=True)
    with tempfile.TemporaryDirectory() as folder, pytest.raises(TypeError, match="masked"):
        save_jets(os.path.join(folder, "x.h5"), masked)
