"""Jet images: constituents -> centred, rotated, flipped, pixelated pT images."""

import numbers

import numpy as np

from ..jets import _MASS_SHELL_RTOL, P4_COLUMNS, _check_columns, as_padded, wrap_phi
from ._base import (
    _check_shape_param,
    _ConstituentTransformer,
    _flat_ptetaphi,
    _iter_chunks,
    _warn_empty,
)

__all__ = ["JetImager"]

# Coordinates are rounded to this precision before the flip and the binning, so
# that constituents lying exactly on a symmetry line (e.g. on the jet axis after
# the rotation) are treated deterministically instead of by round-off noise.
_COORD_DECIMALS = 9
# Images per float64 block of the pT^n / Gaussian post-processing.
_POSTPROCESS_CHUNK = 4096
# Smaller batches take the NumPy path: loading the compiled kernel costs ~1-2 s once
# per process, more than imaging a few hundred jets without it.
_KERNEL_MIN_JETS = 512


class JetImager(_ConstituentTransformer):
    """Turn jet constituents into pT-weighted jet images.

    The standard preprocessing of the top-tagging literature (Kasieczka et
    al., arXiv:1701.08784; the AE/VAE/DVAE and NAE anomaly-detection papers
    this package implements): centre the jet on its
    pT-weighted centroid, rotate its principal axis to 12 o'clock, flip it so
    that the hardest region is in the lower-left quadrant, sum the constituent
    pT in a ``H x W`` grid of ``delta_eta x delta_phi`` pixels, normalise,
    optionally reweight pixel intensities as ``I -> I**n`` and smooth with a 2-D
    Gaussian. Everything is vectorised over the batch.

    The transformer is stateless: :meth:`fit` only validates.

    Parameters
    ----------
    columns : sequence of str, default=("E", "px", "py", "pz")
        Column names of the constituent array; ``("pt", "eta", "phi")`` and the
        other layouts of :mod:`jetad.jets` are accepted.
    n_pixels : int or (int, int), default=40
        Image size ``(H, W)``: ``H`` rows along phi, ``W`` columns along eta.
    pixel_size : float or (float, float), default=(0.029, 0.035)
        ``(delta_eta, delta_phi)``: pixel width (columns) and height (rows).
    center : bool or {"centroid", "leading"}, default=True
        ``True``/``"centroid"``: translate the pT-weighted (eta, phi) centroid
        to the image centre. ``"leading"``: translate the leading (highest-pT)
        constituent there. ``False``: no translation, the image shows absolute
        ``(eta, phi)`` around ``(0, 0)``. Azimuths are always taken relative to
        the leading constituent first and wrapped into ``[-pi, pi)``, so jets
        across the ``phi = +-pi`` line are not split.
    rotate : bool, default=True
        Rotate about the image centre so that the principal axis (eigenvector
        of the largest eigenvalue of the pT-weighted (eta, phi) covariance) is
        vertical (along phi, "12 o'clock").
    flip : bool, default=True
        Reflect ``eta -> -eta`` if more pT lies at positive than at negative
        eta, and ``phi -> -phi`` if more pT lies at positive than at negative
        phi, so the hardest quadrant ends up lower-left.
    normalize : bool, default=True
        Divide each image by the pT *inside the image*, so every non-empty
        image sums to exactly 1 (pT that falls outside the cropped window is
        dropped, as in the public reference code). For jets fully contained in
        the window this equals the total jet pT of the papers.
    gaussian_sigma : float or (float, float), optional
        Width in pixels (rows, cols) of a 2-D Gaussian filter
        (:func:`scipy.ndimage.gaussian_filter`, ``mode="reflect"``,
        ``truncate=4``) applied after normalisation and reweighting; the
        images are renormalised afterwards. ``None`` or 0: no filter.
    pt_power : float, optional
        Pixel-wise reweighting ``I -> I**n`` (the "pT^n" remapping of the NAE
        paper, applied to pixel intensities, i.e. to the summed pT of each
        pixel, not to single constituents), followed by renormalisation: to a
        sum of 1 if ``normalize``, else to the image's pT sum before the
        remapping. ``n -> 0`` approaches an occupancy map; ``None`` or 1: off.
    output_shape : {"flat", "image"}, default="flat"
        ``"flat"``: ``(n_jets, H * W)`` float32 (row-major, works with
        pipelines, :meth:`get_feature_names_out` and ``set_output``).
        ``"image"``: channel-first ``(n_jets, 1, H, W)`` float32.

    Notes
    -----
    Geometry. Row ``r`` and column ``c`` of the image cover::

        eta' in [(c - W/2) * d_eta, (c + 1 - W/2) * d_eta)
        phi' in ((H/2 - r - 1) * d_phi, (H/2 - r) * d_phi]

    i.e. columns increase with eta' and rows increase *downwards* in phi', so
    ``matplotlib.pyplot.imshow(image)`` (default ``origin="upper"``) shows the
    (eta', phi') plane the usual way up, with the hardest quadrant in the lower
    left. For even ``H``, ``W`` the centre of the image is the corner shared by
    four pixels. Constituents outside the window are dropped. Coordinates are
    rounded to 1e-9 before flipping and binning so that constituents exactly
    on the jet axis are binned deterministically (to the right of / below the
    centre line).

    Order of operations: phi relative to leading constituent -> centre ->
    rotate -> flip -> pixelate (pT summed per pixel) -> normalise -> pT^n
    -> Gaussian filter -> renormalise -> float32.

    Jets without constituents give all-zero images and one
    :class:`~jetad.preprocessing.EmptyJetWarning` per call.

    Examples
    --------
    >>> import numpy as np
    >>> from jetad import JetImager
    >>> jets = np.array([[[100.0, 0.0, 0.1, 0.0], [20.0, 0.2, 0.0, 0.0]]])  # (pt, eta, phi, pid)
    >>> img = JetImager(columns=("pt", "eta", "phi", "pid")).transform(jets)
    >>> img.shape, float(img.sum())
    ((1, 1600), 1.0)
    """

    def __init__(
        self,
        columns=("E", "px", "py", "pz"),
        n_pixels=40,
        pixel_size=(0.029, 0.035),
        center=True,
        rotate=True,
        flip=True,
        normalize=True,
        gaussian_sigma=None,
        pt_power=None,
        output_shape="flat",
    ):
        self.columns = columns
        self.n_pixels = n_pixels
        self.pixel_size = pixel_size
        self.center = center
        self.rotate = rotate
        self.flip = flip
        self.normalize = normalize
        self.gaussian_sigma = gaussian_sigma
        self.pt_power = pt_power
        self.output_shape = output_shape

    # -- parameters -------------------------------------------------------------
    def _image_shape(self):
        return tuple(int(v) for v in _check_shape_param(self.n_pixels, "n_pixels"))

    def _check_params(self):
        self._check_common_params()
        self._image_shape()
        _check_shape_param(self.pixel_size, "pixel_size", numbers.Real)
        if not (self.center is None or any(self.center is v for v in (True, False))
                or (isinstance(self.center, str) and self.center in ("centroid", "leading"))):
            raise ValueError(
                f"center must be True, False, 'centroid' or 'leading', got {self.center!r}"
            )
        for name in ("rotate", "flip", "normalize"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if self.gaussian_sigma is not None:
            _check_shape_param(self.gaussian_sigma, "gaussian_sigma", numbers.Real,
                               positive=False)
            if np.any(np.asarray(self.gaussian_sigma, dtype=float) < 0):
                raise ValueError(f"gaussian_sigma must be >= 0, got {self.gaussian_sigma!r}")
        if self.pt_power is not None:
            if (not isinstance(self.pt_power, numbers.Real) or isinstance(self.pt_power, bool)
                    or not np.isfinite(self.pt_power) or self.pt_power <= 0):
                raise ValueError(f"pt_power must be a positive number, got {self.pt_power!r}")

    # -- transform ---------------------------------------------------------------
    def transform(self, X):
        """Jet images of the constituents ``X``.

        Parameters
        ----------
        X : array-like of shape (n_jets, n_constituents, n_columns), list of arrays or awkward array
            Jet constituents, zero-padded, columns as in ``columns``.

        Returns
        -------
        images : ndarray of shape (n_jets, H * W) or (n_jets, 1, H, W), dtype float32

        Raises
        ------
        ValueError
            For invalid parameters or input (NaN/inf, negative pT or energy,
            wrong number of columns, not 3-D, no jets).
        """
        self._check_params()
        h, w = self._image_shape()
        p4_index = _kernel_p4_index(X, self.columns)
        if p4_index is not None:
            out, n_empty = self._kernel_images(X, p4_index)
            _warn_empty(n_empty, len(out), "have no constituents")
            return self._finish(out.reshape(len(out), h, w))
        out, n_empty = None, 0
        for start, n_jets, *flat in _iter_chunks(X, self.columns, convert=_flat_ptetaphi):
            if out is None:
                out = np.zeros((n_jets, h * w), dtype=np.float32)
            counts = flat[0]
            self._pixelate(*flat, out=out[start:start + len(counts)])
            n_empty += int(np.sum(counts == 0))
        _warn_empty(n_empty, len(out), "have no constituents")
        return self._finish(out.reshape(len(out), h, w))

    def _kernel_images(self, X, p4_index):
        """Images of a padded four-momentum ndarray through the compiled kernel."""
        from ._imager_kernel import image_kernel

        h, w = self._image_shape()
        center = self.center
        center = ("centroid" if center is True or center == "centroid"
                  else "leading" if center == "leading" else "none")
        out = np.zeros((len(X), h * w), dtype=np.float32)
        n_empty, bad_jet = image_kernel(
            X, p4_index, (h, w), _check_shape_param(self.pixel_size, "pixel_size", numbers.Real),
            center, self.rotate, self.flip, self.normalize, _MASS_SHELL_RTOL, out)
        if bad_jet >= 0:
            as_padded(X, self.columns)  # raises the detailed error
            raise ValueError(f"jet {bad_jet} holds an invalid constituent")
        if (self.pt_power is not None and self.pt_power != 1) or _sigma_on(self.gaussian_sigma):
            for start in range(0, len(out), _POSTPROCESS_CHUNK):
                block = out[start:start + _POSTPROCESS_CHUNK]
                images = block.reshape(len(block), h, w).astype(np.float64)
                block[...] = self._postprocess(images).reshape(len(block), h * w)
        return out, n_empty

    def _pixelate(self, counts, jet, pt, eta, phi, eta_lead, phi_lead, out):
        """Fill ``out`` (n, H * W) float32 zeros with the images of flat constituents."""
        n = len(counts)
        h, w = self._image_shape()
        d_eta, d_phi = (float(v) for v in _check_shape_param(
            self.pixel_size, "pixel_size", numbers.Real))

        wgt = pt
        x = eta
        y = wrap_phi(phi - phi_lead[jet])  # azimuth relative to the leading constituent
        sumw = np.bincount(jet, weights=wgt, minlength=n)
        inv = 1.0 / np.where(sumw > 0, sumw, 1.0)

        center = self.center
        if center is True or center == "centroid":
            x = x - (np.bincount(jet, weights=wgt * x, minlength=n) * inv)[jet]
            y = y - (np.bincount(jet, weights=wgt * y, minlength=n) * inv)[jet]
        elif center == "leading":
            x = x - eta_lead[jet]
        else:  # no translation: absolute coordinates
            y = wrap_phi(y + phi_lead[jet])

        if self.rotate:
            if center is True or center == "centroid":
                dx, dy = x, y  # already relative to the centroid
            else:
                dx = x - (np.bincount(jet, weights=wgt * x, minlength=n) * inv)[jet]
                dy = y - (np.bincount(jet, weights=wgt * y, minlength=n) * inv)[jet]
            wdx = wgt * dx
            cxx = np.bincount(jet, weights=wdx * dx, minlength=n)
            cyy = np.bincount(jet, weights=wgt * dy * dy, minlength=n)
            cxy = np.bincount(jet, weights=wdx * dy, minlength=n)
            theta = 0.5 * np.arctan2(2.0 * cxy, cxx - cyy)  # major-axis angle
            sin_t, cos_t = np.sin(theta)[jet], np.cos(theta)[jet]
            # rotate by pi/2 - theta: the major axis goes to +phi
            x, y = x * sin_t - y * cos_t, x * cos_t + y * sin_t

        x = np.round(x, _COORD_DECIMALS)
        y = np.round(y, _COORD_DECIMALS)

        if self.flip:
            # net pT on the positive side: sum w * sign(x)
            flip_x = np.bincount(jet, weights=wgt * np.sign(x), minlength=n) > 0
            flip_y = np.bincount(jet, weights=wgt * np.sign(y), minlength=n) > 0
            x = np.where(flip_x[jet], -x, x)
            y = np.where(flip_y[jet], -y, y)

        col = np.floor(x * (1.0 / d_eta) + 0.5 * w)
        row = np.floor(0.5 * h - y * (1.0 / d_phi))
        inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
        jet_in, wgt_in = jet[inside], wgt[inside]
        if self.normalize:
            total = np.bincount(jet_in, weights=wgt_in, minlength=n)
            wgt_in = wgt_in / np.where(total > 0, total, 1.0)[jet_in]
        pix = row[inside].astype(np.intp) * w + col[inside].astype(np.intp)
        flat_out = out.reshape(-1)
        np.add.at(flat_out, jet_in * (h * w) + pix, wgt_in.astype(np.float32))

        if (self.pt_power is not None and self.pt_power != 1) or _sigma_on(self.gaussian_sigma):
            images = out.reshape(n, h, w).astype(np.float64)
            out[...] = self._postprocess(images).reshape(n, h * w)
        return out

    def _postprocess(self, images):
        """pT^n reweighting and Gaussian filter of (n, H, W) float64 images."""
        if self.normalize:
            _renormalize(images)  # exact float64 sums before the nonlinear steps
        if self.pt_power is not None and self.pt_power != 1:
            before = None if self.normalize else images.sum(axis=(1, 2))
            np.power(images, float(self.pt_power), out=images)
            _renormalize(images, before)
        sigma = self.gaussian_sigma
        if _sigma_on(sigma):
            from scipy.ndimage import gaussian_filter

            s_r, s_c = (float(v) for v in np.broadcast_to(np.asarray(sigma, float), (2,)))
            before = None if self.normalize else images.sum(axis=(1, 2))
            images = gaussian_filter(images, sigma=(0.0, s_r, s_c), mode="reflect",
                                     truncate=4.0)
            np.clip(images, 0.0, None, out=images)
            _renormalize(images, before)
        return images


def _kernel_p4_index(X, columns):
    """Columns of ``(E, px, py, pz)`` if ``X`` can go through the compiled kernel, else None.

    The kernel takes zero-padded float32/float64 ndarrays of a four-momentum
    layout without pT or mass columns (whose sign checks only the NumPy path
    makes), of at least ``_KERNEL_MIN_JETS`` jets; everything else goes through
    :func:`jetad.jets.flat_ptetaphi`.
    """
    if (type(X) is not np.ndarray or X.ndim != 3 or len(X) < max(_KERNEL_MIN_JETS, 1)
            or X.dtype not in (np.float32, np.float64)):
        return None
    columns = _check_columns(columns)
    if (X.shape[2] != len(columns) or not set(P4_COLUMNS) <= set(columns)
            or set(columns) & {"pt", "m", "mass"}):
        return None
    return [columns.index(c) for c in P4_COLUMNS]


def _sigma_on(sigma):
    return sigma is not None and bool(np.any(np.asarray(sigma, dtype=float) > 0))


def _renormalize(images, target=None):
    """Scale each non-empty image in place to sum to ``target`` (default 1)."""
    total = images.sum(axis=(1, 2))
    scale = np.zeros_like(total)
    nz = total > 0
    scale[nz] = (1.0 if target is None else target[nz]) / total[nz]
    images *= scale[:, None, None]
