"""scikit-hep input: awkward arrays of vector's Momentum4D records in the transformers."""

import numpy as np
import pytest

ak = pytest.importorskip("awkward")
vector = pytest.importorskip("vector")
vector.register_awkward()

from jetad import JetImager, LundPlane  # noqa: E402
from jetad.jets import (  # noqa: E402
    as_padded,
    flat_ptetaphi,
    jet_mass,
    ptetaphi_from_p4s,
)


def _jagged(values, counts):
    """Per-jet lists of the first ``counts[i]`` entries of row ``i``."""
    return ak.Array([row[:n].tolist() for row, n in zip(values, counts, strict=True)])


@pytest.fixture(scope="module")
def jets():
    """Padded (E, px, py, pz) of 40 toy jets with massive constituents, and their counts."""
    rng = np.random.default_rng(3)
    n_jets, width = 40, 30
    counts = rng.integers(1, width + 1, n_jets)
    pt = rng.exponential(20.0, (n_jets, width)) + 0.5
    eta = rng.normal(0.3, 0.4, (n_jets, width))
    phi = rng.normal(1.0, 0.4, (n_jets, width))
    mass = rng.uniform(0.0, 0.2, (n_jets, width))
    p4 = np.zeros((n_jets, width, 4))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(px ** 2 + py ** 2 + pz ** 2 + mass ** 2)
    p4[...] = np.stack([energy, px, py, pz], axis=-1)
    for i, n in enumerate(counts):
        p4[i, n:] = 0.0
    return p4[:, :counts.max()], counts


@pytest.fixture(scope="module")
def real_jets(qcd_jets):
    X = np.asarray(qcd_jets[:30], dtype=np.float64)
    counts = (X[..., 0] > 0).sum(axis=1)
    return X[:, :counts.max()], counts


def _records(p4, counts, names, with_name="Momentum4D"):
    """vector records of the padded four-momenta in the coordinates ``names``."""
    energy, px, py, pz = np.moveaxis(p4, -1, 0)
    pt, eta, phi = np.moveaxis(ptetaphi_from_p4s(p4), -1, 0)
    mass = np.sqrt(np.clip(energy ** 2 - px ** 2 - py ** 2 - pz ** 2, 0.0, None))
    theta = 2.0 * np.arctan(np.exp(-eta))
    coordinate = {"px": px, "x": px, "py": py, "y": py, "pz": pz, "z": pz,
                  "E": energy, "e": energy, "energy": energy, "t": energy,
                  "pt": pt, "rho": pt, "eta": eta, "phi": phi, "theta": theta,
                  "mass": mass, "m": mass, "M": mass, "tau": mass}
    return ak.zip({name: _jagged(coordinate[name], counts) for name in names},
                  with_name=with_name)


CARTESIAN = [("px", "py", "pz", "E"), ("x", "y", "z", "t"), ("px", "py", "pz", "energy"),
             ("x", "y", "z", "e")]
CYLINDRICAL = [("pt", "eta", "phi", "mass"), ("rho", "eta", "phi", "tau"),
               ("pt", "eta", "phi", "m"), ("rho", "eta", "phi", "M"), ("pt", "eta", "phi", "E")]
CONVERTED = [("px", "py", "pz", "mass"), ("rho", "phi", "theta", "tau"), ("x", "y", "eta", "t")]


def test_vector_arrays_are_awkward_subclasses(jets):
    records = _records(*jets, CARTESIAN[0])
    assert type(records).__module__.startswith("vector")
    assert isinstance(records, ak.Array)


@pytest.mark.parametrize("names", CARTESIAN, ids="-".join)
def test_cartesian_records_image_exactly(jets, names):
    p4, counts = jets
    expected = JetImager().transform(p4)
    np.testing.assert_array_equal(JetImager().transform(_records(p4, counts, names)), expected)


