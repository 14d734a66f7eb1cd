"""The compiled JetImager kernel against the vectorised NumPy path it replaces."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jetad import JetImager
from jetad.jets import p4s_from_ptetaphi
from jetad.preprocessing import EmptyJetWarning, _imager, _imager_kernel


@pytest.fixture(autouse=True)
def kernel_for_small_batches(monkeypatch):
    monkeypatch.setattr(_imager, "_KERNEL_MIN_JETS", 1)


def numpy_path_transform(imager, X, monkeypatch):
    """``imager.transform(X)`` through the NumPy path (kernel switched off)."""
    with monkeypatch.context() as patch:
        patch.setattr(_imager, "_kernel_p4_index", lambda X, columns: None)
        return imager.transform(X)


def random_jets(rng, n_jets=40, width=50, phi0=0.0, dtype=np.float64):
    """Zero-padded (E, px, py, pz) jets of 0..width-10 constituents, shuffled padding."""
    X = np.zeros((n_jets, width, 4))
    for i in range(n_jets):
        k = int(rng.integers(0, width - 10))
        ptetaphi = np.stack([rng.exponential(15.0, k), rng.normal(0, 0.25, k),
                             phi0 + rng.normal(0, 0.25, k)], axis=-1)
        X[i, rng.permutation(width)[:k]] = p4s_from_ptetaphi(ptetaphi)
    return X.astype(dtype)


PARAMS = [
    {},
    {"center": "leading"},
    {"center": False},
    {"rotate": False},
    {"flip": False},
    {"normalize": False},
    {"center": "leading", "rotate": False, "flip": False},
    {"pt_power": 0.5},
    {"gaussian_sigma": 1.0},
    {"n_pixels": (32, 24), "pixel_size": (0.05, 0.04)},
]


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: ",".join(p) or "defaults")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_matches_numpy_path(params, dtype, monkeypatch):
    rng = np.random.default_rng(3)
    # phi0 near pi: relative azimuths cross the +-pi line and need the full wrap
    X = np.concatenate([random_jets(rng, dtype=dtype),
                        random_jets(rng, phi0=np.pi - 0.05, dtype=dtype)])
    imager = JetImager(**params)
    with pytest.warns(EmptyJetWarning):
        ref = numpy_path_transform(imager, X, monkeypatch)
    with pytest.warns(EmptyJetWarning):
        fast = imager.transform(X)
    assert fast.dtype == np.float32 and fast.shape == ref.shape
    np.testing.assert_array_equal(fast, ref)


def test_kernel_matches_numpy_path_on_generated_jets(qcd_jets, top_jets, monkeypatch):
    for X in (qcd_jets[:1500], top_jets[:1000]):
        for imager in (JetImager(), JetImager(gaussian_sigma=1.0, pt_power=0.3)):
            np.testing.assert_array_equal(imager.transform(X),
                                          numpy_path_transform(imager, X, monkeypatch))


def test_kernel_column_order_extra_columns_and_chunks(monkeypatch):
    rng = np.random.default_rng(5)
    X = random_jets(rng, n_jets=30)
    ref = JetImager().transform(X)
    pid = rng.integers(-211, 212, X.shape[:2]).astype(float)
    permuted = np.concatenate([X[..., [2, 0, 3, 1]], pid[..., None]], axis=-1)
    columns = ("py", "E", "pz", "px", "pid")
    monkeypatch.setattr(_imager_kernel, "_CHUNK", 7)
    np.testing.assert_array_equal(JetImager(columns=columns).transform(permuted), ref)
    wide = np.zeros(X.shape[:2] + (6,))
    wide[..., :4] = X
    np.testing.assert_array_equal(JetImager().transform(wide[..., :4]), ref)  # non-contiguous


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value, where, match", [
    (np.nan, (3, 45, 2), "NaN"),  # in the padding
    (np.inf, (5, 0, 1), "NaN or infinity"),
    (-1.0, (7, 0, 0), "negative energy"),
])
def test_kernel_refuses_bad_values_like_numpy_path(dtype, value, where, match, monkeypatch):
    X = random_jets(np.random.default_rng(1), dtype=dtype)
    X[where] = value
    with pytest.raises(ValueError, match=match) as fast:
        JetImager().transform(X)
    with pytest.raises(ValueError, match=match) as ref:
        numpy_path_transform(JetImager(), X, monkeypatch)
    assert str(fast.value) == str(ref.value)


def test_kernel_refuses_off_shell_nan_in_extra_column_and_float32_overflow():
    X = random_jets(np.random.default_rng(2), n_jets=10)
    off_shell = X.copy()
    real = int(np.argmax(off_shell[4, :, 0] > 0))
    off_shell[4, real, 0] = 0.5 * np.linalg.norm(off_shell[4, real, 1:])
    with pytest.raises(ValueError, match=r"E < \|p\|.*first in jet 4"):
        JetImager().transform(off_shell)
    with_pid = np.concatenate([X, np.zeros(X.shape[:2] + (1,))], axis=-1)
    with_pid[6, 30, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        JetImager(columns=("E", "px", "py", "pz", "pid")).transform(with_pid)
    big = X.copy()
    big[2, 40, 3] = 1e39
    with pytest.raises(ValueError, match="float32 range"):
        JetImager().transform(big)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), phi0=st.floats(-4.0, 4.0),
       width=st.integers(11, 40), center=st.sampled_from([True, "leading", False]))
def test_kernel_matches_numpy_path_property(seed, phi0, width, center):
    X = random_jets(np.random.default_rng(seed), n_jets=8, width=width, phi0=phi0)
    X = X[(X[..., 0] > 0).any(axis=1)]
    if not len(X):
        return
    imager = JetImager(center=center)
    original_min = _imager._KERNEL_MIN_JETS
    _imager._KERNEL_MIN_JETS = 1
    try:
        fast = imager.transform(X)
    finally:
        _imager._KERNEL_MIN_JETS = original_min
    original = _imager._kernel_p4_index
    _imager._kernel_p4_index = lambda X, columns: None
    try:
        ref = imager.transform(X)
    finally:
        _imager._kernel_p4_index = original
    np.testing.assert_array_equal(fast, ref)
