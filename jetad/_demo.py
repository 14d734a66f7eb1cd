"""``jetad demo``: simulate jets, train the AE and the NAE in both directions, write a report.

The demo is the toolkit end to end on a laptop-sized problem: it fetches small
QCD and top samples (:func:`jetad.datasets.fetch_generated`: Pythia 8 + FastJet
and the detector response, simulated once and cached), turns them into jet
images, trains an autoencoder and a Normalized Autoencoder on each class in
turn, and tags the other class as the anomaly -- top jets in QCD, and QCD jets
in tops. Every row is shown beside the trivial baselines
(:func:`jetad.model_selection.trivial_baseline_scores`: the image concentration
mean(x^2) and the jet mass, both signs) on the same test jets.
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
            "nae_iterations": 200, "nae_batch_size": 32, "nae_lr": 1e-4, "sampler__n_z_steps": 5,
            "sampler__n_x_steps": 5, "sampler__x_noise_std": 1e-4,
            "sampler__x_metropolis": True},
}


def _row(direction, method, summary, seconds):
    """One report row: a :func:`~jetad.model_selection.summarize_scores` dict, labelled."""
    return {"direction": direction, "method": method, **summary,
            "rejection_at_0.2": summary["rejection"], "fit_seconds": seconds}


def _format_rejection(row):
    passing = f"{row['n_background_pass']}/{row['n_background']} pass"
    if row["rejection_bounded"]:  # no background jet passes the cut: a lower limit
        return f"≥ {row['rejection']:.0f} ({passing})"
    return (f"{row['rejection']:.1f} ± {row['rejection_error']:.1f} "
            f"[{row['rejection_low']:.1f}, {row['rejection_high']:.1f}] ({passing})")


def _markdown_table(rows):
    lines = ["| anomaly | method | AUC | 1/eps_B at eps_S=0.2 ± σ [68% CL] | training time |",
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


def _check_sizes(n_jets):
    """``(n_jets, n_train)`` from the ``n_jets`` argument (None: the preset)."""
    if n_jets is None:
        n_jets = DEMO_PRESET["n_jets"]
    if not isinstance(n_jets, (int, np.integer)) or isinstance(n_jets, bool) or n_jets < 1:
        raise ValueError(f"n_jets must be an integer >= 1 (jets per class), got {n_jets!r}")
    n_jets = int(n_jets)
    n_train = int(round(n_jets * DEMO_PRESET["n_train"] / DEMO_PRESET["n_jets"]))
    if n_train < 2 or n_jets - n_train < 2:
        raise ValueError(f"n_jets={n_jets} is too small for a train/test split (use >= 6)")
    return n_jets, n_train


def _fetch_samples(n_jets, random_state, n_jobs, cache_dir, progress):
    """QCD and top constituents through the cached loader, one seed per kind."""
    from jetad.datasets import fetch_generated

    jets = {}
    for offset, kind in enumerate(("qcd", "top")):
        X, info = fetch_generated(kind, n_jets, random_state=1000 * random_state + offset,
                                  cache_dir=cache_dir, n_jobs=n_jobs, progress=progress,
                                  prefix="demo_")
        print(f"[jetad demo] {kind}: {n_jets} jets ({info['path']})")
        jets[kind] = X
    return jets


def _plot_direction(curves, energies, y_test, direction, bkg, sig, path):
    import matplotlib.pyplot as plt

    from jetad.plotting import plot_roc_curves

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    plot_roc_curves(curves, ax=axes[0])
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
    _save(fig, path)


def _run_direction(direction, bkg, sig, jets, images, n_train, random_state, progress,
                   output_dir):
    """Baselines, AE and NAE rows for one direction (``sig`` jets as the anomaly)."""
    from jetad import NAEDetector
    from jetad.model_selection import evaluate_detector, summarize_scores, trivial_baseline_scores

    n_test = len(images[bkg]) - n_train
    X_train = images[bkg][:n_train]
    X_test = np.concatenate([images[bkg][n_train:], images[sig][n_train:]])
    y_test = np.r_[np.zeros(n_test), np.ones(n_test)]
    baselines = trivial_baseline_scores(
        X_test, np.concatenate([jets[bkg][n_train:], jets[sig][n_train:]]))
    rows = [_row(direction, name, summarize_scores(y_test, scores), None)
            for name, scores in baselines.items()]
    curves = {name: (y_test, scores) for name, scores in baselines.items()}
    print(f"[jetad demo] training the AE and the NAE on {bkg} jets ({direction} as anomaly)")
    nae = NAEDetector(random_state=random_state, verbose=1 if progress else 0).set_params(
        **DEMO_PRESET["nae"])
    nae_result = evaluate_detector(nae, X_train, X_test, y_test)
    # the AE row is the NAE's own pre-trained autoencoder, scored without refitting
    energies = {"AE": -nae.score_samples_pretrained(X_test),
                "NAE": nae_result.pop("anomaly_scores")}
    rows.append(_row(direction, "AE", summarize_scores(y_test, energies["AE"]),
                     nae.pretrain_time_))
    rows.append(_row(direction, "NAE", nae_result, nae.nae_time_))
    curves.update({name: (y_test, scores) for name, scores in energies.items()})
    _plot_direction(curves, energies, y_test, direction, bkg, sig,
                    os.path.join(output_dir, f"roc_{direction.lower()}_anomaly.png"))
    return rows


def _write_report(output_dir, rows, n_jets, n_train, random_state, total_s):
    from jetad.utils import atomic_path

    table = _markdown_table(rows)
    report = [
        "# jetad demo report", "",
        f"{n_jets} generated jets per class (Pythia 8 + FastJet, Delphes-ATLAS-like response), "
        f"{n_train} for training, {n_jets - n_train} per class for testing; JetImager "
        f"{DEMO_PRESET['imager']}. Anomaly scores: higher = more anomalous. The mean(x²) and "
        "jet-mass rows are the trivial baselines with both signs, on the same test jets: a "
        "detector that does not beat them has learned nothing beyond how peaked or how heavy "
        "the jet is. The AE row is the NAE's own pre-trained autoencoder; the NAE row adds the "
        f"energy-based phase (fast demo preset, {DEMO_PRESET['nae']}). 1/eps_B is quoted with "
        "its binomial σ, its 68% CL Clopper-Pearson interval and the number of test background "
        "jets passing the cut; with none passing, the 68% CL lower limit.", "",
        table, "",
        f"Total wall time {total_s:.0f} s.", "",
        "![average images](average_images.png)", "",
        "![top as anomaly](roc_top_anomaly.png)", "",
        "![QCD as anomaly](roc_qcd_anomaly.png)", "",
    ]
    with atomic_path(os.path.join(output_dir, "report.md")) as tmp, open(tmp, "w") as fh:
        fh.write("\n".join(report))
    results = {"rows": rows, "n_jets": n_jets, "n_train": n_train, "preset": DEMO_PRESET,
               "random_state": random_state, "total_seconds": total_s}
    with atomic_path(os.path.join(output_dir, "results.json")) as tmp, open(tmp, "w") as fh:
        json.dump(results, fh, indent=2, allow_nan=False)
    return table


def run_demo(output_dir="jetad-demo", n_jets=None, n_jobs=2, random_state=0, cache_dir=None,
             progress=True):
    """Run the demo and write ``report.md``, ``results.json`` and PNG plots.

    Parameters
    ----------
    output_dir : str, default="jetad-demo"
        Folder of the report.
    n_jets : int or None
        Jets per class (default ``DEMO_PRESET["n_jets"]``); two thirds train.
        At least 6.
    n_jobs : int, default=2
        Worker processes for the generation.
    random_state : int, default=0
        Seeds the generation and the detectors.
    cache_dir : str or None
        Sample cache (default: :func:`jetad.utils.get_cache_dir`, i.e.
        ``$JETAD_CACHE`` or ``~/.cache/jetad``); a rerun reuses the samples
        (:func:`jetad.datasets.fetch_generated`, files ``demo_*.h5``).
    progress : bool, default=True
        Progress bars and per-epoch logs.

    Returns
    -------
    exit_code : int
        0 on success.

    Raises
    ------
    ValueError
        If ``n_jets`` is not an integer >= 1, or too small for a train/test split.
    """
    import matplotlib

    matplotlib.use("Agg")
    from jetad import JetImager
    from jetad.plotting import plot_average_images

    start = time.perf_counter()
    n_jets, n_train = _check_sizes(n_jets)
    os.makedirs(output_dir, exist_ok=True)
    jets = _fetch_samples(n_jets, random_state, n_jobs, cache_dir, progress)
    imager = JetImager(**DEMO_PRESET["imager"])
    images = {kind: imager.transform(X) for kind, X in jets.items()}
    fig = plot_average_images({"QCD": images["qcd"], "top": images["top"]})
    _save(fig, os.path.join(output_dir, "average_images.png"))
    generated_s = time.perf_counter() - start

    rows = []
    for direction, (bkg, sig) in {"top": ("qcd", "top"), "QCD": ("top", "qcd")}.items():
        rows += _run_direction(direction, bkg, sig, jets, images, n_train, random_state,
                               progress, output_dir)
    total_s = time.perf_counter() - start
    table = _write_report(output_dir, rows, n_jets, n_train, random_state, total_s)
    print()
    print(table)
    print(f"\n[jetad demo] total {total_s:.0f} s (samples and images {generated_s:.0f} s)")
    print(f"[jetad demo] report written to {os.path.join(output_dir, 'report.md')}")
    return 0
