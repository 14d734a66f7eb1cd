"""Reader of jet constituents from ROOT files (uproot): Delphes trees or flat branches.

Two layouts:

* ``"delphes"``: a Delphes output tree. Jets come from a jet collection
  (``Jet.PT``, ``Jet.Eta``, ``Jet.Phi``, ``Jet.Mass``); their constituents
  either from the ``Jet.Constituents`` references (``TRefArray``, matched by
  ``fUniqueID`` to the candidate collections, by default ``EFlowTrack``,
  ``EFlowPhoton``, ``EFlowNeutralHadron``) or, when the references are not
  stored, from the candidate collections matched to the nearest jet within
  ``delta_r`` in (eta, phi). Candidates have ``PT`` (tracks) or ``ET``
  (towers), ``Eta``, ``Phi`` and, when present, ``E`` (used as is) or
  ``Mass``; otherwise they are massless.
* ``"flat"``: branches named by the user, one per constituent coordinate,
  jagged ``entry * var`` (one jet per entry) or ``entry * var * var`` (jets of
  an event, selected with ``jet_index``).

Trees are read in chunks of ``step_size`` entries, so memory stays bounded;
both TTrees and RNTuples are understood.
"""

import numbers
import os

import numpy as np

from ..jets import wrap_phi
from ..utils import import_optional
from ._padding import (
    check_max_jets,
    check_n_constituents,
    check_p4,
    p4_from_pt_eta_phi,
    pad_jets,
)

__all__ = ["load_root"]

_CANDIDATES = ("EFlowTrack", "EFlowPhoton", "EFlowNeutralHadron")
_FLAT_KEYS = {"E", "px", "py", "pz", "pt", "eta", "phi", "mass", "m"}
_UID_MASK = 0xFFFFFF  # TRefArray keeps the object number in the low 24 bits of fUniqueID


# --------------------------------------------------------------------------- reading


def _open_tree(path, tree):
    uproot = import_optional("uproot", extra="root")
    import_optional("awkward", extra="root")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such ROOT file: {path!r}")
    if not isinstance(tree, str):
        raise TypeError(f"tree must be a string, got {tree!r}")
    try:
        f = uproot.open(path)
    except Exception as exc:
        raise ValueError(f"{path!r} is not a readable ROOT file: {exc}") from exc
    try:
        obj = f[tree]
    except Exception:
        keys = sorted({k.split(";")[0] for k in f.keys(recursive=False)})
        f.close()
        raise ValueError(f"{path!r} has no tree {tree!r}; objects: {keys}") from None
    if not hasattr(obj, "arrays") or not hasattr(obj, "num_entries"):
        f.close()
        raise ValueError(f"{path!r}[{tree!r}] is a {type(obj).__name__}, not a TTree/RNTuple")
    return f, obj


def _branch_names(tree):
    try:
        return set(tree.keys(recursive=True, full_paths=False))
    except TypeError:
        return set(tree.keys())


def _require(names, available, tree):
    missing = [n for n in names if n not in available]
    if missing:
        raise ValueError(f"branch {missing[0]!r} not found in tree {tree!r}"
                         + (f" (also missing: {missing[1:]})" if missing[1:] else ""))


def _read(tree, names, start, stop):
    arrays = tree.arrays(filter_name=sorted(names), entry_start=start, entry_stop=stop,
                         library="ak")
    out = {}
    for name in names:
        field = name if name in arrays.fields else next(
            (f for f in arrays.fields if f.endswith(name)), None)
        if field is None:
            raise ValueError(f"branch {name!r} could not be read")
        out[name] = arrays[field]
    return out


def _flat_numeric(arr, name, depth):
    """Flatten a jagged numeric branch of ``depth`` list levels; check type and values."""
    import awkward as ak

    if arr.ndim != depth + 1:
        raise ValueError(f"branch {name!r} has {arr.ndim - 1} levels of lists, expected {depth}"
                         f" (type {ak.type(arr)})")
    try:
        flat = ak.to_numpy(ak.flatten(arr, axis=None))
    except Exception as exc:
        raise TypeError(f"branch {name!r} is not numeric (type {ak.type(arr)})") from exc
    if not (np.issubdtype(flat.dtype, np.number) or flat.dtype == bool):
        raise TypeError(f"branch {name!r} is not numeric (dtype {flat.dtype})")
    flat = flat.astype(np.float64)
    if not np.all(np.isfinite(flat)):
        raise ValueError(f"branch {name!r} contains NaN or infinity")
    return flat


