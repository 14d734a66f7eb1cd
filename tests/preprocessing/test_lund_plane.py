"""Tests of jetad.preprocessing.LundPlane: declustering physics, images, inputs, sklearn API."""

import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.utils import estimator_checks

pytest.importorskip("fastjet")
ak = pytest.importorskip("awkward")

from jetad import LundPlane  # noqa: E402
from jetad.jets import p4s_from_ptetaphi  # noqa: E402
from jetad.preprocessing import EmptyJetWarning  # noqa: E402

PTETAPHI = ("pt", "eta", "phi")


def make_jets(jets, width=None):
    """Zero-padded (n, width, 4) E, px, py, pz array from lists of (pt, eta, phi)."""
    width = width or max(max(len(j) for j in jets), 1)
    X = np.zeros((len(jets), width, 4))
    for i, jet in enumerate(jets):
        if len(jet):
            X[i, : len(jet)] = p4s_from_ptetaphi(np.asarray(jet, dtype=float))
    return X


def random_jets(rng, n_jets=30, n_const=25, spread=0.2):
    pt = np.sort(rng.exponential(30.0, (n_jets, n_const)), axis=1)[:, ::-1] + 0.5
    eta = rng.normal(0, spread, (n_jets, n_const)) + rng.uniform(-1.5, 1.5, (n_jets, 1))
    phi = rng.normal(0, spread, (n_jets, n_const)) + rng.uniform(-3, 3, (n_jets, 1))
    return np.stack([pt, eta, (phi + np.pi) % (2 * np.pi) - np.pi], axis=-1)


# -- physics ---------------------------------------------------------------------------


@pytest.mark.parametrize("pt1, pt2, d_eta, d_phi", [
    (400.0, 50.0, 0.1, 0.0), (300.0, 200.0, 0.0, 0.3), (80.0, 120.0, 0.05, -0.04),
])
def test_two_particle_jet_gives_one_emission_at_analytic_point(pt1, pt2, d_eta, d_phi):
    jet = [(pt1, 0.3, 3.1), (pt2, 0.3 + d_eta, 3.1 + d_phi)]  # across phi = pi
    X = make_jets([jet])
    dr = np.hypot(d_eta, d_phi)
    kt = min(pt1, pt2) * dr
    d = LundPlane().declusterings(X)
    assert ak.num(d).tolist() == [1]
    s = d[0, 0]
    assert s.delta == pytest.approx(dr, rel=1e-6)
    assert s.kt == pytest.approx(kt, rel=1e-6)
    assert s.z == pytest.approx(min(pt1, pt2) / (pt1 + pt2), rel=1e-9)
    assert s.kappa == pytest.approx(s.z * dr, rel=1e-6)
    assert s.ln_inv_delta == pytest.approx(np.log(1 / dr), rel=1e-6)
    assert s.ln_kt == pytest.approx(np.log(kt), rel=1e-6)
    assert (s.plane, s.depth) == (0, 0)
    assert s.mass_drop == pytest.approx(0.0, abs=1e-6)  # massless daughters
    m = np.sqrt(2 * pt1 * pt2 * (np.cosh(d_eta) - np.cos(d_phi)))
    assert s.m == pytest.approx(m, rel=1e-5)
    img = LundPlane().transform(X).reshape(40, 40)
    assert img.sum() == 1.0
    col = int(np.floor(np.log(1 / dr) / 6 * 40))
    row = int(np.floor((5 - np.log(kt)) / 7 * 40))
    assert img[row, col] == 1.0


def _four_prong():
    # A hard, D close to A, B at 0.5 from A, C close to B:
    # C/A tree: ((A D) (B C)); primary: [AD|BC], [A|D]; secondary: [B|C]
    return [(100.0, 0.0, 0.0), (40.0, 0.5, 0.0), (10.0, 0.5, 0.05), (5.0, 0.0, 0.1)]


