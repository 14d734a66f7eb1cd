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


#: Task name -> the words in a figure title.
TASK_TITLE = {"top_qcd": "top vs QCD", "dark": "dark jets vs QCD", "mmd": "MMD study"}


def setting_title(task, setting, signal=None):
    """Display text of a (task, setting[, signal]): ``"top as anomaly, QCD background"``.

    Internal names (``top_qcd``, ``n=0.5``, names with underscores) never reach
    a figure title.
    """
    setting = str(setting)
    if task == "top_qcd" and setting in DIRECTIONS:
        bkg, sig = DIRECTIONS[setting]
        sig = signal or sig
        return f"{LABEL.get(sig, sig)} as anomaly, {LABEL[bkg]} background"
    if setting.startswith("n="):  # a pT power of the dark-jet task
        images = f"$p_T^{{{setting[2:]}}}$ images"
        if signal is None:
            return f"{TASK_TITLE.get(task, task)}, {images}"
        return f"{LABEL.get(signal, signal)} as anomaly, QCD background, {images}"
    text = setting.replace("_", " ")
    return f"{LABEL.get(signal, signal)} as anomaly, {text}" if signal else text


def _model_panels(det, X_bkg, X_sig, bkg_label, sig_label, n_worst):
    """The three rows of a model figure: means, worst inputs, their reconstructions."""
    energy = det.anomaly_score(X_bkg)
    rec = det.reconstruct(X_bkg)
    order = np.argsort(energy)[::-1]
    k = max(1, len(order) // 10)
    means = [(X_bkg.mean(0), f"{bkg_label}: mean input"),
             (rec.mean(0), f"{bkg_label}: mean reconstruction"),
             (X_sig.mean(0), f"{sig_label}: mean input")]
    if hasattr(det, "sample"):
        samples = det.sample(min(256, len(X_bkg)), random_state=0)
        means.append((samples.mean(0), "mean NAE sample"))
    means += [(X_bkg[order[:k]].mean(0), f"worst 10% {bkg_label}: input"),
              (rec[order[:k]].mean(0), f"worst 10% {bkg_label}: reconstruction")]
    worst = order[:min(n_worst, len(order))]
    return [means,
            [(X_bkg[i], f"#{r + 1} worst {bkg_label}") for r, i in enumerate(worst)],
            [(rec[i], f"#{r + 1}: reconstruction") for r, i in enumerate(worst)]]


def _model_figure(cfg, det, name, X_bkg, X_sig, bkg_label, sig_label, title, path):
    """Average input / reconstruction / samples and the most poorly reconstructed jets.

    Each row of panels shares one logarithmic colour scale, shown by the row's
    colour bar; images are drawn in :class:`~jetad.JetImager`'s orientation
    (row 0 at the top).
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    side = math.isqrt(X_bkg.shape[1])
    rows = _model_panels(det, X_bkg, X_sig, bkg_label, sig_label, int(cfg["plots"]["n_worst"]))
    ncols = max(len(r) for r in rows)
    fig, axes = plt.subplots(3, ncols, figsize=(1.9 * ncols + 0.8, 5.9), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    labels = ("mean pixel intensity", "pixel intensity", "reconstructed intensity")
    for r, (row, label) in enumerate(zip(rows, labels, strict=True)):
        if not row:
            continue
        imgs = [np.clip(np.asarray(img, np.float64).reshape(side, side), 1e-6, None)
                for img, _ in row]
        norm = LogNorm(vmin=1e-5, vmax=max(max(img.max() for img in imgs), 1e-4))
        for ax, img, (_, t) in zip(axes[r], imgs, row, strict=False):
            im = ax.imshow(img, norm=norm, cmap="viridis", origin="upper")
            ax.set_title(t, fontsize=7)
        bar = fig.colorbar(im, ax=axes[r].tolist(), fraction=0.02, pad=0.01)
        bar.set_label(label, fontsize=7)
        bar.ax.tick_params(labelsize=6)
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
                  f"{setting_title(task, setting)}: trained on {bkg_label}", path)
    files.append(os.path.relpath(path, output_dir))
    if hasattr(det, "sample") and getattr(det, "latent_dim", 0) == 3:
        path = os.path.join(folder, f"latent_map_{stem}.png")
        _latent_map_figure(cfg, det, {**bkg, **sigs},
                           f"{setting_title(task, setting)}: NAE latent-sphere energy, "
                           f"trained on {bkg_label}",
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


def _relative_energies(v, y):
    """Energies relative to the background median, in units of a power of ten; the unit."""
    d = np.asarray(v, np.float64) - np.median(v[y == 0])
    spread = np.percentile(np.abs(d), 99.5) if d.size else 0.0
    exp = int(np.floor(np.log10(spread))) if spread > 0 else 0
    if -2 <= exp <= 3:
        return d, ""
    return d / 10.0 ** exp, f" [$10^{{{exp}}}$]"


def _energy_panel(ax, label, y, v, bkg_name, sig_name):
    """Histograms of one detector's energies, relative to the background median."""
    from matplotlib.ticker import NullFormatter

    d, unit = _relative_energies(v, y)
    lo, hi = np.percentile(d, [0.5, 99.5])
    bins = np.linspace(lo, hi if hi > lo else lo + 1, 50)
    ax.hist(d[y == 0], bins=bins, histtype="step", density=True, label=bkg_name)
    ax.hist(d[y == 1], bins=bins, histtype="step", density=True, label=sig_name)
    ax.set_xlabel(f"{label} energy − median {bkg_name} energy{unit}")
    ax.set_ylabel("density")
    ax.set_yscale("log")
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.ticklabel_format(axis="x", style="plain", useOffset=False)
    ax.legend(fontsize="small")


def _roc_figure(task, setting, signal, curves, energies):
    """ROC curves (legend in two columns below the axes) and the detectors' energies."""
    import matplotlib.pyplot as plt

    from jetad.plotting import plot_roc_curves

    ncols = 1 + max(1, len(energies))
    fig, axes = plt.subplots(1, ncols, figsize=(4.2 * ncols, 3.6))
    fig.subplots_adjust(wspace=0.35)
    plot_roc_curves(curves, ax=axes[0], band=False)
    axes[0].legend(fontsize="small", ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.2),
                   frameon=False)
    bkg_name = ("QCD" if task == "dark" else
                LABEL[DIRECTIONS[setting][0]] if setting in DIRECTIONS else "background")
    axes[0].set_title(setting_title(task, setting, signal), fontsize=9)
    for ax, (label, (y, v)) in zip(axes[1:], energies.items(), strict=False):
        _energy_panel(ax, label, np.asarray(y), np.asarray(v), bkg_name,
                      LABEL.get(signal, signal))
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
                plot_roc_curves(curves, ax=ax, band=False)
            ax.set_title(f"{method}: {LABEL[sig]} as anomaly, QCD background", fontsize=9)
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
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
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
