"""Tests of jetad.jets: coordinate conversions, jet masses, input formats and validation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jetad.jets import (
    as_padded,
    as_ptetaphi,
    flat_ptetaphi,
    jet_four_momenta,
    jet_mass,
    p4s_from_ptetaphi,
    ptetaphi_from_p4s,
    wrap_phi,
)


@settings(max_examples=25, deadline=None)
@given(pt=st.floats(1e-3, 1e4), eta=st.floats(-4, 4), phi=st.floats(-np.pi + 1e-9, np.pi),
       mass=st.floats(0, 50))
def test_ptetaphi_p4s_round_trip(pt, eta, phi, mass):
    p4 = p4s_from_ptetaphi([pt, eta, phi], mass)
    assert p4[0] ** 2 - np.sum(p4[1:] ** 2) == pytest.approx(mass**2, abs=1e-6 * p4[0] ** 2 + 1e-9)
    back = ptetaphi_from_p4s(p4)
    np.testing.assert_allclose(back, [pt, eta, phi], rtol=1e-9, atol=1e-9)


def test_round_trip_batch_and_padding(rng):
    ptetaphi = np.stack([rng.exponential(10, (5, 7)), rng.normal(0, 1, (5, 7)),
                         rng.uniform(-np.pi, np.pi, (5, 7))], axis=-1)
    p4 = p4s_from_ptetaphi(ptetaphi)
    assert p4.shape == (5, 7, 4)
    np.testing.assert_allclose(ptetaphi_from_p4s(p4), ptetaphi, atol=1e-10)
    padded = np.zeros((2, 3, 4))
    padded[0, 0] = p4[0, 0]
    out = ptetaphi_from_p4s(padded)
    np.testing.assert_array_equal(out[0, 1:], 0.0)  # padding: pt = eta = phi = 0
    np.testing.assert_array_equal(out[1], 0.0)
    # negative pz gives negative eta (the public code got this wrong)
    assert ptetaphi_from_p4s([10.0, 3.0, 4.0, -5.0])[1] < 0


def test_jet_mass_analytic_two_body():
    pt1, pt2, deta, dphi = 300.0, 100.0, 0.3, 0.4
    expected = np.sqrt(2 * pt1 * pt2 * (np.cosh(deta) - np.cos(dphi)))
    ptetaphi = np.array([[[pt1, 0.5, 1.0], [pt2, 0.5 + deta, 1.0 + dphi], [0.0, 0.0, 0.0]]])
    assert jet_mass(ptetaphi, ("pt", "eta", "phi"))[0] == pytest.approx(expected, rel=1e-10)
    p4 = p4s_from_ptetaphi(ptetaphi)
    p4[0, 2] = 0.0
    assert jet_mass(p4)[0] == pytest.approx(expected, rel=1e-10)
    # a massive pair at rest: m = 2 * sqrt(m0^2 + p^2)
    pair = np.array([[[np.hypot(3.0, 4.0), 4.0, 0.0, 0.0], [np.hypot(3.0, 4.0), -4.0, 0.0, 0.0]]])
    assert jet_mass(pair)[0] == pytest.approx(10.0)
    # (pt, eta, phi, m) columns use the masses
    with_mass = np.array([[[4.0, 0.0, 0.0, 3.0], [4.0, 0.0, np.pi, 3.0]]])
    assert jet_mass(with_mass, ("pt", "eta", "phi", "m"))[0] == pytest.approx(10.0)
    np.testing.assert_allclose(jet_four_momenta(pair)[0], [10.0, 0.0, 0.0, 0.0], atol=1e-12)


def test_formats_agree(rng):
    ak = pytest.importorskip("awkward")
    jets = [p4s_from_ptetaphi(np.stack([rng.exponential(10, n) + 0.1, rng.normal(0, 0.3, n),
                                        rng.normal(0, 0.3, n)], axis=-1)) for n in (3, 1, 5)]
    padded = as_padded(jets)
    assert padded.shape == (3, 5, 4) and padded.dtype == np.float64
    np.testing.assert_array_equal(padded[1, 1:], 0.0)
    np.testing.assert_array_equal(as_padded(np.asarray(jets, dtype=object)), padded)
    np.testing.assert_array_equal(as_padded(ak.Array([j.tolist() for j in jets])), padded)
    rec = ak.zip({c: ak.Array([j[:, i].tolist() for j in jets])
                  for i, c in enumerate(("E", "px", "py", "pz"))})
    np.testing.assert_array_equal(as_padded(rec), padded)
    # other column orders and names
    reordered = padded[..., [1, 2, 3, 0]]
    np.testing.assert_array_equal(as_padded(reordered, ("px", "py", "pz", "E")), reordered)
    pt, eta, phi, mask = as_ptetaphi(reordered, ("px", "py", "pz", "E"))
    assert mask.sum(axis=1).tolist() == [3, 1, 5]
    ptetaphi = np.stack([pt, eta, phi], axis=-1)
    pt2, eta2, phi2, mask2 = as_ptetaphi(ptetaphi, ("pt", "y", "phi"))
    np.testing.assert_array_equal(mask2, mask)
    np.testing.assert_allclose(np.stack([pt2, eta2, phi2], -1), ptetaphi)
    # extra columns are ignored
    with_pid = np.concatenate([ptetaphi, np.ones(ptetaphi.shape[:2] + (1,))], axis=-1)
    np.testing.assert_allclose(as_ptetaphi(with_pid, ("pt", "eta", "phi", "pid"))[0], pt)
    # float32 and lists of lists
    np.testing.assert_allclose(as_padded(padded.astype(np.float32).tolist()), padded, rtol=1e-6)


@pytest.mark.parametrize("X, columns, exc, match", [
    (np.full((2, 3, 4), np.nan), ("E", "px", "py", "pz"), ValueError, "NaN"),
    (np.full((2, 3, 4), np.inf), ("E", "px", "py", "pz"), ValueError, "infinity"),
    (np.array([[[-1.0, 0, 0, 0]]]), ("E", "px", "py", "pz"), ValueError, "negative energy"),
    (np.array([[[-1.0, 0, 0]]]), ("pt", "eta", "phi"), ValueError, "negative transverse"),
    (np.array([[[1.0, 0, 0, -1]]]), ("pt", "eta", "phi", "m"), ValueError, "negative mass"),
    (np.zeros((2, 3, 3)), ("E", "px", "py", "pz"), ValueError, "3 columns, expected 4"),
    (np.zeros(4), ("E", "px", "py", "pz"), ValueError, "3-D"),
    (np.zeros((1, 2, 3, 4)), ("E", "px", "py", "pz"), ValueError, "3-D"),
    (np.zeros((0, 3, 4)), ("E", "px", "py", "pz"), ValueError, "0 jets"),
    ([], ("E", "px", "py", "pz"), ValueError, "0 jets"),
    ([np.zeros((2, 4)), np.zeros(4)], ("E", "px", "py", "pz"), ValueError, "jet 1"),
    ([np.zeros((2, 3))], ("E", "px", "py", "pz"), ValueError, "columns"),
    (np.zeros((1, 2, 4)), ("E", "px", "py", "qz"), ValueError, "Unknown constituent columns"),
    (np.zeros((1, 2, 4)), ("E", "px", "py", "py"), ValueError, "duplicates"),
    (np.zeros((1, 2, 3)), ("pt", "eta", "m"), ValueError, "must contain"),
    (np.zeros((1, 2, 4)), "E px py pz", TypeError, "sequence of column names"),
    (None, ("E", "px", "py", "pz"), TypeError, "NoneType"),
    (3.0, ("E", "px", "py", "pz"), TypeError, "float"),
    ("jets", ("E", "px", "py", "pz"), TypeError, "str"),
])
def test_bad_inputs(X, columns, exc, match):
    with pytest.raises(exc, match=match):
        as_padded(X, columns)


def test_awkward_bad_inputs():
    ak = pytest.importorskip("awkward")
    with pytest.raises(ValueError, match="missing columns"):
        as_padded(ak.zip({"pt": ak.Array([[1.0]]), "eta": ak.Array([[0.0]])}), ("pt", "eta", "phi"))
    with pytest.raises(ValueError, match="0 jets"):
        as_padded(ak.Array(np.zeros((0, 2, 4))))
    with pytest.raises(ValueError, match="NaN"):
        as_padded(ak.Array([[[np.nan, 0.0, 0.0, 0.0]]]))


# -- wrap_phi and the flat conversion ---------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(phi=st.one_of(
    st.floats(-1e4, 1e4),
    st.sampled_from([-np.pi, np.pi, np.nextafter(-np.pi, -4.0), np.nextafter(np.pi, 4.0),
                     3 * np.pi, -3 * np.pi, 0.0, -0.0]),
))
def test_wrap_phi_range_and_congruence(phi):
    wrapped = wrap_phi(phi)
    assert isinstance(wrapped, np.floating)
    assert -np.pi <= wrapped < np.pi
    turns = (phi - wrapped) / (2 * np.pi)
    assert turns == pytest.approx(round(turns), abs=1e-9 * max(1.0, abs(phi)))


def test_wrap_phi_arrays():
    phi = np.array([[0.5, 4.0], [-4.0, np.pi]])
    out = wrap_phi(phi)
    assert out.shape == phi.shape and out.dtype == np.float64
    np.testing.assert_allclose(out, [[0.5, 4.0 - 2 * np.pi], [2 * np.pi - 4.0, -np.pi]])
    np.testing.assert_array_equal(wrap_phi(np.float32(1.0)), 1.0)


def _layouts(rng, n_jets=6, width=9):
    """The same jets in the three column layouts (with padding holes and an empty jet)."""
    ptetaphi = np.stack([rng.exponential(20, (n_jets, width)) + 0.1,
                         rng.normal(0, 1.5, (n_jets, width)),
                         rng.uniform(-np.pi, np.pi, (n_jets, width))], axis=-1)
    mass = rng.uniform(0, 2, (n_jets, width))
    real = rng.random((n_jets, width)) < 0.7
    real[0] = False  # an empty jet
    ptetaphi[~real] = 0.0
    mass[~real] = 0.0
    p4 = p4s_from_ptetaphi(ptetaphi, mass)
    p4[~real] = 0.0
    return real, mass, {
        ("E", "px", "py", "pz"): p4,
        ("pz", "E", "py", "px"): p4[..., [3, 0, 2, 1]],
        ("pt", "eta", "phi"): ptetaphi,
        ("pt", "eta", "phi", "m"): np.concatenate([ptetaphi, mass[..., None]], axis=-1),
    }


def test_flat_ptetaphi_layouts_agree(rng):
    real, mass, layouts = _layouts(rng)
    p4_ref = layouts[("E", "px", "py", "pz")][real]
    for columns, X in layouts.items():
        mask, pt, eta, phi, m, p4 = flat_ptetaphi(X, columns, return_mass=True,
                                                  return_p4=True)
        np.testing.assert_array_equal(mask, real)
        assert pt.shape == eta.shape == phi.shape == m.shape == (real.sum(),)
        ref = layouts[("pt", "eta", "phi")][real]
        np.testing.assert_allclose(np.stack([pt, eta, phi], -1), ref, rtol=1e-9, atol=1e-9)
        if columns[-1] == "phi":  # massless layout: m = 0 and massless four-momenta
            np.testing.assert_array_equal(m, 0.0)
            np.testing.assert_allclose(p4[:, 1:], p4_ref[:, 1:], rtol=1e-9, atol=1e-9)
        else:
            np.testing.assert_allclose(m, mass[real], rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(p4, p4_ref, rtol=1e-9, atol=1e-9)
        # the padded views are the flat arrays scattered back
        padded = as_ptetaphi(X, columns)
        for out, flat in zip(padded[:3], (pt, eta, phi), strict=True):
            np.testing.assert_array_equal(out[real], flat)
            np.testing.assert_array_equal(out[~real], 0.0)
    assert len(flat_ptetaphi(layouts[("pt", "eta", "phi")], ("pt", "eta", "phi"))) == 4


def test_flat_ptetaphi_prefers_four_momenta_and_validates(rng):
    _, _, layouts = _layouts(rng)
    p4 = layouts[("E", "px", "py", "pz")]
    both = np.concatenate([p4, np.zeros(p4.shape[:2] + (3,))], axis=-1)  # pt, eta, phi = 0
    mask, pt, *_ = flat_ptetaphi(both, ("E", "px", "py", "pz", "pt", "eta", "phi"))
    np.testing.assert_allclose(pt, np.hypot(p4[..., 1], p4[..., 2])[mask])
    with pytest.raises(ValueError, match="negative"):
        flat_ptetaphi(-np.abs(layouts[("pt", "eta", "phi")]) - 1, ("pt", "eta", "phi"))
    with pytest.raises(ValueError, match="must contain"):
        flat_ptetaphi(p4, ("E", "px", "py", "m"))


def test_jets_docstring_examples():
    import doctest

    import jetad.jets

    result = doctest.testmod(jetad.jets, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 4
