"""The suite's report: ``report.md`` (tables against the papers) and ``suite.json``."""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import json
import os
import platform
import shlex
import sys
import time

import numpy as np

from ..utils import atomic_json, atomic_path
from ._config import DIRECTIONS, LABEL, PAPER
from ._results import aggregate, format_rejection, method_order, mmd_table
from ._samples import portable_path
from ._store import fingerprint

__all__ = ["rerender_report", "write_report"]


def _utc_now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _fmt(mean, std, n, digits):
    if mean is None:
        return "-"
    if n > 1:
        return f"{mean:.{digits}f} ± {std:.{digits}f}"
    return f"{mean:.{digits}f}"


def _fmt_rej(g):
    """1/ε_B: one seed with its 68 % CL interval and k/N_B, several as mean ± std and the k."""
    ks = g.get("n_background_pass") or [None]
    if None in ks:  # no counts recorded
        if g["rejection_at_bound"]:
            return f"≥ {g['rejection_mean']:.0f}"
        return _fmt(g["rejection_mean"], g["rejection_std"], g["n_seeds"], 1)
    if g["n_seeds"] == 1:
        return format_rejection({"rejection": g["rejection"][0], "low_count": ks[0] < 10,
                                 "rejection_low": g["rejection_low"][0],
                                 "rejection_high": g["rejection_high"][0],
                                 "n_background_pass": ks[0], "n_background": g["n_background"],
                                 "rejection_bounded": g["bound"][0]})
    value = (f"≥ {g['rejection_mean']:.0f}" if g["rejection_at_bound"]
             else _fmt(g["rejection_mean"], g["rejection_std"], g["n_seeds"], 1))
    flag = " ⚠" if min(ks) < 10 else ""
    # a seed where none passes enters the mean with its lower limit
    limit = "; k = 0 enters as its lower limit" if any(g["bound"]) and not all(g["bound"]) else ""
    return f"{value} (k = {', '.join(map(str, ks))}/{g['n_background']}{limit}){flag}"


def _fmt_time(s):
    return "-" if s is None else (f"{s:.1f} s" if s < 10 else f"{s:.0f} s")


def _top_qcd_table(cfg, agg):
    rows = [g for g in agg if g["task"] == "top_qcd"]
    if not rows:
        return []
    lines = ["| anomaly (trained on) | method | paper AUC | paper 1/ε_B | AUC | "
             "1/ε_B(ε_S=0.2) | seeds | fit time |", "|---|---|---|---|---|---|---|---|"]
    for direction in cfg["top_qcd"]["directions"]:
        bkg, sig = DIRECTIONS[direction]
        for g in sorted((g for g in rows if g["setting"] == direction),
                        key=lambda g: method_order(g["label"])):
            paper = PAPER["top_qcd"].get((direction, g["label"]), (None, None))
            label = g["label"] if g["kind"] == "detector" else f"*{g['label']}* (baseline)"
            seeds = "det." if g["deterministic"] else str(g["n_seeds"])
            lines.append(
                f"| {LABEL[sig]} ({LABEL[bkg]}) | {label} | "
                f"{'-' if paper[0] is None else paper[0]} | "
                f"{'-' if paper[1] is None else paper[1]} | "
                f"{_fmt(g['auc_mean'], g['auc_std'], g['n_seeds'], 3)} | "
                f"{_fmt_rej(g)} | {seeds} | {_fmt_time(g['fit_seconds_mean'])} |")
    return lines


