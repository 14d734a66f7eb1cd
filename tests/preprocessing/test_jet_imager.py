"""Tests of jetad.preprocessing.JetImager: geometry, switches, inputs, sklearn API."""

import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.utils import estimator_checks

from jetad import JetImager
from jetad.jets import p4s_from_ptetaphi
from jetad.preprocessing import EmptyJetWarning

D_ETA, D_PHI = 0.029, 0.035


def make_jets(jets, width=None):
    """Zero-padded (n, width, 4) E, px, py, pz array from lists of (pt, eta, phi)."""
    width = width or max(len(j) for j in jets)
    X = np.zeros((len(jets), width, 4))
    for i, jet in enumerate(jets):
        if len(jet):
            X[i, : len(jet)] = p4s_from_ptetaphi(np.asarray(jet, dtype=float))
    return X


def random_ptetaphi(rng, n_jets=50, n_const=30, spread=0.15, eta0=0.0, phi0=0.0):
    """Random narrow jets as (n, n_const, 3) pt, eta, phi, pT-ordered, with an elongated shape."""
    pt = np.sort(rng.exponential(20.0, (n_jets, n_const)), axis=1)[:, ::-1] + 0.1
    a = rng.normal(0, spread, (n_jets, n_const))
    b = rng.normal(0, spread / 3, (n_jets, n_const))
    ang = rng.uniform(0, np.pi, (n_jets, 1))
    eta = eta0 + a * np.cos(ang) - b * np.sin(ang)
    phi = phi0 + a * np.sin(ang) + b * np.cos(ang)
    return np.stack([pt, eta, phi], axis=-1)


def pixel_centres(h=40, w=40):
    """(eta', phi') of the pixel centres, arrays of shape (h, w)."""
    cols = (np.arange(w) + 0.5 - w / 2) * D_ETA
    rows = (h / 2 - np.arange(h) - 0.5) * D_PHI
    return np.meshgrid(cols, rows)


# -- output conventions ---------------------------------------------------------------


def test_output_shapes_dtype_and_feature_names(rng):
    X = make_jets(random_ptetaphi(rng, 5).tolist())
    flat = JetImager().fit_transform(X)
    assert flat.shape == (5, 1600) and flat.dtype == np.float32
    img = JetImager(output_shape="image").transform(X)
    assert img.shape == (5, 1, 40, 40) and img.dtype == np.float32
    np.testing.assert_array_equal(img.reshape(5, -1), flat)
    rect = JetImager(n_pixels=(30, 20)).transform(X)
    assert rect.shape == (5, 600)
    names = JetImager(n_pixels=(30, 20)).get_feature_names_out()
    assert names.shape == (600,) and names[0] == "pixel_0_0" and names[21] == "pixel_1_1"
    assert names[-1] == "pixel_29_19"


def test_pixel_sums_are_one(rng):
    X = make_jets(random_ptetaphi(rng, 40).tolist())
    for kwargs in ({}, {"gaussian_sigma": 1.0}, {"pt_power": 0.5}, {"gaussian_sigma": 2.0,
                                                                       "pt_power": 0.2}):
        out = JetImager(**kwargs).transform(X)
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
        assert np.all(out >= 0)


def test_pixelation_sums_pt_in_shared_pixels():
    # three constituents in the same pixel must add up (the public code overwrote them)
    jet = [(100.0, 0.001, 0.001), (30.0, 0.002, 0.002), (10.0, 0.003, 0.001)]
    out = JetImager(center=False, rotate=False, flip=False, normalize=False).transform(
        make_jets([jet]))
    img = out.reshape(40, 40)
    assert np.count_nonzero(img) == 1
    np.testing.assert_allclose(img[19, 20], 140.0, rtol=1e-5)


# -- physics ------------------------------------------------------------------------