def test_plane_assignment_of_hand_made_tree():
    d = LundPlane().declusterings(make_jets([_four_prong()]))[0]
    assert len(d) == 3
    np.testing.assert_allclose(d.delta, [0.5, 0.1, 0.05], rtol=0.05)
    assert d.plane.tolist() == [0, 0, 1]
    assert d.depth.tolist() == [0, 1, 1]
    np.testing.assert_allclose(d.kt[1], 5.0 * 0.1, rtol=1e-3)
    np.testing.assert_allclose(d.kt[2], 10.0 * 0.05, rtol=1e-3)
    assert d.mass_drop[0] < 1 and d.mass_drop[0] > 0
    X = make_jets([_four_prong()])
    assert LundPlane(planes="primary").transform(X).sum() == 2
    assert LundPlane(planes="all").transform(X).sum() == 3
    two = LundPlane(planes=2, output_shape="image").transform(X)
    assert two.shape == (1, 2, 40, 40)
    assert two[0, 0].sum() == 2 and two[0, 1].sum() == 1


def test_primary_plane_matches_fastjet_lund_generator(rng):
    from jetad.utils._fastjet import import_fastjet

    fastjet = import_fastjet()
    jets = random_jets(rng, 40)
    X = make_jets(jets.tolist())
    d = LundPlane().declusterings(X)
    primary = d[d.plane == 0]
    events = ak.unflatten(ak.zip({"px": X[..., 1].ravel(), "py": X[..., 2].ravel(),
                                  "pz": X[..., 3].ravel(), "E": X[..., 0].ravel()},
                                 with_name="Momentum4D"), np.full(len(X), X.shape[1]))
    cs = fastjet.ClusterSequence(events, fastjet.JetDefinition(fastjet.cambridge_algorithm, 10.0))
    ref = cs.exclusive_jets_lund_declusterings(1)[:, 0]
    assert ak.num(ref).tolist() == ak.num(primary).tolist()
    np.testing.assert_allclose(ak.flatten(primary.delta), ak.flatten(ref.Delta), rtol=1e-3)
    np.testing.assert_allclose(ak.flatten(primary.kt), ak.flatten(ref.kt), rtol=1e-3)
    # every jet with n constituents has n - 1 splittings, primary depths are 0, 1, 2, ...
    assert ak.num(d).tolist() == [len(j) - 1 for j in jets]
    for p in primary.depth.tolist():
        assert p == list(range(len(p)))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shift_eta=st.floats(-1.5, 1.5),
       shift_phi=st.floats(-np.pi, np.pi), reflect=st.booleans())
def test_declusterings_invariant_under_boosts_rotations_and_reflections(seed, shift_eta,
                                                                         shift_phi, reflect):
    rng = np.random.default_rng(seed)
    jet = random_jets(rng, 1, int(rng.integers(2, 30)))[0]
    moved = jet.copy()
    moved[:, 1] += shift_eta  # longitudinal boost (massless: eta = y)
    moved[:, 2] = (moved[:, 2] + shift_phi + np.pi) % (2 * np.pi) - np.pi  # azimuthal rotation
    if reflect:
        moved[:, 2] = -moved[:, 2]
    lp = LundPlane()
    a = lp.declusterings(make_jets([jet]))[0]
    b = lp.declusterings(make_jets([moved]))[0]
    for f in ("delta", "kt", "z", "plane", "depth"):
        np.testing.assert_allclose(ak.to_numpy(b[f]), ak.to_numpy(a[f]), rtol=1e-6, atol=1e-9)


# -- images ------------------------------------------------------------------------------


def test_output_conventions_and_feature_names(rng):
    X = make_jets(random_jets(rng, 6).tolist())
    flat = LundPlane().fit_transform(X)
    assert flat.shape == (6, 1600) and flat.dtype == np.float32
    assert np.all(flat == np.round(flat))  # counts
    img = LundPlane(output_shape="image").transform(X)
    assert img.shape == (6, 1, 40, 40)
    np.testing.assert_array_equal(img.reshape(6, -1), flat)
    names = LundPlane().get_feature_names_out()
    assert names[0] == "lund_0_0" and names[-1] == "lund_39_39" and len(names) == 1600
    names3 = LundPlane(planes=3, n_bins=(10, 20)).get_feature_names_out()
    assert len(names3) == 600 and names3[200] == "lund1_0_0"
    assert LundPlane(planes=3, n_bins=(10, 20)).transform(X).shape == (6, 600)