def _dark_tables(cfg, agg):
    rows = [g for g in agg if g["task"] == "dark"]
    if not rows:
        return []
    powers = sorted({float(g["setting"].split("=")[1]) for g in rows})
    out = []
    for sig in cfg["dark"]["signals"]:
        sr = [g for g in rows if g["signal"] == sig]
        if not sr:
            continue
        out += [f"**{LABEL[sig]} vs QCD** (AUC / 1/ε_B(0.2); trained on QCD)", "",
                "| method | " + " | ".join(f"n = {n:g}" for n in powers) + " | fit time |",
                "|---|" + "---|" * (len(powers) + 1)]
        cells = []
        for n in powers:
            p = PAPER["dark"].get((sig, n))
            cells.append("-" if p is None else f"{p[0]} / {p[1]}")
        out.append("| paper NAE (5 runs) | " + " | ".join(cells) + " | - |")
        labels = sorted({g["label"] for g in sr}, key=lambda lab: method_order(lab))
        for label in labels:
            cells, times, kind = [], [], None
            for n in powers:
                g = next((g for g in sr if g["label"] == label
                          and float(g["setting"].split("=")[1]) == n), None)
                if g is None:
                    cells.append("-")
                    continue
                kind = g["kind"]
                times.append(g["fit_seconds_mean"])
                cells.append(f"{_fmt(g['auc_mean'], g['auc_std'], g['n_seeds'], 3)} / "
                             f"{_fmt_rej(g)}")
            name = label if kind == "detector" else f"*{label}* (baseline)"
            out.append(f"| {name} | " + " | ".join(cells) +
                       f" | {_fmt_time(float(np.mean(times)) if times else None)} |")
        out.append("")
    return out


#: Baselines a detector row must beat: how peaked the image is and the jet mass, both signs.
TRIVIAL_BASELINES = ("mean(x²)", "−mean(x²)", "jet mass", "−jet mass")


def _observations(agg):
    best = {}
    for g in agg:
        if g["label"] in TRIVIAL_BASELINES:
            key = (g["task"], g["setting"], g["signal"])
            if g["auc_mean"] > best.get(key, ("", 0.0))[1]:
                best[key] = (g["label"], g["auc_mean"])
    out = []
    for g in sorted(agg, key=lambda g: (g["task"], g["setting"], g["signal"], g["label"])):
        key = (g["task"], g["setting"], g["signal"])
        if g["kind"] == "detector" and key in best and g["auc_mean"] <= best[key][1]:
            out.append(f"- {g['task']} {g['setting']}, {LABEL.get(g['signal'], g['signal'])} "
                       f"as anomaly: {g['label']} AUC {g['auc_mean']:.3f} ≤ "
                       f"{best[key][0]} {best[key][1]:.3f}")
    return out


def _mmd_lines(units):
    t = mmd_table(units)
    if not t["powers"]:
        return []
    cols = [("image", s, None) for s in t["signals"]] + [("image", "QCD vs QCD", None)]
    cols += [("latent", s, d) for d in t["detectors"] for s in t["signals"]]
    head = ["image: " + LABEL.get(s, s) if k == "image" else f"{d} latent: {LABEL.get(s, s)}"
            for k, s, d in cols]
    lines = ["| n | " + " | ".join(head) + " |", "|---|" + "---|" * len(cols)]
    for n in t["powers"]:
        cells = []
        for k, s, d in cols:
            v = t["image"].get((n, s)) if k == "image" else t["latent"].get((n, s, d))
            cells.append("-" if v is None else _fmt(v[0] * 1e3, v[1] * 1e3, v[2], 2))
        lines.append(f"| {n:g} | " + " | ".join(cells) + " |")
    return lines


def _command_line():
    """This process's command line, absolute paths made portable (:func:`portable_path`)."""
    args = [portable_path(a) if os.path.isabs(a) else a for a in sys.argv[1:]]
    return shlex.join([os.path.basename(sys.argv[0]), *args])


def _previous_invocations(output_dir, cfg):
    """Invocations recorded in an existing ``suite.json`` with the same configuration."""
    try:
        with open(os.path.join(output_dir, "suite.json")) as fh:
            old = json.load(fh)
    except (OSError, ValueError):
        return []
    if fingerprint(old.get("config")) != fingerprint(cfg):
        return []
    return list(old.get("invocations", []))