def _counts(arr, axis):
    import awkward as ak

    return ak.to_numpy(ak.flatten(ak.num(arr, axis=axis), axis=None)).astype(np.int64)


def _same_structure(arrays, names, axis):
    ref = _counts(arrays[names[0]], axis)
    for name in names[1:]:
        other = _counts(arrays[name], axis)
        if len(other) != len(ref) or np.any(other != ref):
            raise ValueError(f"branches {names[0]!r} and {name!r} have different numbers of "
                             f"entries per list")
    return ref


def _check_nonnegative(values, name):
    if np.any(values < 0):
        raise ValueError(f"branch {name!r} contains negative values")


# --------------------------------------------------------------------------- jets


def _select_jets(jet_counts, jet_index):
    """Global indices of the selected jets, their entry and their index in the entry."""
    offsets = np.cumsum(jet_counts) - jet_counts
    entry = np.repeat(np.arange(len(jet_counts)), jet_counts)
    local = np.arange(len(entry)) - offsets[entry]
    sel = np.ones(len(entry), bool) if jet_index == "all" else local == jet_index
    return np.flatnonzero(sel), entry[sel], local[sel]


def _check_jet_index(jet_index):
    if jet_index == "all":
        return jet_index
    if (isinstance(jet_index, bool) or not isinstance(jet_index, numbers.Integral)
            or jet_index < 0):
        raise ValueError(f"jet_index must be a non-negative integer or 'all', got {jet_index!r}")
    return int(jet_index)


def _group(jet_of, n_jets, p4, selected):
    """Constituents of the ``selected`` global jets, in that order, and their counts."""
    remap = np.full(n_jets, -1, dtype=np.int64)
    remap[selected] = np.arange(len(selected))
    new = remap[jet_of]
    keep = new >= 0
    order = np.argsort(new[keep], kind="stable")
    counts = np.bincount(new[keep], minlength=len(selected))
    return counts, p4[keep][order]


# --------------------------------------------------------------------------- Delphes


def _candidate_fields(coll, available, need_uid):
    pt = next((f"{coll}.{k}" for k in ("PT", "ET") if f"{coll}.{k}" in available), None)
    if pt is None:
        raise ValueError(f"branch {coll + '.PT'!r} (or {coll + '.ET'!r}) not found")
    fields = {"pt": pt, "eta": f"{coll}.Eta", "phi": f"{coll}.Phi"}
    for key, name in (("E", f"{coll}.E"), ("mass", f"{coll}.Mass")):
        if name in available:
            fields[key] = name
            break
    if need_uid:
        fields["uid"] = f"{coll}.fUniqueID"
    return fields


def _candidates(data, specs):
    """Flat candidates of all collections: entry, p4, eta, phi, uid."""
    parts = []
    for spec in specs:
        vals = {k: _flat_numeric(data[n], n, 1) for k, n in spec.items()}
        _same_structure(data, list(spec.values()), 1)
        _check_nonnegative(vals["pt"], spec["pt"])
        p4 = p4_from_pt_eta_phi(vals["pt"], vals["eta"], vals["phi"], mass=vals.get("mass"),
                                energy=vals.get("E"))
        check_p4(p4, spec.get("E", spec["pt"]))
        counts = _counts(data[spec["pt"]], 1)
        entry = np.repeat(np.arange(len(counts)), counts)
        uid = vals["uid"].astype(np.int64) & _UID_MASK if "uid" in vals else None
        parts.append((entry, p4, vals["eta"], vals["phi"], uid))
    return [np.concatenate(c) if c[0] is not None else None for c in zip(*parts, strict=True)]


def _refs_array(arr, name):
    import awkward as ak

    if "refs" in ak.fields(arr):  # TRefArray as uproot reads it
        arr = arr["refs"]
    return _flat_numeric(arr, name, 2).astype(np.int64) & _UID_MASK, _counts(arr, 2)


def _match_refs(data, refs_name, jet_counts, cand):
    """Global jet index of each referenced candidate (matched by entry and fUniqueID)."""
    uids, per_jet = _refs_array(data[refs_name], refs_name)
    if len(per_jet) != jet_counts.sum():
        raise ValueError(f"branch {refs_name!r} does not have one list per jet")
    c_entry, c_p4, _, _, c_uid = cand
    key = c_entry * (_UID_MASK + 1) + c_uid
    key, first = np.unique(key, return_index=True)  # one object may sit in two collections
    jet_entry = np.repeat(np.arange(len(jet_counts)), jet_counts)
    ref_key = np.repeat(jet_entry, per_jet) * (_UID_MASK + 1) + uids
    pos = np.clip(np.searchsorted(key, ref_key), 0, max(len(key) - 1, 0))
    found = (key[pos] == ref_key) if len(key) else np.zeros(len(ref_key), bool)
    if not np.all(found):
        raise ValueError(
            f"{int((~found).sum())} of {len(found)} references in {refs_name!r} point to "
            f"objects outside the candidate collections; name them in "
            f"branches={{'candidates': [...]}} or use constituents='eflow'"
        )
    return np.repeat(np.arange(len(per_jet)), per_jet), c_p4[first[pos]]


