"""Benchmark of the Normalized Autoencoder (Fig. 4 of arXiv:2206.14225), both directions.

For each direction (QCD background -> top anomaly, top background -> QCD
anomaly) and seed it trains one :class:`jetad.NAEDetector` on background jets
only, with the same hyper-parameters in both directions, and reports on
held-out jets:

* ``AE``: its own pre-trained autoencoder (the NAE initialisation),
* ``NAE``: the label-free selected NAE state,
* ``mean(x^2)`` and ``-mean(x^2)``: the trivial image-concentration score with
  both signs (any detector must be read beside it),

each with the AUC and the background rejection 1/eps_B at eps_S = 0.2 with its
Clopper-Pearson interval and the number of test background jets passing the cut
(``jetad.model_selection.evaluate_detector`` / ``summarize_scores``, the keys of
``jetad.metrics.tagging_summary``), the wall time per phase, and the AUC of
every stored NAE checkpoint against its training time (evaluated after
training on ``--curve-n-test`` jets per class; labels never enter training or
selection).

Every (direction, seed) run is written atomically to ``--runs-dir`` as soon as
it ends and is skipped when rerun with the same settings, so an interrupted
table resumes where it stopped and the two directions can run as two processes
side by side (``--directions top`` and ``--directions qcd``); the table in
``--out`` (JSON and Markdown) is built from all finished runs of those
settings (``--summarize-only`` just rebuilds it; ``--rerender`` rebuilds it from the
runs stored in ``--out`` itself, reconstructing the passing counts of old runs).

The paper's protocol is ``--n-train 100000 --n-test 40000 --seeds 0 1 2
--preset paper`` (hours per model on a GPU). The CPU table in
``benchmarks/results/nae.md`` used two generated files per class; its
commands are in the README ("Measured on this project's 2-core CPU machines"). A run with fewer than 100k training or 20k test jets per
class must be marked ``--reduced``. Without ``--qcd`` / ``--top`` the jets come
from ``jetad.datasets.fetch_generated`` (simulated once into ``--cache-dir``,
default the jetad data home ``$JETAD_CACHE`` or ``~/.cache/jetad``).
"""

import argparse
import dataclasses
import glob
import hashlib
import json
import os
import platform
import shlex
import sys
import time

import numpy as np
import torch

import jetad
from jetad import JetImager, NAEDetector
from jetad._benchmark._results import format_rejection, stored_rejection
from jetad._benchmark._samples import portable_path
from jetad.datasets import fetch_generated, load_jets
from jetad.detectors import NAE_PRESETS
from jetad.metrics import mean_std
from jetad.model_selection import evaluate_detector, summarize_scores, trivial_baseline_scores
from jetad.utils import atomic_path

PAPER = {
    "top": {"NAE": {"auc": 0.91, "rejection": 80}, "AE": {"auc": 0.875, "rejection": 68}},
    "qcd": {"NAE": {"auc": 0.89, "rejection": 350}, "AE": {"auc": 0.579, "rejection": 12}},
}
MODELS = ("AE", "NAE", "mean_x2", "minus_mean_x2", "jet_mass", "minus_jet_mass")
BASELINES = {"mean(x²)": "mean_x2", "−mean(x²)": "minus_mean_x2",  # name -> MODELS key
             "jet mass": "jet_mass", "−jet mass": "minus_jet_mass"}
HERE = os.path.dirname(os.path.abspath(__file__))
DIRECTIONS = {"top": ("qcd", "top"), "qcd": ("top", "qcd")}  # signal: (background, signal)
INFO_KEYS = ("kind", "seed", "n_jets", "n_events", "versions", "selection_efficiency",
             "generation_seconds")


def _jets(paths, kind, n, seed, cache_dir):
    """The first ``n`` jets of the concatenated files (``fetch_generated`` when none)."""
    if not paths:
        X, info = fetch_generated(kind, n, random_state=seed, cache_dir=cache_dir, n_jobs=2)
        return X, [{"path": portable_path(info["path"], cache_dir),
                    **{k: info[k] for k in INFO_KEYS if k in info}}]
    parts, sources = [], []
    for path in paths:
        X, info = load_jets(path)
        if info.get("kind", kind) != kind:
            raise ValueError(f"{path} holds {info['kind']!r} jets, {kind!r} expected")
        parts.append(X)
        sources.append({"path": portable_path(path, cache_dir), **{k: info[k] for k in INFO_KEYS
                                                          if k in info}})
    seeds = [s.get("seed") for s in sources]
    if len(set(seeds)) < len(seeds):
        raise ValueError(f"the {kind} files share a generator seed {seeds}: the jets would repeat")
    X = np.concatenate(parts)
    if len(X) < n:
        raise ValueError(f"{paths} hold {len(X)} {kind} jets, {n} requested")
    return X[:n], sources


