"""Tests of jetad.plotting (Agg backend, no display)."""

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from jetad.plotting import (  # noqa: E402
    latent_energy_map,
    plot_average_images,
    plot_gibbs_triangle,
    plot_latent_histograms,
    plot_mixture_components,
    plot_roc_curves,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _images(rng, n=30, side=40):
    x = rng.random((n, side * side))
    return x / x.sum(axis=1, keepdims=True)


def test_latent_energy_map_geometry_and_checks():
    from jetad.detectors import LangevinSampler, NAEDetector
    from jetad.plotting._latent_sphere import _rotation_to_x

    rng = np.random.default_rng(0)
    for d in (rng.normal(size=3), np.array([1.0, 0, 0]), np.array([-2.0, 0, 0])):
        rot = _rotation_to_x(d)
        np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(rot @ (d / np.linalg.norm(d)), [1.0, 0, 0], atol=1e-12)
    X = _images(rng, n=32, side=8).astype(np.float32)
    fast = dict(max_epochs=1, nae_iterations=1, random_state=0, device="cpu",
                sampler=LangevinSampler(n_z_steps=1, n_x_steps=1))
    det = NAEDetector(**fast).fit(X)
    emap = latent_energy_map(det, n_theta=4, n_phi=8, center=[0.0, 0.0, 1.0])
    assert emap.energy.shape == (4, 8) and np.isfinite(emap.energy).all()
    lat, lon = emap.project(np.array([[0.0, 0.0, 1.0]]))
    assert abs(lat[0]) < 1e-12 and abs(lon[0]) < 1e-12
    with pytest.raises(ValueError, match="n_phi must be a positive integer"):
        latent_energy_map(det, n_phi=0)
    with pytest.raises(ValueError, match="needs latent_dim=3, got 2"):
        latent_energy_map(NAEDetector(2, **fast).fit(X))


def test_import_does_not_load_matplotlib():
    code = "import sys, jetad.plotting; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_mixture_components_from_array_and_detector(rng, tmp_path):
    comps = rng.random((3, 40, 40))
    comps /= comps.sum(axis=(1, 2), keepdims=True)
    fig = plot_mixture_components(comps)
    assert isinstance(fig, Figure)
    assert len([ax for ax in fig.axes if ax.images]) == 3
    fig.savefig(tmp_path / "c.png")

    class _Fitted:
        def mixture_components(self):
            return comps[:2]

    fig = plot_mixture_components(_Fitted(), log=False, colorbar=False)
    assert len(fig.axes) == 2


def test_average_images_dict_and_labels(rng):
    fig = plot_average_images({"QCD": _images(rng), "top": _images(rng)})
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["QCD (n=30)", "top (n=30)"]
    X = _images(rng, 20)
    y = np.r_[np.zeros(5), np.ones(15)]
    fig = plot_average_images(X.reshape(20, 1, 40, 40), y, labels={0: "QCD", 1: "top"})
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["QCD (n=5)", "top (n=15)"]
    np.testing.assert_allclose(fig.axes[0].images[0].get_array().filled(0),
                               X[:5].mean(0).reshape(40, 40))
    with pytest.raises(ValueError, match="square"):
        plot_average_images(rng.random((4, 10)))


def test_latent_histograms(rng):
    z = rng.random((100, 2))
    y = rng.integers(0, 2, 100)
    ax = plot_latent_histograms(z, y, component=1, labels={0: "QCD", 1: "top"})
    assert isinstance(ax, Axes)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["QCD", "top"]
    assert len(ax.patches) == 2
    _, ax2 = plt.subplots()
    assert plot_latent_histograms(z[:, 0], ax=ax2) is ax2


def test_gibbs_triangle_projection(rng):
    w = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], float)
    ax = plot_gibbs_triangle(w, y=np.array([0, 0, 1, 1]))
    pts = np.vstack([c.get_offsets() for c in ax.collections])
    expected = np.array([[0, 0], [1, 0], [0.5, np.sqrt(3) / 2], [0.5, np.sqrt(3) / 6]])
    np.testing.assert_allclose(np.sort(pts, axis=0), np.sort(expected, axis=0), atol=1e-12)
    big = rng.dirichlet([1, 0.25, 0.1], 500)
    ax = plot_gibbs_triangle(big, max_points=100)
    assert len(ax.collections[0].get_offsets()) == 100
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        plot_gibbs_triangle(rng.random((5, 2)))


def test_roc_curves_log_rejection(rng):
    y = np.r_[np.zeros(500), np.ones(500)]
    good = y + rng.normal(0, 0.7, 1000)
    ax = plot_roc_curves({"good": (y, good), "inverted": (y, -good)})
    assert isinstance(ax, Axes)
    assert ax.get_yscale() == "log"
    lines = ax.get_lines()
    assert len(lines) == 3  # two curves + random line
    x, yv = lines[0].get_data()
    assert np.all(np.isfinite(yv)) and yv.max() <= 500
    assert "AUC" in ax.get_legend().get_texts()[0].get_text()
    with pytest.raises(ValueError, match="non-empty dict"):
        plot_roc_curves({})