def _match_delta_r(jet_eta, jet_phi, jet_counts, cand, delta_r):
    """Global jet index of each candidate within ``delta_r`` of its nearest jet."""
    c_entry, c_p4, c_eta, c_phi, _ = cand
    offsets = np.cumsum(jet_counts) - jet_counts
    best_dr2 = np.full(len(c_entry), np.inf)
    best_jet = np.zeros(len(c_entry), dtype=np.int64)
    # one pass per jet slot keeps the memory linear in the number of candidates
    for slot in range(int(jet_counts.max()) if len(jet_counts) else 0):
        has = jet_counts[c_entry] > slot
        j = offsets[c_entry[has]] + slot
        dr2 = (c_eta[has] - jet_eta[j]) ** 2 + wrap_phi(c_phi[has] - jet_phi[j]) ** 2
        better = dr2 < best_dr2[has]
        idx = np.flatnonzero(has)[better]
        best_dr2[idx], best_jet[idx] = dr2[better], j[better]
    close = best_dr2 < delta_r**2
    return best_jet[close], c_p4[close]


def _delphes_names(branches, available, constituents):
    if branches is not None and not isinstance(branches, dict):
        raise TypeError(f"branches must be a dict or None, got {type(branches).__name__}")
    branches = dict(branches or {})
    unknown = set(branches) - {"jet", "candidates"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)} in branches for layout='delphes'; "
                         f"use 'jet' and 'candidates'")
    jet = branches.get("jet", "Jet")
    colls = branches.get("candidates")
    if colls is None:
        colls = [c for c in _CANDIDATES if any(f"{c}.{k}" in available for k in ("PT", "ET"))]
    if not isinstance(jet, str) or isinstance(colls, str) or not all(
            isinstance(c, str) for c in colls):
        raise TypeError("branches['jet'] must be a string and branches['candidates'] a list "
                        "of collection names")
    if not colls:
        raise ValueError(f"no candidate collection found (looked for {list(_CANDIDATES)}); "
                         f"name them in branches={{'candidates': [...]}}")
    refs = f"{jet}.Constituents"
    if constituents == "auto":
        constituents = "refs" if refs in available else "eflow"
    jet_fields = {"pt": f"{jet}.PT", "eta": f"{jet}.Eta", "phi": f"{jet}.Phi"}
    if f"{jet}.Mass" in available:
        jet_fields["mass"] = f"{jet}.Mass"
    specs = [_candidate_fields(c, available, constituents == "refs") for c in colls]
    return jet_fields, specs, (refs if constituents == "refs" else None)


def _delphes_chunk(data, names, jet_index, delta_r):
    jet_fields, specs, refs = names
    jets = {k: _flat_numeric(data[n], n, 1) for k, n in jet_fields.items()}
    jet_counts = _same_structure(data, list(jet_fields.values()), 1)
    cand = _candidates(data, specs)
    if refs is not None:
        jet_of, p4 = _match_refs(data, refs, jet_counts, cand)
    else:
        jet_of, p4 = _match_delta_r(jets["eta"], jets["phi"], jet_counts, cand, delta_r)
    selected, entry, local = _select_jets(jet_counts, jet_index)
    counts, p4 = _group(jet_of, len(jets["pt"]), p4, selected)
    extra = {k: v[selected] for k, v in jets.items()}
    return counts, p4, entry, local, extra


# --------------------------------------------------------------------------- flat


def _flat_names(branches):
    if not isinstance(branches, dict) or not branches:
        raise TypeError("layout='flat' needs branches={column: branch name}, e.g. "
                        "{'pt': ..., 'eta': ..., 'phi': ..., 'E': ...}")
    unknown = set(branches) - _FLAT_KEYS
    if unknown:
        raise ValueError(f"unknown columns {sorted(unknown)} in branches; known: "
                         f"{sorted(_FLAT_KEYS)}")
    if not all(isinstance(v, str) for v in branches.values()):
        raise TypeError("branch names must be strings")
    keys = set(branches)
    if not ({"E", "px", "py", "pz"} <= keys or {"pt", "eta", "phi"} <= keys):
        raise ValueError(f"branches must name either (E, px, py, pz) or (pt, eta, phi[, E or "
                         f"mass]) columns, got {sorted(keys)}")
    return dict(branches)