def test_all_planes_is_sum_of_plane_channels(rng):
    X = make_jets(random_jets(rng, 10, 40).tolist())
    lp_all = LundPlane(planes="all", ln_kt_range=(-10.0, 10.0), ln_inv_delta_range=(-2.0, 12.0))
    many = LundPlane(planes=40, ln_kt_range=(-10.0, 10.0), ln_inv_delta_range=(-2.0, 12.0),
                     output_shape="image").transform(X)
    np.testing.assert_array_equal(lp_all.transform(X), many.sum(axis=1).reshape(10, -1))
    np.testing.assert_array_equal(many[:, 0].reshape(10, -1),
                                  lp_all.set_params(planes="primary").transform(X))
    assert np.all(many.sum(axis=(1, 2, 3)) == 39)  # n - 1 splittings, all inside the ranges


def test_normalize_weight_and_ranges(rng):
    X = make_jets(random_jets(rng, 10).tolist())
    counts = LundPlane().transform(X)
    normed = LundPlane(normalize=True).transform(X)
    nz = counts.sum(axis=1) > 0
    np.testing.assert_allclose(normed[nz].sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(normed[nz], counts[nz] / counts[nz].sum(axis=1, keepdims=True),
                               rtol=1e-6)
    d = LundPlane().declusterings(X)
    p = d[(d.plane == 0) & (d.ln_inv_delta >= 0) & (d.ln_inv_delta < 6) & (d.ln_kt >= -2)
          & (d.ln_kt < 5)]
    np.testing.assert_allclose(LundPlane(weight="kt").transform(X).sum(axis=1),
                               ak.to_numpy(ak.sum(p.kt, axis=1)), rtol=1e-5)
    np.testing.assert_allclose(counts.sum(axis=1), ak.to_numpy(ak.num(p)))


# -- inputs ---------------------------------------------------------------------------------


def test_input_formats_give_identical_images(rng):
    jets = [random_jets(rng, 1, n)[0] for n in (5, 12, 30, 2)]
    X = make_jets([j.tolist() for j in jets], width=40)
    ref = LundPlane(planes=2).transform(X)
    ptetaphi = np.zeros((4, 40, 3))
    for i, j in enumerate(jets):
        ptetaphi[i, : len(j)] = j
    np.testing.assert_array_equal(LundPlane(planes=2, columns=PTETAPHI).transform(ptetaphi), ref)
    ragged = [p4s_from_ptetaphi(j) for j in jets]
    np.testing.assert_array_equal(LundPlane(planes=2).transform(ragged), ref)
    np.testing.assert_array_equal(LundPlane(planes=2).transform(ak.Array([r.tolist()
                                                                          for r in ragged])), ref)
    np.testing.assert_array_equal(LundPlane(planes=2).transform(X.astype(np.float32)), ref)


@pytest.mark.parametrize(
    "make_bad, match",
    [
        (lambda X: np.where(np.arange(4) == 1, np.nan, X), "NaN"),
        (lambda X: np.where(np.arange(4) == 3, -np.inf, X), "NaN or infinity"),
        (lambda X: X * np.array([-1.0, 1, 1, 1]), "negative energy"),
        (lambda X: X[..., :2], "columns"),
        (lambda X: X[0, 0], "3-D"),
        (lambda X: X[None], "3-D"),
        (lambda X: X[:0], "0 jets"),
    ],
    ids=["nan", "inf", "negative-E", "wrong-columns", "1-D", "4-D", "zero-jets"],
)
def test_bad_input_raises(rng, make_bad, match):
    X = make_jets(random_jets(rng, 3).tolist())
    with pytest.raises(ValueError, match=match):
        LundPlane().transform(make_bad(X))
    with pytest.raises(ValueError, match=match):
        LundPlane().declusterings(make_bad(X))


@pytest.mark.parametrize("params", [
    {"planes": "secondary"}, {"planes": 0}, {"n_bins": -3}, {"ln_kt_range": (5.0, -2.0)},
    {"ln_inv_delta_range": (0.0,)}, {"weight": "mass"}, {"normalize": "yes"},
    {"output_shape": "3d"}, {"columns": ("pt", "phi")},
])
def test_bad_parameters_raise(params):
    X = make_jets([_four_prong()])
    with pytest.raises(ValueError):
        LundPlane(**params).transform(X)


def test_empty_and_single_constituent_jets():
    X = make_jets([_four_prong(), [], [(50.0, 0.0, 0.0)], [], _four_prong()], width=6)
    with pytest.warns(EmptyJetWarning, match="2 of 5 jets have no constituents") as record:
        out = LundPlane(normalize=True).transform(X)
    assert len(record) == 1
    assert np.all(out[[1, 2, 3]] == 0)
    np.testing.assert_allclose(out[[0, 4]].sum(axis=1), 1.0)
    d = LundPlane().declusterings(X)
    assert ak.num(d).tolist() == [3, 0, 0, 0, 3]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LundPlane().transform(make_jets([[(50.0, 0.0, 0.0)], _four_prong()]))


def test_chunked_transform_matches_single_batch(rng, monkeypatch):
    from jetad.preprocessing import _base

    X = make_jets(random_jets(rng, 23).tolist())
    ref = LundPlane(planes=3).transform(X)
    ref_d = LundPlane().declusterings(X)
    monkeypatch.setattr(_base, "_CHUNK", 5)
    np.testing.assert_array_equal(LundPlane(planes=3).transform(X), ref)
    assert LundPlane().declusterings(X).tolist() == ref_d.tolist()


def test_fastjet_banner_is_silenced():
    code = ("import numpy as np; from jetad import LundPlane; "
            "X = np.array([[[10., 10., 0., 0.], [5., 4.9, .5, 0.]]]); "
            "print(LundPlane().transform(X).sum())")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    assert out.stdout.strip() == "1.0", out.stdout
    assert "FastJet" not in out.stderr


# -- sklearn API ------------------------------------------------------------------------------


@pytest.mark.parametrize("check", [
    "check_estimator_cloneable", "check_estimator_repr", "check_no_attributes_set_in_init",
    "check_parameters_default_constructible", "check_get_params_invariance",
    "check_set_params", "check_do_not_raise_errors_in_init_or_set_params", "check_mixin_order",
    "check_valid_tag_types",
])
def test_sklearn_api_checks(check):
    fn = getattr(estimator_checks, check, None)
    if fn is None:
        pytest.skip(f"{check} not in this sklearn version")
    fn("LundPlane", LundPlane())


def test_stateless_clone_and_pickle(rng):
    X = make_jets(random_jets(rng, 8).tolist())
    est = LundPlane(planes=2, weight="z")
    assert est.__sklearn_tags__().requires_fit is False
    before = dict(est.__dict__)
    assert est.fit(X) is est and est.__dict__ == before
    out = est.transform(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).transform(X), out)
    np.testing.assert_array_equal(clone(est).transform(X), out)


# -- generated jets ------------------------------------------------------------------------------


def test_generated_jets_primary_planes(qcd_jets, top_jets):
    lp = LundPlane(output_shape="image")
    qcd = lp.transform(qcd_jets[:500])[:, 0]
    top = lp.transform(top_jets[:500])[:, 0]
    # tops have more hard, wide-angle primary splittings (W and b prongs)
    wide_hard = (slice(0, 15), slice(0, 15))  # ln kT > 2.4, ln 1/dR < 2.25
    assert top[:, wide_hard[0], wide_hard[1]].sum(axis=(1, 2)).mean() > \
        1.3 * qcd[:, wide_hard[0], wide_hard[1]].sum(axis=(1, 2)).mean()
    assert 5 < qcd.sum(axis=(1, 2)).mean() < 40