def _config(args, params):
    """The settings that make two runs comparable (and their short hash)."""
    cfg = {"n_train": args.n_train, "n_test": args.n_test, "curve_n_test": args.curve_n_test,
           "gaussian_sigma": args.gaussian_sigma, "params": params,
           "preset_values": NAE_PRESETS.get(params.get("preset", "cpu")),
           "qcd": [portable_path(p, args.cache_dir) for p in args.qcd or []],
           "top": [portable_path(p, args.cache_dir) for p in args.top or []]}
    digest = hashlib.sha1(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:10]
    return cfg, digest


def _write_json(path, obj):
    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            json.dump(obj, fh, indent=1, allow_nan=True)


def _test_set(X_bkg, X_sig):
    return np.concatenate([X_bkg, X_sig]), np.r_[np.zeros(len(X_bkg)), np.ones(len(X_sig))]


def _resolved_settings(det):
    """Every setting the fit ran with, the preset's values filled in (presets change)."""
    settings = {f.name: getattr(det.settings_, f.name) for f in dataclasses.fields(det.settings_)}
    settings["sampler"] = settings["sampler"].get_params()
    settings["input_scale_"] = float(det.input_scale_)
    return settings


def _models(rows):
    """The MODELS every row has (runs before the jet-mass baseline lack it)."""
    return [m for m in MODELS if all(m in r for r in rows)]


def _one_run(images, test_jets, background, signal, seed, params, args):
    n_need = args.n_train + args.n_test
    X_train = images[background][: args.n_train]
    X_bkg = images[background][args.n_train: n_need]
    X_sig = images[signal][args.n_train: n_need]
    X_test, y_test = _test_set(X_bkg, X_sig)
    det = NAEDetector(random_state=seed, **params)
    nae = evaluate_detector(det, X_train, X_test, y_test)
    nae.pop("anomaly_scores")
    res = {"signal": signal, "background": background, "seed": seed,
           "pretrain_time_s": det.pretrain_time_, "nae_time_s": det.nae_time_,
           "fit_time_s": nae.pop("fit_seconds"), "pretrain_best_epoch": det.pretrain_best_epoch_,
           "best_iteration": det.best_iteration_, "n_nae_iterations": det.n_nae_iterations_,
           "collapsed": det.collapsed_, "energy_scale": det.energy_scale_,
           "chain_temperatures": det.chain_temperatures_, "threads": torch.get_num_threads(),
           "resolved_settings": _resolved_settings(det)}
    res["score_time_s"] = nae.pop("score_seconds")
    res["NAE"] = nae
    res["AE"] = summarize_scores(y_test, -det.score_samples_pretrained(X_test))
    jets_test = np.concatenate([test_jets[background], test_jets[signal]])
    for name, scores in trivial_baseline_scores(X_test, jets_test).items():
        res[BASELINES[name]] = summarize_scores(y_test, scores)
    m = args.curve_n_test
    X_curve, y_curve = _test_set(X_bkg[:m], X_sig[:m])
    curve = []
    for ck in det.checkpoints_:
        det.load_checkpoint(ck["iteration"])
        row = next(r for r in det.history_ if r["iteration"] == ck["iteration"])
        point = evaluate_detector(det, None, X_curve, y_curve, fit=False)
        curve.append({"iteration": ck["iteration"], "time_s": det.pretrain_time_ + ck["time"],
                      "auc": point["auc"], "rejection": point["rejection"],
                      "rejection_low": point["rejection_low"],
                      "rejection_high": point["rejection_high"],
                      "n_background_pass": point["n_background_pass"],
                      "selection_score": row.get("selection_score"),
                      "latent_spread": row.get("latent_spread"),
                      "val_x2_corr": row.get("val_x2_corr")})
    res["auc_vs_time"] = curve
    res["pretrain_curve"] = [{"epoch": int(h["epoch"]), "epoch_s": float(h["dur"]),
                              "train_loss": float(h["train_loss"]),
                              "valid_loss": float(h.get("valid_loss", np.nan))}
                             for h in det.net_.history]
    last = [r for r in det.history_ if r["iteration"] > 0]
    if last:
        keys = ("pos_energy", "neg_energy", "accept_z", "accept_x", "sample_spread")
        res["final_diagnostics"] = {k: float(np.mean([r[k] for r in last[-10:]])) for k in keys}
    return res


