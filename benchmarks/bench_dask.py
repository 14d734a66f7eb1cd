"""Out-of-core scoring on Dask: jets/s of ``score_dask`` on 1 and 2 local workers.

A ``JetImager`` + ``AEDetector`` pipeline is fitted in memory (tiny training:
the scoring time does not depend on it), then the constituents of the QCD
sample, as a ``dask.array`` in blocks of ``--chunk`` jets, are scored end to end
(imaging + network) by ``jetad.utils.score_dask`` on a
``distributed.LocalCluster`` with ``n_workers`` of one thread each, in-process
(threads) and as separate worker processes. The in-memory
``pipeline.score_samples`` is timed beside it. Each figure is the median of
``--n-repeats`` computations of the whole sample (the cluster's start-up is
not timed).

Usage (the recorded run in benchmarks/results/dask.json)::

    OMP_NUM_THREADS=1 python benchmarks/bench_dask.py --cache-dir /tmp/jetad_test_cache \
        --shared-machine "..."
"""

import argparse
import os
import platform
import statistics
import sys
import time

import dask
import dask.array as da
import distributed
import torch
from sklearn.pipeline import make_pipeline

import jetad
from jetad import AEDetector, JetImager
from jetad.datasets import fetch_generated, load_jets
from jetad.utils import atomic_json, score_dask


def _median_rate(fn, n_jets, n_repeats):
    rates = []
    for _ in range(n_repeats):
        t0 = time.perf_counter()
        fn()
        rates.append(n_jets / (time.perf_counter() - t0))
    return {"median_jets_per_s": statistics.median(rates), "all": rates}


def _on_cluster(pipe, X, args, n_workers, processes):
    with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                  processes=processes, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        D = da.from_array(X, chunks=(args.chunk, -1, -1))
        D = client.persist(D)  # the sample sits on the workers, as if read there
        distributed.wait(D)
        scores = score_dask(pipe, D)
        scores.compute()  # warm-up: ships the pipeline, imports on the workers
        return _median_rate(scores.compute, len(X), args.n_repeats)


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--qcd", help="QCD file from `jetad generate` (else fetch_generated)")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--n-train", type=int, default=256)
    p.add_argument("--chunk", type=int, default=500)
    p.add_argument("--n-repeats", type=int, default=3)
    p.add_argument("--shared-machine", default=None,
                   help="note recorded when other jobs ran beside the benchmark")
    p.add_argument("--output", default="benchmarks/results/dask.json")
    return p.parse_args(argv)


def main(argv=None):
    args = _parse(argv)
    torch.set_num_threads(1)
    if args.qcd:
        X, _ = load_jets(args.qcd)
    else:
        X, _ = fetch_generated("qcd", 4000, random_state=1, cache_dir=args.cache_dir, n_jobs=2)
    pipe = make_pipeline(JetImager(), AEDetector(max_epochs=2, random_state=0, device="cpu"))
    pipe.fit(X[:args.n_train])
    results = {"in_memory": _median_rate(lambda: pipe.score_samples(X), len(X),
                                         args.n_repeats)}
    for processes in (False, True):
        for n_workers in (1, 2):
            key = f"{n_workers}_worker{'s' if n_workers > 1 else ''}_" + (
                "processes" if processes else "threads")
            results[key] = _on_cluster(pipe, X, args, n_workers, processes)
            print(f"{key:22s} {results[key]['median_jets_per_s']:8.0f} jets/s", flush=True)
    print(f"{'in_memory':22s} {results['in_memory']['median_jets_per_s']:8.0f} jets/s")
    out = {
        "benchmark": "bench_dask.py",
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "settings": {**{k: v for k, v in vars(args).items() if k != "shared_machine"},
                     "n_jets": len(X), "threads_per_worker": 1},
        "shared_machine": args.shared_machine is not None,
        "note": args.shared_machine,
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
        "versions": {"jetad": jetad.__version__, "torch": torch.__version__,
                     "dask": dask.__version__,
                     "distributed": distributed.__version__},
        "jets_per_s": results,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    atomic_json(args.output, out, indent=2)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
