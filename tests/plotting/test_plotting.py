"""Tests of jetad.plotting (Agg backend, no display)."""

import subprocess
import sys
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from jetad.metrics import (  # noqa: E402
    clopper_pearson_interval,
    max_significance_improvement,
    roc_curve_anomaly,
    significance_improvement,
)
from jetad.plotting import (  # noqa: E402
    latent_energy_map,
    plot_average_images,
    plot_gibbs_triangle,
    plot_latent_histograms,
    plot_mixture_components,
    plot_roc_curves,
    plot_sic,
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


def _scored(rng, n=400, shift=1.0):
    y = np.r_[np.zeros(n), np.ones(n)]
    return y, shift * y + rng.normal(0, 1, 2 * n)


def _band_values(collection):
    return np.unique(collection.get_paths()[0].vertices[:, 1])


def _assert_contains(values, expected):
    rel = np.min(np.abs(values[:, None] - expected[None, :]), axis=0) / np.abs(expected)
    assert np.all(rel < 1e-9), rel.max()


def test_roc_band_is_clopper_pearson_on_rejection(rng):
    y, s = _scored(rng)
    ax = plot_roc_curves({"a": (y, s)}, show_random=False)
    (band,) = ax.collections
    eff_s, eff_b, _ = roc_curve_anomaly(y, s)
    k = np.rint(eff_b * 400)
    keep = k >= 1
    low, high = clopper_pearson_interval(k[keep], 400)
    _assert_contains(_band_values(band), 1 / low)
    _assert_contains(_band_values(band), 1 / high)
    _, line_y = ax.get_lines()[0].get_data()
    np.testing.assert_allclose(line_y, 1 / eff_b[keep])
    assert np.all((1 / high <= line_y) & (line_y <= 1 / low))
    assert band.get_facecolor()[0][:3] == pytest.approx(
        matplotlib.colors.to_rgb(ax.get_lines()[0].get_color()))
    wide = plot_roc_curves({"a": (y, s)}, confidence_level=0.95).collections[0]
    assert _band_values(wide).max() > _band_values(band).max()
    assert not plot_roc_curves({"a": (y, s)}, band=False).collections
    with pytest.raises(ValueError, match="confidence_level"):
        plot_roc_curves({"a": (y, s)}, confidence_level=1.5)


def test_sic_curve_band_and_legend(rng):
    y, s = _scored(rng)
    ax = plot_sic({"a": (y, s), "b": (y, -s)})
    assert isinstance(ax, Axes)
    eff_s, sic, _ = significance_improvement(y, s)
    k = np.rint(roc_curve_anomaly(y, s)[1] * 400)
    keep = k >= 10
    x, v = ax.get_lines()[0].get_data()
    np.testing.assert_allclose(x, eff_s[keep])
    np.testing.assert_allclose(v, sic[keep])
    best = max_significance_improvement(y, s)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[0] == f"a (max SIC {best:.2f})" and texts[-1] == "random"
    assert np.nanmax(v) == pytest.approx(best)
    low, high = clopper_pearson_interval(k[keep], 400)
    _assert_contains(_band_values(ax.collections[0]), eff_s[keep][k[keep] > 0] /
                     np.sqrt(high[k[keep] > 0]))
    rx, ry = ax.get_lines()[-1].get_data()
    np.testing.assert_allclose(ry, np.sqrt(rx))
    assert "SIC" in ax.get_ylabel() and ax.get_ylim()[0] == 0
    ax = plot_sic({"a": (y, s)}, min_background_count=100, band=False, show_random=False)
    assert not ax.collections and len(ax.get_lines()) == 1
    np.testing.assert_allclose(ax.get_lines()[0].get_data()[0], eff_s[k >= 100])


def test_sic_errors(rng):
    with pytest.raises(ValueError, match="non-empty dict"):
        plot_sic({})
    y = np.r_[np.zeros(5), np.ones(50)]
    with pytest.raises(ValueError, match="min_background_count"):
        plot_sic({"few": (y, rng.random(55))})


@pytest.mark.parametrize("func", [plot_roc_curves, plot_sic])
def test_performance_plots_hep_style(rng, func, tmp_path):
    y, s = _scored(rng)
    ax = func({"a": (y, s)}, style="hep")
    ax.figure.savefig(tmp_path / "p.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax.figure.tight_layout()
    tick = ax.xaxis.get_major_ticks()[0]
    assert tick.tick1line.get_marker() == matplotlib.lines.TICKUP  # ticks inside
    assert ax.get_legend().get_texts()[0].get_fontname() == "TeX Gyre Heros"
    fig, (ax2, other) = plt.subplots(1, 2)
    other.set_xlabel("mine")
    assert func({"a": (y, s)}, ax=ax2, style="ATLAS") is ax2
    assert ax2.xaxis.label.get_fontname() == "TeX Gyre Heros"
    assert other.xaxis.label.get_fontname() != "TeX Gyre Heros"  # the user's axes untouched


@pytest.mark.parametrize("func", [plot_latent_histograms, plot_gibbs_triangle])
def test_latent_plots_hep_style(rng, func):
    w = rng.dirichlet([1, 1, 1], 50)
    ax = func(w, rng.integers(0, 2, 50), style="hep")
    assert isinstance(ax, Axes)
    with pytest.raises(ValueError, match="unknown style"):
        func(w, style="nope")
