"""ONNX export of every neural detector: onnxruntime beside torch, and the cost per jet.

For each detector (tiny training: the timings do not depend on how well it is
trained) the script exports the default score type with ``to_onnx`` and
measures, on real 40x40 jet images:

* latency at batch 1 (median and 90th percentile of single-jet calls) and
  throughput at batch 1024 (jets/s, median over repeats) of the onnxruntime
  session (``intra_op_num_threads = --threads``) and of torch, both on the
  exported graph's torch twin (``energy_module``: eval mode, spectral norm
  folded, ``inference_mode``) and through ``detector.anomaly_score`` (with its
  input validation);
* the multiply-accumulates per jet of the score (convolutions + dense layers,
  counted with forward hooks), the model file size and the largest relative
  difference between onnxruntime and ``anomaly_score``.

For scale, trigger budgets per jet: L1 ~50 ns - 4 us (FPGA), the high-level
trigger milliseconds (CPU farm).

Usage (the recorded run in benchmarks/results/export.json)::

    OMP_NUM_THREADS=1 python benchmarks/bench_export.py --cache-dir /tmp/jetad_test_cache \
        --n-latency 200 --n-repeats 5 --shared-machine "..."

The QCD sample comes from ``jetad.datasets.fetch_generated`` (4000 jets, seed 1,
simulated once into ``--cache-dir``) or ``--qcd FILE`` written by ``jetad generate``.
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
import torch

import jetad
from jetad import AEDetector, DVAEDetector, GMVAEDetector, JetImager, NAEDetector, VAEDetector
from jetad.datasets import fetch_generated, load_jets
from jetad.detectors import LangevinSampler
from jetad.detectors._export import count_multiply_accumulates, energy_module
from jetad.utils import atomic_json


def _detectors(epochs):
    common = dict(max_epochs=epochs, random_state=0, device="cpu")
    return {
        "AEDetector": AEDetector(**common),
        "VAEDetector": VAEDetector(**common),
        "GMVAEDetector": GMVAEDetector(**common),
        "DVAEDetector": DVAEDetector(**common),
        "NAEDetector": NAEDetector(batch_size=32, nae_iterations=4, nae_batch_size=16,
                                   sampler=LangevinSampler(n_z_steps=3, n_x_steps=3),
                                   input_scale="auto", **common),
    }


def _latency(fn, x, n_calls):
    fn(x)  # warm-up
    times = []
    for _ in range(n_calls):
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return {"median_us": 1e6 * statistics.median(times),
            "p90_us": 1e6 * float(np.percentile(times, 90))}


def _throughput(fn, x, n_repeats):
    fn(x)
    rates = []
    for _ in range(n_repeats):
        t0 = time.perf_counter()
        fn(x)
        rates.append(len(x) / (time.perf_counter() - t0))
    return {"median_jets_per_s": statistics.median(rates), "all": rates}


def _measure(det, images, args, folder):
    name = type(det).__name__
    path = os.path.join(folder, f"{name}.onnx")
    t0 = time.perf_counter()
    det.to_onnx(path)
    export_s = time.perf_counter() - t0
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])

    def run_ort(x):
        return session.run(["energy"], {"images": x})[0]

    twin = energy_module(det)

    def run_torch(x):
        with torch.inference_mode():
            return twin(torch.from_numpy(x)).numpy()

    one, batch = images[:1], images[:args.batch]
    expected = det.anomaly_score(images)
    diff = np.abs(run_ort(images) - expected) / np.abs(expected).max()
    return {
        "score_type": getattr(det, "score_type", "energy"),
        "multiply_accumulates_per_jet": count_multiply_accumulates(det),
        "onnx_bytes": os.path.getsize(path),
        "export_seconds": export_s,
        "max_abs_diff_over_max_score": float(diff.max()),
        "latency_batch1": {
            "onnxruntime": _latency(run_ort, one, args.n_latency),
            "torch_energy_module": _latency(run_torch, one, args.n_latency),
            "torch_anomaly_score": _latency(det.anomaly_score, one, args.n_latency),
        },
        f"throughput_batch{args.batch}": {
            "onnxruntime": _throughput(run_ort, batch, args.n_repeats),
            "torch_energy_module": _throughput(run_torch, batch, args.n_repeats),
            "torch_anomaly_score": _throughput(det.anomaly_score, batch, args.n_repeats),
        },
    }


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--qcd", help="QCD file from `jetad generate` (else fetch_generated)")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--n-train", type=int, default=256)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--n-latency", type=int, default=200, help="single-jet calls timed")
    p.add_argument("--n-repeats", type=int, default=5, help="timed batches")
    p.add_argument("--threads", type=int, default=1, help="torch and onnxruntime threads")
    p.add_argument("--shared-machine", default=None,
                   help="note recorded when other jobs ran beside the benchmark")
    p.add_argument("--output", default="benchmarks/results/export.json")
    return p.parse_args(argv)


def main(argv=None):
    args = _parse(argv)
    torch.set_num_threads(args.threads)
    if args.qcd:
        X, _ = load_jets(args.qcd)
    else:
        X, _ = fetch_generated("qcd", 4000, random_state=1, cache_dir=args.cache_dir, n_jobs=2)
    images = JetImager().transform(X).astype(np.float32)
    if len(images) < args.n_train + args.batch:
        raise ValueError(f"need {args.n_train + args.batch} jets, have {len(images)}")
    train, test = images[:args.n_train], np.ascontiguousarray(images[args.n_train:])
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, det in _detectors(args.epochs).items():
            det.fit(train)
            results[name] = _measure(det, test, args, folder)
            r = results[name]
            print(f"{name:14s} MAC/jet {r['multiply_accumulates_per_jet']['total']:>9,d}  "
                  f"ort b1 {r['latency_batch1']['onnxruntime']['median_us']:8.1f} us  "
                  f"torch b1 {r['latency_batch1']['torch_energy_module']['median_us']:8.1f} us  "
                  f"ort b{args.batch} "
                  f"{r[f'throughput_batch{args.batch}']['onnxruntime']['median_jets_per_s']:9.0f}"
                  f" jets/s  torch "
                  f"{r[f'throughput_batch{args.batch}']['torch_energy_module']['median_jets_per_s']:9.0f}"
                  " jets/s", flush=True)
    out = {
        "benchmark": "bench_export.py",
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "settings": {k: v for k, v in vars(args).items() if k != "shared_machine"},
        "shared_machine": args.shared_machine is not None,
        "note": args.shared_machine,
        "trigger_budgets_per_jet": {"L1": "~50 ns - 4 us (FPGA)", "HLT": "milliseconds (CPU)"},
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(),
                    "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
        "versions": {"jetad": jetad.__version__, "torch": torch.__version__,
                     "onnxruntime": ort.__version__, "numpy": np.__version__},
        "detectors": results,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    atomic_json(args.output, out, indent=2)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
