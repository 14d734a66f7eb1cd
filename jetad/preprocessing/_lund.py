"""Lund-plane images from Cambridge/Aachen declusterings (FastJet)."""

import numbers

import numpy as np

from ..jets import flat_ptetaphi, wrap_phi
from ..utils._fastjet import cluster_events, import_fastjet
from ._base import _check_shape_param, _ConstituentTransformer, _iter_chunks, _warn_empty

__all__ = ["LundPlane"]

DECLUSTERING_FIELDS = ("delta", "kt", "z", "kappa", "m", "mass_drop", "pt", "ln_inv_delta",
                       "ln_kt", "plane", "depth")
_WEIGHTS = (None, "kt", "z", "kappa")
_PLANE_SHIFT = 32  # plane and depth packed into one int64 while summing along paths


def _flat_p4(X, columns):
    """Validate ``X``; return constituent counts per jet and flat (n, 4) E, px, py, pz."""
    mask, *_, p4 = flat_ptetaphi(X, columns, return_p4=True)
    return mask.sum(axis=1), p4


def _rapidity(energy, px, py, pz):
    """Rapidity in FastJet's overflow-free form, finite for any finite input.

    ``0.5 ln((pt^2 + m^2) / (E + |pz|)^2)``, signed like ``pz``: unlike ``0.5
    ln((E + pz) / (E - pz))`` it stays finite for ``E = |pz|`` (tiny pT) and for
    a squared mass rounded below zero.
    """
    m2 = np.maximum(energy**2 - px**2 - py**2 - pz**2, 0.0)
    transverse = np.maximum(px**2 + py**2 + m2, 1e-300)
    longitudinal = np.maximum(energy + np.abs(pz), 1e-150)
    return -np.sign(pz) * 0.5 * (np.log(transverse) - 2.0 * np.log(longitudinal))


def _cluster_ca(counts, p4):
    """C/A-cluster every jet into one tree; return its pseudojets and history.

    Returns
    -------
    pseudojets : ndarray of shape (n_pseudojets, 4)
        ``(px, py, pz, E)`` of every pseudojet of every history, jet after jet.
    n_pseudojets : ndarray of int, shape (n_jets,)
        Pseudojets per jet (``2 * counts - 1``).
    history : ndarray of int
        FastJet's ``unique_history_order`` of every jet, concatenated.
    n_history : ndarray of int, shape (n_jets,)
        Length of the history of each jet.
    """
    import awkward as ak

    # The C/A clustering order does not depend on R; R only decides when a jet
    # merges with the beam. Pick R above the largest (y, phi) extent of any
    # jet, so that every jet is clustered into a single tree.
    energy, px, py, pz = (p4[:, i] for i in range(4))
    rap = _rapidity(energy, px, py, pz)
    phi = np.arctan2(py, px)
    jet_of = np.repeat(np.arange(len(counts)), counts)
    # start of each jet; an empty jet's start may be len(phi), but no constituent refers to it
    starts = np.minimum(np.cumsum(counts) - counts, max(len(phi) - 1, 0))
    phi_rel = wrap_phi(phi - phi[starts][jet_of])  # w.r.t. first constituent
    radius = 1.0 + float(np.hypot(np.ptp(rap), 2.0 * np.abs(phi_rel).max()))

    cs = cluster_events(p4, counts, "cambridge", radius)
    jets = cs.jets()
    history = cs.unique_history_order()
    n_pseudojets = np.asarray(ak.num(jets, axis=1), dtype=np.int64)
    nonempty = counts > 0
    if np.any(n_pseudojets[nonempty] != 2 * counts[nonempty] - 1):  # pragma: no cover
        raise RuntimeError("FastJet did not cluster every jet into a single C/A tree")
    pseudojets = np.stack([np.asarray(ak.flatten(jets[f]), dtype=np.float64)
                           for f in ("px", "py", "pz", "E")], axis=-1)
    return (pseudojets, n_pseudojets, np.asarray(ak.flatten(history), dtype=np.int64),
            np.asarray(ak.num(history, axis=1), dtype=np.int64))


