"""Benchmark of the Normalized Autoencoder (Fig. 4 of arXiv:2206.14225), both directions.

For each direction (QCD background -> top anomaly, top background -> QCD
anomaly) and seed it trains one :class:`jetad.NAEDetector` on background jets
only, with the same hyper-parameters in both directions, and reports on
held-out jets:

* ``AE``: its own pre-trained autoencoder (the NAE initialisation),
* ``NAE``: the label-free selected NAE state,
* ``mean(x^2)`` and ``-mean(x^2)``: the trivial image-concentration score with
  both signs (any detector must be read beside it),

each with the AUC and the background rejection 1/eps_B at eps_S = 0.2, the
wall time per phase, and the AUC of every stored NAE checkpoint against its
training time (evaluated after training; labels never enter training or
selection).

The paper's protocol is ``--n-train 100000 --n-test 40000 --seeds 0 1 2
--preset paper`` (hours per model on a GPU). A reduced configuration, e.g.::

    python benchmarks/bench_nae.py --qcd /work/scratch/testcache/qcd_4000_1.h5 \
        --top /work/scratch/testcache/top_2000_2.h5 --n-train 1500 --n-test 500 \
        --seeds 0 --max-epochs 15 --nae-iterations 60 --nae-batch-size 32 --n-z-steps 5 \
        --n-x-steps 5 --x-noise-std 1e-2 --nae-lr 1e-3 --preset cpu --param batch_size=64 \
        --param lr=0.002 --param x_metropolis=false --threads 1 --reduced

is marked ``"reduced": true`` in the JSON. Without ``--qcd``/``--top`` jets are
generated with ``jetad.datasets.generate_jets`` and cached in ``--cache-dir``.
"""

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

import jetad
from jetad import JetImager, NAEDetector
from jetad.datasets import generate_jets, load_jets
from jetad.metrics import anomaly_auc, background_rejection, image_concentration

PAPER = {
    "top": {"NAE": {"auc": 0.91, "rejection": 80}, "AE": {"auc": 0.875, "rejection": 68}},
    "qcd": {"NAE": {"auc": 0.89, "rejection": 350}, "AE": {"auc": 0.579, "rejection": 12}},
}


def _jets(path, kind, n, seed, cache_dir):
    if path is None:
        os.makedirs(cache_dir, exist_ok=True)
        path = os.path.join(cache_dir, f"{kind}_{n}_{seed}.h5")
        if not os.path.exists(path):
            generate_jets(kind, n, random_state=seed, n_jobs=2, output=path, progress=False)
    X, _ = load_jets(path)
    if len(X) < n:
        raise ValueError(f"{path} holds {len(X)} jets, {n} requested")
    return X[:n], path


def _metrics(e_bkg, e_sig):
    y = np.r_[np.zeros(len(e_bkg)), np.ones(len(e_sig))]
    s = np.r_[e_bkg, e_sig]
    return {"auc": float(anomaly_auc(y, s)),
            "rejection": float(background_rejection(y, s, 0.2, zero_background="inf"))}


def run(args):
    images = {}
    sources = {}
    n_need = args.n_train + args.n_test
    imager = JetImager(gaussian_sigma=args.gaussian_sigma)
    for kind, path, seed in (("qcd", args.qcd, 1), ("top", args.top, 2)):
        X, sources[kind] = _jets(path, kind, n_need, seed, args.cache_dir)
        images[kind] = imager.transform(X)
    params = dict(preset=args.preset, max_epochs=args.max_epochs, nae_iterations=args.nae_iterations,
                  nae_epochs=args.nae_epochs, nae_batch_size=args.nae_batch_size,
                  nae_lr=args.nae_lr, n_z_steps=args.n_z_steps, n_x_steps=args.n_x_steps,
                  x_noise_std=args.x_noise_std, device=args.device, keep_checkpoints=True)
    params = {k: v for k, v in params.items() if v is not None}
    for item in args.param or []:
        key, _, value = item.partition("=")
        params[key] = json.loads(value)
    rows = []
    for background, signal, label in (("qcd", "top", "top"), ("top", "qcd", "qcd")):
        X_train = images[background][: args.n_train]
        X_bkg = images[background][args.n_train: n_need]
        X_sig = images[signal][args.n_train: n_need]
        for seed in args.seeds:
            t0 = time.perf_counter()
            det = NAEDetector(random_state=seed, **params).fit(X_train)
            fit_time = time.perf_counter() - t0
            res = {"signal": label, "background": background, "seed": seed,
                   "pretrain_time_s": det.pretrain_time_, "nae_time_s": det.nae_time_,
                   "fit_time_s": fit_time, "best_iteration": det.best_iteration_,
                   "n_nae_iterations": det.n_nae_iterations_, "collapsed": det.collapsed_,
                   "energy_scale": det.energy_scale_,
                   "chain_temperatures": det.chain_temperatures_}
            res["NAE"] = _metrics(det.anomaly_score(X_bkg), det.anomaly_score(X_sig))
            res["AE"] = _metrics(-det.score_samples_pretrained(X_bkg),
                                 -det.score_samples_pretrained(X_sig))
            c_bkg, c_sig = image_concentration(X_bkg), image_concentration(X_sig)
            res["mean_x2"] = _metrics(c_bkg, c_sig)
            res["minus_mean_x2"] = _metrics(-c_bkg, -c_sig)
            curve = []
            for ck in det.checkpoints_:
                det.load_checkpoint(ck["iteration"])
                m = _metrics(det.anomaly_score(X_bkg), det.anomaly_score(X_sig))
                curve.append({"iteration": ck["iteration"],
                              "time_s": det.pretrain_time_ + ck["time"], **m})
            res["auc_vs_time"] = curve
            last = [r for r in det.history_ if r["iteration"] > 0]
            if last:
                keys = ("pos_energy", "neg_energy", "accept_z", "accept_x", "sample_spread")
                res["final_diagnostics"] = {k: float(np.mean([r[k] for r in last[-10:]]))
                                            for k in keys}
            rows.append(res)
            print(f"{background}->{label} seed {seed}: AE {res['AE']['auc']:.3f} "
                  f"NAE {res['NAE']['auc']:.3f} mean(x2) {res['mean_x2']['auc']:.3f} "
                  f"({fit_time:.0f} s)", flush=True)
    return rows, sources


