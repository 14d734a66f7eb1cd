"""Benchmark jet generation: jets/s per worker and the detector-response cost.

Measures, in one process (``n_jobs=1``):

* end-to-end ``generate_jets`` throughput (Pythia 8 + detector response +
  FastJet + selection) for QCD and top jets, median over repeats with
  different seeds;
* the same for the dark-jet kinds (``qcd_lowpt``, ``aachen``, ``heidelberg``,
  ``zprime_dark_light``; with the fraction of jets that failed the truth
  matching); ``--only dark`` runs just these and updates them in ``--output``;
* the cost of the detector response alone per event, on stored Pythia events;
* the Pythia generation rate alone (events/s), for context.

Usage::

    python benchmarks/bench_generation.py [--n-jets 300] [--repeats 3]
        [--dark-jets 200] [--dark-repeats 1] [--only {all,dark}]
        [--output benchmarks/results/generation.json]
"""

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from jetad.datasets import generate_jets  # noqa: E402
from jetad.datasets._cards import resolve_card  # noqa: E402
from jetad.datasets._events import (  # noqa: E402
    _flat_event_record,
    _make_pythia,
    _ParticleTable,
)
from jetad.datasets._generate import _versions  # noqa: E402
from jetad.datasets._response import apply_detector_response as detector_response  # noqa: E402
from jetad.jets import jet_mass  # noqa: E402


def _machine():
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "python": platform.python_version()}
    try:
        info["load_average_1min_at_start"] = os.getloadavg()[0]
    except OSError:
        pass
    return info


def bench_end_to_end(kind, n_jets, repeats):
    rates, cpu_rates, effs, nconst, masses, failed = [], [], [], [], [], []
    for r in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        X, info = generate_jets(kind, n_jets, random_state=1000 + r, n_jobs=1, level="detector",
                                progress=False, return_info=True, chunk_size=n_jets)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        rates.append(n_jets / dt)
        cpu_rates.append(n_jets / dc)
        effs.append(info["selection_efficiency"])
        nconst.append(float((X[:, :, 0] > 0).sum(1).mean()))
        masses.append(float(np.median(jet_mass(X))))
        if info.get("truth_matching"):
            failed.append(info["truth_matching"]["failed_fraction"])
    out = {
        "n_jets": n_jets,
        "repeats": repeats,
        "jets_per_s": rates,
        "jets_per_s_median": float(np.median(rates)),
        "jets_per_cpu_s": cpu_rates,
        "jets_per_cpu_s_median": float(np.median(cpu_rates)),
        "selection_efficiency_median": float(np.median(effs)),
        "mean_n_constituents_median": float(np.median(nconst)),
        "median_jet_mass_gev": float(np.median(masses)),
    }
    if failed:
        out["truth_matching_failed_fraction_median"] = float(np.median(failed))
    return out


DARK_KINDS = ("qcd_lowpt", "aachen", "heidelberg", "zprime_dark_light")


def bench_dark(n_jets, repeats):
    """End-to-end rate of every dark-jet kind (and of its background, ``qcd_lowpt``)."""
    out = {}
    for kind in DARK_KINDS:
        r = bench_end_to_end(kind, n_jets, repeats)
        out[kind] = r
        failed = r.get("truth_matching_failed_fraction_median")
        print(f"{kind:17s}: {r['jets_per_cpu_s_median']:6.1f} jets per CPU-second (wall clock "
              f"{r['jets_per_s_median']:.1f} jets/s), efficiency "
              f"{r['selection_efficiency_median']:.3f}, <n_const> "
              f"{r['mean_n_constituents_median']:.1f}"
              + (f", failed matching {failed:.3f}" if failed is not None else ""), flush=True)
    return out


