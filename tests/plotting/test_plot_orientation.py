"""The image plots show JetImager's (eta', phi') plane the right way up.

A two-constituent jet with its second prong at a known (eta', phi') is imaged
with JetImager, plotted, and the prong is located from the plotted image's
array, extent and origin, i.e. in the data coordinates the axes label.
"""

import sys
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.lines import TICKDOWN, TICKUP  # noqa: E402

from jetad import JetImager  # noqa: E402
from jetad.plotting import plot_average_images, plot_mixture_components  # noqa: E402

PIXEL = (0.029, 0.035)
PRONG = (0.2, 0.1)  # (eta', phi') of the second prong relative to the leading one


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _two_prong_jet(d_eta, d_phi, pt2=30.0):
    """(1, 2, 4) constituents (pt, eta, phi, pid): leading at (0.5, 1.0), second offset."""
    return np.array([[[100.0, 0.5, 1.0, 0.0], [pt2, 0.5 + d_eta, 1.0 + d_phi, 0.0]]])


def _literal_imager(**kw):
    # no centring on the centroid, rotation or flip: eta', phi' are measured from
    # the leading constituent, so the prong stays where it was put
    return JetImager(columns=("pt", "eta", "phi", "pid"), center="leading", rotate=False,
                     flip=False, pixel_size=PIXEL, output_shape="image", **kw)


def _plot(func, images, **kw):
    if func is plot_average_images:
        return func({"jet": images}, **kw)
    return func(images[:, 0], **kw)


def _data_position(im, row, col):
    """Centre of pixel (row, col) of an AxesImage in data coordinates."""
    h, w = im.get_array().shape
    left, right, bottom, top = im.get_extent()
    x = left + (col + 0.5) * (right - left) / w
    if im.origin == "upper":
        y = top - (row + 0.5) * (top - bottom) / h
    else:
        y = bottom + (row + 0.5) * (top - bottom) / h
    return x, y


def _prongs(ax):
    """Data positions of the brightest and the second-brightest pixel."""
    im = ax.images[0]
    arr = np.ma.filled(im.get_array(), 0.0)
    order = np.argsort(arr, axis=None)[::-1]
    rows, cols = np.unravel_index(order[:2], arr.shape)
    assert arr[rows[1], cols[1]] > 0 and np.count_nonzero(arr) == 2
    return [np.array(_data_position(im, r, c)) for r, c in zip(rows, cols, strict=True)]


PLOTS = [plot_average_images, plot_mixture_components]


def test_imager_convention_second_prong_up_right():
    img = _literal_imager().transform(_two_prong_jet(*PRONG))[0, 0]
    rows, cols = np.nonzero(img)
    lead = np.unravel_index(np.argmax(img), img.shape)
    second = [(r, c) for r, c in zip(rows, cols, strict=True) if (r, c) != lead][0]
    assert second[0] < lead[0]  # phi' > 0: a smaller row index
    assert second[1] > lead[1]  # eta' > 0: a larger column index


@pytest.mark.parametrize("func", PLOTS)
def test_second_prong_in_pixel_units(func):
    images = _literal_imager().transform(_two_prong_jet(*PRONG))
    ax = _plot(func, images).axes[0]
    assert not ax.yaxis_inverted() and not ax.xaxis_inverted()
    lead, second = _prongs(ax)
    assert second[1] > lead[1], "phi' > 0 is drawn below the leading constituent"
    assert second[0] > lead[0], "eta' > 0 is drawn left of the leading constituent"
    # the leading constituent sits at (0, 0): the pixel right of and below the centre
    np.testing.assert_allclose(lead, [0.5, -0.5])
    expected = np.array(PRONG) / np.array(PIXEL)
    assert np.all(np.abs(second - expected) <= 0.5 + 1e-9), (second, expected)
    assert "eta" in ax.get_xlabel() and "phi" in ax.get_ylabel()


@pytest.mark.parametrize("func", PLOTS)
@pytest.mark.parametrize("prong", [PRONG, (-0.15, 0.12), (0.1, -0.2)])
def test_second_prong_in_eta_phi(func, prong):
    imager = _literal_imager()
    images = imager.transform(_two_prong_jet(*prong))
    ax = _plot(func, images, pixel_size=imager).axes[0]
    lead, second = _prongs(ax)
    half = np.array(PIXEL) / 2 + 1e-9
    assert np.all(np.abs(lead) <= half * 2)
    assert np.all(np.abs(second - np.array(prong)) <= half), (second, prong)
    np.testing.assert_allclose(ax.images[0].get_extent(),
                               [-20 * PIXEL[0], 20 * PIXEL[0], -20 * PIXEL[1], 20 * PIXEL[1]])
    assert ax.get_xlabel() == r"$\eta'$" and ax.get_ylabel() == r"$\phi'$"


@pytest.mark.parametrize("func", PLOTS)
def test_default_preprocessing_puts_second_prong_above(func):
    # centre, rotate and flip: the hardest prong near the centre, the second above it
    imager = JetImager(columns=("pt", "eta", "phi", "pid"), output_shape="image")
    images = imager.transform(_two_prong_jet(0.12, -0.2))
    ax = _plot(func, images, pixel_size=imager).axes[0]
    lead, second = _prongs(ax)
    assert second[1] > lead[1] + 0.1
    assert abs(second[0] - lead[0]) <= PIXEL[0]