def _intro_lines(cfg):
    seeds = cfg["seeds"]
    tq, dk = cfg["top_qcd"], cfg["dark"]
    return [
        "# jetad benchmark suite", "",
        f"Preset **{cfg['preset']}**, tasks {', '.join(cfg['tasks'])}; "
        f"{len(seeds)} training seed(s) {seeds} (the jets are the same for every seed; "
        "mean ± sample std over seeds where there is more than one seed, a single value "
        "otherwise). Anomaly scores are higher = more anomalous; AUC below 0.5 means the score "
        "ranks background as more anomalous and is reported as such. 1/ε_B at ε_S = 0.2 with "
        "its 68% CL Clopper-Pearson interval (+up/−down) and k/N_B, the number k of the N_B "
        "background test jets that pass the cut (⚠: k < 10); when none passes, '≥' gives the "
        "68% CL lower limit N_B/1.15.",
        "",
        "## Sizes used against the papers", "",
        "| task | training jets (background) | test jets per class | seeds | paper |",
        "|---|---|---|---|---|",
        f"| top_qcd | {tq['n_train']} | {tq['n_test']} | {len(seeds)} | 100k training, "
        "20k+ test per class, 3-5 runs (arXiv:2206.14225); VAE/DVAE of arXiv:2104.08291 "
        "trained on a balanced 100k + 100k QCD + top mixture |",
        f"| dark | {dk['n_train']} | {dk['n_test']} | {len(seeds)} | 100k training, "
        "20k test, 5 runs |",
        "",
        "Jets are simulated here (Pythia 8 + FastJet + a Delphes-ATLAS-like response), not the "
        "papers' samples; detector settings are in `suite.json` (`config.detectors`). "
        "With these sizes and training lengths the numbers are a smoke test of the pipeline, "
        "**not** a reproduction of the papers' numbers.", "",
    ]


def _figure_links(figures, prefix):
    lines = []
    for fig in figures:
        if fig.startswith(prefix):
            lines += [f"![{fig}]({fig})", ""]
    return lines


def _top_qcd_section(cfg, agg, figures):
    tab = _top_qcd_table(cfg, agg)
    if not tab:
        return []
    return ["## Top vs QCD, both directions (arXiv:2206.14225 Fig. 4)", "",
            "Paper AE numbers are the NAE's pre-trained AE (row *NAE pre-trained AE* "
            "here); the VAE/DVAE paper numbers are latent-space AUCs after training on a "
            "balanced mixture, here every detector is trained on background only with "
            "its default score. Baselines: mean(x²) with both signs (anchors §9: "
            "AUC ≈ 0.91 in one direction), IsolationForest on the images, the jet mass "
            "with both signs, and a supervised CNN trained with labels (upper bound). "
            "The DVAE's default latent score (mixture weight of the last component, "
            "symmetric α) has an orientation fixed by training, not by the labels: its "
            "AUC can come out as 1 − AUC.",
            "", *tab, "", *_figure_links(figures, "figures/roc_top_qcd")]


def _dark_section(cfg, agg, figures):
    dark = _dark_tables(cfg, agg)
    if not dark:
        return []
    return ["## Dark jets: QCD vs Aachen / Heidelberg, pT^n sweep (Fig. 9)", "",
            f"Trained on {cfg['dark']['n_train']} QCD jets (150-300 GeV) per n; "
            f"{len(cfg['seeds'])} seed(s) (paper: 5 runs).", "", *dark,
            *_figure_links(figures, "figures/roc_dark")]


def _mmd_section(cfg, units):
    mmd = _mmd_lines(units)
    if not mmd:
        return []
    return ["## MMD between QCD and the dark signals against n (Fig. 8)", "",
            "Unbiased MMD² × 10³, Gaussian kernel with the median-heuristic bandwidth, "
            f"on random subsamples of {cfg['mmd']['n_subsample']} test jets per class; "
            "image space (the JetImager images at each n) and the latent space of the "
            "detector(s) trained on QCD at that n. *QCD vs QCD* compares two disjoint "
            "halves of the QCD test jets (should be ≈ 0).", "", *mmd, "",
            "![MMD](figures/mmd_vs_n.png)", ""]


def _model_figure_section(model_figs):
    if not model_figs:
        return []
    return ["## Model figures (first seed)", "",
            "Average input, reconstructed and (NAE) sampled images, the worst 10% of "
            "background test jets by energy and the most poorly reconstructed jets; "
            "NAE latent-sphere energy maps (equirectangular, centred on the background) "
            "with encoded test jets.", "",
            *(f"![{f}]({f})" for f in model_figs), ""]