def bench_detector(kind, n_events, repeats):
    card = resolve_card(kind)
    py = _make_pythia(card, seed=12345)
    t0 = time.process_time()
    batch = py.nextBatch(n_events, errorMode="skip")
    gen_dt = time.process_time() - t0
    rec, event, _ = _flat_event_record(batch)
    final = rec["status"] > 0
    charge, visible = _ParticleTable(py.particleData).lookup(rec["id"][final])
    idx = np.flatnonzero(final)[visible]
    args = (rec["px"][idx], rec["py"][idx], rec["pz"][idx], rec["e"][idx], rec["id"][idx],
            charge[visible], event[idx])
    times = []
    for r in range(repeats):
        rng = np.random.default_rng(r)
        t0 = time.process_time()
        p4, _ = detector_response(*args, rng)
        times.append(time.process_time() - t0)
    n = len(batch)
    return {
        "n_events": n,
        "visible_particles_per_event": len(idx) / n,
        "eflow_objects_per_event": len(p4) / n,
        "detector_cpu_ms_per_event_median": 1e3 * float(np.median(times)) / n,
        "pythia_events_per_cpu_s": n / gen_dt,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jets", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--detector-events", type=int, default=1000)
    parser.add_argument("--dark-jets", type=int, default=200)
    parser.add_argument("--dark-repeats", type=int, default=1)
    parser.add_argument("--only", choices=("all", "dark"), default="all",
                        help="'dark': run only the dark kinds and update them in --output")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "results",
                                                         "generation.json"))
    args = parser.parse_args(argv)
    if args.only == "dark":
        return _update_dark(args)
    result = {
        "benchmark": "generation",
        "command": "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:]),
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
        "machine": _machine(),
        "notes": "single worker process (n_jobs=1), detector response on, Pythia "
                 "initialisation included. jets_per_cpu_s (jets per CPU-second of the worker) "
                 "is the per-core throughput; jets_per_s is wall clock and drops when the "
                 "machine is shared with other jobs (see load_average_1min_at_start).",
        "end_to_end": {},
        "detector_response": {},
    }
    for kind in ("qcd", "top"):
        r = bench_end_to_end(kind, args.n_jets, args.repeats)
        result["end_to_end"][kind] = r
        print(f"{kind:4s}: {r['jets_per_cpu_s_median']:6.1f} jets per CPU-second (median of "
              f"{[round(x, 1) for x in r['jets_per_cpu_s']]}; wall clock "
              f"{r['jets_per_s_median']:.1f} jets/s), efficiency "
              f"{r['selection_efficiency_median']:.3f}, <n_const> "
              f"{r['mean_n_constituents_median']:.1f}, median mass "
              f"{r['median_jet_mass_gev']:.1f} GeV", flush=True)
    for kind in ("qcd", "top"):
        d = bench_detector(kind, args.detector_events, args.repeats)
        result["detector_response"][kind] = d
        print(f"{kind:4s}: detector {d['detector_cpu_ms_per_event_median']:.2f} ms/event "
              f"({d['visible_particles_per_event']:.0f} particles -> "
              f"{d['eflow_objects_per_event']:.0f} e-flow objects per event), Pythia "
              f"{d['pythia_events_per_cpu_s']:.0f} events/CPU-s", flush=True)
    result["end_to_end_dark"] = bench_dark(args.dark_jets, args.dark_repeats)
    result["target"] = {"qcd_jets_per_s_per_core": 60,
                        "met": result["end_to_end"]["qcd"]["jets_per_cpu_s_median"] >= 60}
    _write(result, args.output)
    return 0


def _update_dark(args):
    """Rerun the dark kinds only; keep the rest of an existing result file."""
    result = {}
    if os.path.exists(args.output):
        with open(args.output) as f:
            result = json.load(f)
    result["end_to_end_dark"] = bench_dark(args.dark_jets, args.dark_repeats)
    result["end_to_end_dark_run"] = {
        "command": "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:]),
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
        "machine": _machine(),
        "notes": "dark kinds only, single worker, detector response on; the machine was "
                 "shared with other jobs, so jets_per_s (wall clock) is low and "
                 "jets_per_cpu_s is the per-core rate. Few jets: Pythia initialisation "
                 "is a noticeable part of the time.",
    }
    _write(result, args.output)
    return 0


def _write(result, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
