"""The neural core against the hardware: jetad today beside the code of commit 5918974.

Usage (the recorded run in benchmarks/results/core.json used the first)::

    git worktree add /tmp/core_ref 5918974
    python benchmarks/bench_core.py --ref /tmp/core_ref
    python benchmarks/bench_core.py --ref /tmp/core_ref --quick   # about a minute

Every measurement runs in a fresh subprocess per arm (``ref``: the package at
``--ref``; ``current``: this checkout) and per torch thread count, with
``OMP_NUM_THREADS`` and ``torch.set_num_threads`` set to that count, so both arms
see the same machine within one run. Each subprocess also measures the dense
float32 matmul rate, so every neural figure is also given as a fraction of that
FLOP limit (forward FLOPs per jet from ``torch.utils.flop_counter``; training
counted as three forward passes). Inputs are synthetic unit-sum 40x40 images and
synthetic constituents (throughput does not depend on the physics). Medians over
repeats; JSON and Markdown in ``benchmarks/results/`` (``core.json``, ``core.md``).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SIZES = {"quick": dict(n_score=2048, n_train=1024, repeats=3, nae_iterations=8, n_jets=5000),
         "full": dict(n_score=4096, n_train=2048, repeats=3, nae_iterations=20, n_jets=20000)}
#: fixed chain settings of the NAE iteration (preset "cpu": batch 32, 5 + 5 Metropolis steps)
NAE_SETTINGS = dict(preset="cpu", max_epochs=1, nae_batch_size=32, validation_fraction=0.1)

#: What the run cannot show by itself: the levers as measured one by one (probes on the same
#: machine, AE, 1 thread unless said) and what limits the figures. Rendered into core.md.
NOTES = """
## Levers, measured one at a time

Probes on the same 2-core machine (shared), AE scoring of 8192 synthetic images:

| lever | before | after | kept |
|---|---|---|---|
| inference batch 4096 -> 256 (1 thread) | 1.3k jets/s | 3.1k jets/s | yes (`INFERENCE_BATCH_SIZE`, `jetad/detectors/_inference.py`) |
| `torch.inference_mode` instead of `no_grad` | 3.0k | 3.0k (no measurable change) | yes (free) |
| channels-last conv weights, batch 256, 1 thread | 3.1k | 4.7k | yes |
| channels-last conv weights, batch 256, 2 threads | 6.0k | 9.3k | yes |
| channels-last in training (AE epoch, 1 thread) | 342 jets/s | 577 jets/s | yes (weights channels-last from construction, `_modules.py`) |
| cached spectral-norm weights + channels-last in the NAE chains (one draw of 32 negatives, 5 + 5 steps, 1 thread) | 1.09 s | 0.65 s | yes (`fast_eval` in `LangevinSampler.draw`) |
| network parameters `requires_grad=False` during the chains | 0.65 s | 0.64 s | no (no gain) |

Scores: on the same fitted weights the new scoring path (inference mode, batch 256,
channels-last, cached spectral norm) differs from the old one (`no_grad`, batch 4096) by at most
3e-7 relative (AE 2.2e-7, VAE 2.9e-7), and by 0 once the weights are channels-last from
construction. The AE/VAE agreement line above compares two *trainings* (reference vs current
code, same seeds): channels-last convolution kernels round differently, and the VAE's sampled
latent carries that through training to ~4e-5; it is not a scoring difference.

## What limits the figures

* Threads and load: the run of 2026-12-03 (quiet machine, Intel Xeon with AVX-512) gives lower
  torch rates than the run of 2026-12-01 on an AMD EPYC (AE scoring on 2 threads 4.5k against
  8.4k jets/s there, under load ~2); the ratios to 5918974 measured side by side are the figures
  to compare. Two torch threads on two busy cores oversubscribe (the signature the issue reports
  for `jetad demo`); the library never raises the torch thread count, and the `jetad` command
  line (`--threads auto`) runs on the cores other processes leave idle, with
  `OMP_WAIT_POLICY=PASSIVE`.
* Scoring (profile above): the 8-filter 3x3 convolutions dominate and run well below the matmul
  rate (im2col depth 9-72 is too shallow for the GEMM kernels), then the memory-bound PReLU and
  the max-pooling. The 10k jets/s target on 2 threads needs fewer passes over the activations
  (fused convolution + PReLU, e.g. `torch.compile` or oneDNN graph fusion), not tried here.