def test_centring_puts_pt_centroid_in_image_centre(rng):
    cols, rows = pixel_centres()
    jets = random_ptetaphi(rng, 30, spread=0.08, eta0=1.3, phi0=3.1)  # across phi = pi
    jets[..., 2] = (jets[..., 2] + np.pi) % (2 * np.pi) - np.pi
    out = JetImager(rotate=False, flip=False).transform(make_jets(jets.tolist()))
    img = out.reshape(-1, 40, 40)
    np.testing.assert_allclose(img.sum(axis=(1, 2)), 1.0, rtol=1e-5)
    cx = (img * cols).sum(axis=(1, 2))
    cy = (img * rows).sum(axis=(1, 2))
    # each constituent moves by at most half a pixel when binned
    assert np.all(np.abs(cx) <= D_ETA / 2 + 1e-7)
    assert np.all(np.abs(cy) <= D_PHI / 2 + 1e-7)


def test_phi_wrapping_matches_shifted_jet(rng):
    jets = random_ptetaphi(rng, 10, spread=0.1)
    shifted = jets.copy()
    shifted[..., 1] += 0.7
    shifted[..., 2] = (shifted[..., 2] + np.pi - 0.01) % (2 * np.pi) - np.pi  # near +-pi
    a = JetImager().transform(make_jets(jets.tolist()))
    b = JetImager().transform(make_jets(shifted.tolist()))
    np.testing.assert_allclose(a, b, atol=1e-6)


def _rotate_reflect(jet, angle, reflect):
    """Rotate the (eta, phi) of the constituents about the pT centroid, optionally reflect."""
    pt, eta, phi = jet[:, 0], jet[:, 1], jet[:, 2]
    ce, cp = np.average(eta, weights=pt), np.average(phi, weights=pt)
    de, dp = eta - ce, phi - cp
    if reflect:
        de = -de
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([pt, ce + c * de - s * dp, cp + s * de + c * dp], axis=-1)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), angle=st.floats(-np.pi, np.pi),
       reflect=st.booleans(), n_const=st.integers(3, 40))
def test_images_invariant_under_rotation_and_reflection(seed, angle, reflect, n_const):
    rng = np.random.default_rng(seed)
    jet = random_ptetaphi(rng, 1, n_const, spread=0.12, eta0=rng.uniform(-2, 2),
                          phi0=rng.uniform(-3, 3))[0]
    moved = _rotate_reflect(jet, angle, reflect)
    imager = JetImager()
    a = imager.transform(make_jets([jet]))
    b = imager.transform(make_jets([moved]))
    np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("direction", [0.0, 0.7, np.pi / 2, 2.5])
def test_two_prong_jet_lands_in_expected_pixels(direction):
    # hard prong (100) and soft prong (50), dR = 0.35 apart in any direction, at phi ~ pi
    eta0, phi0, dr = 0.4, 3.0, 0.35
    hard = (100.0, eta0, phi0)
    soft = (50.0, eta0 + dr * np.cos(direction), phi0 + dr * np.sin(direction))
    out = JetImager().transform(make_jets([[hard, soft]])).reshape(40, 40)
    # centroid at 1/3 of the way: hard prong 0.1167 below the centre, soft 0.2333 above,
    # both on the vertical axis (column W/2 = 20)
    assert np.count_nonzero(out) == 2
    r_hard = int(np.floor(20 + (dr / 3) / D_PHI))
    r_soft = int(np.floor(20 - (2 * dr / 3) / D_PHI))
    assert (r_hard, r_soft) == (23, 13)
    np.testing.assert_allclose(out[r_hard, 20], 2 / 3, rtol=1e-5)
    np.testing.assert_allclose(out[r_soft, 20], 1 / 3, rtol=1e-5)


def test_three_prong_jet_hardest_quadrant_lower_left():
    jet = [(100.0, 0.0, 0.0), (60.0, 0.0, 0.4), (40.0, 0.15, 0.2)]
    img = JetImager().transform(make_jets([jet])).reshape(40, 40)
    lower_left = img[20:, :20].sum()
    assert lower_left >= max(img[:20, :20].sum(), img[20:, 20:].sum(), img[:20, 20:].sum())