def _flat_chunk(data, names, jet_index):
    import awkward as ak

    first = next(iter(names.values()))
    depth = data[first].ndim - 1
    if depth not in (1, 2):
        raise ValueError(f"branch {first!r} must be jagged, entry * var (one jet per entry) or "
                         f"entry * var * var (jets per entry), got {ak.type(data[first])}")
    vals = {k: _flat_numeric(data[n], n, depth) for k, n in names.items()}
    const_counts = _same_structure(data, list(names.values()), depth)
    jet_counts = (np.ones(len(const_counts), np.int64) if depth == 1
                  else _counts(data[first], 1))
    for key in ("pt", "E", "mass", "m"):
        if key in vals:
            _check_nonnegative(vals[key], names[key])
    if {"E", "px", "py", "pz"} <= set(vals):
        p4 = np.stack([vals[k] for k in ("E", "px", "py", "pz")], axis=-1)
    else:
        p4 = p4_from_pt_eta_phi(vals["pt"], vals["eta"], vals["phi"], energy=vals.get("E"),
                                mass=vals.get("mass", vals.get("m")))
    check_p4(p4, names.get("E", names.get("pt")))
    jet_of = np.repeat(np.arange(len(const_counts)), const_counts)
    selected, entry, local = _select_jets(jet_counts, 0 if depth == 1 else jet_index)
    counts, p4 = _group(jet_of, len(const_counts), p4, selected)
    return counts, p4, entry, local, {}


# --------------------------------------------------------------------------- public


def _check_options(layout, constituents, delta_r, step_size, label):
    if layout not in ("delphes", "flat"):
        raise ValueError(f"layout must be 'delphes' or 'flat', got {layout!r}")
    if constituents not in ("auto", "refs", "eflow"):
        raise ValueError(f"constituents must be 'auto', 'refs' or 'eflow', got {constituents!r}")
    if (isinstance(delta_r, bool) or not isinstance(delta_r, numbers.Real)
            or not np.isfinite(delta_r) or delta_r <= 0):
        raise ValueError(f"delta_r must be a positive number, got {delta_r!r}")
    if (isinstance(step_size, bool) or not isinstance(step_size, numbers.Integral)
            or step_size < 1):
        raise ValueError(f"step_size must be a positive integer, got {step_size!r}")
    if label is not None and (isinstance(label, bool)
                              or not isinstance(label, (str, numbers.Integral))):
        raise TypeError(f"label must be an integer, a branch name or None, got {label!r}")


def _entry_labels(data, label, entry):
    if label is None:
        return None
    if not isinstance(label, str):
        return np.full(len(entry), int(label), dtype=np.int64)
    values = _flat_numeric(data[label], label, 0)
    if np.any(np.mod(values, 1) != 0):
        raise TypeError(f"branch {label!r} must hold integer labels")
    return values.astype(np.int64)[entry]


def _layout_names(layout, branches, available, constituents, tree):
    if layout == "flat":
        names = _flat_names(branches)
        _require(list(names.values()), available, tree)
        return names, set(names.values())
    names = _delphes_names(branches, available, constituents)
    jet_fields, specs, refs = names
    wanted = set(jet_fields.values()) | {n for s in specs for n in s.values()}
    if refs is not None:
        wanted.add(refs)
    _require(sorted(wanted), available, tree)
    return names, wanted


