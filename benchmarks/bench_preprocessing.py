"""Throughput of the preprocessing transformers on one core.

Usage::

    python benchmarks/bench_preprocessing.py [--n-jets 20000] [--repeats 5]
        [--cache-dir DIR] [--synthetic] [--output benchmarks/results/preprocessing.json]

Measures jets per second of :class:`jetad.JetImager` and
:class:`jetad.LundPlane` (median over ``--repeats`` timed runs after one
warm-up run), both per CPU second of this single-threaded process
(``time.process_time``: the one-core throughput, robust to other processes
sharing the machine) and per wall-clock second (``time.perf_counter``: what
you get on this machine right now) on generated QCD jets
(``jetad.datasets.fetch_generated("qcd", n_jets, random_state=2024)``, cached in
``--cache-dir``, default the jetad data home; generated with 2 worker processes
if missing, and a cached larger sample is reused: the throughput does not
depend on which jets). If
generation is unavailable, or with ``--synthetic``, a synthetic sample is used
instead and the JSON says so: 60 massless constituents per jet, pT ~
exponential(10 GeV), (eta, phi) ~ Gaussian(0, 0.2), zero-padded to 200.

All BLAS/OpenMP pools are limited to one thread before numpy is imported.
Targets: JetImager >= 100 000 jets/s, LundPlane >= 5 000 jets/s.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

TARGETS = {"JetImager": 100_000, "LundPlane": 5_000}


def _synthetic(n_jets, seed=0):
    from _synthetic_jets import synthetic_constituents

    return synthetic_constituents(n_jets, seed)


def load_sample(n_jets, cache_dir, synthetic):
    """Generated QCD jets (cached) or the documented synthetic fallback."""
    if not synthetic:
        try:
            from jetad.datasets import fetch_generated

            X, info = fetch_generated("qcd", n_jets, random_state=2024, cache_dir=cache_dir,
                                      n_jobs=2, reuse_larger=True)
            return X, {
                "source": "generated",
                "description": "jetad.datasets.fetch_generated('qcd', random_state=2024): "
                               "Pythia 8 QCD dijets, detector response, anti-kT 0.8 jets "
                               "with 550 <= pT <= 650 GeV, (n, 200, 4) E, px, py, pz",
                "cache": info["path"],
            }
        except Exception as exc:  # noqa: BLE001 - documented fallback
            warnings.warn(f"generated jets unavailable ({exc!r}); using the synthetic sample",
                          stacklevel=2)
            reason = repr(exc)
    else:
        reason = "--synthetic"
    return _synthetic(n_jets), {
        "source": "synthetic",
        "reason": reason,
        "description": "60 massless constituents per jet, pT ~ exponential(10 GeV), "
                       "(eta, phi) ~ N(0, 0.2) each, zero-padded to 200 (not physical jets)",
    }


def bench(name, est, X, repeats):
    """Median wall-clock and CPU (process) time of ``est.transform(X)``."""
    est.transform(X[:256])  # warm-up (imports, FastJet banner)
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        est.transform(X)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    wall, cpu = float(np.median(walls)), float(np.median(cpus))
    target = TARGETS[type(est).__name__]
    row = {
        "name": name, "estimator": repr(est), "n_jets": len(X), "repeats": repeats,
        "wall_seconds": [round(t, 4) for t in walls], "cpu_seconds": [round(t, 4) for t in cpus],
        "median_wall_seconds": round(wall, 4), "median_cpu_seconds": round(cpu, 4),
        "jets_per_second_cpu": round(len(X) / cpu, 1),
        "jets_per_second_wall": round(len(X) / wall, 1),
        "target_jets_per_second": target,
        "meets_target_cpu": bool(len(X) / cpu >= target),
        "meets_target_wall": bool(len(X) / wall >= target),
    }
    print(f"{name:<46s} {len(X) / cpu:>10,.0f} jets/s CPU  {len(X) / wall:>10,.0f} jets/s wall"
          f"  (medians over {repeats}; target {target:,})", flush=True)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-jets", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cache-dir", default=None,
                        help="sample cache of fetch_generated (default: the jetad data home)")
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "results",
                                                         "preprocessing.json"))
    args = parser.parse_args(argv)

    try:  # one core for torch too, if another module imports it
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass

    import fastjet

    from jetad import JetImager, LundPlane

    X, data = load_sample(args.n_jets, args.cache_dir, args.synthetic)
    n_const = (X[..., 0] > 0).sum(axis=1)
    data.update(n_jets=len(X), mean_constituents=round(float(n_const.mean()), 2),
                max_constituents=int(n_const.max()), padded_width=int(X.shape[1]))
    print(f"data: {data['source']}, {len(X)} jets, {n_const.mean():.1f} constituents/jet "
          f"(max {n_const.max()}), padded to {X.shape[1]}", flush=True)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None

    cases = [
        ("JetImager()", JetImager()),
        ("JetImager(gaussian_sigma=1.0)", JetImager(gaussian_sigma=1.0)),
        ("JetImager(gaussian_sigma=1.0, pt_power=0.5)", JetImager(gaussian_sigma=1.0,
                                                                  pt_power=0.5)),
        ("LundPlane()", LundPlane()),
        ("LundPlane(planes=3)", LundPlane(planes=3)),
    ]
    rows = [bench(name, est, X, args.repeats) for name, est in cases]
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else None
    result = {
        "command": "python benchmarks/bench_preprocessing.py " + " ".join(
            sys.argv[1:] if argv is None else argv),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "threads": 1,
        "machine": {
            "platform": platform.platform(), "processor": platform.processor(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "load_average_before": load_before, "load_average_after": load_after,
            "note": "shared machine; with a load average above the core count other "
                    "processes competed for the core: the wall-clock rates are then "
                    "pessimistic, the CPU-time rates are the one-core throughput",
        },
        "versions": {"numpy": np.__version__, "fastjet": fastjet.__version__},
        "data": data,
        "results": rows,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as fh:
        json.dump(result, fh, indent=2)
        fh.write("\n")
    print(f"saved {args.output}")
    return result


if __name__ == "__main__":
    main()
