"""Latent-space tagging with VAE, GMVAE and DVAE (figures 3, 5, 7, 9, 11-13 of arXiv:2104.08291).

Usage (the recorded reduced run in benchmarks/results/latent_vae.json used)::

    python benchmarks/bench_latent_vae.py --reduced

and for the paper's size (100k jets per class, ~hours on a GPU-less laptop)::

    python benchmarks/bench_latent_vae.py --qcd QCD.h5 --top TOP.h5 --n-test 10000 \
        --n-train-max 200000 --epochs-dvae 100 --epochs-vae 100

What it measures, on held-out balanced test jets (``--n-test`` per class, never
used for training):

1. balanced training sample (t/Q = 1): AUC of the VAE's 1-D latent, the GMVAE's
   1-D latent and responsibility, the DVAE's (R = 2, alpha = (1, 1)) mixture weight;
2. the DVAE R = 2 (alpha = (1, 0.25)) trained at S/B = 1, 0.25, 0.05, 0.01 with
   top jets as signal (t/Q) and with QCD jets as signal (Q/t): mixture-weight
   (latent) and reconstruction AUC;
3. the DVAE R = 3 (alpha = (1, 0.25, 0.1)) at the same ratios: the AUC of each
   mixture weight and of the reconstruction.

AUC conventions: ``auc`` is the detector's own label-free orientation (energy =
weight of the component picked by the skewness rule of ``DVAEDetector`` /
``GMVAEDetector`` (``score_component=None``), the sign-oriented VAE latent
coordinate, reconstruction error, KL, -ln p; ``latent_last_component`` is the
former default, the last component);
``auc_max`` = max(AUC, 1 - AUC) is what one gets by orienting an arbitrary
latent direction with labels (the paper's symmetric-prior plots and the public
code do this). The trivial "image concentration" score mean(x^2) is reported
beside them (see docs: any result must be compared with it).

Each score is summarised by :func:`jetad.model_selection.summarize_scores`: the
AUC and 1/eps_B at eps_S = 0.2 with its Clopper-Pearson interval and the number
of test background jets passing the cut.

Training samples are drawn with :func:`jetad.datasets.make_contaminated_sample`
from the training pools (the jets not held out). Without ``--qcd`` / ``--top``
the jets come from :func:`jetad.datasets.fetch_generated` (simulated once into
``--cache-dir``, default the jetad data home ``$JETAD_CACHE`` or
``~/.cache/jetad``): 4000 QCD (seed 1) and 2000 top jets (seed 2), and with
``--reduced`` also 20000 QCD (seed 2024) and 6000 top jets (seed 7), the samples
of the recorded run. PNGs of decoder-weight images, Gibbs triangles, latent
histograms and ROC curves go to ``--out-dir``.
"""

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import torch

import jetad
from jetad import JetImager
from jetad.datasets import fetch_generated, load_jets, make_contaminated_sample
from jetad.detectors import DVAEDetector, GMVAEDetector, VAEDetector
from jetad.metrics import anomaly_auc
from jetad.model_selection import summarize_scores, trivial_baseline_scores

PAPER = {
    "balanced_latent_auc": {"VAE": 0.83, "DVAE": 0.89,
                            "GMVAE": "no improvement over the VAE (Fig. 5, no number)"},
    "dvae_r3_anomalous_qcd_auc": 0.91,
    "note": "paper: 100k jets per class, 90/10 train/test split, 200 epochs",
}
RATIOS = (1.0, 0.25, 0.05, 0.01)
HERE = os.path.dirname(os.path.abspath(__file__))
# (n_jets, seed) of the generated samples concatenated per class when no files are given
SAMPLES = {"qcd": ((4000, 1),), "top": ((2000, 2),)}
REDUCED_SAMPLES = {"qcd": ((4000, 1), (20000, 2024)), "top": ((2000, 2), (6000, 7))}


def _class_jets(files, kind, samples, cache_dir):
    """The jets of ``files`` concatenated, else the ``(n_jets, seed)`` samples fetched."""
    if files:
        return np.concatenate([load_jets(f)[0] for f in files]), list(files)
    parts, paths = [], []
    for n_jets, seed in samples:
        X, info = fetch_generated(kind, n_jets, random_state=seed, cache_dir=cache_dir,
                                  n_jobs=2)
        parts.append(X)
        paths.append(info["path"])
    return np.concatenate(parts), paths