def _summary(rows):
    out = {}
    for label in DIRECTIONS:
        sel = [r for r in rows if r["signal"] == label]
        if not sel:
            continue
        out[label] = {"n_seeds": len(sel)}
        for model in _models(sel):
            runs = [r[model] for r in sel]
            auc_mean, auc_std = mean_std([r["auc"] for r in runs])
            rej_mean, rej_std = mean_std([r["rejection"] for r in runs])
            out[label][model] = {
                "auc_mean": auc_mean, "auc_std": auc_std,  # std over seeds, ddof=1
                "rejection_mean": rej_mean, "rejection_std": rej_std,
                "rejection_bounded": any(r["rejection_bounded"] for r in runs),
                # per seed: the Clopper-Pearson interval and the passing count
                "rejection_per_seed": [r["rejection"] for r in runs],
                "rejection_low_per_seed": [r.get("rejection_low") for r in runs],
                "rejection_high_per_seed": [r.get("rejection_high") for r in runs],
                "n_background_pass_per_seed": [r.get("n_background_pass") for r in runs],
                "n_background": runs[0].get("n_background"),
            }
        for phase in ("pretrain_time_s", "nae_time_s", "score_time_s"):
            out[label][phase] = float(np.median([r[phase] for r in sel]))
        out[label]["nae_minus_ae_auc"] = [r["NAE"]["auc"] - r["AE"]["auc"] for r in sel]
    return out


def _intervals(s):
    """Per seed: 1/eps_B with its 68% CL interval and the passing count k of N_B."""
    if None in s["n_background_pass_per_seed"]:  # a run recorded before the counts were kept
        return "-"
    cells = [format_rejection({
        "rejection": rej, "rejection_low": lo, "rejection_high": hi, "n_background_pass": k,
        "n_background": s["n_background"], "rejection_bounded": hi is None})
        for rej, lo, hi, k in zip(s["rejection_per_seed"], s["rejection_low_per_seed"],
                                  s["rejection_high_per_seed"],
                                  s["n_background_pass_per_seed"], strict=True)]
    if len(set(cells)) == 1 and len(cells) > 1:  # a deterministic baseline
        return f"{cells[0]} (every seed)"
    return "; ".join(cells)


def _rerender_runs(rows, n_background):
    """Add the counts and intervals to runs stored without them (k = N_B / rejection)."""
    reconstructed = False
    for r in rows:
        for model in _models([r]):
            m = r[model]
            if m.get("n_background_pass") is None:
                m.update(stored_rejection(m["rejection"], n_background,
                                          bounded=m.get("rejection_bounded", False)))
                reconstructed = True
    return reconstructed