@pytest.mark.parametrize("func", PLOTS)
@pytest.mark.parametrize("log", [True, False])
def test_shared_colour_scale_and_labelled_bar(func, log):
    imager = _literal_imager()
    bright = imager.transform(_two_prong_jet(*PRONG, pt2=5.0))
    faint = imager.transform(_two_prong_jet(*PRONG, pt2=100.0))
    images = np.concatenate([bright, faint])
    if func is plot_average_images:
        fig = func({"bright": bright, "faint": faint}, log=log)
    else:
        fig = func(images[:, 0], log=log)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2 and len(fig.axes) == 3  # two panels, one colour bar
    norms = {(ax.images[0].norm.vmin, ax.images[0].norm.vmax) for ax in panels}
    assert len(norms) == 1
    vmin, vmax = norms.pop()
    assert vmax == pytest.approx(images.max())
    assert vmin == pytest.approx(images[images > 0].min() if log else images.min())
    bar = panels[-1].images[0].colorbar
    assert bar is not None and bar.ax.get_ylabel()
    fig = (func({"a": bright}, colorbar=False) if func is plot_average_images
           else func(bright[:, 0], colorbar=False))
    assert len(fig.axes) == 1


def test_colourbar_labels():
    imgs = _literal_imager().transform(_two_prong_jet(*PRONG))
    fig = plot_average_images({"jet": imgs}, colorbar_label="pT fraction")
    assert fig.axes[0].images[0].colorbar.ax.get_ylabel() == "pT fraction"
    fig = plot_mixture_components(imgs[:, 0])
    assert "r_k" in fig.axes[0].images[0].colorbar.ax.get_ylabel()


@pytest.mark.parametrize("bad", [0.0, -0.1, (0.1, 0.2, 0.3), "x", (np.nan, 0.1), True])
def test_bad_pixel_size(bad):
    imgs = _literal_imager().transform(_two_prong_jet(*PRONG))
    with pytest.raises(ValueError, match="pixel_size"):
        plot_average_images({"jet": imgs}, pixel_size=bad)


def test_imager_grid_must_match_images():
    imgs = _literal_imager().transform(_two_prong_jet(*PRONG))
    with pytest.raises(ValueError, match="n_pixels"):
        plot_mixture_components(imgs[:, 0], pixel_size=JetImager(n_pixels=32))
    fig = plot_mixture_components(imgs[:, 0], pixel_size=0.05)
    np.testing.assert_allclose(fig.axes[0].images[0].get_extent(), [-1, 1, -1, 1])


def _tick_direction(ax):
    marker = ax.xaxis.get_major_ticks()[0].tick1line.get_marker()
    return {TICKUP: "in", TICKDOWN: "out"}[marker]


@pytest.mark.parametrize("func", PLOTS)
def test_hep_style(func, tmp_path):
    imgs = _literal_imager().transform(_two_prong_jet(*PRONG))
    before = dict(matplotlib.rcParams)
    fig = _plot(func, imgs, style="hep")
    assert dict(matplotlib.rcParams) == before  # applied to this figure only
    fig.savefig(tmp_path / "hep.png")
    ax = fig.axes[0]
    assert _tick_direction(ax) == "in"  # mplhep's ROOT style
    # the style's font is kept after the style context has ended
    assert ax.xaxis.label.get_fontname() == "TeX Gyre Heros"
    assert fig.axes[-1].get_ylabel() and fig.axes[-1].yaxis.label.get_fontname() == \
        "TeX Gyre Heros"
    assert ax.images[0].origin == "upper"
    lead, second = _prongs(ax)
    assert second[0] > lead[0] and second[1] > lead[1]
    assert _tick_direction(_plot(func, imgs, style="CMS").axes[0]) == "in"
    ax = _plot(func, imgs).axes[0]
    assert _tick_direction(ax) == matplotlib.rcParams["xtick.direction"] == "out"
    assert ax.xaxis.label.get_fontname() != "TeX Gyre Heros"


def test_style_errors(monkeypatch):
    imgs = _literal_imager().transform(_two_prong_jet(*PRONG))[:, 0]
    with pytest.raises(ValueError, match="unknown style"):
        plot_mixture_components(imgs, style="not-a-style")
    with pytest.raises(ValueError, match="unknown style"):
        plot_mixture_components(imgs, style="__name__")
    with pytest.raises(TypeError, match="style"):
        plot_mixture_components(imgs, style=3)
    monkeypatch.setitem(sys.modules, "mplhep", None)
    with pytest.raises(ImportError, match=r"jetad\[plot\]"):
        plot_mixture_components(imgs, style="hep")


@pytest.mark.parametrize("func", PLOTS)
def test_colour_bar_spans_the_images_and_tight_layout_works(func):
    imgs = _literal_imager().transform(_two_prong_jet(*PRONG))
    fig = _plot(func, np.concatenate([imgs, imgs]), ncols=2)
    panels = [ax for ax in fig.axes if ax.images]
    bar = panels[-1].images[0].colorbar.ax
    for ax in panels:
        ax.apply_aspect()
    assert bar.get_position().y0 == pytest.approx(min(a.get_position().y0 for a in panels))
    assert bar.get_position().y1 == pytest.approx(max(a.get_position().y1 for a in panels))
    assert bar.get_position().x0 > max(a.get_position().x1 for a in panels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.tight_layout()  # a user's habit: no error, no warning