def _summary(rows):
    out = {}
    for label in ("top", "qcd"):
        sel = [r for r in rows if r["signal"] == label]
        out[label] = {}
        for model in ("AE", "NAE", "mean_x2", "minus_mean_x2"):
            aucs = [r[model]["auc"] for r in sel]
            rej = [r[model]["rejection"] for r in sel]
            out[label][model] = {"auc_mean": float(np.mean(aucs)), "auc_std": float(np.std(aucs)),
                                 "rejection_mean": float(np.mean(rej)),
                                 "rejection_std": float(np.std(rej))}
    return out


def _markdown(summary, rows, meta):
    lines = [f"NAE benchmark ({'REDUCED' if meta['reduced'] else 'full'} configuration: "
             f"{meta['n_train']} training / {meta['n_test']} test jets per class, seeds "
             f"{meta['seeds']}, preset {meta['preset']!r})", "",
             "| anomaly (background) | model | AUC | 1/eps_B(0.2) | paper AUC | paper 1/eps_B |",
             "|---|---|---|---|---|---|"]
    for label, bkg in (("top", "QCD"), ("qcd", "top")):
        for model in ("AE", "NAE", "mean_x2", "minus_mean_x2"):
            s = summary[label][model]
            p = PAPER[label].get(model, {})
            lines.append(f"| {label} ({bkg}) | {model} | {s['auc_mean']:.3f} ± {s['auc_std']:.3f}"
                         f" | {s['rejection_mean']:.1f} ± {s['rejection_std']:.1f} | "
                         f"{p.get('auc', '')} | {p.get('rejection', '')} |")
    lines += ["", "| direction | seed | pre-training s | NAE s | best iteration | collapsed |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['background']}->{r['signal']} | {r['seed']} | "
                     f"{r['pretrain_time_s']:.0f} | {r['nae_time_s']:.0f} | "
                     f"{r['best_iteration']} / {r['n_nae_iterations']} | {r['collapsed']} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--qcd", help="QCD jets file (jetad.datasets.save_jets format)")
    p.add_argument("--top", help="top jets file")
    p.add_argument("--cache-dir", default="/work/scratch/bench_nae")
    p.add_argument("--n-train", type=int, default=100_000)
    p.add_argument("--n-test", type=int, default=40_000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--gaussian-sigma", type=float, default=1.0)
    p.add_argument("--preset", default="paper")
    p.add_argument("--max-epochs", type=int)
    p.add_argument("--nae-iterations", type=int)
    p.add_argument("--nae-epochs", type=int)
    p.add_argument("--nae-batch-size", type=int)
    p.add_argument("--nae-lr", type=float)
    p.add_argument("--n-z-steps", type=int)
    p.add_argument("--n-x-steps", type=int)
    p.add_argument("--x-noise-std", type=float)
    p.add_argument("--param", action="append", metavar="KEY=JSON",
                   help="any other NAEDetector parameter, e.g. --param x_metropolis=false")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--reduced", action="store_true",
                   help="mark the run as a reduced configuration in the JSON")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "nae.json"))
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    rows, sources = run(args)
    meta = {"reduced": bool(args.reduced), "n_train": args.n_train, "n_test": args.n_test,
            "seeds": args.seeds, "preset": args.preset, "gaussian_sigma": args.gaussian_sigma,
            "overrides": {k: v for k, v in vars(args).items()
                          if k in ("max_epochs", "nae_iterations", "nae_epochs",
                                   "nae_batch_size", "nae_lr", "n_z_steps", "n_x_steps",
                                   "x_noise_std", "param") and v is not None},
            "sources": sources, "jetad": jetad.__version__, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "machine": platform.platform(),
            "total_wall_s": None}
    summary = _summary(rows)
    meta["total_wall_s"] = time.perf_counter() - t0
    md = _markdown(summary, rows, meta)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump({"meta": meta, "paper": PAPER, "summary": summary, "runs": rows}, fh, indent=1)
    with open(os.path.splitext(args.out)[0] + ".md", "w") as fh:
        fh.write(md)
    print(md)


if __name__ == "__main__":
    main()