def _observation_section(agg):
    obs = _observations(agg)
    if not obs:
        return []
    return ["## Detectors against the trivial score", "",
            "Detector rows whose AUC does not exceed the best trivial baseline on the same "
            "test jets (mean(x²) or the jet mass, either sign; anchors §9: such a detector "
            "has learned nothing beyond how peaked or how heavy the jet is):", "", *obs, ""]


def _notes(state, units):
    """The run's notes, then the NAE roll-backs and the collapsed encoders."""
    notes = list(dict.fromkeys(state.notes))
    rolled_back = [u for u in units
                   if u["method"] == "NAE" and u.get("extra", {}).get("collapsed")]
    if rolled_back:
        notes.append(f"NAE collapsed and was rolled back in {len(rolled_back)} unit(s): "
                     + ", ".join(f"{u['task']} {u['setting']} seed {u['seed']}"
                                 for u in rolled_back))
    collapsed = [u for u in units if u.get("extra", {}).get("latent_spread", 1.0) < 1e-3]
    if collapsed:
        notes.append("encoder collapse (mean distance of encoded background jets from their "
                     "mean < 1e-3, every jet gets the same reconstruction) in: "
                     + ", ".join(f"{u['task']} {u['setting']} {u['method']} seed {u['seed']}"
                                 for u in collapsed))
    return notes


def _run_section(cfg, state, run):
    return ["## Run", "",
            f"- units run now: {state.ran}, reused from an earlier run: {state.reused}",
            f"- wall time of this invocation: {run['wall_seconds']:.0f} s (torch threads: "
            f"{cfg['torch_threads']}, device {cfg['device']})",
            "- invocations with this configuration (wall time, units run): "
            + "; ".join(f"{i['finished_utc']}: {i['wall_seconds']:.0f} s, {i['units_run']}"
                        + (f" (`{i['command']}`)" if i.get("command") else "")
                        for i in run["invocations"]),
            f"- sum of the training times of all units: {run['unit_seconds']:.0f} s",
            f"- machine: {run['machine']['platform']}, {run['machine']['cpu_count']} CPUs",
            *(f"- data {k}: `{v['path']}` (first {v['n_jets_used']} jets)"
              for k, v in run["files"].items()),
            *(f"- note: {n}" for n in run["notes"]), ""]


def _mmd_summary(units):
    table = mmd_table(units)
    return {"image": [{"pt_power": k[0], "signal": k[1], "mmd2_mean": v[0], "mmd2_std": v[1],
                       "n_seeds": v[2]} for k, v in table["image"].items()],
            "latent": [{"pt_power": k[0], "signal": k[1], "detector": k[2],
                        "mmd2_mean": v[0], "mmd2_std": v[1], "n_seeds": v[2]}
                       for k, v in table["latent"].items()]}


def _summary(cfg, agg, units, state, run, figures):
    """The content of ``suite.json``."""
    import jetad

    return {
        "config": cfg, "results": [dict(g) for g in agg], "mmd": _mmd_summary(units),
        "paper": {task: [{"key": list(k), "auc": v[0], "rejection": v[1]}
                         for k, v in d.items()] for task, d in PAPER.items()},
        "units_run": state.ran, "units_reused": state.reused, "notes": run["notes"],
        "invocations": run["invocations"], "unit_fit_seconds_total": run["unit_seconds"],
        "figures": figures, "data_files": run["files"],
        "wall_seconds": run["wall_seconds"], "jetad_version": jetad.__version__,
        "machine": run["machine"],
        "finished_utc": _utc_now(),
    }