* NAE iteration: in the chain profile (one draw, 1 thread) convolution forward 28 %, convolution
  backward 25 %, PReLU backward 13 %, upsampling forward + backward 9 %; Python-level overhead
  of the chain step is a few percent, so fewer Python operations per step would not give the 4x.
* `JetImager`: padded four-momentum arrays of >= 512 jets go through a compiled kernel
  (`jetad/preprocessing/_imager_kernel.py`, numba; bit-identical images to the NumPy path).
  Profile on 20k synthetic jets (60 constituents padded to 200, float32, 1 thread, ~0.15 s):
  validation + packing of the 4M padded rows 30 ms, `arcsinh` + `arctan2` of the 1.2M real
  constituents (NumPy SIMD) 9 ms, centring/rotation/flip/binning 70 ms (wrap of the azimuth
  14 ms, scatter into the pixels 19 ms), first touch of the 128 MB of output images 15 ms.
  Scalar libm `asinh` + `atan2` + `hypot` alone cost 93 ns per constituent (5.6 us per jet,
  i.e. at most 180k jets/s), which is why the transcendentals go through NumPy's SIMD ufuncs.
  The 200k target is not reached: the per-constituent geometry (about 60 ns per constituent)
  would have to halve. `LundPlane` (FastJet reclustering) was not changed.