def _markdown(summary, rows, meta):
    cfg = meta["config"]
    lines = [f"**NAE benchmark ({'REDUCED' if meta['reduced'] else 'full'} configuration)**", "",
             f"{cfg['n_train']} training / {cfg['n_test']} test jets per class, seeds "
             f"{sorted({r['seed'] for r in rows})}, parameters `{json.dumps(cfg['params'])}`.",
             "Mean ± std over seeds (ddof=1); 1/eps_B at eps_S = 0.2 ('≥' marks a lower limit: "
             "no background jet passed the cut); per seed its 68% CL Clopper-Pearson interval "
             "(+up/−down) and the number k of the N_B test background jets passing the cut "
             "(⚠: k < 10, few counts).", *([""] + [meta["rerender_note"]]
                                            if meta.get("rerender_note") else []), "",
             "| anomaly (background) | model | AUC | 1/eps_B(0.2) | per seed: 1/eps_B (68% CL; k/N_B) "
             "| paper AUC | paper 1/eps_B |",
             "|---|---|---|---|---|---|---|"]
    for label, bkg in (("top", "QCD"), ("qcd", "top")):
        if label not in summary:
            continue
        for model in (m for m in MODELS if m in summary[label]):
            s = summary[label][model]
            p = PAPER[label].get(model, {})
            ge = "≥ " if s["rejection_bounded"] else ""
            lines.append(f"| {label} ({bkg}) | {model} | {s['auc_mean']:.3f} ± {s['auc_std']:.3f}"
                         f" | {ge}{s['rejection_mean']:.1f} ± {s['rejection_std']:.1f} | "
                         f"{_intervals(s)} | {p.get('auc', '')} | {p.get('rejection', '')} |")
    lines += ["", "| direction | seed | threads | pre-training s | NAE s | NAE iterations | "
              "kept iteration | collapsed | AE AUC | NAE AUC | best-sign mean(x²) AUC | "
              "best-sign jet mass AUC | kept − best checkpoint (curve jets) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        x2 = max(r["mean_x2"]["auc"], r["minus_mean_x2"]["auc"])
        mass = (f"{max(r['jet_mass']['auc'], r['minus_jet_mass']['auc']):.3f}"
                if "jet_mass" in r else "–")
        curve = {c["iteration"]: c["auc"] for c in r["auc_vs_time"]}
        gap = (f"{curve[r['best_iteration']] - max(curve.values()):+.3f} (best it. "
               f"{max(curve, key=curve.get)}, last {curve[max(curve)]:.3f})"
               if r["best_iteration"] in curve else "–")
        lines.append(f"| {r['background']}->{r['signal']} | {r['seed']} | {r['threads']} | "
                     f"{r['pretrain_time_s']:.0f} | {r['nae_time_s']:.0f} | "
                     f"{r['n_nae_iterations']} | {r['best_iteration']} | {r['collapsed']} | "
                     f"{r['AE']['auc']:.3f} | {r['NAE']['auc']:.3f} | {x2:.3f} | {mass} | "
                     f"{gap} |")
    lines += ["", f"AUC against training time ({cfg['curve_n_test']} test jets per class; "
              "time = pre-training + NAE wall time; iteration 0 is the pre-trained AE; "
              "[kept] = the label-free choice):", ""]
    for r in rows:
        pts = ", ".join(f"{c['iteration']}{' [kept]' if c['iteration'] == r['best_iteration'] else ''}"
                        f" ({c['time_s']:.0f} s): {c['auc']:.3f}" for c in r["auc_vs_time"])
        lines.append(f"- {r['background']}->{r['signal']} seed {r['seed']}: {pts}")
    return "\n".join(lines) + "\n"


def _write_outputs(out, meta, rows):
    """Write the JSON (summary and runs) and the Markdown table; return the Markdown."""
    summary = _summary(rows)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    _write_json(out, {"meta": meta, "paper": PAPER, "summary": summary, "runs": rows})
    md = _markdown(summary, rows, meta)
    with atomic_path(os.path.splitext(out)[0] + ".md") as tmp:
        with open(tmp, "w") as fh:
            fh.write(md)
    return md


def rerender(out):
    """Rebuild ``out`` (JSON and Markdown) from the runs stored in it, without training.

    Runs recorded before the passing counts were kept get them reconstructed
    from the stored 1/eps_B (``k = N_B / rejection``, N_B the test background
    jets of the configuration) with their Clopper-Pearson intervals, and the
    files say so; the std over seeds is recomputed with ddof=1.
    """
    with open(out) as fh:
        stored = json.load(fh)
    meta, rows = stored["meta"], stored["runs"]
    n_background = meta["config"]["n_test"]
    if _rerender_runs(rows, n_background):
        meta["rerender_note"] = (
            f"Re-rendered from the stored per-seed values without retraining: k = round(N_B / "
            f"(1/eps_B)) with N_B = {n_background} was reconstructed from the stored 1/eps_B "
            "(not recorded by these runs), its interval from that k.")
    meta["rerendered_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return _write_outputs(out, meta, rows)


def _plot(rows, path):
    """AUC of the checkpoints against training time, one panel per direction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=False)
    for ax, (label, (background, _)) in zip(axes, DIRECTIONS.items(), strict=True):
        for r in (r for r in rows if r["signal"] == label):
            t = [c["time_s"] / 60 for c in r["auc_vs_time"]]
            a = [c["auc"] for c in r["auc_vs_time"]]
            (line,) = ax.plot(t, a, marker=".", label=f"seed {r['seed']}")
            kept = [c for c in r["auc_vs_time"] if c["iteration"] == r["best_iteration"]]
            if kept:
                ax.plot(kept[0]["time_s"] / 60, kept[0]["auc"], "*", ms=12, color=line.get_color())
            x2 = max(r["mean_x2"]["auc"], r["minus_mean_x2"]["auc"])
            ax.axhline(x2, color=line.get_color(), ls=":", lw=1)
        ax.set_title(f"{label} as anomaly ({background} background)")
        ax.set_xlabel("training wall time [min] (pre-training + NAE)")
        ax.set_ylabel("AUC (checkpoint subset)")
        ax.legend(title="* kept, : best mean(x²)", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--qcd", nargs="+", help="QCD jet files (jetad generate), concatenated")
    p.add_argument("--top", nargs="+", help="top jet files, concatenated")
    p.add_argument("--cache-dir", default=None,
                   help="sample cache of fetch_generated (default: the jetad data home)")
    p.add_argument("--n-train", type=int, default=100_000)
    p.add_argument("--n-test", type=int, default=40_000)
    p.add_argument("--curve-n-test", type=int, default=2000,
                   help="test jets per class for the AUC-vs-time curve of the checkpoints")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--directions", nargs="+", choices=sorted(DIRECTIONS),
                   default=["top", "qcd"], help="anomaly class(es) to run")
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
    p.add_argument("--runs-dir", default=os.path.join(HERE, ".cache", "bench_nae_runs"),
                   help="finished (direction, seed) runs, for resuming")
    p.add_argument("--summarize-only", action="store_true")
    p.add_argument("--rerender", action="store_true",
                   help="rebuild --out from the runs stored in it (no data, no training)")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "nae.json"))
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.rerender:
        print(rerender(args.out))
        return
    if not args.reduced and (args.n_train < 100_000 or args.n_test < 20_000):
        raise SystemExit("fewer than 100k training / 20k test jets per class: pass --reduced")
    if args.threads:
        torch.set_num_threads(args.threads)
    params = dict(preset=args.preset, max_epochs=args.max_epochs, nae_iterations=args.nae_iterations,
                  nae_epochs=args.nae_epochs, nae_batch_size=args.nae_batch_size,
                  nae_lr=args.nae_lr, n_z_steps=args.n_z_steps, n_x_steps=args.n_x_steps,
                  x_noise_std=args.x_noise_std, device=args.device, keep_checkpoints=True)
    params = {k: v for k, v in params.items() if v is not None}
    for item in args.param or []:
        key, _, value = item.partition("=")
        params[key] = json.loads(value)
    cfg, digest = _config(args, params)
    os.makedirs(args.runs_dir, exist_ok=True)
    t0 = time.perf_counter()
    sources = {}
    if not args.summarize_only:
        n_need = args.n_train + args.n_test
        imager = JetImager(gaussian_sigma=args.gaussian_sigma)
        images, test_jets = {}, {}
        for kind, paths, seed in (("qcd", args.qcd, 1), ("top", args.top, 2)):
            X, sources[kind] = _jets(paths, kind, n_need, seed, args.cache_dir)
            images[kind] = imager.transform(X).astype(np.float32)
            test_jets[kind] = X[args.n_train:n_need].copy()  # for the jet-mass baseline
            del X
        for label in args.directions:
            background, signal = DIRECTIONS[label]
            for seed in args.seeds:
                path = os.path.join(args.runs_dir, f"{digest}_{label}_seed{seed}.json")
                if os.path.exists(path):
                    print(f"{background}->{signal} seed {seed}: done before ({path})", flush=True)
                    continue
                res = _one_run(images, test_jets, background, signal, seed, params, args)
                res.update(config_digest=digest, sources=sources)
                _write_json(path, res)
                print(f"{background}->{signal} seed {seed}: AE {res['AE']['auc']:.3f} "
                      f"NAE {res['NAE']['auc']:.3f} mean(x2) {res['mean_x2']['auc']:.3f} "
                      f"(pre-training {res['pretrain_time_s']:.0f} s, NAE "
                      f"{res['nae_time_s']:.0f} s)", flush=True)
    rows = []
    for path in sorted(glob.glob(os.path.join(args.runs_dir, f"{digest}_*.json"))):
        with open(path) as fh:
            rows.append(json.load(fh))
    rows.sort(key=lambda r: (r["signal"] != "top", r["seed"]))
    if not rows:
        raise SystemExit(f"no finished runs with these settings in {args.runs_dir}")
    meta = {"reduced": bool(args.reduced), "config": cfg, "config_digest": digest,
            "sources": rows[0].get("sources", sources), "jetad": jetad.__version__,
            "torch": torch.__version__, "machine": platform.platform(),
            "cpu_count": os.cpu_count(), "this_call_wall_s": time.perf_counter() - t0,
            "command": "python benchmarks/bench_nae.py " + shlex.join(
                sys.argv[1:] if argv is None else argv)}
    print(_write_outputs(args.out, meta, rows))
    _plot(rows, os.path.splitext(args.out)[0] + "_auc_vs_time.png")


if __name__ == "__main__":
    main()