def _aucs(y, energy):
    """The summary of a score; ``auc_max`` = max(AUC, 1 - AUC), the label-oriented AUC."""
    summary = summarize_scores(y, energy)
    auc = summary["auc"]
    return {"auc": round(auc, 4), "auc_max": round(max(auc, 1 - auc), 4),
            **{k: v for k, v in summary.items() if k != "auc"}}


def _save(fig, out_dir, name, written):
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=90)
    written.append(os.path.relpath(path, HERE))
    import matplotlib.pyplot as plt

    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--qcd", nargs="*", default=None, help="QCD jet files (jetad generate)")
    p.add_argument("--top", nargs="*", default=None, help="top jet files")
    p.add_argument("--reduced", action="store_true",
                   help="the recorded 2-core configuration (small cached samples)")
    p.add_argument("--n-test", type=int, default=1000, help="held-out test jets per class")
    p.add_argument("--n-train-max", type=int, default=8000,
                   help="cap on the size of each training sample")
    p.add_argument("--n-train-vae", type=int, default=8000,
                   help="cap on the balanced training sample of the (slower) conv VAE/GMVAE")
    p.add_argument("--epochs-dvae", type=int, default=20)
    p.add_argument("--epochs-vae", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--architecture", default="nae2023", choices=["nae2023", "dillon2021"],
                   help="conv network of the VAE/GMVAE (dillon2021: the paper's Fig. 2)")
    p.add_argument("--cache-dir", default=None,
                   help="sample cache of fetch_generated (default: the jetad data home)")
    p.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    p.add_argument("--output", default=os.path.join(HERE, "results", "latent_vae.json"))
    args = p.parse_args(argv)
    if args.reduced:  # the recorded 2-core configuration
        args.n_train_max = min(args.n_train_max, 4000)
        args.n_train_vae = min(args.n_train_vae, 2000)
        args.epochs_dvae = min(args.epochs_dvae, 12)
        args.epochs_vae = min(args.epochs_vae, 10)
    torch.set_num_threads(2)
    t_start = time.perf_counter()
    os.makedirs(args.out_dir, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    from jetad.plotting import (
        plot_gibbs_triangle,
        plot_latent_histograms,
        plot_mixture_components,
        plot_roc_curves,
    )

    # ---------------------------------------------------------------- data
    samples = REDUCED_SAMPLES if args.reduced else SAMPLES
    qcd, qcd_files = _class_jets(args.qcd, "qcd", samples["qcd"], args.cache_dir)
    top, top_files = _class_jets(args.top, "top", samples["top"], args.cache_dir)
    t0 = time.perf_counter()
    imager = JetImager()
    Q, T = imager.transform(qcd), imager.transform(top)
    t_images = time.perf_counter() - t0
    rng = np.random.default_rng(args.seed)
    Q, T = Q[rng.permutation(len(Q))], T[rng.permutation(len(T))]
    n_test = min(args.n_test, len(T) // 3, len(Q) // 3)
    X_test = np.concatenate([Q[:n_test], T[:n_test]])
    y_top = np.r_[np.zeros(n_test), np.ones(n_test)]  # top = signal
    y_qcd = 1 - y_top  # QCD = signal
    Q_pool, T_pool = Q[n_test:], T[n_test:]
    conc = trivial_baseline_scores(X_test)["mean(x²)"]
    results = {
        "config": {
            "reduced": bool(args.reduced),
            "reduced_note": ("REDUCED run: a few thousand generated jets per class instead of "
                             "100k (DVAE <= 4000, VAE/GMVAE 2000 training jets), 12 (DVAE) / 10 "
                             "(VAE, GMVAE) epochs instead of 200, one seed, 2 shared CPU cores; "
                             "numbers are indicative, not a reproduction of the paper's "
                             "statistics") if args.reduced else None,
            "n_qcd_total": int(len(Q)), "n_top_total": int(len(T)),
            "n_test_per_class": int(n_test), "n_train_max": args.n_train_max,
            "n_train_vae": args.n_train_vae,
            "epochs_dvae": args.epochs_dvae, "epochs_vae": args.epochs_vae,
            "seed": args.seed, "qcd_files": qcd_files, "top_files": top_files,
            "imager": "JetImager() defaults (40x40, unit sum)",
            "command": "python benchmarks/bench_latent_vae.py " + " ".join(
                sys.argv[1:] if argv is None else argv),
        },
        "paper": PAPER,
        "trivial_concentration_mean_x2": {"top_signal": _aucs(y_top, conc),
                                          "qcd_signal": _aucs(y_qcd, conc)},
        "environment": {"python": platform.python_version(), "torch": torch.__version__,
                        "jetad": jetad.__version__, "cpu_threads": torch.get_num_threads(),
                        "machine": platform.machine()},
    }
    written = []
    common = {"random_state": args.seed, "device": "cpu"}

    def fit(det, X, name):
        t = time.perf_counter()
        det.fit(X)
        print(f"  {name}: fit {len(X)} jets in {time.perf_counter() - t:.1f}s", flush=True)
        return det, round(time.perf_counter() - t, 2)

    # ---------------------------------------------------- balanced: 1 latent dim
    print("balanced t/Q = 1", flush=True)
    X_bal, _ = make_contaminated_sample(Q_pool, T_pool, 1.0,
                                        n_samples=min(args.n_train_max, 2 * len(T_pool)),
                                        random_state=args.seed)
    X_bal_conv = X_bal[:args.n_train_vae]
    bal = {"n_train_dvae": int(len(X_bal)), "n_train_vae_gmvae": int(len(X_bal_conv))}
    vae, tt = fit(VAEDetector(latent_dim=1, score_type="latent", max_epochs=args.epochs_vae,
                              architecture=args.architecture, **common), X_bal_conv, "VAE")
    z = vae.encode(X_test)[:, 0]
    bal["VAE"] = {"latent_coordinate": _aucs(y_top, z), "latent_kl": _aucs(y_top, vae.anomaly_score(X_test)),
                  "fit_s": tt, "architecture": args.architecture}
    vae.set_params(score_type="latent_coordinate")
    bal["VAE"]["latent_coordinate_label_free"] = _aucs(y_top, vae.anomaly_score(X_test))
    vae.set_params(score_type="reconstruction")
    bal["VAE"]["reconstruction"] = _aucs(y_top, vae.anomaly_score(X_test))

    gm, tt = fit(GMVAEDetector(latent_dim=1, max_epochs=args.epochs_vae,
                               architecture=args.architecture, **common), X_bal_conv, "GMVAE")
    zg = gm.encode(X_test)[:, 0]
    bal["GMVAE"] = {"latent_coordinate": _aucs(y_top, zg),
                    "latent_neg_log_prior": _aucs(y_top, gm.anomaly_score(X_test)),
                    "fit_s": tt}
    gm.set_params(score_type="responsibility")
    bal["GMVAE"]["responsibility_label_free"] = _aucs(y_top, gm.anomaly_score(X_test))
    minority = int(np.argmin(gm.prior_parameters()["weights"]))
    bal["GMVAE"]["responsibility_minority_mode"] = _aucs(
        y_top, gm.responsibilities(X_test)[:, minority])
    gm.set_params(score_type="reconstruction")
    bal["GMVAE"]["reconstruction"] = _aucs(y_top, gm.anomaly_score(X_test))
    bal["GMVAE"]["prior"] = {k: np.round(v, 4).tolist() for k, v in gm.prior_parameters().items()}

    dv, tt = fit(DVAEDetector(alpha=(1, 1), max_epochs=args.epochs_dvae, **common), X_bal,
                 "DVAE R=2")
    r = dv.encode(X_test)
    bal["DVAE"] = {"latent_r1": _aucs(y_top, r[:, 1]), "fit_s": tt}
    dv.set_params(score_type="reconstruction")
    bal["DVAE"]["reconstruction"] = _aucs(y_top, dv.anomaly_score(X_test))
    dv.set_params(score_type="topic_ratio")
    bal["DVAE"]["topic_ratio"] = _aucs(y_top, dv.anomaly_score(X_test))
    results["balanced_top_vs_qcd"] = bal
    _save(plot_mixture_components(dv), args.out_dir,
          "latent_vae_dvae_balanced_components.png", written)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.5))
    lab = {0: "QCD", 1: "top"}
    plot_latent_histograms(z, y_top, labels=lab, ax=axes[0], xlabel="VAE latent $z$")
    plot_latent_histograms(zg, y_top, labels=lab, ax=axes[1], xlabel="GMVAE latent $z$")
    plot_latent_histograms(r, y_top, component=1, labels=lab, ax=axes[2], xlabel="DVAE $r_1$",
                           range=(0, 1))
    o = lambda s: s if anomaly_auc(y_top, s) >= 0.5 else -s  # noqa: E731 (display only)
    plot_roc_curves({"VAE z": (y_top, o(z)), "GMVAE z": (y_top, o(zg)),
                     "DVAE $r_1$": (y_top, o(r[:, 1]))}, ax=axes[3])
    axes[3].set_title("top = signal (latents oriented with labels)", fontsize=9)
    fig.tight_layout()
    _save(fig, args.out_dir, "latent_vae_balanced.png", written)

    # ------------------------------------------------ contamination scenarios
    scen = {}
    for direction, (bkg, sig, y_sig) in {"top_signal_t_over_Q": (Q_pool, T_pool, y_top),
                                         "qcd_signal_Q_over_t": (T_pool, Q_pool, y_qcd)}.items():
        scen[direction] = {}
        for ratio in RATIOS:
            n_max = min(args.n_train_max, int(len(bkg) * (1 + ratio)))
            X_tr, y_tr = make_contaminated_sample(bkg, sig, ratio, n_samples=n_max,
                                                  random_state=args.seed)
            entry = {"n_train": int(len(X_tr)), "n_signal_train": int(y_tr.sum())}
            for R, alpha in ((2, (1.0, 0.25)), (3, (1.0, 0.25, 0.1))):
                print(f"{direction} S/B={ratio} R={R}", flush=True)
                det, tt = fit(DVAEDetector(alpha=alpha, max_epochs=args.epochs_dvae, **common),
                              X_tr, f"DVAE R={R}")
                w = det.encode(X_test)
                res = {"alpha": list(alpha), "fit_s": tt,
                       "latent_default_component": _aucs(y_sig, det.anomaly_score(X_test)),
                       "latent_last_component": _aucs(y_sig, w[:, -1]),
                       "anomaly_component": det.anomaly_component(),
                       "logit_skewness": np.round(det.logit_skewness(), 4).tolist()}
                for k in range(R):
                    res[f"latent_r{k}"] = _aucs(y_sig, w[:, k])
                det.set_params(score_type="reconstruction")
                res["reconstruction"] = _aucs(y_sig, det.anomaly_score(X_test))
                det.set_params(score_type="topic_ratio")
                res["topic_ratio"] = _aucs(y_sig, det.anomaly_score(X_test))
                res["mean_weights_train"] = np.round(det.encode(X_tr).mean(0), 4).tolist()
                entry[f"R{R}"] = res
                if ratio == 0.01 or (R == 2 and ratio == 1.0):
                    tag = f"{direction.split('_')[0]}_sb{ratio:g}_R{R}"
                    _save(plot_mixture_components(det), args.out_dir,
                          f"latent_vae_components_{tag}.png", written)
                    if R == 3:
                        ax = plot_gibbs_triangle(w, y_sig, labels={0: "background",
                                                                  1: "signal"})
                        ax.set_title(f"{direction}, S/B = {ratio:g}", fontsize=9)
                        _save(ax.figure, args.out_dir, f"latent_vae_gibbs_{tag}.png", written)
            scen[direction][f"{ratio:g}"] = entry
            # intermediate save: a long run keeps what it has
            results["contamination"] = scen
            with open(args.output, "w") as fh:
                json.dump(results, fh, indent=1)
    results["contamination"] = scen
    results["figures"] = written
    results["image_seconds"] = round(t_images, 2)
    results["total_seconds"] = round(time.perf_counter() - t_start, 1)
    with open(args.output, "w") as fh:
        json.dump(results, fh, indent=1)
    print(json.dumps({"balanced": bal}, indent=1))
    for d, v in scen.items():
        for ratio, e in v.items():
            print(d, ratio, "R2 latent", e["R2"]["latent_default_component"]["auc"], "reco",
                  e["R2"]["reconstruction"]["auc"], "| R3",
                  [e["R3"][f"latent_r{k}"]["auc"] for k in range(3)], "reco",
                  e["R3"]["reconstruction"]["auc"])
    print(f"total {results['total_seconds']}s -> {args.output}")


if __name__ == "__main__":
    main()