"""


def _images(n, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.exponential(1.0, (n, 1600)).astype(np.float32) ** 3
    return X / X.sum(axis=1, keepdims=True)


def _constituents(n_jets, seed=0):
    from _synthetic_jets import synthetic_constituents  # the jets bench_preprocessing times

    return synthetic_constituents(n_jets, seed)


def _matmul_gflops(repeats):
    import torch

    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(repeats + 2):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    return 2.0 * n**3 / statistics.median(times) / 1e9


def _forward_flops(det):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    module = det.net_.module_.eval()
    x = torch.as_tensor(_images(64)).view(64, 1, *det.image_shape_)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        det._batch_energy(module, x)
    return counter.get_total_flops() / 64


def _detector(cls, sizes, X_train, X_score):
    """Training (median epoch duration) and scoring (median wall) rates of one detector."""
    fit_rates, score_rates, det = [], [], None
    for r in range(sizes["repeats"]):
        det = cls(max_epochs=2, batch_size=256, validation_fraction=None, random_state=r,
                  device="cpu").fit(X_train)
        durs = [row["dur"] for row in det.net_.history]
        fit_rates.append(len(X_train) / statistics.median(durs))
        det.anomaly_score(X_score[:256])
        t0 = time.perf_counter()
        det.anomaly_score(X_score)
        score_rates.append(len(X_score) / (time.perf_counter() - t0))
    return {"train_jets_per_s": statistics.median(fit_rates),
            "score_jets_per_s": statistics.median(score_rates),
            "train_runs": fit_rates, "score_runs": score_rates,
            "forward_flops_per_jet": _forward_flops(det), "scores": det.anomaly_score(X_score[:512])}


def _nae(sizes, X_train, X_score):
    from jetad import NAEDetector

    n_it = sizes["nae_iterations"]
    det = NAEDetector(nae_iterations=n_it, check_interval=n_it, random_state=0, device="cpu",
                      **NAE_SETTINGS).fit(X_train[:1024])
    times = [row["time"] for row in det.history_ if row.get("iteration", 0) >= 1]
    steps = [b - a for a, b in zip(times[:-1], times[1:], strict=True)]
    per_it = statistics.median(steps)
    det.anomaly_score(X_score[:256])
    t0 = time.perf_counter()
    det.anomaly_score(X_score)
    score = len(X_score) / (time.perf_counter() - t0)
    return {"seconds_per_iteration": per_it,
            "seconds_per_negative_sample": per_it / NAE_SETTINGS["nae_batch_size"],
            "iterations_timed": len(steps), "score_jets_per_s": score,
            "forward_flops_per_jet": _forward_flops(det)}


def _preprocessing(sizes):
    from jetad import JetImager, LundPlane

    X = _constituents(sizes["n_jets"])
    out = {}
    for name, est in (("JetImager", JetImager()), ("LundPlane", LundPlane())):
        est.fit(X[:1024])
        est.transform(X[:1024])  # >= 512 jets: also loads JetImager's compiled kernel
        cpus = []
        for _ in range(sizes["repeats"]):
            c0 = time.process_time()
            est.transform(X)
            cpus.append(time.process_time() - c0)
        out[name] = {"jets_per_cpu_second": len(X) / statistics.median(cpus), "n_jets": len(X)}
    return out


def _profile(sizes, X_train, X_score):
    """Top operators of AE scoring (torch.profiler, self CPU time)."""
    import torch
    from torch.profiler import profile

    from jetad import AEDetector

    det = AEDetector(max_epochs=1, validation_fraction=None, random_state=0,
                     device="cpu").fit(X_train[:512])
    with profile() as prof:
        det.anomaly_score(X_score)
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in rows) or 1.0
    del torch
    return [{"op": e.key, "self_cpu_fraction": e.self_cpu_time_total / total, "calls": e.count}
            for e in rows[:8]]


def worker(arm, threads, mode):
    """One arm on one thread count; prints its JSON."""
    import numpy as np
    import torch

    import jetad
    from jetad import AEDetector, VAEDetector

    torch.set_num_threads(threads)
    sizes = SIZES[mode]
    X_train, X_score = _images(sizes["n_train"], 1), _images(sizes["n_score"], 2)
    out = {"arm": arm, "threads": threads, "torch": torch.__version__,
           "jetad": getattr(jetad, "__version__", "?"),
           "matmul_gflops_before": _matmul_gflops(sizes["repeats"])}
    for cls in (AEDetector, VAEDetector):
        out[cls.__name__] = _detector(cls, sizes, X_train, X_score)
    out["NAEDetector"] = _nae(sizes, X_train, X_score)
    if threads == 1:
        out["preprocessing"] = _preprocessing(sizes)
    if arm == "current" and threads == 2:
        out["profile_AE_scoring"] = _profile(sizes, X_train, X_score)
    out["matmul_gflops_after"] = _matmul_gflops(sizes["repeats"])
    print(json.dumps(out, default=lambda a: np.asarray(a).tolist()))


def _run_arm(arm, path, threads, mode):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONPATH=path)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", arm, "--threads", str(threads),
           "--mode", mode]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"{arm} on {threads} threads failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = time.perf_counter() - t0
    print(f"{arm:8s} {threads} threads: {result['wall_seconds']:.0f} s", flush=True)
    return result


def _fraction(rate, flops_per_jet, gflops):
    return rate * flops_per_jet / (gflops * 1e9)


def _rows(runs):
    """Flat table rows: one per (figure, threads) with ref, current, speed-up, FLOP fraction."""
    rows = []
    for threads in (1, 2):
        ref, cur = runs[("ref", threads)], runs[("current", threads)]
        gflops = cur["matmul_gflops_before"]
        for det in ("AEDetector", "VAEDetector", "NAEDetector"):
            flops = cur[det]["forward_flops_per_jet"]
            keys = [("score_jets_per_s", 1.0)]
            if det != "NAEDetector":
                keys.append(("train_jets_per_s", 3.0))
            for key, factor in keys:
                r, c = ref[det][key], cur[det][key]
                rows.append({"figure": f"{det} {key}", "threads": threads, "ref": r,
                             "current": c, "speedup": c / r,
                             "fraction_of_matmul": _fraction(c, factor * flops, gflops)})
        r, c = (ref["NAEDetector"]["seconds_per_iteration"],
                cur["NAEDetector"]["seconds_per_iteration"])
        rows.append({"figure": "NAEDetector seconds_per_iteration", "threads": threads,
                     "ref": r, "current": c, "speedup": r / c, "fraction_of_matmul": None})
        if threads == 1:
            for name in ("JetImager", "LundPlane"):
                r = ref["preprocessing"][name]["jets_per_cpu_second"]
                c = cur["preprocessing"][name]["jets_per_cpu_second"]
                rows.append({"figure": f"{name} jets_per_cpu_second", "threads": 1, "ref": r,
                             "current": c, "speedup": c / r, "fraction_of_matmul": None})
    return rows


def _score_agreement(runs):
    """Max relative difference of the AE / VAE scores (same seeds, same training) per arm."""
    import numpy as np

    out = {}
    for threads in (1, 2):
        for det in ("AEDetector", "VAEDetector"):
            a = np.asarray(runs[("ref", threads)][det].pop("scores"))
            b = np.asarray(runs[("current", threads)][det].pop("scores"))
            out[f"{det} {threads} threads"] = float(np.max(np.abs(a - b) / np.abs(a)))
    return out


def _fmt(value):
    if value is None:
        return ""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _markdown(result):
    lines = ["# Neural core against the hardware (`bench_core.py`)", "",
             f"Command: `{result['command']}`. Mode `{result['mode']}`; torch "
             f"{result['versions']['torch']}, Python {result['versions']['python']}, "
             f"{result['machine']['cpu_count']} CPU cores ({result['machine'].get('cpu', '?')}). "
             f"Load average {result['load_average_start']} at the start, "
             f"{result['load_average_end']} at the end (the benchmark itself counts); "
             "absolute rates drop with the load and differ between machines, the side-by-side "
             "ratios much less.",
             "", "Dense float32 matmul (2048², same run, current arm): "
             + ", ".join(f"{t} thread(s) {_fmt(g)} GFLOP/s"
                         for t, g in result["matmul_gflops"].items()) + ".", "",
             "| figure | threads | 5918974 | current | speed-up | fraction of matmul |",
             "|---|---|---|---|---|---|"]
    for row in result["rows"]:
        frac = row["fraction_of_matmul"]
        lines.append(f"| {row['figure']} | {row['threads']} | {_fmt(row['ref'])} | "
                     f"{_fmt(row['current'])} | {row['speedup']:.2f}× | "
                     f"{'' if frac is None else f'{100 * frac:.1f} %'} |")
    lines += ["", "Scores of the same fitted AE / VAE (same seeds), max relative difference "
              "current vs 5918974: " + ", ".join(f"{k}: {v:.1e}"
                                                 for k, v in result["score_agreement"].items())
              + ".", "", "Top operators of AE scoring, current arm, 2 threads (torch.profiler, "
              "self CPU time):", "", "| op | share | calls |", "|---|---|---|"]
    lines += [f"| `{p['op']}` | {100 * p['self_cpu_fraction']:.1f} % | {p['calls']} |"
              for p in result["profile_AE_scoring"]]
    return "\n".join(lines) + "\n" + NOTES


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="/tmp/core_ref",
                        help="checkout of commit 5918974 (git worktree add /tmp/core_ref 5918974)")
    parser.add_argument("--quick", action="store_true", help="smaller samples (about a minute)")
    parser.add_argument("--output-dir", default=os.path.join(HERE, "results"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="full", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.threads, args.mode)
    import torch

    mode = "quick" if args.quick else "full"
    load_start = [round(v, 2) for v in os.getloadavg()]
    t0 = time.perf_counter()
    runs = {}
    for threads in (1, 2):
        for arm, path in (("ref", os.path.abspath(args.ref)), ("current", ROOT)):
            runs[(arm, threads)] = _run_arm(arm, path, threads, mode)
    agreement = _score_agreement(runs)
    result = {
        "command": "python benchmarks/bench_core.py --ref <checkout of 5918974>"
                   + (" --quick" if args.quick else ""),
        "mode": mode, "sizes": SIZES[mode], "nae_settings": NAE_SETTINGS,
        "reference_commit": "5918974", "machine_shared": True,
        "load_average_start": load_start,
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "total_seconds": time.perf_counter() - t0,
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "cpu": _cpu_model()},
        "matmul_gflops": {t: runs[("current", t)]["matmul_gflops_before"] for t in (1, 2)},
        "rows": _rows(runs), "score_agreement": agreement,
        "profile_AE_scoring": runs[("current", 2)].pop("profile_AE_scoring"),
        "runs": [dict(r) for r in runs.values()],
    }
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "core.json"), "w") as fh:
        json.dump(result, fh, indent=1)
    with open(os.path.join(args.output_dir, "core.md"), "w") as fh:
        fh.write(_markdown(result))
    print(_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