@pytest.mark.parametrize("names", CYLINDRICAL + CONVERTED, ids="-".join)
def test_every_vector_coordinate_naming_images_alike(jets, names):
    p4, counts = jets
    expected = JetImager().transform(p4)
    got = JetImager().transform(_records(p4, counts, names))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_real_jets_from_vector_records_equal_padded_images(real_jets):
    """The padded (E, px, py, pz) generated jets and the same jets as vector records."""
    p4, counts = real_jets
    imager = JetImager()
    expected = imager.transform(p4)
    np.testing.assert_array_equal(imager.transform(_records(p4, counts, CARTESIAN[0])), expected)
    cylindrical = imager.transform(_records(p4, counts, CYLINDRICAL[0]))
    np.testing.assert_allclose(cylindrical, expected, rtol=1e-6, atol=1e-9)
    # and the imager's other output layout
    image = JetImager(output_shape="image").transform(_records(p4, counts, CARTESIAN[1]))
    np.testing.assert_array_equal(image.reshape(len(p4), -1), expected)


def test_momentum3d_records_are_massless(jets):
    p4, counts = jets
    records = _records(p4, counts, ("px", "py", "pz"), with_name="Momentum3D")
    mask, pt, eta, phi = flat_ptetaphi(records)
    ref_mask, ref_pt, ref_eta, ref_phi = flat_ptetaphi(p4)
    np.testing.assert_array_equal(mask, ref_mask)
    np.testing.assert_allclose(pt, ref_pt, rtol=1e-12)
    np.testing.assert_allclose(eta, ref_eta, rtol=1e-9, atol=1e-12)


def test_columns_inferred_from_record_fields(jets):
    p4, counts = jets
    records = _records(p4, counts, ("rho", "eta", "phi", "tau"))
    padded = as_padded(records)  # default columns (E, px, py, pz) are not fields
    assert padded.shape == (len(p4), int(counts.max()), 4)
    np.testing.assert_allclose(padded[..., 0][p4[..., 0] > 0],
                               ptetaphi_from_p4s(p4)[..., 0][p4[..., 0] > 0], rtol=1e-12)
    np.testing.assert_allclose(jet_mass(records), jet_mass(p4), rtol=1e-6)


def test_explicit_columns_win_when_they_are_fields(jets):
    p4, counts = jets
    records = _records(p4, counts, ("pt", "eta", "phi", "E"))
    # the four-momenta are incomplete, so (pt, eta, phi) are read as they are
    mask, pt, *_ = flat_ptetaphi(records, columns=("pt", "eta", "phi"))
    np.testing.assert_allclose(pt, ptetaphi_from_p4s(p4)[..., 0][mask], rtol=1e-12)


def test_plain_records_keep_y_as_rapidity(jets):
    """Without vector's behaviour and an ``x`` field, ``y`` is jetad's rapidity."""
    p4, counts = jets
    energy, px, py, pz = np.moveaxis(p4, -1, 0)
    pt, eta, phi = np.moveaxis(ptetaphi_from_p4s(p4), -1, 0)
    plain = ak.zip({"pt": _jagged(pt, counts), "y": _jagged(eta, counts),
                    "phi": _jagged(phi, counts)})
    mask, _, rapidity, _ = flat_ptetaphi(plain, columns=("pt", "eta", "phi"))
    np.testing.assert_allclose(rapidity, eta[mask], rtol=1e-12)


def test_lund_plane_takes_vector_records(jets):
    p4, counts = jets
    expected = LundPlane().transform(p4)
    got = LundPlane().transform(_records(p4, counts, CARTESIAN[0]))
    np.testing.assert_array_equal(got, expected)


def test_records_without_momenta_are_refused(jets):
    p4, counts = jets
    plain = ak.zip({"a": _jagged(p4[..., 0], counts), "b": _jagged(p4[..., 1], counts)})
    with pytest.raises(ValueError, match="fields"):
        JetImager().transform(plain)


def test_nan_in_vector_records_is_refused(jets):
    p4, counts = jets
    bad = p4.copy()
    bad[0, 0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        JetImager().transform(_records(bad, counts, CARTESIAN[0]))
