"""The suite's figures: model figures per unit, ROC curves, the pT^n sweep and MMD against n."""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import math
import os

import numpy as np

from ..utils import atomic_path
from ._config import DIRECTIONS, LABEL
from ._results import method_order, mmd_table
from ._store import load_scores, slug

__all__ = ["model_figures", "report_figures"]


def save_figure(fig, path, dpi):
    """Save ``fig`` as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)


def _model_figure(cfg, det, name, X_bkg, X_sig, bkg_label, sig_label, title, path):
    """Average input / reconstruction / samples and the most poorly reconstructed jets."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    n_worst = int(cfg["plots"]["n_worst"])
    side = math.isqrt(X_bkg.shape[1])
    energy = det.anomaly_score(X_bkg)
    rec = det.reconstruct(X_bkg)
    order = np.argsort(energy)[::-1]
    k = max(1, len(order) // 10)
    panels = [(X_bkg.mean(0), f"{bkg_label}: mean input"),
              (rec.mean(0), f"{bkg_label}: mean reconstruction"),
              (X_sig.mean(0), f"{sig_label}: mean input")]
    if hasattr(det, "sample"):
        samples = det.sample(min(256, len(X_bkg)), random_state=0)
        panels.append((samples.mean(0), "mean NAE sample"))
    panels += [(X_bkg[order[:k]].mean(0), f"worst 10% {bkg_label}: input"),
               (rec[order[:k]].mean(0), f"worst 10% {bkg_label}: reconstruction")]
    worst = order[:min(n_worst, len(order))]
    ncols = max(len(panels), len(worst))
    fig, axes = plt.subplots(3, ncols, figsize=(1.9 * ncols, 5.9))
    axes = np.atleast_2d(axes)
    for ax in axes.ravel():
        ax.axis("off")
    allp = panels + [(X_bkg[i], f"#{r + 1} worst {bkg_label}") for r, i in enumerate(worst)]
    allp += [(rec[i], f"#{r + 1}: reconstruction") for r, i in enumerate(worst)]
    slots = [axes[0, i] for i in range(len(panels))]
    slots += [axes[1, i] for i in range(len(worst))] + [axes[2, i] for i in range(len(worst))]
    for ax, (img, t) in zip(slots, allp, strict=False):
        img = np.clip(np.asarray(img, np.float64).reshape(side, side), 1e-6, None)
        ax.imshow(img, norm=LogNorm(vmin=1e-5, vmax=max(img.max(), 1e-4)), cmap="viridis")
        ax.set_title(t, fontsize=7)
    fig.suptitle(f"{title} ({name})", fontsize=9)
    save_figure(fig, path, cfg["plots"]["dpi"])


def _latent_map_figure(cfg, det, X_by_class, title, path):
    """Equirectangular map of the latent-sphere energy with encoded jets (NAE)."""
    import matplotlib.pyplot as plt

    bkg = next(iter(X_by_class.values()))
    from jetad.plotting import latent_energy_map

    emap = latent_energy_map(det, n_theta=60, n_phi=120, center=bkg)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    mesh = ax.pcolormesh(np.degrees(emap.longitude), np.degrees(emap.latitude),
                         np.log10(np.maximum(emap.energy, np.min(emap.energy[emap.energy > 0],
                                                                  initial=1e-30))),
                         shading="auto",
                         cmap="Greys")
    fig.colorbar(mesh, ax=ax, label="log10 energy E(f_D(z))")
    n = int(cfg["plots"]["n_map_jets"])
    for label, X in X_by_class.items():
        lat, lon = emap.project(det.encode(X[:n]))
        ax.scatter(np.degrees(lon), np.degrees(lat), s=3, alpha=0.6, label=label)
    ax.set_xlabel("longitude [deg]")
    ax.set_ylabel("latitude [deg]")
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    ax.legend(fontsize="small", markerscale=3, loc="lower right")
    ax.set_title(title, fontsize=9)
    save_figure(fig, path, cfg["plots"]["dpi"])


def model_figures(cfg, output_dir, task, setting, name, seed, det, bkg, sigs):
    """Model figures for the first seed of the configured plot detectors; their paths.

    ``bkg`` and ``sigs`` map a class label to its test images (one background).
    """
    if not cfg["plots"]["enabled"] or name not in cfg["plots"]["detectors"] \
            or seed != cfg["seeds"][0]:
        return []
    folder = _figure_folder(output_dir)
    stem = f"{task}_{slug(setting)}_{name}"
    files = []
    ((bkg_label, X_bkg),) = bkg.items()
    sig_label, X_sig = next(iter(sigs.items()))
    path = os.path.join(folder, f"model_{stem}.png")
    _model_figure(cfg, det, name, X_bkg, X_sig, bkg_label, sig_label,
                  f"{task} {setting}: trained on {bkg_label}", path)
    files.append(os.path.relpath(path, output_dir))
    if hasattr(det, "sample") and getattr(det, "latent_dim", 0) == 3:
        path = os.path.join(folder, f"latent_map_{stem}.png")
        _latent_map_figure(cfg, det, {**bkg, **sigs},
                           f"{task} {setting}: NAE latent-sphere energy, trained on {bkg_label}",
                           path)
        files.append(os.path.relpath(path, output_dir))
    return files


def _figure_folder(output_dir):
    folder = os.path.join(output_dir, "figures")
    os.makedirs(folder, exist_ok=True)
    return folder


def _curves(scores_by_method, signal):
    """ROC curves of every row label for ``signal``, and the detectors' energies."""
    curves, energies = {}, {}
    for _method, (kind, arrays) in sorted(scores_by_method.items(),
                                          key=lambda kv: method_order(kv[0])):
        y = arrays.get(f"{signal}|y")
        if y is None:
            continue
        for key, values in arrays.items():
            sig, label = key.split("|", 1)
            if sig != signal or label == "y":
                continue
            curves[label] = (y, values)
            if kind == "detector":
                energies[label] = (y, values)
    return curves, energies


def _roc_figure(task, setting, signal, curves, energies):
    import matplotlib.pyplot as plt

    from jetad.plotting import plot_roc_curves

    ncols = 1 + max(1, len(energies))
    fig, axes = plt.subplots(1, ncols, figsize=(4.2 * ncols, 3.6))
    plot_roc_curves(curves, ax=axes[0])
    axes[0].legend(fontsize=6)
    bkg_name = ("QCD" if task == "dark" else
                LABEL[DIRECTIONS[setting][0]] if setting in DIRECTIONS else "bkg")
    axes[0].set_title(f"{task} {setting}: {LABEL.get(signal, signal)} as anomaly", fontsize=9)
    for ax, (label, (y, v)) in zip(axes[1:], energies.items(), strict=False):
        lo, hi = np.percentile(v, [0.5, 99.5])
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 50)
        ax.hist(v[y == 0], bins=bins, histtype="step", density=True, label=bkg_name)
        ax.hist(v[y == 1], bins=bins, histtype="step", density=True,
                label=LABEL.get(signal, signal))
        ax.set_xlabel(f"{label} energy")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    if not energies:
        axes[1].axis("off")
    return fig


