"""Tests of make_contaminated_sample (mixing background and signal at a given ratio)."""

import numpy as np
import pytest

from jetad.datasets import make_contaminated_sample


@pytest.mark.parametrize("ratio", [1.0, 0.25, 0.05, 0.01])
@pytest.mark.parametrize("direction", ["top_in_qcd", "qcd_in_top"])
def test_contaminated_sample_ratios(ratio, direction):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3000, 5))
    b = rng.normal(size=(2000, 5)) + 10.0
    bkg, sig = (a, b) if direction == "top_in_qcd" else (b, a)
    X, y = make_contaminated_sample(bkg, sig, ratio, random_state=0)
    n_sig, n_bkg = int(y.sum()), int((y == 0).sum())
    assert n_sig / n_bkg == pytest.approx(ratio, abs=1.0 / n_bkg)
    assert n_bkg == min(len(bkg), int(np.floor(len(sig) / ratio)))  # as many as possible
    # labels follow the rows, rows are unique draws (no replacement)
    sig_mean = sig.mean()
    assert np.all((np.abs(X[y == 1].mean(1) - sig_mean) < 5) == True)  # noqa: E712
    assert len(np.unique(X, axis=0)) == len(X)
    # explicit size
    X2, y2 = make_contaminated_sample(bkg, sig, ratio, n_samples=1010, random_state=1)
    assert len(X2) == 1010
    assert int(y2.sum()) == 1010 - round(1010 / (1 + ratio))


def test_contaminated_sample_reproducible_and_shuffled():
    bkg, sig = np.zeros((500, 2)), np.ones((500, 2))
    X1, y1 = make_contaminated_sample(bkg, sig, 0.25, random_state=3)
    X2, y2 = make_contaminated_sample(bkg, sig, 0.25, random_state=3)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.all(np.diff(y1) >= 0)  # not sorted by class
    np.testing.assert_array_equal(X1[:, 0], y1)
    X0, y0 = make_contaminated_sample(bkg, sig, 0, random_state=0)
    assert len(X0) == 500 and y0.sum() == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [({"signal_fraction": -0.1}, "signal_fraction"), ({"signal_fraction": np.inf}, "signal_fraction"),
     ({"signal_fraction": 0.5, "n_samples": 5000}, "available"),
     ({"signal_fraction": 0.0001}, "zero signal"),
     ({"signal_fraction": 0.5, "n_samples": 0}, "n_samples")],
)
def test_contaminated_sample_errors(kwargs, match):
    bkg, sig = np.zeros((1000, 2)), np.ones((1000, 2))
    with pytest.raises(ValueError, match=match):
        make_contaminated_sample(bkg, sig, **kwargs)


def test_contaminated_sample_shape_mismatch():
    with pytest.raises(ValueError, match="per-jet shape"):
        make_contaminated_sample(np.zeros((10, 2)), np.zeros((10, 3)), 1.0)