def _history_mergings(counts, n_pseudojets, history, n_history):
    """The mergings of the C/A histories: jet, merged pseudojet and its two parents.

    ``unique_history_order`` is a post-order traversal of each C/A tree: every
    merging comes after both its parents' subtrees, then the final beam
    "merging". Read it as a stack machine: leaves push, mergings pop two.

    Returns
    -------
    jet, node, parent_a, parent_b : ndarray of int, shape (n_mergings,)
        Jet of each merging and the global pseudojet indices of the merged
        pseudojet and of its two parents.
    """
    ev_all = np.repeat(np.arange(len(counts)), n_history)
    n_of = counts[ev_all]
    keep = history < 2 * n_of - 1  # drop the beam step
    seq, ev, n_of = history[keep], ev_all[keep], n_of[keep]
    leaf = seq < n_of
    height = np.cumsum(np.where(leaf, 1, -1))
    nonempty = counts > 0
    rank = np.cumsum(nonempty) - nonempty  # each finished tree leaves one item on the stack
    height -= rank[ev]
    # parent 2 = the item just before; parent 1 = the latest earlier item that
    # left the stack at the same height as the merging does.
    order = np.argsort(ev * (int(height.max()) + 1) + height, kind="stable")  # pos order kept
    same = (ev[order[1:]] == ev[order[:-1]]) & (height[order[1:]] == height[order[:-1]])
    prev = np.full(len(seq), -1, dtype=np.int64)
    prev[order[1:][same]] = order[:-1][same]
    merging = np.nonzero(~leaf)[0]
    base = (np.cumsum(n_pseudojets) - n_pseudojets)[ev[merging]]
    return (ev[merging], base + seq[merging], base + seq[prev[merging]],
            base + seq[merging - 1])


def _splitting_observables(pseudojets, node, parent_a, parent_b):
    """Observables of every splitting ``node -> parent_a parent_b``.

    Returns
    -------
    soft : ndarray of int
        The softer (in pT) parent of each splitting.
    obs : dict of str -> ndarray
        The fields of :data:`DECLUSTERING_FIELDS` except ``plane`` and ``depth``.
    """
    jpx, jpy, jpz, jen = pseudojets.T
    jpt = np.hypot(jpx, jpy)
    pa, pb = parent_a, parent_b
    with np.errstate(divide="ignore", invalid="ignore"):
        jrap = _rapidity(jen, jpx, jpy, jpz)
        jphi = np.arctan2(jpy, jpx)
        jm = np.sqrt(np.maximum(jen**2 - jpx**2 - jpy**2 - jpz**2, 0.0))
        harder_a = jpt[pa] >= jpt[pb]
        soft = np.where(harder_a, pb, pa)
        delta = np.hypot(jrap[pa] - jrap[pb], wrap_phi(jphi[pa] - jphi[pb]))
        pt_soft = jpt[soft]
        pt_sum = jpt[pa] + jpt[pb]
        kt = pt_soft * delta
        z = pt_soft / pt_sum
        mass = jm[node]
        mass_drop = np.where(mass > 0, np.maximum(jm[pa], jm[pb]) / mass, np.nan)
        ln_inv_delta = -np.log(delta)
        ln_kt = np.log(kt)
    return soft, {
        "delta": delta, "kt": kt, "z": z, "kappa": z * delta, "m": mass,
        "mass_drop": mass_drop, "pt": pt_sum, "ln_inv_delta": ln_inv_delta, "ln_kt": ln_kt,
    }


def _lund_planes(n_pseudojets, node, parent_a, parent_b, soft):
    """Lund-plane index and depth of every splitting.

    Appendix A of arXiv:2206.14225: the harder daughter inherits the index
    ``l`` of its parent, the softer gets ``l + 1``; depth counts the
    splittings above. Path sums to the root by pointer jumping over the
    mergings, plane and depth packed in one int64.
    """
    n_merge = len(node)
    merge_of = np.full(n_pseudojets, -1, dtype=np.int64)  # pseudojet -> merging index
    merge_of[node] = np.arange(n_merge)
    up = np.arange(n_merge)  # the merging that consumes this one (roots: themselves)
    val = np.zeros(n_merge, dtype=np.int64)
    for parent in (parent_a, parent_b):
        internal = merge_of[parent] >= 0
        m_par = merge_of[parent[internal]]
        up[m_par] = np.nonzero(internal)[0]
        val[m_par] = 1 + ((parent[internal] == soft[internal]).astype(np.int64) << _PLANE_SHIFT)
    while True:
        val += val[up]
        nxt = up[up]
        if np.array_equal(nxt, up):
            break
        up = nxt
    return val >> _PLANE_SHIFT, val & ((1 << _PLANE_SHIFT) - 1)