def test_small_pt_power_flattens_pixels(rng):
    X = make_jets(random_ptetaphi(rng, 10).tolist())
    plain = JetImager().transform(X)
    flat = JetImager(pt_power=0.001).transform(X)
    assert np.array_equal(plain > 0, flat > 0)
    np.testing.assert_allclose(flat.sum(axis=1), 1.0, rtol=1e-5)
    for p, f in zip(plain, flat, strict=True):
        assert p[p > 0].max() / p[p > 0].min() > 10
        assert f[f > 0].max() / f[f > 0].min() < 1.02  # almost an occupancy map
    # exact definition: I**n / sum(I**n) on the normalised pixel intensities
    expected = plain.astype(np.float64) ** 0.5
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(JetImager(pt_power=0.5).transform(X), expected, rtol=1e-4,
                               atol=1e-7)


def test_gaussian_filter_preserves_sum_and_smooths(rng):
    X = make_jets(random_ptetaphi(rng, 10).tolist())
    raw = JetImager(normalize=False).transform(X)
    smooth = JetImager(normalize=False, gaussian_sigma=1.5).transform(X)
    np.testing.assert_allclose(smooth.sum(axis=1), raw.sum(axis=1), rtol=1e-5)
    assert np.all((smooth > 1e-12).sum(axis=1) > (raw > 0).sum(axis=1))
    # it is a 2-D Gaussian: a single pixel becomes an isotropic blob
    one = JetImager(gaussian_sigma=2.0).transform(make_jets([[(50.0, 0.0, 0.0)]])).reshape(40, 40)
    np.testing.assert_allclose(one, one.T, atol=1e-7)
    np.testing.assert_allclose(one.sum(), 1.0, rtol=1e-5)


# -- switches -------------------------------------------------------------------------


def test_center_switch():
    jet = [(100.0, 0.3, 0.2), (20.0, 0.35, 0.2)]
    X = make_jets([jet])
    off = JetImager(center=False, rotate=False, flip=False, normalize=False).transform(X)
    img = off.reshape(40, 40)
    # absolute coordinates: eta 0.3 -> column 30, phi 0.2 -> row floor(20 - 5.71) = 14
    assert img[14, 30] == pytest.approx(100.0, rel=1e-5)
    assert img[14, 32] == pytest.approx(20.0, rel=1e-5)
    lead = JetImager(center="leading", rotate=False, flip=False).transform(X).reshape(40, 40)
    assert lead[20, 20] == pytest.approx(100 / 120, rel=1e-5)
    cen = JetImager(rotate=False, flip=False).transform(X).reshape(40, 40)
    # centroid eta = 0.30833: hard at -0.0083 (col 19), soft at +0.0417 (col 21)
    assert cen[20, 19] == pytest.approx(100 / 120, rel=1e-5)
    assert cen[20, 21] == pytest.approx(20 / 120, rel=1e-5)


def test_rotate_switch():
    jet = [(100.0, 0.0, 0.0), (50.0, 0.3, 0.0)]  # horizontal two-prong jet
    X = make_jets([jet])
    no_rot = JetImager(rotate=False).transform(X).reshape(40, 40)
    rows, cols = np.nonzero(no_rot)
    assert len(set(rows)) == 1 and len(set(cols)) == 2  # stays horizontal
    rot = JetImager(rotate=True).transform(X).reshape(40, 40)
    rows, cols = np.nonzero(rot)
    assert len(set(rows)) == 2 and len(set(cols)) == 1  # now vertical


def test_flip_switch():
    jet = [(100.0, 0.0, 0.0), (50.0, 0.0, 0.3), (10.0, -0.1, 0.1)]
    X = make_jets([jet])
    kw = dict(rotate=False)
    noflip = JetImager(flip=False, **kw).transform(X).reshape(40, 40)
    flip = JetImager(flip=True, **kw).transform(X).reshape(40, 40)
    assert noflip[:20].sum() < noflip[20:].sum()  # hard prong below the centre already
    assert noflip[:, :20].sum() < noflip[:, 20:].sum()  # but to the right
    assert flip[:, :20].sum() > flip[:, 20:].sum()
    assert flip[20:].sum() > flip[:20].sum()
    np.testing.assert_allclose(flip, noflip[:, ::-1], atol=1e-7)  # pure eta reflection here


