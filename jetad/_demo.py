"""``jetad demo``: simulate jets, train the AE and the NAE in both directions, write a report.

The demo is the toolkit end to end on a laptop-sized problem: it generates (or
reuses from the cache) small QCD and top samples with Pythia 8 + FastJet and the
detector response, turns them into jet images, trains an autoencoder and a
Normalized Autoencoder on each class in turn, and tags the other class as the
anomaly -- top jets in QCD, and QCD jets in tops. Every row is shown beside the
trivial image-concentration score mean(x^2), with both signs.
"""

import json
import os
import time

import numpy as np

__all__ = ["DEMO_PRESET", "run_demo"]

#: Sizes and training settings of the demo: minutes on a 2-core CPU.
DEMO_PRESET = {
    "n_jets": 6000,
    "n_train": 4000,
    "imager": {"gaussian_sigma": 1.0},
    # A fast NAE: its AE pre-training is the AE row of the table (the paper's comparison of
    # the NAE with its own pre-trained AE); Table 1's chains with 5 + 5 steps and 200 NAE
    # iterations (hotter image chains made noise-image negatives and degraded the top
    # direction: benchmarks/results/nae_tuning.md).
    "nae": {"preset": "cpu", "max_epochs": 12, "batch_size": 64, "lr": 2e-3,
            "nae_iterations": 200, "nae_batch_size": 32, "nae_lr": 1e-4, "n_z_steps": 5,
            "n_x_steps": 5, "x_noise_std": 1e-4, "x_metropolis": True},
}


def _row(name, direction, y, scores, seconds):
    from jetad.metrics import tagging_summary

    summary = tagging_summary(y, scores, 0.2)
    return {"direction": direction, "method": name, "auc": summary["auc"],
            "rejection_at_0.2": summary["rejection"],
            "rejection_error": None if summary["rejection_bounded"] else summary["rejection_error"],
            "rejection_bounded": summary["rejection_bounded"], "fit_seconds": seconds}


def _format_rejection(row):
    if row["rejection_bounded"]:  # no background jet passes the cut
        return f"≥ {row['rejection_at_0.2']:.0f}"
    return f"{row['rejection_at_0.2']:.1f} ± {row['rejection_error']:.1f}"


def _markdown_table(rows):
    lines = ["| anomaly | method | AUC | 1/eps_B at eps_S=0.2 | training time |",
             "|---|---|---|---|---|"]
    for r in rows:
        fit = f"{r['fit_seconds']:.0f} s" if r["fit_seconds"] is not None else "-"
        lines.append(f"| {r['direction']} | {r['method']} | {r['auc']:.3f} | "
                     f"{_format_rejection(r)} | {fit} |")
    return "\n".join(lines)


def _save(fig, path):
    fig.savefig(path, dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)