def _decluster(counts, p4):
    """Full C/A declustering of a batch of jets.

    Parameters
    ----------
    counts : ndarray of int, shape (n_jets,)
    p4 : ndarray of shape (counts.sum(), 4)
        E, px, py, pz of the constituents, jet after jet.

    Returns
    -------
    jet : ndarray of int, shape (n_splittings,)
        Jet of each splitting; splittings are ordered by jet, then in
        declustering order (last C/A merging first).
    obs : dict of str -> ndarray of shape (n_splittings,)
        The fields of :data:`DECLUSTERING_FIELDS`.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if p4.shape[0] == 0:
        import_fastjet()  # same ImportError as for non-empty input
        return np.zeros(0, np.int64), {f: np.zeros(0) for f in DECLUSTERING_FIELDS}
    pseudojets, n_pseudojets, history, n_history = _cluster_ca(counts, p4)
    jet, node, parent_a, parent_b = _history_mergings(counts, n_pseudojets, history, n_history)
    soft, obs = _splitting_observables(pseudojets, node, parent_a, parent_b)
    obs["plane"], obs["depth"] = _lund_planes(len(pseudojets), node, parent_a, parent_b, soft)
    out_order = np.lexsort((-node, jet))
    return jet[out_order], {k: obs[k][out_order] for k in DECLUSTERING_FIELDS}


class LundPlane(_ConstituentTransformer):
    """Lund-plane images of jets from their Cambridge/Aachen declustering.

    Each jet is reclustered with the C/A algorithm (scikit-hep ``fastjet``,
    E-scheme, a radius large enough to give one tree per jet) and the whole
    clustering tree is undone. Every splitting ``a -> b c`` (``b`` harder in
    pT) gives a point ``(ln 1/Delta, ln kT)`` with ``Delta`` the
    rapidity-azimuth distance of ``b`` and ``c`` and ``kT = pT_c * Delta``
    (the convention of Dreyer, Salam and Soyez and of FastJet's
    ``LundGenerator``). Splittings are assigned to Lund planes as in appendix
    A of arXiv:2206.14225: the harder daughter inherits the plane index ``l``
    of its parent and the softer one gets ``l + 1``; ``l = 0`` is the primary
    plane (following the harder branch from the jet), ``l = 1`` the secondary
    planes of the primary emissions, and so on. The points are histogrammed in
    fixed bins.

    The transformer is stateless: :meth:`fit` only validates. Requires the
    optional ``fastjet`` package (``pip install "jetad[generate]"``).

    Parameters
    ----------
    columns : sequence of str, default=("E", "px", "py", "pz")
        Column names of the constituent array (see :mod:`jetad.jets`).
        Constituents given as ``(pt, eta, phi)`` are taken massless unless an
        ``m`` column is present.
    planes : {"primary", "all"} or int, default="primary"
        ``"primary"``: splittings with ``l = 0``; ``"all"``: every splitting
        in one image; an integer ``L``: ``L`` channels, channel ``l`` holding
        the splittings of plane ``l`` (``0 <= l < L``).
    n_bins : int or (int, int), default=40
        Image size ``(H, W)``: ``H`` rows along ``ln kT``, ``W`` columns along
        ``ln 1/Delta``.
    ln_inv_delta_range : (float, float), default=(0.0, 6.0)
        Range of ``ln 1/Delta`` (columns, left to right).
    ln_kt_range : (float, float), default=(-2.0, 5.0)
        Range of ``ln (kT / GeV)`` (rows, top row = largest ``ln kT``, so that
        ``imshow`` shows ``kT`` increasing upwards). Splittings outside the
        ranges are dropped.
    weight : {None, "kt", "z", "kappa"}, default=None
        Pixel value of a splitting: ``None`` counts splittings, otherwise
        their ``kT``, ``z`` or ``kappa = z * Delta`` are summed.
    normalize : bool, default=False
        Divide each image (all channels together) by its sum, so non-empty
        images sum to 1. By default pixels hold raw counts (or weight sums).
    output_shape : {"flat", "image"}, default="flat"
        ``"flat"``: ``(n_jets, C * H * W)`` float32; ``"image"``:
        ``(n_jets, C, H, W)`` float32, ``C`` the number of channels.

    Notes
    -----
    :meth:`declusterings` returns the raw splittings with their observables
    (eq. 17 of arXiv:2206.14225), including the mass drop
    ``d = max(m_b, m_c) / m_a`` and the declustering ``depth`` (the number of
    splittings above it in the tree; for primary splittings, the index along
    the primary chain). The paper's appendix writes ``kT = pT_b Delta`` and
    ``z = pT_b / (pT_b + pT_c)`` with ``b`` the harder daughter; we use the
    standard softer-branch definitions, as the public reference code does.

    Jets without constituents give all-zero images and one
    :class:`~jetad.preprocessing.EmptyJetWarning` per call; jets with one
    constituent have no splitting and give zero images without a warning.

    Examples
    --------
    >>> import numpy as np
    >>> from jetad import LundPlane
    >>> jet = np.array([[[400.0, 0.0, 0.0, 0.0], [50.0, 0.1, 0.0, 0.0]]])  # pt, eta, phi, pid
    >>> img = LundPlane(columns=("pt", "eta", "phi", "pid")).transform(jet)
    >>> img.shape, float(img.sum())
    ((1, 1600), 1.0)
    """

    def __init__(
        self,
        columns=("E", "px", "py", "pz"),
        planes="primary",
        n_bins=40,
        ln_inv_delta_range=(0.0, 6.0),
        ln_kt_range=(-2.0, 5.0),
        weight=None,
        normalize=False,
        output_shape="flat",
    ):
        self.columns = columns
        self.planes = planes
        self.n_bins = n_bins
        self.ln_inv_delta_range = ln_inv_delta_range
        self.ln_kt_range = ln_kt_range
        self.weight = weight
        self.normalize = normalize
        self.output_shape = output_shape

    # -- parameters -------------------------------------------------------------
    def _n_channels(self):
        if isinstance(self.planes, str) and self.planes in ("primary", "all"):
            return 1
        if isinstance(self.planes, numbers.Integral) and not isinstance(self.planes, bool) \
                and self.planes >= 1:
            return int(self.planes)
        raise ValueError(f"planes must be 'primary', 'all' or a positive int, got {self.planes!r}")

    def _image_shape(self):
        h, w = (int(v) for v in _check_shape_param(self.n_bins, "n_bins"))
        return self._n_channels() * h, w

    def _check_params(self):
        self._check_common_params()
        self._n_channels()
        _check_shape_param(self.n_bins, "n_bins")
        for name in ("ln_inv_delta_range", "ln_kt_range"):
            lo, hi = _check_shape_param(getattr(self, name), name, numbers.Real, positive=False)
            if not lo < hi:
                raise ValueError(f"{name} must be (low, high) with low < high, got "
                                 f"{getattr(self, name)!r}")
        if not any(self.weight is w or self.weight == w for w in _WEIGHTS):
            raise ValueError(f"weight must be one of {_WEIGHTS}, got {self.weight!r}")
        if not isinstance(self.normalize, (bool, np.bool_)):
            raise ValueError(f"normalize must be a bool, got {self.normalize!r}")

    def get_feature_names_out(self, input_features=None):
        """Names of the output pixels.

        ``"lund_<row>_<col>"`` for one channel, ``"lund<l>_<row>_<col>"`` for
        ``planes=L`` channels; row-major, channel first.

        Returns
        -------
        feature_names_out : ndarray of str objects, shape (C * H * W,)
        """
        self._check_params()
        n_ch = self._n_channels()
        h, w = (int(v) for v in _check_shape_param(self.n_bins, "n_bins"))
        rows, cols = np.divmod(np.arange(h * w), w)
        prefixes = ["lund"] if isinstance(self.planes, str) else [f"lund{i}" for i in range(n_ch)]
        return np.asarray([f"{p}_{r}_{c}" for p in prefixes for r, c in zip(rows, cols, strict=True)],
                          dtype=object)

    # -- transform ---------------------------------------------------------------
    def declusterings(self, X):
        """Every C/A splitting of every jet, with its observables.

        Parameters
        ----------
        X : array-like of shape (n_jets, n_constituents, n_columns), list of arrays or awkward array
            Jet constituents.

        Returns
        -------
        splittings : awkward.Array of type ``n_jets * var * {fields}``
            Per jet, its splittings in declustering order (the last C/A
            merging, i.e. the widest-angle splitting, first), all planes,
            with fields

            - ``delta``: rapidity-azimuth distance of the two daughters;
            - ``kt``: ``pT_soft * delta`` (GeV);
            - ``z``: ``pT_soft / (pT_soft + pT_hard)``;
            - ``kappa``: ``z * delta``;
            - ``m``: invariant mass of the parent (GeV);
            - ``mass_drop``: ``d = max(m_b, m_c) / m_a`` (NaN if ``m_a = 0``);
            - ``pt``: scalar sum of the daughters' pT;
            - ``ln_inv_delta``, ``ln_kt``: the Lund coordinates;
            - ``plane``: the Lund-plane index ``l`` (0 = primary);
            - ``depth``: number of splittings above this one in the tree.
        """
        import awkward as ak

        self._check_params()
        jets, fields, n_total = [], {f: [] for f in DECLUSTERING_FIELDS}, 0
        for start, _, counts, p4 in _iter_chunks(X, self.columns, convert=_flat_p4):
            jet, obs = _decluster(counts, p4)
            jets.append(jet + start)
            n_total = start + len(counts)
            for f in DECLUSTERING_FIELDS:
                fields[f].append(obs[f])
        jet = np.concatenate(jets)
        per_jet = np.bincount(jet, minlength=n_total)
        record = ak.zip({f: np.concatenate(v) for f, v in fields.items()})
        return ak.unflatten(record, per_jet)

    def transform(self, X):
        """Lund-plane images of the constituents ``X``.

        Parameters
        ----------
        X : array-like of shape (n_jets, n_constituents, n_columns), list of arrays or awkward array
            Jet constituents, zero-padded, columns as in ``columns``.

        Returns
        -------
        images : ndarray of shape (n_jets, C * H * W) or (n_jets, C, H, W), dtype float32

        Raises
        ------
        ValueError
            For invalid parameters or input (NaN/inf, negative pT or energy,
            wrong number of columns, not 3-D, no jets).
        ImportError
            If ``fastjet`` is not installed.
        """
        self._check_params()
        n_ch = self._n_channels()
        h, w = (int(v) for v in _check_shape_param(self.n_bins, "n_bins"))
        x_lo, x_hi = (float(v) for v in self.ln_inv_delta_range)
        y_lo, y_hi = (float(v) for v in self.ln_kt_range)
        out, n_empty = None, 0
        for start, n_jets, counts, p4 in _iter_chunks(X, self.columns, convert=_flat_p4):
            if out is None:
                out = np.zeros((n_jets, n_ch * h * w), dtype=np.float32)
            n_empty += int(np.sum(counts == 0))
            jet, obs = _decluster(counts, p4)
            plane = obs["plane"]
            if self.planes == "primary":
                sel, ch = plane == 0, 0
            elif self.planes == "all":
                sel, ch = np.ones(len(plane), bool), 0
            else:
                sel, ch = plane < n_ch, plane
            with np.errstate(invalid="ignore"):
                col = np.floor((obs["ln_inv_delta"] - x_lo) * (w / (x_hi - x_lo)))
                row = np.floor((y_hi - obs["ln_kt"]) * (h / (y_hi - y_lo)))
                sel &= (col >= 0) & (col < w) & (row >= 0) & (row < h)
            ch = ch[sel] if isinstance(ch, np.ndarray) else ch
            flat = ((jet[sel] * n_ch + ch) * h + row[sel].astype(np.int64)) * w \
                + col[sel].astype(np.int64)
            jet_in = jet[sel]
            wgt = np.ones(len(jet_in)) if self.weight is None else obs[self.weight][sel]
            if self.normalize:
                total = np.bincount(jet_in, weights=wgt, minlength=len(counts))
                wgt = wgt / np.where(total > 0, total, 1.0)[jet_in]
            np.add.at(out[start:start + len(counts)].reshape(-1), flat, wgt.astype(np.float32))
        _warn_empty(n_empty, len(out), "have no constituents")
        return self._finish(out.reshape(len(out), n_ch * h, w), n_ch)
