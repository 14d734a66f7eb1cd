"""Implementation of :mod:`jetad.plotting`."""

import math
import numbers

import numpy as np

from jetad.utils import import_optional

from ._style import _styled

__all__ = [
    "plot_average_images",
    "plot_gibbs_triangle",
    "plot_latent_histograms",
    "plot_mixture_components",
    "plot_roc_curves",
    "plot_sic",
]

_TRIANGLE = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3.0) / 2.0]])


def _pyplot():
    return import_optional("matplotlib.pyplot")


def _colors():
    import_optional("matplotlib")
    from matplotlib import colors

    return colors


def _new_axes(ax):
    if ax is not None:
        return ax.figure, ax
    fig, ax = _pyplot().subplots(layout="tight")
    return fig, ax


def _as_images(images, image_shape=None):
    """``(n, H*W)`` or ``(n, [1,] H, W)`` -> ``(n, H, W)``."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 4:
        if images.shape[1] != 1:
            raise ValueError(f"4-D images must be (n, 1, H, W), got {images.shape}")
        images = images[:, 0]
    if images.ndim == 2:
        if image_shape is None:
            side = math.isqrt(images.shape[1])
            if side * side != images.shape[1]:
                raise ValueError(
                    f"{images.shape[1]} pixels are not a square image; pass image_shape"
                )
            image_shape = (side, side)
        images = images.reshape(images.shape[0], *image_shape)
    if images.ndim != 3:
        raise ValueError(f"images must be (n, H*W), (n, H, W) or (n, 1, H, W), got {images.shape}")
    return images


def _grid(n_panels, ncols, panel_size, colorbar, aspect):
    """Panels on a grid, with a last column for one shared colour bar.

    ``aspect`` is the images' width / height. A gridspec column (not
    ``make_axes``) keeps the figure compatible with a later
    ``fig.tight_layout()``.
    """
    if panel_size is None:
        panel_size = 3.0 * max(1.0, _pyplot().rcParams["font.size"] / 10.0)
    ncols = min(ncols or n_panels, n_panels)
    nrows = math.ceil(n_panels / ncols)
    # a panel is its image (about 0.75 * panel_size high) plus title and labels
    panel_width = 0.75 * panel_size * aspect + 0.25 * panel_size
    width = [panel_width] * ncols + ([0.07 * panel_size] if colorbar else [])
    fig = _pyplot().figure(figsize=(sum(width) + 0.3 * panel_size * colorbar,
                                    panel_size * nrows))
    grid = fig.add_gridspec(nrows, len(width), width_ratios=width)
    axes = [fig.add_subplot(grid[i // ncols, i % ncols]) for i in range(n_panels)]
    cax = fig.add_subplot(grid[:, -1]) if colorbar else None
    return fig, axes, cax


def _fit_colorbar(fig, axes, cax):
    """Lay out, then give the colour bar the height of the images (equal aspect)."""
    fig.tight_layout()
    for ax in axes:
        ax.apply_aspect()
    top = max(ax.get_position().y1 for ax in axes)
    bottom = min(ax.get_position().y0 for ax in axes)
    pos = cax.get_position()
    cax.set_position([pos.x0, bottom, pos.width, top - bottom])


def _pixel_grid(shape, pixel_size):
    """``imshow`` extent and axis labels of JetImager's (eta', phi') grid.

    Column ``c`` spans ``eta'`` in ``[c - W/2, c + 1 - W/2)`` pixels and row
    ``r`` spans ``phi'`` in ``(H/2 - r - 1, H/2 - r]``: row 0 is the top, so
    the extent goes with ``origin="upper"``.
    """
    h, w = shape
    if pixel_size is None:
        return ((-w / 2, w / 2, -h / 2, h / 2),
                r"$\eta'/\Delta\eta$ (pixels)", r"$\phi'/\Delta\phi$ (pixels)")
    if hasattr(pixel_size, "pixel_size"):
        n_pixels = getattr(pixel_size, "n_pixels", None)
        if n_pixels is not None and tuple(
                int(v) for v in np.broadcast_to(np.asarray(n_pixels), (2,))) != (h, w):
            raise ValueError(f"the imager's n_pixels={n_pixels!r} does not match "
                             f"images of shape {(h, w)}")
        pixel_size = pixel_size.pixel_size
    size = np.asarray(pixel_size, dtype=object).ravel()
    if size.size not in (1, 2) or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v) and v > 0
            for v in size):
        raise ValueError("pixel_size must be a positive number, a pair (d_eta, d_phi) or a "
                         f"JetImager, got {pixel_size!r}")
    d_eta, d_phi = (float(v) for v in np.broadcast_to(size, (2,)))
    return ((-w / 2 * d_eta, w / 2 * d_eta, -h / 2 * d_phi, h / 2 * d_phi),
            r"$\eta'$", r"$\phi'$")


def _shared_norm(images, log, vmin, vmax):
    colors = _colors()
    if not log:
        lo = float(images.min()) if vmin is None else vmin
        hi = float(images.max()) if vmax is None else vmax
        return colors.Normalize(vmin=lo, vmax=max(hi, lo + 1e-12)), images
    positive = images[images > 0]
    lo = vmin if vmin is not None else (float(positive.min()) if positive.size else 1e-6)
    hi = vmax if vmax is not None else max(float(images.max()), lo * 10)
    return colors.LogNorm(vmin=lo, vmax=hi), np.where(images > 0, images, np.nan)


def _image_panels(images, titles, *, log, vmin, vmax, ncols, panel_size, cmap, colorbar,
                  colorbar_label, pixel_size):
    extent, xlabel, ylabel = _pixel_grid(images.shape[1:], pixel_size)
    norm, shown = _shared_norm(images, log, vmin, vmax)
    aspect = (extent[1] - extent[0]) / (extent[3] - extent[2])
    fig, axes, cax = _grid(len(images), ncols, panel_size, colorbar, aspect)
    for ax, img, title in zip(axes, shown, titles, strict=True):
        im = ax.imshow(img, origin="upper", extent=extent, cmap=cmap, norm=norm,
                       interpolation="nearest")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    if colorbar:
        fig.colorbar(im, cax=cax, label=colorbar_label)
        _fit_colorbar(fig, axes, cax)
    else:
        fig.tight_layout()
    return fig


@_styled
def plot_mixture_components(components, *, titles=None, log=True, vmin=None, vmax=None,
                            ncols=None, panel_size=None, cmap="viridis", colorbar=True,
                            colorbar_label=None, pixel_size=None, style=None):
    """Plot a DVAE's mixture components (normalised decoder-weight images).

    The panels are drawn in :class:`~jetad.JetImager`'s orientation (eta'
    growing to the right, phi' growing upwards: row 0 of an image is the top
    row) on one colour scale shared by all panels, with one labelled colour
    bar.

    Parameters
    ----------
    components : array-like of shape (R, H, W) or a fitted DVAEDetector
        Component images, e.g. ``DVAEDetector.mixture_components()``; a fitted
        detector is asked for them.
    titles : list of str or None
        Panel titles; default ``p(x | r_k = 1)``.
    log : bool, default=True
        Logarithmic colour scale (the components span orders of magnitude).
    vmin, vmax : float or None
        Ends of the shared colour scale; default the smallest (positive, for
        ``log``) and the largest pixel over all panels.
    ncols : int or None
        Panels per row (default: all in one row).
    panel_size : float or None
        Panel height in inches; default 3, scaled up with the font size of
        larger styles (e.g. ``style="hep"``).
    cmap : str, default="viridis"
    colorbar : bool, default=True
        One colour bar for all panels.
    colorbar_label : str or None
        Default ``p(pixel | r_k = 1)``.
    pixel_size : float, (float, float), JetImager or None
        ``(delta_eta, delta_phi)`` of the pixels, or the
        :class:`~jetad.JetImager` that made the images (its ``n_pixels`` must
        match): the axes then show eta' and phi'. ``None``: eta' and phi' in
        units of the pixel size, ``0`` at the image centre.
    style : str or None
        ``"hep"`` (mplhep's ROOT style) or the name of an mplhep style
        (``"CMS"``, ``"ATLAS"``, ``"LHCb2"``, ``"ALICE"``, ...), applied to
        this figure only; needs ``pip install "jetad[plot]"``. ``None``: the
        current matplotlib settings.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    if hasattr(components, "mixture_components"):
        components = components.mixture_components()
    components = _as_images(components)
    titles = titles or [f"$p(x\\,|\\,r_{k}=1)$" for k in range(len(components))]
    if colorbar_label is None:
        colorbar_label = r"$p(\mathrm{pixel}\,|\,r_k=1)$"
    return _image_panels(components, titles, log=log, vmin=vmin, vmax=vmax, ncols=ncols,
                         panel_size=panel_size, cmap=cmap, colorbar=colorbar,
                         colorbar_label=colorbar_label, pixel_size=pixel_size)


def _image_groups(images, y, labels, image_shape):
    if isinstance(images, dict):
        groups = {str(k): _as_images(v, image_shape) for k, v in images.items()}
    elif y is None:
        groups = {"all jets": _as_images(images, image_shape)}
    else:
        imgs, y = _as_images(images, image_shape), np.asarray(y)
        if y.shape[0] != imgs.shape[0]:
            raise ValueError(f"y has {y.shape[0]} entries for {imgs.shape[0]} images")
        labels = labels or {}
        groups = {str(labels.get(c, c)): imgs[y == c] for c in np.unique(y)}
    if not groups or any(len(v) == 0 for v in groups.values()):
        raise ValueError("every class needs at least one image")
    if len({v.shape[1:] for v in groups.values()}) > 1:
        raise ValueError("all classes need images of the same shape, got "
                         f"{sorted({v.shape[1:] for v in groups.values()})}")
    return groups


@_styled
def plot_average_images(images, y=None, *, labels=None, image_shape=None, log=True, vmin=None,
                        vmax=None, ncols=None, panel_size=None, cmap="viridis", colorbar=True,
                        colorbar_label="mean pixel intensity", pixel_size=None, style=None):
    """Plot the average jet image of each class (paper Fig. 1).

    Drawn in :class:`~jetad.JetImager`'s orientation: eta' to the right,
    phi' upwards, so after its rotation and flip the hardest prong is at the
    centre and the second one above it.

    Parameters
    ----------
    images : dict of str -> array-like, or array-like
        ``{"QCD": X_qcd, "top": X_top}``, or one array of images with ``y``.
        Images are ``(n, H*W)`` or ``(n, [1,] H, W)``.
    y : array-like of shape (n,) or None
        Class of each image when ``images`` is one array (one panel per class).
    labels : dict or None
        Display names of the classes in ``y`` (e.g. ``{0: "QCD", 1: "top"}``).
    image_shape : tuple of int or None
        ``(H, W)`` for flat non-square images.
    log, vmin, vmax, ncols, panel_size, cmap, colorbar
        As in :func:`plot_mixture_components`.
    colorbar_label : str, default="mean pixel intensity"
        For normalised JetImager images, the mean fraction of the jet pT in
        the pixel.
    pixel_size, style
        As in :func:`plot_mixture_components`.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    groups = _image_groups(images, y, labels, image_shape)
    means = np.stack([v.mean(axis=0) for v in groups.values()])
    titles = [f"{name} (n={len(v)})" for name, v in groups.items()]
    return _image_panels(means, titles, log=log, vmin=vmin, vmax=vmax, ncols=ncols,
                         panel_size=panel_size, cmap=cmap, colorbar=colorbar,
                         colorbar_label=colorbar_label, pixel_size=pixel_size)


def _class_groups(n, y, labels):
    if y is None:
        return [("all jets", np.ones(n, dtype=bool))]
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},), got {y.shape}")
    labels = labels or {}
    return [(str(labels.get(c, c)), y == c) for c in np.unique(y)]


@_styled
def plot_latent_histograms(latent, y=None, *, component=0, labels=None, bins=50, range=None,
                           density=True, ax=None, xlabel=None, style=None):
    """Histogram one latent coordinate per class (paper Figs. 3, 5, 7, 9, 11).

    Parameters
    ----------
    latent : array-like of shape (n,) or (n, d)
        Latent coordinates, e.g. ``DVAEDetector.encode(X)`` (mixture weights)
        or a VAE's posterior means.
    y : array-like of shape (n,) or None
        Class labels for colouring (only used for display).
    component : int, default=0
        Column of ``latent`` to histogram when it is 2-D.
    labels : dict or None
        Display names of the classes (e.g. ``{0: "QCD", 1: "top"}``).
    bins : int or array-like, default=50
    range : tuple or None
        Histogram range; default the range of the data.
    density : bool, default=True
        Normalise each class to unit area (compare shapes at any S/B).
    ax : matplotlib Axes or None
    xlabel : str or None
    style : str or None
        As in :func:`plot_mixture_components`.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    latent = np.asarray(latent, dtype=np.float64)
    if latent.ndim == 2:
        latent = latent[:, component]
    elif latent.ndim != 1:
        raise ValueError(f"latent must be 1-D or 2-D, got shape {latent.shape}")
    _, ax = _new_axes(ax)
    if range is None:
        range = (np.min(latent), np.max(latent)) if latent.size else (0, 1)
        if range[0] == range[1]:
            range = (range[0] - 0.5, range[1] + 0.5)
    for name, mask in _class_groups(latent.shape[0], y, labels):
        ax.hist(latent[mask], bins=bins, range=range, density=density, histtype="step",
                linewidth=1.5, label=f"{name}")
    ax.set_xlabel(xlabel or f"latent coordinate {component}")
    ax.set_ylabel("density" if density else "jets")
    if y is not None:
        ax.legend()
    return ax


@_styled
def plot_gibbs_triangle(weights, y=None, *, labels=None, vertex_labels=None, ax=None, s=2.0,
                        alpha=0.3, max_points=20000, random_state=0, style=None):
    """Ternary (Gibbs-triangle) scatter of ``R = 3`` mixture weights (paper Fig. 13).

    A point ``r = (r_0, r_1, r_2)`` on the simplex is drawn at
    ``r_0 * v_0 + r_1 * v_1 + r_2 * v_2`` with the vertices ``v_k`` of an
    equilateral triangle, so each corner is a pure component and the centre is
    ``(1/3, 1/3, 1/3)``.

    Parameters
    ----------
    weights : array-like of shape (n, 3)
        Mixture weights, e.g. ``DVAEDetector(alpha=(1, .25, .1)).encode(X)``.
        Rows are renormalised to sum to 1.
    y : array-like of shape (n,) or None
        Class labels for colouring (display only).
    labels : dict or None
        Display names of the classes.
    vertex_labels : sequence of 3 str or None
        Corner labels; default ``r_0, r_1, r_2``.
    ax : matplotlib Axes or None
    s, alpha : float
        Marker size and transparency.
    max_points : int or None, default=20000
        Plot a random subset of at most this many jets per class (None: all).
    random_state : int, default=0
        Seeds the subset.
    style : str or None
        As in :func:`plot_mixture_components`.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != 3:
        raise ValueError(f"weights must have shape (n, 3), got {w.shape}")
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite and non-negative")
    w = w / np.clip(w.sum(axis=1, keepdims=True), 1e-300, None)
    xy = w @ _TRIANGLE
    _, ax = _new_axes(ax)
    rng = np.random.default_rng(random_state)
    for name, mask in _class_groups(w.shape[0], y, labels):
        idx = np.flatnonzero(mask)
        if max_points is not None and idx.size > max_points:
            idx = rng.choice(idx, max_points, replace=False)
        ax.scatter(xy[idx, 0], xy[idx, 1], s=s, alpha=alpha, label=name, rasterized=True)
    closed = np.vstack([_TRIANGLE, _TRIANGLE[:1]])
    ax.plot(closed[:, 0], closed[:, 1], color="black", linewidth=1.0)
    vertex_labels = vertex_labels or ["$r_0$", "$r_1$", "$r_2$"]
    offsets = [(-0.04, -0.05), (0.04, -0.05), (0.0, 0.04)]
    for (vx, vy), (dx, dy), text in zip(_TRIANGLE, offsets, vertex_labels, strict=True):
        ax.text(vx + dx, vy + dy, text, ha="center", va="center")
    ax.set_aspect("equal")
    ax.set_xlim(-0.1, 1.1)
    ax.set_ylim(-0.1, _TRIANGLE[2, 1] + 0.1)
    ax.axis("off")
    if y is not None:
        ax.legend(loc="upper right", markerscale=4)
    return ax


def _check_curves(curves):
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty dict of label -> (y_true, anomaly_scores)")
    return curves


def _background_counts(y_true, eff_b):
    """Number of background jets and of those passing each ROC threshold."""
    n_bkg = int(np.sum(np.asarray(y_true) != 1))
    return n_bkg, np.rint(np.asarray(eff_b) * n_bkg)


def _binomial_interval(k, n, confidence_level):
    from jetad.metrics import clopper_pearson_interval

    if confidence_level is None:
        return clopper_pearson_interval(k, n)
    return clopper_pearson_interval(k, n, confidence_level)


@_styled
def plot_roc_curves(curves, *, ax=None, min_background_efficiency=None, show_random=True,
                    band=True, confidence_level=None, style=None):
    """ROC curves in the HEP form: ``1/eps_B`` (log scale) against ``eps_S``.

    Parameters
    ----------
    curves : dict of str -> (y_true, anomaly_scores)
        One curve per entry: labels (1 = signal) and anomaly scores (higher =
        more anomalous, e.g. ``detector.anomaly_score(X)``). Scores are not
        re-oriented: a curve below the random line means the score ranks
        background as more anomalous. The legend shows each AUC.
    ax : matplotlib Axes or None
    min_background_efficiency : float or None
        Points with ``eps_B`` below this are dropped (default: ``1/n_B``, the
        smallest resolvable, so no infinite rejections are drawn).
    show_random : bool, default=True
        Draw the random classifier ``1/eps_B = 1/eps_S``.
    band : bool, default=True
        Shade the binomial uncertainty of ``1/eps_B``: at each threshold,
        ``k`` of the ``n_B`` background jets pass and the band is ``1/high``
        to ``1/low`` with the Clopper–Pearson interval ``[low, high]`` on
        ``k/n_B`` (:func:`jetad.metrics.clopper_pearson_interval`). The
        uncertainty of ``eps_S`` is not drawn.
    confidence_level : float or None
        Content of the band, in (0, 1); default ±1σ (0.6827).
    style : str or None
        As in :func:`plot_mixture_components`.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    from jetad.metrics import anomaly_auc, roc_curve_anomaly

    _check_curves(curves)
    _, ax = _new_axes(ax)
    for name, (y_true, scores) in curves.items():
        eff_s, eff_b, _ = roc_curve_anomaly(y_true, scores)
        n_bkg, k = _background_counts(y_true, eff_b)
        floor = min_background_efficiency or 1.0 / max(n_bkg, 1)
        keep = (eff_b >= floor) & (k >= 1)
        auc = anomaly_auc(y_true, scores)
        (line,) = ax.plot(eff_s[keep], 1.0 / eff_b[keep], label=f"{name} (AUC {auc:.3f})")
        if band and np.any(keep):
            low, high = _binomial_interval(k[keep], n_bkg, confidence_level)
            ax.fill_between(eff_s[keep], 1.0 / high, 1.0 / low, color=line.get_color(),
                            alpha=0.25, linewidth=0)
    if show_random:
        e = np.linspace(0.01, 1, 100)
        ax.plot(e, 1 / e, color="gray", linestyle="--", linewidth=1, label="random")
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel(r"signal efficiency $\epsilon_S$")
    ax.set_ylabel(r"background rejection $1/\epsilon_B$")
    ax.legend(fontsize="small")
    ax.grid(True, which="both", alpha=0.3)
    return ax


@_styled
def plot_sic(curves, *, ax=None, min_background_count=10, show_random=True, band=True,
             confidence_level=None, style=None):
    """Significance improvement characteristic ``eps_S / sqrt(eps_B)`` against ``eps_S``.

    Parameters
    ----------
    curves : dict of str -> (y_true, anomaly_scores)
        As in :func:`plot_roc_curves`. The legend shows each curve's
        :func:`jetad.metrics.max_significance_improvement` with the same
        ``min_background_count``.
    ax : matplotlib Axes or None
    min_background_count : int, default=10
        Thresholds passed by fewer background jets are not drawn: there the
        SIC is dominated by the fluctuation of a few jets.
    show_random : bool, default=True
        Draw the random classifier, ``SIC = sqrt(eps_S)``.
    band : bool, default=True
        Shade the binomial uncertainty from ``eps_B`` (Clopper–Pearson, as in
        :func:`plot_roc_curves`): ``eps_S/sqrt(high)`` to ``eps_S/sqrt(low)``.
    confidence_level : float or None
        Content of the band, in (0, 1); default ±1σ (0.6827).
    style : str or None
        As in :func:`plot_mixture_components`.

    Returns
    -------
    ax : matplotlib.axes.Axes

    Raises
    ------
    ValueError
        If a curve has fewer than ``min_background_count`` background jets.
    """
    from jetad.metrics import (
        max_significance_improvement,
        roc_curve_anomaly,
        significance_improvement,
    )

    _check_curves(curves)
    _, ax = _new_axes(ax)
    for name, (y_true, scores) in curves.items():
        best = max_significance_improvement(y_true, scores,
                                            min_background_count=min_background_count)
        eff_s, sic, _ = significance_improvement(y_true, scores)
        n_bkg, k = _background_counts(y_true, roc_curve_anomaly(y_true, scores)[1])
        keep = (k >= min_background_count) & np.isfinite(sic)
        (line,) = ax.plot(eff_s[keep], sic[keep], label=f"{name} (max SIC {best:.2f})")
        if band and np.any(keep):
            low, high = _binomial_interval(k[keep], n_bkg, confidence_level)
            ax.fill_between(eff_s[keep], eff_s[keep] / np.sqrt(high),
                            eff_s[keep] / np.sqrt(low), color=line.get_color(), alpha=0.25,
                            linewidth=0)
    if show_random:
        e = np.linspace(0, 1, 101)
        ax.plot(e, np.sqrt(e), color="gray", linestyle="--", linewidth=1, label="random")
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel(r"signal efficiency $\epsilon_S$")
    ax.set_ylabel(r"SIC $\epsilon_S/\sqrt{\epsilon_B}$")
    ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)
    return ax