def run_demo(output_dir="jetad-demo", n_jets=None, n_jobs=2, random_state=0, cache_dir=None,
             progress=True):
    """Run the demo and write ``report.md``, ``results.json`` and PNG plots.

    Parameters
    ----------
    output_dir : str, default="jetad-demo"
        Folder of the report.
    n_jets : int or None
        Jets per class (default ``DEMO_PRESET["n_jets"]``); two thirds train.
    n_jobs : int, default=2
        Worker processes for the generation.
    random_state : int, default=0
        Seeds the generation and the detectors.
    cache_dir : str or None
        Sample cache (default: :func:`jetad.utils.get_cache_dir`, i.e.
        ``$JETAD_CACHE`` or ``~/.cache/jetad``); a rerun reuses the samples.
    progress : bool, default=True
        Progress bars and per-epoch logs.

    Returns
    -------
    exit_code : int
        0 on success.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jetad import JetImager, NAEDetector
    from jetad.datasets import generate_jets
    from jetad.metrics import image_concentration
    from jetad.plotting import plot_average_images, plot_roc_curves
    from jetad.utils import get_cache_dir

    start = time.perf_counter()
    n_jets = int(n_jets or DEMO_PRESET["n_jets"])
    n_train = int(round(n_jets * DEMO_PRESET["n_train"] / DEMO_PRESET["n_jets"]))
    if n_train < 2 or n_jets - n_train < 2:
        raise ValueError(f"n_jets={n_jets} is too small for a train/test split")
    cache = get_cache_dir(cache_dir)
    os.makedirs(output_dir, exist_ok=True)

    jets = {}
    for offset, kind in enumerate(("qcd", "top")):
        path = os.path.join(cache, f"demo_{kind}_{n_jets}_seed{random_state}.h5")
        print(f"[jetad demo] {kind}: {n_jets} jets ({'cached' if os.path.exists(path) else 'generating'}: {path})")
        jets[kind] = generate_jets(kind, n_jets, random_state=1000 * random_state + offset,
                                   n_jobs=n_jobs, output=path, progress=progress)
    imager = JetImager(**DEMO_PRESET["imager"])
    images = {kind: imager.transform(X) for kind, X in jets.items()}
    fig = plot_average_images({"QCD": images["qcd"], "top": images["top"]})
    _save(fig, os.path.join(output_dir, "average_images.png"))
    generated_s = time.perf_counter() - start

    rows, curves = [], {}
    for direction, (bkg, sig) in {"top": ("qcd", "top"), "QCD": ("top", "qcd")}.items():
        X_train = images[bkg][:n_train]
        X_test = np.concatenate([images[bkg][n_train:], images[sig][n_train:]])
        y_test = np.r_[np.zeros(n_jets - n_train), np.ones(n_jets - n_train)]
        curves[direction] = {}
        for sign, label in ((1, "mean(x²)"), (-1, "−mean(x²)")):
            scores = sign * image_concentration(X_test)
            rows.append(_row(label, direction, y_test, scores, None))
            curves[direction][label] = (y_test, scores)
        print(f"[jetad demo] training the AE and the NAE on {bkg} jets ({direction} as anomaly)")
        nae = NAEDetector(random_state=random_state, verbose=1 if progress else 0,
                          **DEMO_PRESET["nae"]).fit(X_train)
        energies = {"AE": -nae.score_samples_pretrained(X_test), "NAE": nae.anomaly_score(X_test)}
        for name, seconds in (("AE", nae.pretrain_time_), ("NAE", nae.nae_time_)):
            rows.append(_row(name, direction, y_test, energies[name], seconds))
            curves[direction][name] = (y_test, energies[name])
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        plot_roc_curves(curves[direction], ax=axes[0])
        axes[0].set_title(f"{direction} jets as anomaly (trained on {bkg})")
        for name, scores in energies.items():
            lo, hi = np.percentile(scores, [0.5, 99.5])
            bins = np.linspace(lo, hi, 60)
            for cls, label in ((0, bkg), (1, sig)):
                axes[1].hist(scores[y_test == cls], bins=bins, histtype="step", density=True,
                             label=f"{name}: {label}")
        axes[1].set_xlabel("energy (anomaly score)")
        axes[1].set_ylabel("density")
        axes[1].legend(fontsize="small")
        _save(fig, os.path.join(output_dir, f"roc_{direction.lower()}_anomaly.png"))

    table = _markdown_table(rows)
    total_s = time.perf_counter() - start
    print()
    print(table)
    print(f"\n[jetad demo] total {total_s:.0f} s (samples and images {generated_s:.0f} s)")
    report = [
        "# jetad demo report", "",
        f"{n_jets} generated jets per class (Pythia 8 + FastJet, Delphes-ATLAS-like response), "
        f"{n_train} for training, {n_jets - n_train} per class for testing; JetImager "
        f"{DEMO_PRESET['imager']}. Anomaly scores: higher = more anomalous. The mean(x²) rows are "
        "the trivial image-concentration score with both signs: a detector that does not beat "
        "them has learned nothing beyond how peaked the jet is. The AE row is the NAE's own "
        "pre-trained autoencoder; the NAE row adds the energy-based phase (fast demo preset, "
        f"{DEMO_PRESET['nae']}).", "",
        table, "",
        f"Total wall time {total_s:.0f} s.", "",
        "![average images](average_images.png)", "",
        "![top as anomaly](roc_top_anomaly.png)", "",
        "![QCD as anomaly](roc_qcd_anomaly.png)", "",
    ]
    from jetad.datasets._io import atomic_path

    with atomic_path(os.path.join(output_dir, "report.md")) as tmp, open(tmp, "w") as fh:
        fh.write("\n".join(report))
    results = {"rows": rows, "n_jets": n_jets, "n_train": n_train, "preset": DEMO_PRESET,
               "random_state": random_state, "total_seconds": total_s}
    with atomic_path(os.path.join(output_dir, "results.json")) as tmp, open(tmp, "w") as fh:
        json.dump(results, fh, indent=2, allow_nan=False)
    print(f"[jetad demo] report written to {os.path.join(output_dir, 'report.md')}")
    return 0
