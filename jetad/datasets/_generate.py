"""Jet generation with Pythia 8 (``pythia8mc``), a detector response and FastJet."""

import contextlib
import math
import numbers
import os
import platform
import sys
import time

import numpy as np

from ..utils import check_random_seed, import_optional
from . import _io
from ._cards import KINDS, pythia_settings, resolve_card
from ._detector import detector_response

__all__ = ["generate_jets"]

_PYTHIA_SEED_MAX = 900_000_000
_INVISIBLE_IDS = (12, 14, 16, 51, 52, 53)
# a rough prior on the selection efficiency, only used to size the first batch
_EFF_GUESS = {"qcd": 0.25, "top": 0.15, "qcd_lowpt": 0.2, "aachen": 0.3, "heidelberg": 0.3}
_MAX_EVENTS_NO_JET = 20_000  # give up if no jet passes in this many events


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def _c_stdout_silenced():
    """Silence C-level stdout (the FastJet banner) for the duration of the block."""
    try:
        sys.stdout.flush()
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # no real stdout (e.g. captured)
        fd = 1
    try:
        saved = os.dup(fd)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    try:
        yield
    finally:
        os.dup2(saved, fd)
        os.close(devnull)
        os.close(saved)


_FASTJET = None


def _fastjet():
    global _FASTJET
    if _FASTJET is None:
        fastjet = import_optional("fastjet")
        with _c_stdout_silenced():
            fastjet._swig.ClusterSequence.print_banner()
        _FASTJET = fastjet
    return _FASTJET


def _versions():
    from .. import __version__

    out = {"jetad": __version__, "numpy": np.__version__, "python": platform.python_version()}
    for name in ("pythia8mc", "fastjet", "awkward"):
        try:
            from importlib.metadata import version

            out[name] = version(name)
        except Exception:  # pragma: no cover - not installed
            out[name] = None
    return out


def _chunk_seeds(base_seed, chunk_index):
    """Pythia seed and detector RNG of a chunk, derived from the run seed only."""
    ss = np.random.SeedSequence(base_seed, spawn_key=(chunk_index,))
    pythia_seed = int(ss.generate_state(1, dtype=np.uint32)[0]) % _PYTHIA_SEED_MAX + 1
    det_rng = np.random.default_rng(np.random.SeedSequence(base_seed, spawn_key=(chunk_index, 1)))
    return pythia_seed, det_rng


def _make_pythia(card, seed):
    pythia8mc = import_optional("pythia8mc")
    py = pythia8mc.Pythia("", False)
    for s in pythia_settings(card, seed=seed):
        if not py.readString(s):
            raise ValueError(f"Pythia rejected the setting {s!r}")
    with _c_stdout_silenced():
        ok = py.init()
    if not ok:
        raise RuntimeError(f"Pythia initialisation failed for process {card['process']!r}")
    return py


class _ParticleTable:
    """Cached charge / visibility lookup by PDG id (from Pythia's particle data)."""

    def __init__(self, particle_data):
        self._pd = particle_data
        self._ids = np.zeros(0, dtype=np.int64)
        self._charge = np.zeros(0)
        self._visible = np.zeros(0, dtype=bool)

    def lookup(self, ids):
        ids = np.asarray(ids, dtype=np.int64)
        new = np.setdiff1d(np.unique(ids), self._ids, assume_unique=True)
        if len(new):
            charge = [self._pd.charge(int(i)) for i in new]
            visible = [
                bool(self._pd.isVisible(int(i))) and abs(int(i)) not in _INVISIBLE_IDS
                and not 4_900_000 <= abs(int(i)) < 5_000_000
                for i in new
            ]
            ids_all = np.concatenate([self._ids, new])
            order = np.argsort(ids_all)
            self._ids = ids_all[order]
            self._charge = np.concatenate([self._charge, charge])[order]
            self._visible = np.concatenate([self._visible, visible])[order]
        pos = np.searchsorted(self._ids, ids)
        return self._charge[pos], self._visible[pos]