def write_report(cfg, output_dir, units, state, figures, total_s):
    """Write ``report.md`` and ``suite.json`` to ``output_dir``; return the report.

    Parameters
    ----------
    cfg : dict
        The resolved configuration.
    output_dir : str
    units : list of dict
        The unit records of this configuration.
    state : RunState
        What this invocation did.
    figures : list of str
        Paths of the report figures, relative to ``output_dir``.
    total_s : float
        Wall clock of this invocation.

    Returns
    -------
    report : str
        The Markdown text.
    """
    model_figs = sorted({f for u in units for f in u.get("figures", [])})
    invocations = _previous_invocations(output_dir, cfg) + [
        {"finished_utc": _utc_now(), "wall_seconds": round(total_s, 1),
         "units_run": state.ran, "units_reused": state.reused, "command": _command_line()}]
    run = {"notes": _notes(state, units), "invocations": invocations,
           "unit_seconds": sum(float(u.get("fit_seconds") or 0.0) for u in units),
           "files": state.data_files(), "wall_seconds": total_s,
           "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                       "python": platform.python_version()}}
    report, summary = _render(cfg, units, state, run, figures, model_figs)
    _write(output_dir, report, summary)
    return report


def _render(cfg, units, state, run, figures, model_figs):
    """The Markdown report and the ``suite.json`` content."""
    agg = aggregate(units)
    lines = [*_intro_lines(cfg), *_top_qcd_section(cfg, agg, figures),
             *_dark_section(cfg, agg, figures), *_mmd_section(cfg, units),
             *_model_figure_section(model_figs), *_observation_section(agg),
             *_run_section(cfg, state, run)]
    return "\n".join(lines), _summary(cfg, agg, units, state, run, figures + model_figs)


def _write(output_dir, report, summary):
    with atomic_path(os.path.join(output_dir, "report.md")) as tmp, open(tmp, "w") as fh:
        fh.write(report)
    atomic_json(os.path.join(output_dir, "suite.json"), summary)


def _rescored(unit, folder):
    """The unit with its metric rows recomputed from its stored scores (exact counts k)."""
    from jetad.model_selection import summarize_scores

    path = os.path.join(folder, unit.get("scores_file") or "")
    if "rows" not in unit or not os.path.isfile(path):
        return unit
    with np.load(path) as z:
        rows = [{**r, **summarize_scores(z[f"{r['signal']}|y"],
                                         z[f"{r['signal']}|{r['label']}"].astype(np.float64))}
                for r in unit["rows"]]
    return {**unit, "rows": rows}


def rerender_report(output_dir):
    """Rebuild ``report.md`` and ``suite.json`` from the stored units, without training.

    Every metric row is recomputed from the unit's stored scores (the ``.npz``
    beside it: float32, so a tie can move 1/ε_B in the last digits) with
    :func:`jetad.model_selection.summarize_scores`: the exact passing counts,
    Clopper–Pearson intervals and the lower limit where none passes. A row
    without stored scores gets k reconstructed as ``N_B / rejection``. The
    configuration, notes, invocations and figures are those of the stored
    ``suite.json``; the unit files are not changed.

    Parameters
    ----------
    output_dir : str
        A suite output folder (``suite.json`` and ``units/``).

    Returns
    -------
    report : str
        The Markdown text.
    """
    import glob
    import types

    with open(os.path.join(output_dir, "suite.json")) as fh:
        old = json.load(fh)
    units = []
    for path in sorted(glob.glob(os.path.join(output_dir, "units", "*", "*.json"))):
        with open(path) as fh:
            units.append(_rescored(json.load(fh), os.path.dirname(path)))
    state = types.SimpleNamespace(ran=old["units_run"], reused=old["units_reused"])
    # the stored notes already hold the roll-backs and collapses of _notes
    run = {"notes": list(old["notes"]), "invocations": old["invocations"],
           "unit_seconds": old["unit_fit_seconds_total"], "files": old["data_files"],
           "wall_seconds": old["wall_seconds"], "machine": old["machine"]}
    model_figs = sorted({f for u in units for f in u.get("figures", [])})
    figures = [f for f in old["figures"] if f not in model_figs]
    report, summary = _render(old["config"], units, state, run, figures, model_figs)
    summary["finished_utc"] = old["finished_utc"]
    summary["rerendered_utc"] = _utc_now()
    summary["rerender_note"] = ("1/eps_B, its interval and k recomputed from the stored "
                                "scores of every unit, without retraining.")
    _write(output_dir, report, summary)
    return report

