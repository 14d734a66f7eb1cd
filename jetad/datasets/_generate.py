"""Jet generation with Pythia 8 (``pythia8mc``), a simulated detector response and FastJet."""

import contextlib
import math
import numbers
import os
import platform
import time
import warnings

import numpy as np

from ..utils import check_random_seed, import_optional
from . import _io
from ._cards import KINDS, pythia_settings, resolve_card
from ._events import _make_pythia, _ParticleTable, _process_batch
from ._truth import matching_summary

__all__ = ["generate_jets"]

_PYTHIA_SEED_MAX = 900_000_000
_INVISIBLE_IDS = (12, 14, 16, 51, 52, 53)
# a rough prior on the selection efficiency, only used to size the first batch
_EFF_GUESS = {"qcd": 0.25, "top": 0.15, "qcd_lowpt": 0.2, "aachen": 0.3, "heidelberg": 0.3,
              "zprime_dark_light": 0.5}
_MAX_EVENTS_NO_JET = 20_000  # give up if no jet passes in this many events


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


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
    """Pythia seed and detector-response RNG of a chunk, derived from the run seed only."""
    seq = np.random.SeedSequence(base_seed, spawn_key=(chunk_index,))
    pythia_seed = int(seq.generate_state(1, dtype=np.uint32)[0]) % _PYTHIA_SEED_MAX + 1
    response_rng = np.random.default_rng(
        np.random.SeedSequence(base_seed, spawn_key=(chunk_index, 1)))
    return pythia_seed, response_rng


def _generate_chunk(card, kind, level, base_seed, chunk_index, n_target):
    """Generate ``n_target`` selected jets for one chunk (runs in a worker)."""
    import_optional("awkward")
    pythia_seed, rng = _chunk_seeds(base_seed, chunk_index)
    t0 = time.perf_counter()
    py = _make_pythia(card, pythia_seed)
    table = _ParticleTable(py.particleData)
    jets, n_events, n_tried, n_unmatched = [], 0, 0, 0
    eff = _EFF_GUESS.get(kind, 0.2)
    n_have = 0
    while n_have < n_target:
        need = n_target - n_have
        batch_size = int(min(max(math.ceil(1.15 * need / max(eff, 1e-3)) + 10, 50), 2000))
        batch = py.nextBatch(batch_size, errorMode="skip")
        n_batch = len(batch)
        X, ev_idx, ev_unmatched = _process_batch(batch, card, level, rng, table)
        n_tried += n_batch
        if len(X) >= need:
            X, ev_idx = X[:need], ev_idx[:need]
            n_events += int(ev_idx[-1]) + 1
            ev_unmatched = ev_unmatched[ev_unmatched < ev_idx[-1]]
        else:
            n_events += n_batch
        n_unmatched += len(ev_unmatched)
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
        "n_unmatched": int(n_unmatched),
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
    n_events = sum(chunk["n_events"] for chunk in stats)
    n_jets = sum(chunk["n_jets"] for chunk in stats)
    sig = [chunk["sigma_gen_pb"] for chunk in stats if chunk["n_events"]]
    return {
        "generator": "jetad.datasets.generate_jets",
        "kind": settings["kind"],
        "n_jets": n_jets,
        "seed": settings["seed"],
        "level": settings["level"],
        "chunk_size": settings["chunk_size"],
        "card": settings["card"],
        "pythia_settings": pythia_settings(settings["card"]),
        "n_events": n_events,
        "selection_efficiency": n_jets / n_events if n_events else float("nan"),
        "sigma_gen_pb": float(np.mean(sig)) if sig else float("nan"),
        "truth_matching": matching_summary(settings["card"], stats),
        "chunks": stats,
        "columns": ["E", "px", "py", "pz"],
        "versions": versions,
        "generation_seconds": elapsed,
    }


def _run_chunks(tasks, n_jobs):
    """Yield chunk results in task order, through joblib (any backend)."""
    from joblib import Parallel, delayed

    if n_jobs == 1 or len(tasks) <= 1:
        for task in tasks:
            yield _generate_chunk(*task)
        return
    parallel = Parallel(n_jobs=n_jobs, return_as="generator", batch_size=1)
    yield from parallel(delayed(_generate_chunk)(*task) for task in tasks)