def test_normalize_switch(rng):
    jets = random_ptetaphi(rng, 5, spread=0.05)
    X = make_jets(jets.tolist())
    raw = JetImager(normalize=False).transform(X)
    np.testing.assert_allclose(raw.sum(axis=1), jets[..., 0].sum(axis=1), rtol=1e-5)
    pt_power = JetImager(normalize=False, pt_power=0.5).transform(X)
    np.testing.assert_allclose(pt_power.sum(axis=1), raw.sum(axis=1), rtol=1e-5)


def test_constituents_outside_window_are_dropped_and_sum_is_one():
    jet = [(100.0, 0.0, 0.0), (30.0, 0.05, 0.02), (20.0, 1.5, 0.0)]  # last one far outside
    out = JetImager(rotate=False, flip=False).transform(make_jets([jet]))
    assert out.sum() == pytest.approx(1.0, rel=1e-6)
    assert np.count_nonzero(out) == 2


# -- input formats ----------------------------------------------------------------------


def test_input_formats_give_identical_images(rng):
    ak = pytest.importorskip("awkward")
    jets = [random_ptetaphi(rng, 1, n)[0] for n in (5, 12, 30, 1)]
    X = make_jets([j.tolist() for j in jets], width=40)
    ref = JetImager().transform(X)
    ptetaphi = np.zeros((4, 40, 3))
    for i, j in enumerate(jets):
        ptetaphi[i, : len(j)] = j
    np.testing.assert_allclose(JetImager(columns=("pt", "eta", "phi")).transform(ptetaphi), ref,
                               atol=1e-6)
    ragged = [p4s_from_ptetaphi(j) for j in jets]
    np.testing.assert_allclose(JetImager().transform(ragged), ref, atol=1e-6)
    np.testing.assert_allclose(JetImager().transform(np.asarray(ragged, dtype=object)), ref,
                               atol=1e-6)
    np.testing.assert_allclose(JetImager().transform(ak.Array([r.tolist() for r in ragged])),
                               ref, atol=1e-6)
    records = ak.Array([{"pt": j[:, 0].tolist(), "eta": j[:, 1].tolist(),
                         "phi": j[:, 2].tolist()} for j in jets])
    records = ak.zip({"pt": records.pt, "eta": records.eta, "phi": records.phi})
    np.testing.assert_allclose(JetImager(columns=("pt", "eta", "phi")).transform(records), ref,
                               atol=1e-6)
    np.testing.assert_allclose(JetImager().transform(X.astype(np.float32)), ref, atol=1e-5)


def test_chunked_transform_matches_single_batch(rng, monkeypatch):
    from jetad.preprocessing import _base

    X = make_jets(random_ptetaphi(rng, 25).tolist())
    ref = JetImager().transform(X)
    monkeypatch.setattr(_base, "_CHUNK", 7)
    np.testing.assert_array_equal(JetImager().transform(X), ref)
    np.testing.assert_array_equal(JetImager().transform(list(X)), ref)
    X[3] = 0.0
    X[20] = 0.0
    with pytest.warns(EmptyJetWarning) as record:
        JetImager().transform(X)
    assert len(record) == 1 and "2 of 25" in str(record[0].message)


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_bad, match",
    [
        (lambda X: np.where(np.arange(4) == 1, np.nan, X), "NaN"),
        (lambda X: np.where(np.arange(4) == 2, np.inf, X), "NaN or infinity"),
        (lambda X: X * np.array([-1.0, 1, 1, 1]), "negative energy"),
        (lambda X: X[..., :3], "columns"),
        (lambda X: X[0, 0], "3-D"),
        (lambda X: X[None], "3-D"),
        (lambda X: X[:0], "0 jets"),
    ],
    ids=["nan", "inf", "negative-E", "wrong-columns", "1-D", "4-D", "zero-jets"],
)
def test_bad_input_raises(rng, make_bad, match):
    X = make_jets(random_ptetaphi(rng, 3).tolist())
    with pytest.raises(ValueError, match=match):
        JetImager().transform(make_bad(X))
    with pytest.raises(ValueError, match=match):
        JetImager().fit(make_bad(X))