def _flat_event_record(batch):
    """Flat numpy view of a Pythia awkward batch: fields, event index, offsets."""
    ak = import_optional("awkward")
    prt = batch.prt
    counts = ak.to_numpy(ak.num(prt, axis=1)).astype(np.int64)
    flat = ak.flatten(prt, axis=1)
    rec = {
        "id": ak.to_numpy(flat.id).astype(np.int64),
        "status": ak.to_numpy(flat.status),
        "mother1": ak.to_numpy(flat.mother1).astype(np.int64),
        "px": ak.to_numpy(flat.p.px),
        "py": ak.to_numpy(flat.p.py),
        "pz": ak.to_numpy(flat.p.pz),
        "e": ak.to_numpy(flat.p.e),
    }
    offsets = np.cumsum(counts) - counts
    event = np.repeat(np.arange(len(counts)), counts)
    return rec, event, offsets


def _top_partons(rec, event, offsets, n_events):
    """Parton-level top and its b, q, q' per event: (n_events, 2, 4, 3) of (px, py, pz).

    Slot 0 = top, 1 = anti-top; entries 0..3 = top, b, q, q'. Missing partons
    stay zero (and never match).
    """
    pid, status = rec["id"], rec["status"]
    mom = offsets[event] + rec["mother1"]
    mother_id = np.where(rec["mother1"] > 0, pid[np.clip(mom, 0, len(pid) - 1)], 0)
    p3 = np.stack([rec["px"], rec["py"], rec["pz"]], axis=-1)
    out = np.zeros((n_events, 2, 4, 3))
    # the top that decays (last copy) is the mother of the W; b and q from the decays
    is_w = (np.abs(pid) == 24) & (np.abs(mother_id) == 6)
    is_b = (np.abs(pid) == 5) & (np.abs(status) == 23) & (np.abs(mother_id) == 6)
    is_q = (np.abs(pid) <= 5) & (np.abs(status) == 23) & (np.abs(mother_id) == 24)
    idx = np.flatnonzero(is_w)
    top = mom[idx]
    out[event[idx], (pid[top] < 0).astype(int), 0] = p3[top]
    idx = np.flatnonzero(is_b)
    out[event[idx], (pid[idx] < 0).astype(int), 1] = p3[idx]
    idx = np.flatnonzero(is_q)
    side = (mother_id[idx] < 0).astype(int)  # W+ belongs to the top, W- to the anti-top
    # first / second quark of each W: order by position in the record
    key = event[idx] * 2 + side
    first = np.ones(len(idx), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    out[event[idx], side, np.where(first, 2, 3)] = p3[idx]
    return out


def _delta_r(eta1, phi1, eta2, phi2):
    dphi = np.mod(phi1 - phi2 + np.pi, 2 * np.pi) - np.pi
    return np.hypot(eta1 - eta2, dphi)


def _eta_phi(p3):
    pt = np.hypot(p3[..., 0], p3[..., 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(pt > 0, np.arcsinh(p3[..., 2] / np.where(pt > 0, pt, 1.0)), 1e3)
    return eta, np.arctan2(p3[..., 1], p3[..., 0])


def _process_batch(batch, card, detector, rng, table):
    """Select jets in one batch of events.

    Returns
    -------
    X : (n_selected, n_constituents, 4) float32
    event_index : (n_selected,) index of the event of each jet in the batch
    """
    ak = import_optional("awkward")
    fastjet = _fastjet()
    rec, event, offsets = _flat_event_record(batch)
    n_events = len(offsets)
    final = rec["status"] > 0
    charge, visible = table.lookup(rec["id"][final])
    f_idx = np.flatnonzero(final)[visible]
    charge = charge[visible]
    if detector:
        p4, obj_event = detector_response(
            rec["px"][f_idx], rec["py"][f_idx], rec["pz"][f_idx], rec["e"][f_idx],
            rec["id"][f_idx], charge, event[f_idx], rng,
        )
    else:
        p4 = np.stack([rec["e"][f_idx], rec["px"][f_idx], rec["py"][f_idx], rec["pz"][f_idx]],
                      axis=-1)
        obj_event = event[f_idx]
    counts = np.bincount(obj_event, minlength=n_events)
    parts = ak.unflatten(
        ak.zip({"px": p4[:, 1], "py": p4[:, 2], "pz": p4[:, 3], "E": p4[:, 0]},
               with_name="Momentum4D"),
        counts,
    )
    jet_def = fastjet.JetDefinition(fastjet.antikt_algorithm, card["jet_r"])
    ptmin = 0.5 * card["pt_min"]
    cs = fastjet.ClusterSequence(parts, jet_def)
    jets = cs.inclusive_jets(ptmin)
    index = cs.constituent_index(ptmin)
    jet_pt = np.hypot(jets.px, jets.py)
    lead = ak.argmax(jet_pt, axis=1, keepdims=True)
    lead_idx = ak.firsts(index[lead])  # events x var (None when no jet)
    has_jet = ~ak.to_numpy(ak.is_none(lead_idx))
    ev_sel = np.flatnonzero(has_jet)
    lead_idx = lead_idx[has_jet]
    n_cons = np.asarray(ak.to_numpy(ak.num(lead_idx, axis=1)), dtype=np.int64)
    obj_offsets = np.cumsum(counts) - counts
    cons_global = ak.to_numpy(ak.flatten(lead_idx)).astype(np.int64) + np.repeat(
        obj_offsets[ev_sel], n_cons
    )
    cons = p4[cons_global]
    jet_of = np.repeat(np.arange(len(ev_sel)), n_cons)
    # pT order inside each jet, keep the leading n_constituents
    cpt = np.hypot(cons[:, 1], cons[:, 2])
    order = np.lexsort((-cpt, jet_of))
    cons, jet_of = cons[order], jet_of[order]
    starts = np.cumsum(n_cons) - n_cons
    pos = np.arange(len(jet_of)) - np.repeat(starts, n_cons)
    width = card["n_constituents"]
    keep = pos < width
    X = np.zeros((len(ev_sel), width, 4), dtype=np.float32)
    X[jet_of[keep], pos[keep]] = cons[keep]
    # cuts on the jet as stored (float32 constituents, truncated)
    jp4 = X.astype(np.float64).sum(axis=1)
    pt = np.hypot(jp4[:, 1], jp4[:, 2])
    eta, phi = _eta_phi(jp4[:, 1:])
    sel = (pt >= card["pt_min"]) & (pt <= card["pt_max"]) & (np.abs(eta) < card["eta_max"])
    if card["process"] == "ttbar":
        partons = _top_partons(rec, event, offsets, n_events)[ev_sel]  # (n, 2, 4, 3)
        p_eta, p_phi = _eta_phi(partons)
        dr = _delta_r(eta[:, None, None], phi[:, None, None], p_eta, p_phi)
        matched = np.any(np.all(dr < card["match_r"], axis=2), axis=1)
        sel &= matched
    return X[sel], ev_sel[sel]


def _generate_chunk(card, kind, detector, base_seed, chunk_index, n_target):
    """Generate ``n_target`` selected jets for one chunk (runs in a worker)."""
    import_optional("awkward")
    pythia_seed, rng = _chunk_seeds(base_seed, chunk_index)
    t0 = time.perf_counter()
    py = _make_pythia(card, pythia_seed)
    table = _ParticleTable(py.particleData)
    jets, n_events, n_tried = [], 0, 0
    eff = _EFF_GUESS.get(kind, 0.2)
    n_have = 0
    while n_have < n_target:
        need = n_target - n_have
        batch_size = int(min(max(math.ceil(1.15 * need / max(eff, 1e-3)) + 10, 50), 2000))
        batch = py.nextBatch(batch_size, errorMode="skip")
        n_batch = len(batch)
        X, ev_idx = _process_batch(batch, card, detector, rng, table)
        n_tried += n_batch
        if len(X) >= need:
            X, ev_idx = X[:need], ev_idx[:need]
            n_events += int(ev_idx[-1]) + 1
        else:
            n_events += n_batch
        jets.append(X)
        n_have += len(X)
        eff = max(n_have, 0.5) / max(n_events, 1)
        if n_have == 0 and n_events >= _MAX_EVENTS_NO_JET:
            raise RuntimeError(
                f"no jet passed the selection in {n_events} {kind!r} events; check the "
                f"pt_min/pt_max/eta_max and process parameters"
            )
    info = py.infoPython()
    stats = {
        "chunk": int(chunk_index),
        "n_jets": int(n_have),
        "n_events": int(n_events),
        "pythia_seed": pythia_seed,
        "sigma_gen_pb": float(info.sigmaGen()) * 1e9,
        "seconds": time.perf_counter() - t0,
    }
    width = card["n_constituents"]
    X = np.concatenate(jets) if jets else np.zeros((0, width, 4), np.float32)
    return X, stats


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _build_info(settings, stats, versions, elapsed):
    n_events = sum(s["n_events"] for s in stats)
    n_jets = sum(s["n_jets"] for s in stats)
    sig = [s["sigma_gen_pb"] for s in stats if s["n_events"]]
    return {
        "generator": "jetad.datasets.generate_jets",
        "kind": settings["kind"],
        "n_jets": n_jets,
        "seed": settings["seed"],
        "detector": settings["detector"],
        "chunk_size": settings["chunk_size"],
        "card": settings["card"],
        "pythia_settings": pythia_settings(settings["card"]),
        "n_events": n_events,
        "selection_efficiency": n_jets / n_events if n_events else float("nan"),
        "sigma_gen_pb": float(np.mean(sig)) if sig else float("nan"),
        "chunks": stats,
        "columns": ["E", "px", "py", "pz"],
        "versions": versions,
        "generation_seconds": elapsed,
    }


def _run_chunks(tasks, n_jobs):
    """Yield chunk results in task order, through joblib (any backend)."""
    from joblib import Parallel, delayed

    if n_jobs == 1 or len(tasks) <= 1:
        for t in tasks:
            yield _generate_chunk(*t)
        return
    parallel = Parallel(n_jobs=n_jobs, return_as="generator", batch_size=1)
    yield from parallel(delayed(_generate_chunk)(*t) for t in tasks)


def generate_jets(kind, n_jets, *, random_state=None, n_jobs=1, detector=True, output=None,
                  chunk_size=1000, progress=True, return_info=False, **card_overrides):
    """Simulate jets with Pythia 8, a Delphes-ATLAS-like detector response and FastJet.

    Each event is generated with Pythia 8 (``pythia8mc``, batch interface),
    optionally passed through the detector response (tracks with the ATLAS
    card's efficiency and resolution, ECAL 0.0174 x 1 degree and HCAL
    0.1 x 10 degree towers, energy-flow objects), clustered with anti-kT
    (R = 0.8, FastJet's multi-event interface), and the leading jet is kept if
    it passes the kind's selection. Its constituents are stored pT-ordered and
    zero-padded, as in the public top-tagging dataset.

    Kinds (the full parameter sets are in ``docs/generation_cards.md``):

    ``"qcd"``, ``"top"``
        14 TeV, no MPI, pT-hat in [450, 750) GeV, leading jet
        550 <= pT <= 650 GeV, ``|eta| < 2``. ``"top"``: hadronic tt-bar (W -> q q'
        only); the jet must lie within Delta R < 0.8 of a parton-level top and
        of its b, q and q'. ``"qcd"``: ``HardQCD:all``.
    ``"qcd_lowpt"``
        QCD dijets, pT-hat in [100, 400) GeV, leading jet 150 <= pT <= 300 GeV.
    ``"aachen"``
        Semi-visible dark showers (Pythia Hidden Valley, Z' -> q_v q_v-bar with
        ``mzprime=1000``, dark SU(3), 2 flavours, ``lambda_dark=5``,
        ``m_pi_dark=4``, ``m_rho_dark=5``, ``prob_vector=0.5``): dark pions
        and off-diagonal dark rhos are stable and invisible, only the diagonal
        dark rho decays to SM quarks (invisible fraction r_inv = 0.75) ->
        sparser jets than QCD. Same jet selection as ``"qcd_lowpt"``.
    ``"heidelberg"``
        Fully visible dark showers (``mzprime=500``, ``lambda_dark=10``,
        ``m_pi_dark=10``, ``m_rho_dark=12``): every dark meson decays to a light
        q q-bar pair that is showered and hadronised -> denser jets with extra
        two-prong substructure.

    Parameters
    ----------
    kind : {"qcd", "top", "qcd_lowpt", "aachen", "heidelberg"}
        Which jets to simulate.
    n_jets : int
        Number of selected jets to return.
    random_state : int, RandomState instance or None, default=None
        Seed of the whole run. Chunk ``i`` is generated with a Pythia seed and
        a detector random stream derived from ``(seed, i)`` only, so the
        output is identical for any ``n_jobs``. ``None`` draws a fresh seed
        (recorded in ``info["seed"]``); when resuming an ``output`` file it
        reuses the file's seed.
    n_jobs : int, default=1
        Number of chunks generated in parallel through joblib (worker
        processes with the default backend; ``joblib.parallel_config`` selects
        others, e.g. ``backend="dask"``). ``-1`` uses all cores.
    detector : bool, default=True
        Apply the detector response; ``False`` clusters the visible
        final-state particles (particle level).
    output : str or path-like, optional
        HDF5 file to write. Finished chunks are appended to ``output +
        ".partial"`` as they arrive; a rerun with the same arguments resumes
        from there, and the complete file is moved to ``output`` at the end.
        An existing complete ``output`` made with the same settings is loaded
        instead of regenerated. Different settings raise ``ValueError``.
    chunk_size : int, default=1000
        Jets per chunk (unit of parallelism and of resuming).
    progress : bool, default=True
        Show a tqdm progress bar (per finished chunk).
    return_info : bool, default=False
        Also return the provenance dictionary.
    **card_overrides
        Replace generation parameters of ``kind``: e.g. ``pt_min``,
        ``pt_max``, ``eta_max``, ``pthat_min``, ``pthat_max``, ``mpi``,
        ``jet_r``, ``n_constituents``, ``extra_settings`` (raw Pythia
        commands), and for the dark kinds ``mzprime``, ``lambda_dark``,
        ``m_pi_dark``, ``m_rho_dark``, ``n_colors``, ``n_flavors``,
        ``prob_vector``, ``pi_diag_visible``, ``rho_diag_visible``,
        ``offdiag_visible``. See :func:`jetad.datasets.default_card`.

    Returns
    -------
    X : ndarray of shape (n_jets, n_constituents, 4), float32
        Constituents ``(E, px, py, pz)`` in GeV, pT-ordered, zero-padded
        (``n_constituents=200`` by default).
    info : dict
        Only with ``return_info=True``: kind, seed, resolved card, Pythia
        settings, events generated, selection efficiency, generator cross
        section, per-chunk statistics and package versions.

    Examples
    --------
    >>> from jetad.datasets import generate_jets
    >>> X, info = generate_jets("top", 100, random_state=0, return_info=True,
    ...                         progress=False)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (100, 200, 4)
    """
    if kind not in KINDS:
        raise ValueError(f"Unknown jet kind {kind!r}; choose one of {list(KINDS)}")
    n_jets = _check_int("n_jets", n_jets, 1)
    chunk_size = _check_int("chunk_size", chunk_size, 1)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a non-zero integer, got {n_jobs!r}")
    if not isinstance(detector, (bool, np.bool_)):
        raise TypeError(f"detector must be a bool, got {detector!r}")
    card = resolve_card(kind, card_overrides)
    # fail early (in the parent) when the generator is not installed
    import_optional("pythia8mc")
    import_optional("fastjet")
    import_optional("awkward")

    lock = _io.generation_lock(output) if output is not None else contextlib.nullcontext()
    with lock:
        X, info = _generate(kind, n_jets, card, random_state, n_jobs, bool(detector), output,
                            chunk_size, progress)
    return (X, info) if return_info else X


def _generate(kind, n_jets, card, random_state, n_jobs, detector, output, chunk_size,
              progress):
    partial = _io.partial_path(output) if output is not None else None
    state = None
    if partial is not None and os.path.exists(partial):
        state = _io.read_partial_state(partial)
    if random_state is None:
        if state is not None:
            seed = state["settings"]["seed"]
        elif output is not None and os.path.exists(output):
            seed = (_io.read_settings(output) or {}).get("seed")
        else:
            seed = None
        if seed is None:  # fresh OS entropy, without touching numpy's global RNG
            seed = int(np.random.SeedSequence().entropy % (2**31 - 1))
    else:
        seed = check_random_seed(random_state)
    settings = {"kind": kind, "n_jets": n_jets, "chunk_size": chunk_size,
                "detector": bool(detector), "seed": seed, "card": card}
    settings = _io._jsonable(settings)

    if output is not None and os.path.exists(output):
        stored = _io.read_settings(output)
        if stored != settings:
            raise ValueError(
                f"{os.fspath(output)!r} already exists and was made with different settings "
                f"({_diff(stored, settings)}); delete it or choose another output path"
            )
        X, info = _io.load_jets(output)
        return X, info

    sizes = [min(chunk_size, n_jets - i) for i in range(0, n_jets, chunk_size)]
    done_stats = []
    if state is not None:
        if state["settings"] != settings:
            raise ValueError(
                f"Cannot resume {partial!r}: it was started with different settings "
                f"({_diff(state['settings'], settings)}); delete it or pass the same arguments"
            )
        done_stats = state["chunk_stats"]
    elif partial is not None:
        _io.create_partial(partial, settings, card["n_constituents"])

    versions = _versions()
    t0 = time.perf_counter()
    tasks = [(card, kind, bool(detector), seed, i, sizes[i])
             for i in range(len(done_stats), len(sizes))]
    results = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_jets, initial=sum(s["n_jets"] for s in done_stats),
                   desc=f"generating {kind} jets", unit="jet")
    try:
        for X_chunk, stats in _run_chunks(tasks, n_jobs):
            if partial is not None:
                _io.append_chunk(partial, X_chunk, stats)
            else:
                results.append(X_chunk)
            done_stats.append(stats)
            if bar is not None:
                bar.update(len(X_chunk))
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t0
    info = _build_info(settings, done_stats, versions, elapsed)
    if partial is not None:
        _io.finalize_partial(partial, output, info)
        X, info = _io.load_jets(output)
    else:
        X = np.concatenate(results)
    return X, info


def _diff(a, b):
    if not isinstance(a, dict) or not isinstance(b, dict):
        return "no generation settings stored" if a is None else "settings differ"
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    parts = []
    for k in keys:
        if isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
            sub = sorted(j for j in set(a[k]) | set(b[k]) if a[k].get(j) != b[k].get(j))
            parts += [f"{k}.{j}: stored {a[k].get(j)!r}, requested {b[k].get(j)!r}" for j in sub]
        else:
            parts.append(f"{k}: stored {a.get(k)!r}, requested {b.get(k)!r}")
    return "; ".join(parts)