def generate_jets(kind, n_jets, *, random_state=None, n_jobs=1, level="detector", output=None,
                  chunk_size=1000, progress=True, return_info=False, detector="deprecated",
                  _return_loaded=False, **card_overrides):
    """Simulate jets with Pythia 8, a Delphes-ATLAS-like detector response and FastJet.

    Each event is generated with Pythia 8 (``pythia8mc``, batch interface),
    at ``level="detector"`` passed through the simulated detector response
    (:func:`apply_detector_response`: tracks with the ATLAS
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
        The public Heidelberg card "Q50M10" (``bmdillon/pythia-dark-jets``):
        pair-produced Hidden-Valley F_v (``m_fv=50``), each decaying to
        q + q_v; dark mesons of 10 GeV decay with Pythia's default tables
        (pi_v mostly to b b-bar) -> extra decay structure inside the jet.
    ``"zprime_dark_light"``
        Fully visible Z' dark showers (``mzprime=500``, ``lambda_dark=10``,
        ``m_pi_dark=10``, ``m_rho_dark=12``), every dark meson forced to light
        q q-bar pairs -> denser jets than QCD. Not a paper's model.

    The dark kinds keep a jet only within Delta R < ``match_r`` = 0.8 of a
    hard-process dark quark; ``info["truth_matching"]`` records the rule and
    the fraction of jets in the pT / eta window that failed it.

    Parameters
    ----------
    kind : {"qcd", "top", "qcd_lowpt", "aachen", "heidelberg", "zprime_dark_light"}
        Which jets to simulate.
    n_jets : int
        Number of selected jets to return.
    random_state : int, RandomState instance or None, default=None
        Seed of the whole run. Chunk ``i`` is generated with a Pythia seed and
        a detector-response random stream derived from ``(seed, i)`` only, so the
        output is identical for any ``n_jobs``. ``None`` draws a fresh seed
        (recorded in ``info["seed"]``); when resuming an ``output`` file it
        reuses the file's seed.
    n_jobs : int, default=1
        Number of chunks generated in parallel through joblib (worker
        processes with the default backend; ``joblib.parallel_config`` selects
        others, e.g. ``backend="dask"``). ``-1`` uses all cores.
    level : {"detector", "particle"}, default="detector"
        ``"detector"``: cluster the objects of the simulated detector
        response; ``"particle"``: cluster the visible final-state particles.
    output : str or path-like, optional
        HDF5 file to write. Finished chunks are appended to ``output +
        ".partial"`` as they arrive; a rerun with the same arguments resumes
        from there, and the complete file is moved to ``output`` at the end.
        An existing complete ``output`` made with the same settings is loaded
        instead of regenerated. Different settings raise ``ValueError``.
    chunk_size : int, default=1000
        Jets per chunk (unit of parallelism and of resuming).
    progress : bool, default=True
        Show one tqdm bar on stderr over the jets, advanced per finished chunk,
        with its ETA (no terminal escape codes when stderr is not a terminal).
    return_info : bool, default=False
        Also return the provenance dictionary.
    detector : bool
        Deprecated alias of ``level``: ``True`` is ``level="detector"``,
        ``False`` is ``level="particle"``.

        .. deprecated:: 0.1
           ``detector`` will be removed in 0.2; use ``level``.
    **card_overrides
        Replace generation parameters of ``kind``: e.g. ``pt_min``,
        ``pt_max``, ``eta_max``, ``pthat_min``, ``pthat_max``, ``mpi``,
        ``jet_r``, ``n_constituents``, ``extra_settings`` (raw Pythia
        commands), ``match_r``; for the dark kinds ``m_pi_dark``,
        ``m_rho_dark``, ``n_colors``; for ``"heidelberg"`` ``m_fv``,
        ``m_q_dark``, ``kinetic_mixing``; for the Z' dark kinds ``mzprime``,
        ``lambda_dark``, ``n_flavors``, ``prob_vector``, ``pi_diag_visible``,
        ``rho_diag_visible``, ``offdiag_visible``. See
        :func:`jetad.datasets.default_card`.

    Returns
    -------
    X : ndarray of shape (n_jets, n_constituents, 4), float32
        Constituents ``(E, px, py, pz)`` in GeV, pT-ordered, zero-padded
        (``n_constituents=200`` by default).
    info : dict
        Only with ``return_info=True``: kind, seed, resolved card, Pythia
        settings, events generated, selection efficiency, generator cross
        section, truth matching, per-chunk statistics and package versions.

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
    level = _check_level(level, detector)
    card = resolve_card(kind, card_overrides)
    # fail early (in the parent) when the generator is not installed
    import_optional("pythia8mc")
    import_optional("fastjet")
    import_optional("awkward")

    lock = _io.generation_lock(output) if output is not None else contextlib.nullcontext()
    with lock:
        X, info, loaded = _generate(kind, n_jets, card, random_state, n_jobs, level, output,
                                    chunk_size, progress)
    if _return_loaded:  # the CLI: "loaded N jets from existing file" instead of "wrote"
        return X, info, loaded
    return (X, info) if return_info else X


_LEVELS = ("detector", "particle")


def _check_level(level, detector="deprecated"):
    """Validate ``level``; map the deprecated ``detector`` bool onto it."""
    if not (isinstance(detector, str) and detector == "deprecated"):
        warnings.warn(
            "The 'detector' parameter of generate_jets was deprecated in 0.1 and will be "
            "removed in 0.2; use level='detector' (detector=True) or level='particle' "
            "(detector=False) instead.",
            FutureWarning,
            stacklevel=3,
        )
        if not isinstance(detector, (bool, np.bool_)):
            raise TypeError(f"detector must be a bool, got {detector!r}")
        from_detector = "detector" if detector else "particle"
        if level != "detector" and level != from_detector:
            raise ValueError(f"detector={detector!r} contradicts level={level!r}; pass level only")
        level = from_detector
    if not isinstance(level, str) or level not in _LEVELS:
        raise ValueError(f"level must be one of {_LEVELS}, got {level!r}")
    return level


def _upgrade_settings(settings):
    """Settings or info of a file written before ``level`` replaced ``detector`` (a bool)."""
    if isinstance(settings, dict) and "detector" in settings and "level" not in settings:
        settings = dict(settings)
        settings["level"] = "detector" if settings.pop("detector") else "particle"
    return settings


def _resolve_seed(random_state, state, output):
    """Seed of the run: ``random_state``, else the one of the file being resumed or loaded."""
    if random_state is not None:
        return check_random_seed(random_state)
    if state is not None:
        seed = state["settings"]["seed"]
    elif output is not None and os.path.exists(output):
        seed = (_io.read_settings(output) or {}).get("seed")
    else:
        seed = None
    if seed is None:  # fresh OS entropy, without touching numpy's global RNG
        seed = int(np.random.SeedSequence().entropy % (2**31 - 1))
    return seed


def _collect_chunks(tasks, n_jobs, partial, done_stats, progress, n_jets, kind):
    """Run the chunks; append them to ``partial`` or return them (and extend ``done_stats``)."""
    results = []
    bar = None
    if progress:
        from jetad.utils._progress import progress_bar

        bar = progress_bar(n_jets, initial=sum(chunk["n_jets"] for chunk in done_stats),
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
    return results


def _generate(kind, n_jets, card, random_state, n_jobs, level, output, chunk_size,
              progress):
    partial = _io.partial_path(output) if output is not None else None
    state = None
    if partial is not None and os.path.exists(partial):
        state = _io.read_partial_state(partial)
        state["settings"] = _upgrade_settings(state["settings"])
    seed = _resolve_seed(random_state, state, output)
    settings = {"kind": kind, "n_jets": n_jets, "chunk_size": chunk_size,
                "level": level, "seed": seed, "card": card}
    settings = _io._jsonable(settings)

    if output is not None and os.path.exists(output):
        stored = _upgrade_settings(_io.read_settings(output))
        if stored != settings:
            raise ValueError(
                f"{os.fspath(output)!r} already exists and was made with different settings "
                f"({_diff(stored, settings)}); delete it or choose another output path"
            )
        X, info = _io.load_jets(output)
        return X, _upgrade_settings(info), True

    sizes = [min(chunk_size, n_jets - start) for start in range(0, n_jets, chunk_size)]
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
    tasks = [(card, kind, level, seed, i, sizes[i])
             for i in range(len(done_stats), len(sizes))]
    results = _collect_chunks(tasks, n_jobs, partial, done_stats, progress, n_jets, kind)
    info = _build_info(settings, done_stats, versions, time.perf_counter() - t0)
    if partial is not None:
        _io.finalize_partial(partial, output, info)
        X, info = _io.load_jets(output)
    else:
        X = np.concatenate(results)
    return X, info, False


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