def test_negative_pt_and_unknown_columns_raise():
    X = np.array([[[10.0, 0.0, 0.0], [-1.0, 0.1, 0.1]]])
    with pytest.raises(ValueError, match="negative transverse momentum"):
        JetImager(columns=("pt", "eta", "phi")).transform(X)
    with pytest.raises(ValueError, match="columns"):
        JetImager(columns=("pt", "rapidity", "phi")).transform(X)


@pytest.mark.parametrize("params", [
    {"n_pixels": 0}, {"n_pixels": (40, 0, 3)}, {"pixel_size": -0.1}, {"center": "middle"},
    {"rotate": "yes"}, {"gaussian_sigma": -1.0}, {"pt_power": 0.0}, {"pt_power": -0.5},
    {"output_shape": "cube"},
])
def test_bad_parameters_raise(params):
    X = make_jets([[(10.0, 0.0, 0.0)]])
    with pytest.raises(ValueError):
        JetImager(**params).transform(X)


def test_empty_jets_give_zero_image_and_one_warning(rng):
    jets = random_ptetaphi(rng, 3).tolist()
    X = make_jets([jets[0], [], jets[1], [], jets[2]], width=30)
    with pytest.warns(EmptyJetWarning, match="2 of 5 jets have no constituents") as record:
        out = JetImager(gaussian_sigma=1.0, pt_power=0.3).transform(X)
    assert len(record) == 1
    assert np.all(out[[1, 3]] == 0)
    np.testing.assert_allclose(out[[0, 2, 4]].sum(axis=1), 1.0, rtol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        JetImager().transform(make_jets(jets))  # no warning without empty jets


# -- sklearn API ----------------------------------------------------------------------------


@pytest.mark.parametrize("check", [
    "check_estimator_cloneable", "check_estimator_repr", "check_no_attributes_set_in_init",
    "check_parameters_default_constructible", "check_get_params_invariance",
    "check_set_params", "check_do_not_raise_errors_in_init_or_set_params", "check_mixin_order",
    "check_valid_tag_types", "check_estimator_tags_renamed",
])
def test_sklearn_api_checks(check):
    fn = getattr(estimator_checks, check, None)
    if fn is None:
        pytest.skip(f"{check} not in this sklearn version")
    fn("JetImager", JetImager())


def test_stateless_clone_pickle_and_pipeline(rng):
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline

    X = make_jets(random_ptetaphi(rng, 20).tolist())
    est = JetImager(gaussian_sigma=1.0)
    tags = est.__sklearn_tags__()
    assert tags.requires_fit is False and tags.input_tags.three_d_array
    before = dict(est.__dict__)
    assert est.fit(X) is est and est.__dict__ == before  # learns nothing
    out = est.transform(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).transform(X), out)
    np.testing.assert_array_equal(clone(est).transform(X), out)
    assert clone(est).get_params()["gaussian_sigma"] == 1.0
    z = make_pipeline(JetImager(), PCA(3)).fit_transform(X)
    assert z.shape == (20, 3)


# -- generated jets (slow fixtures; skipped without pythia8mc) ------------------------------


def test_generated_jets_images(qcd_jets, top_jets):
    imager = JetImager()
    qcd = imager.transform(qcd_jets[:500]).reshape(-1, 40, 40)
    top = imager.transform(top_jets[:500]).reshape(-1, 40, 40)
    for img in (qcd, top):
        np.testing.assert_allclose(img.sum(axis=(1, 2)), 1.0, rtol=1e-4)
        mean = img.mean(axis=0)
        assert mean[20:, :20].sum() > max(mean[:20, :20].sum(), mean[20:, 20:].sum(),
                                          mean[:20, 20:].sum())
    # top jets spread their pT further from the hardest pixel than QCD jets
    assert top.max(axis=(1, 2)).mean() < qcd.max(axis=(1, 2)).mean()