def load_root(path, *, tree="Delphes", layout="delphes", branches=None, n_constituents=200,
              max_jets=None, jet_index=0, constituents="auto", delta_r=0.4, label=None,
              step_size=10_000):
    """Read jet constituents from a ROOT file (Delphes tree or flat branches) with uproot.

    Parameters
    ----------
    path : str or path-like
        The ROOT file.
    tree : str, default="Delphes"
        Name of the TTree (or RNTuple).
    layout : {"delphes", "flat"}, default="delphes"
        ``"delphes"``: a Delphes output tree (see :ref:`own_data`).
        ``"flat"``: constituent branches named in ``branches``.
    branches : dict, optional
        ``layout="delphes"``: optional ``{"jet": "Jet", "candidates":
        ["EFlowTrack", "EFlowPhoton", "EFlowNeutralHadron"]}`` (the jet
        collection and the constituent candidate collections; by default those
        three that exist). ``layout="flat"``: required ``{column: branch}``
        with columns ``E, px, py, pz`` or ``pt, eta, phi`` plus optionally
        ``E`` or ``mass``, e.g. ``{"pt": "part_pt", "eta": "part_eta", "phi":
        "part_phi", "E": "part_energy"}``.
    n_constituents : int or None, default=200
        Width of the output (as :func:`generate_jets`): the pT-leading
        constituents are kept, shorter jets zero-padded; ``None``: the largest
        multiplicity read.
    max_jets : int, optional
        Stop after this many jets.
    jet_index : int or "all", default=0
        Which jets of an entry: ``0`` the first (Delphes jets are pT-ordered,
        so the leading jet), ``k`` the ``k``-th (entries with fewer jets are
        skipped), ``"all"`` every jet. Unused for flat entry * var branches
        (one jet per entry).
    constituents : {"auto", "refs", "eflow"}, default="auto"
        Delphes only: ``"refs"`` follows ``<jet>.Constituents``; ``"eflow"``
        assigns each candidate to the nearest jet of its entry if closer than
        ``delta_r`` (an approximation of the clustering, exact for well
        separated anti-kT jets); ``"auto"``: refs when the branch exists.
    delta_r : float, default=0.4
        Matching radius in (eta, phi) for ``constituents="eflow"``.
    label : int or str, optional
        Label of every jet (an integer) or a branch with one integer per
        entry; returned in ``info["y"]``.
    step_size : int, default=10_000
        Entries read per chunk.

    Returns
    -------
    X : ndarray of shape (n_jets, n_constituents, 4), float32
        Constituents ``(E, px, py, pz)``, pT-ordered and zero-padded.
    info : dict
        ``source``, ``tree``, ``layout``, ``branches`` (names read),
        ``n_entries`` (entries read), per-jet arrays ``entry`` (entry
        number) and ``jet_index`` (index in the entry); for Delphes also
        ``jet_pt``, ``jet_eta``, ``jet_phi`` (and ``jet_mass``) of the jet
        collection; ``y`` if ``label`` is given, as :func:`load_jets` does.

    Raises
    ------
    ImportError
        If uproot is not installed (``pip install "jetad[root]"``).
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        Naming the tree or branch: tree or branch missing, wrong nesting,
        NaN/inf, negative pT or energy, ``E < |p|``, unmatched references.
    TypeError
        Naming the branch: a branch that is not numeric; bad argument types.
    """
    n_constituents = check_n_constituents(n_constituents)
    max_jets = check_max_jets(max_jets)
    jet_index = _check_jet_index(jet_index)
    _check_options(layout, constituents, delta_r, step_size, label)
    f, obj = _open_tree(path, tree)
    with f:
        available = _branch_names(obj)
        names, wanted = _layout_names(layout, branches, available, constituents, tree)
        if isinstance(label, str):
            _require([label], available, tree)
            wanted.add(label)
        chunks, n_read, n_total = [], 0, int(obj.num_entries)
        for start in range(0, n_total, step_size):
            if max_jets is not None and n_read >= max_jets:
                break
            stop = min(start + step_size, n_total)
            data = _read(obj, wanted, start, stop)
            part = (_flat_chunk(data, names, jet_index) if layout == "flat"
                    else _delphes_chunk(data, names, jet_index, float(delta_r)))
            y = _entry_labels(data, label, part[2])
            chunks.append((*part[:2], part[2] + start, *part[3:], y))
            n_read += len(part[0])
            last_stop = stop
    return _assemble(chunks, max_jets, n_constituents, {
        "source": os.fspath(path), "tree": tree, "layout": layout,
        "branches": sorted(wanted), "n_entries": last_stop if chunks else 0})


def _assemble(chunks, max_jets, n_constituents, info):
    if not chunks:
        chunks = [(np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0, np.int64),
                   np.zeros(0, np.int64), {}, None)]
    counts = np.concatenate([c[0] for c in chunks])
    p4 = np.concatenate([c[1] for c in chunks])
    n = len(counts) if max_jets is None else min(max_jets, len(counts))
    X = pad_jets(counts[:n], p4[:counts[:n].sum()], n_constituents)
    info["entry"] = np.concatenate([c[2] for c in chunks])[:n]
    info["jet_index"] = np.concatenate([c[3] for c in chunks])[:n]
    for key in chunks[0][4]:
        info[f"jet_{key}"] = np.concatenate([c[4][key] for c in chunks])[:n]
    if chunks[0][5] is not None:
        info["y"] = np.concatenate([c[5] for c in chunks])[:n]
    return X, info