def _roc_figures(cfg, output_dir, units, folder):
    """ROC curves and energy distributions per (task, setting, signal), first seed."""
    seed0 = cfg["seeds"][0]
    by_setting = {}
    for u in units:
        if u.get("scores_file") and u["seed"] == seed0:
            by_setting.setdefault((u["task"], u["setting"]), []).append(u)
    files = []
    for (task, setting), us in sorted(by_setting.items(), key=lambda kv: str(kv[0])):
        scores = {u["method"]: (u["kind"], load_scores(output_dir, u)) for u in us}
        signals = sorted({k.split("|")[0] for _, s in scores.values() for k in s})
        for signal in signals:
            curves, energies = _curves(scores, signal)
            if not curves:
                continue
            path = os.path.join(folder, f"roc_{task}_{slug(setting)}_{signal}.png")
            save_figure(_roc_figure(task, setting, signal, curves, energies), path,
                        cfg["plots"]["dpi"])
            files.append(os.path.relpath(path, output_dir))
    return files


def _dark_sweep_figures(cfg, output_dir, units, folder):
    """arXiv:2206.14225 Fig. 9: ROC per signal, one curve per n, for each dark detector."""
    import matplotlib.pyplot as plt

    from jetad.plotting import plot_roc_curves

    seed0 = cfg["seeds"][0]
    dark = {}
    for u in units:
        if u["task"] == "dark" and u.get("kind") == "detector" and u["seed"] == seed0:
            dark.setdefault(u["method"], []).append(u)
    files = []
    signals = cfg["dark"]["signals"]
    for method, us in dark.items():
        fig, axes = plt.subplots(1, len(signals), figsize=(4.6 * len(signals), 3.8))
        for ax, sig in zip(np.atleast_1d(axes), signals, strict=True):
            curves = {}
            for u in sorted(us, key=lambda u: u["pt_power"]):
                s = load_scores(output_dir, u)
                if f"{sig}|{method}" in s:
                    curves[f"n={u['pt_power']}"] = (s[f"{sig}|y"], s[f"{sig}|{method}"])
            if curves:
                plot_roc_curves(curves, ax=ax)
            ax.set_title(f"{method}: {LABEL[sig]} vs QCD", fontsize=9)
        path = os.path.join(folder, f"roc_dark_sweep_{method}.png")
        save_figure(fig, path, cfg["plots"]["dpi"])
        files.append(os.path.relpath(path, output_dir))
    return files


def _mmd_figures(cfg, output_dir, units, folder):
    """arXiv:2206.14225 Fig. 8: MMD against n, image and latent space."""
    import matplotlib.pyplot as plt

    mmd = mmd_table(units)
    if not mmd["powers"]:
        return []
    powers = mmd["powers"]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for i, sig in enumerate(mmd["signals"]):
        name = LABEL.get(sig, sig)
        ax.plot(powers, [mmd["image"].get((n, sig), (np.nan,))[0] for n in powers],
                "o-", color=f"C{i}", label=f"{name}: image")
        for j, det in enumerate(mmd["detectors"]):
            ax.plot(powers, [mmd["latent"].get((n, sig, det), (np.nan,))[0] for n in powers],
                    "s--", color=f"C{i}", alpha=1 - 0.3 * j, label=f"{name}: {det} latent")
    ax.plot(powers, [mmd["image"].get((n, "QCD vs QCD"), (np.nan,))[0] for n in powers],
            "x:", color="gray", label="QCD vs QCD: image")
    ax.set_xlabel("pT power n")
    ax.set_ylabel("MMD² (unbiased, Gaussian kernel)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    path = os.path.join(folder, "mmd_vs_n.png")
    save_figure(fig, path, cfg["plots"]["dpi"])
    return [os.path.relpath(path, output_dir)]


def report_figures(cfg, output_dir, units):
    """ROC curves, energy distributions, the dark sweep and the MMD curves; their paths."""
    import matplotlib

    matplotlib.use("Agg")
    if not cfg["plots"]["enabled"]:
        return []
    folder = _figure_folder(output_dir)
    return (_roc_figures(cfg, output_dir, units, folder)
            + _dark_sweep_figures(cfg, output_dir, units, folder)
            + _mmd_figures(cfg, output_dir, units, folder))
