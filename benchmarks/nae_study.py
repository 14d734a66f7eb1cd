"""Normalized Autoencoder study: what moves the QCD-as-anomaly direction, resumable.

Usage::

    python benchmarks/nae_study.py --threads 2                  # every arm, both directions
    python benchmarks/nae_study.py --arms baseline chains_30_30 --directions qcd --seeds 0
    python benchmarks/nae_study.py --directions top &  python benchmarks/nae_study.py \\
        --directions qcd                                       # one process per direction
    python benchmarks/nae_study.py --render                     # rebuild the report only
    python benchmarks/nae_study.py --list-arms

Each *arm* is a set of :class:`jetad.NAEDetector` / :class:`jetad.JetImager`
overrides (``ARMS``) on top of the NAE setting of the README's top/QCD rows
(``BASE``: ``NAEDetector(preset="cpu", max_epochs=3, nae_iterations=1000,
check_interval=100)`` with the ``PINNED`` ``input_scale=1.0``, on
``JetImager(gaussian_sigma=1)`` images). Keys
``sampler__<name>`` set the fields of the detector's
:class:`~jetad.detectors.LangevinSampler`, keys ``imager__<name>`` those of
the imager; ``--param KEY=VALUE ...`` (VALUE read as JSON, else as a string)
overrides every arm, e.g. ``--param max_epochs=1 nae_iterations=5`` for a
smoke test.

Directions: ``top`` (trained on QCD, top = anomaly) and ``qcd`` (trained on
top, QCD = anomaly). The jets are the generated pools of ``SAMPLES``
(:func:`jetad.datasets.fetch_generated`) or the files of ``--qcd`` / ``--top``.
Each seed draws its own split of the pools (``numpy.random.default_rng(1000 +
seed)``, the split of ``latent_vae_study.py``): ``--n-test`` held-out jets per
class, never trained on, and ``--n-train`` training jets of the background
class; the detector's ``random_state`` is the seed, so the arms of one seed
share their test jets, training jets and initial weights.

Every (arm, direction, seed) is one *unit* (:class:`jetad._benchmark._store.Unit`),
written atomically to ``<output-dir>/units/nae/`` as soon as it finishes, with
the kept (label-free selected) state's AUC and 1/ε_B(ε_S = 0.2) with its
Clopper-Pearson interval and passing count k (:func:`jetad.model_selection.summarize_scores`),
the pre-trained AE's (:meth:`~jetad.NAEDetector.score_samples_pretrained`) on
the same jets, the pre-training and NAE-phase wall times, and the test AUC of
every NAE checkpoint beside its label-free selection score (labels enter only
after training). The trivial scores (mean(x²) and the jet mass, both signs) of
each seed's test jets are a unit per imager setting (``units/baselines/``).
A rerun with the same options reuses every unit whose configuration
fingerprint matches; ``--render`` only rebuilds ``report.md``,
``nae_study.json`` and ``auc_vs_time.png`` from the units that match the
options given (pass the same ``--n-train``, ``--n-test``, ``--param`` and jet
options as the run). Over seeds: mean ± sample std (ddof = 1).

Expected cost (from the 0.66 s per NAE iteration on one thread, 0.31 s on two, of
``results/core.json``; not yet timed by this script): about 13 minutes per
``baseline`` unit on one thread (pre-training about a minute and a half), the
NAE phase growing with the number of chain steps and iterations.
"""

import argparse
import json
import math
import os
import platform
import shlex
import sys
import time
import warnings

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
#: (kind, number of jets, generation seed) of the default jet pools (shared with
#: latent_vae_study.py).
SAMPLES = (("qcd", 50000, 31), ("top", 50000, 32))
#: anomaly -> (background, signal)
DIRECTIONS = {"top": ("qcd", "top"), "qcd": ("top", "qcd")}
DIRECTION_TITLES = {"top": "top as anomaly (trained on QCD)",
                    "qcd": "QCD as anomaly (trained on top)"}
#: NAEDetector parameters of every arm before its overrides: the README's NAE rows.
BASE = {"preset": "cpu", "max_epochs": 3, "nae_iterations": 1000, "check_interval": 100}
#: Values every arm runs with unless it sets them: those of the ``"cpu"`` preset when the
#: study began (the preset has since moved to ``input_scale="auto"``); a constant of the
#: script, outside the unit fingerprints, so the first units keep meaning what they measured.
PINNED = {"input_scale": 1.0}
#: JetImager parameters before an arm's ``imager__`` overrides.
BASE_IMAGER = {"gaussian_sigma": 1.0}
#: Set in every unit: the checkpoints whose AUCs judge the label-free selection.
FIXED = {"keep_checkpoints": True}
#: Arm name -> overrides of BASE (``sampler__*``: LangevinSampler, ``imager__*``: JetImager).
ARMS = {
    "baseline": {},
    "iterations_3000": {"nae_iterations": 3000},
    "chains_10_10": {"sampler__n_z_steps": 10, "sampler__n_x_steps": 10},
    "chains_30_30": {"sampler__n_z_steps": 30, "sampler__n_x_steps": 30},
    "no_replay": {"sampler__replay_ratio": 0.0},
    "replay_0.5": {"sampler__replay_ratio": 0.5},
    "buffer_1000": {"sampler__buffer_size": 1000},
    "buffer_50000": {"sampler__buffer_size": 50000},
    "gamma_1": {"gamma": 1.0},
    "gamma_0.01": {"gamma": 0.01},
    "gamma_pos_0.1": {"gamma_pos": 0.1},
    "temperature_0.5": {"temperature": 0.5},
    "temperature_2": {"temperature": 2.0},
    "wasserstein": {"loss": "wasserstein"},
    "input_scale_auto": {"input_scale": "auto"},
    "auto_ema_0.99": {"input_scale": "auto", "ema_decay": 0.99},
    "auto_ema_0.9": {"input_scale": "auto", "ema_decay": 0.9},
    "auto_chains_10_10": {"input_scale": "auto", "sampler__n_z_steps": 10,
                          "sampler__n_x_steps": 10},
    "auto_iterations_3000": {"input_scale": "auto", "nae_iterations": 3000},
    "auto_nae_lr_3e-5": {"input_scale": "auto", "nae_lr": 3e-5},
    "pt_power_0.5": {"imager__pt_power": 0.5},
    "sigma_0": {"imager__gaussian_sigma": None},
    "sigma_2": {"imager__gaussian_sigma": 2.0},
}
#: What issue 12 asks about that no parameter of NAEDetector or JetImager offers.
NOT_MEASURED = (
    "log-scaled or standardised pixels: JetImager has no such option and NAEDetector only "
    "scales the encoder input (`input_scale`, arm `input_scale_auto`); the energy stays the "
    "MSE of the unit-sum image",
)
#: Person-written conclusions in the output folder, rendered under "Best arm and next step".
CONCLUSION_FILE = "conclusion.md"
TRIVIAL = ("mean(x²)", "−mean(x²)", "jet mass", "−jet mass")
DIAGNOSTICS = ("pos_energy", "neg_energy", "accept_z", "accept_x", "sample_spread", "neg_sum",
               "buffer_fraction")


def _versions():
    import scipy
    import sklearn
    import skorch

    import jetad
    return {"python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "torch": torch.__version__,
            "skorch": skorch.__version__, "sklearn": sklearn.__version__,
            "jetad": jetad.__version__, "machine": platform.machine(),
            "cpu_count": os.cpu_count()}


def _value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_params(items):
    """``["key=value", ...]`` -> dict (values read as JSON, else kept as strings)."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--param expects KEY=VALUE, got {item!r}")
        out[key] = _value(value)
    return out


def resolve_arm(name, overrides):
    """Detector parameters (``sampler__*`` included) and imager parameters of one arm."""
    merged = {**BASE, **ARMS[name], **overrides, **FIXED}
    imager = dict(BASE_IMAGER)
    detector = {}
    for key, value in merged.items():
        if key.startswith("imager__"):
            imager[key[len("imager__"):]] = value
        else:
            detector[key] = value
    return detector, imager


def imager_tag(imager):
    """A file-name fragment naming an imager setting."""
    return "_".join(f"{k}{v}" for k, v in sorted(imager.items())) or "default"


def _conclusion(output_dir):
    """The person-written "best arm and next step" text of the study, or None."""
    path = os.path.join(output_dir, CONCLUSION_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return fh.read().strip() or None


def make_detector(params, seed):
    from jetad import NAEDetector

    det = NAEDetector(random_state=seed, **PINNED)
    det.set_params(**params)
    return det


def _concat(parts):
    """Zero-padded constituent arrays of several files, stacked."""
    width = max(p.shape[1] for p in parts)
    return np.concatenate([np.pad(p, ((0, 0), (0, width - p.shape[1]), (0, 0)))
                           for p in parts])


class Study:
    """Options, jet pools, splits and units of one study configuration."""

    def __init__(self, args):
        self.args = args
        self.out = args.output_dir
        self.overrides = parse_params(args.param)
        if args.qcd or args.top:
            if not (args.qcd and args.top):
                raise SystemExit("--qcd and --top go together")
            self.pools = {"qcd": {"files": [os.path.basename(f) for f in args.qcd]},
                          "top": {"files": [os.path.basename(f) for f in args.top]}}
        else:
            self.pools = {kind: {"kind": kind, "n_jets": n, "generation_seed": seed,
                                 "level": "detector"} for kind, n, seed in SAMPLES}
        self.key = {"n_train": args.n_train, "n_test": args.n_test, "pools": self.pools,
                    "split": "default_rng(1000 + seed).permutation per pool (qcd, top); "
                             "test = first n_test, training = next n_train of the background"}
        self.default_imager = resolve_arm("baseline", self.overrides)[1]
        self.jets = None
        self.samples = {}
        self.splits = {}
        self._test_images = {}
        self.ran = self.reused = 0

    # ------------------------------------------------------------------ units
    def unit(self, arm, direction, seed):
        from jetad._benchmark._store import Unit, fingerprint

        params, imager = resolve_arm(arm, self.overrides)
        config = {"study": self.key, "arm": arm, "params": params, "imager": imager,
                  "direction": direction, "seed": seed}
        return Unit(self.out, "nae", direction, arm, seed, fingerprint(config))

    def baseline_unit(self, imager, seed):
        from jetad._benchmark._store import Unit, fingerprint

        config = {"n_test": self.args.n_test, "pools": self.pools, "imager": imager,
                  "seed": seed, "scores": list(TRIVIAL)}
        return Unit(self.out, "baselines", imager_tag(imager), "trivial", seed,
                    fingerprint(config))

    # ------------------------------------------------------------------- jets
    def load(self):
        if self.jets is not None:
            return
        from jetad._benchmark._samples import portable_path
        from jetad.datasets import fetch_generated, load_jets

        a = self.args
        self.jets = {}
        t0 = time.perf_counter()
        if a.qcd:
            for kind, files in (("qcd", a.qcd), ("top", a.top)):
                self.jets[kind] = _concat([load_jets(f)[0] for f in files])
                self.samples[kind] = {"files": [portable_path(f, a.cache_dir) for f in files],
                                      "n_jets": int(len(self.jets[kind]))}
        else:
            for kind, n, seed in SAMPLES:
                self.jets[kind], info = fetch_generated(kind, n, random_state=seed,
                                                        cache_dir=a.cache_dir, n_jobs=2)
                self.samples[kind] = {**self.pools[kind],
                                      "path": portable_path(info["path"], a.cache_dir)}
        need = a.n_test + a.n_train
        for kind, X in self.jets.items():
            if len(X) < need:
                raise SystemExit(f"the {kind} pool holds {len(X)} jets; --n-test + --n-train "
                                 f"= {need}")
        print(f"jets loaded in {time.perf_counter() - t0:.0f} s: "
              + ", ".join(f"{k} {v.shape}" for k, v in self.jets.items()), flush=True)

    def split(self, seed):
        """Per pool: (test indices, the remaining indices in random order)."""
        if seed not in self.splits:
            rng = np.random.default_rng(1000 + seed)
            n_test = self.args.n_test
            idx = {k: rng.permutation(len(self.jets[k])) for k in ("qcd", "top")}
            self.splits[seed] = {k: (i[:n_test], i[n_test:]) for k, i in idx.items()}
        return self.splits[seed]

    def test_set(self, seed, imager):
        """Test images (QCD first, then top), is_top labels and constituents of one seed."""
        from jetad import JetImager

        key = (seed, imager_tag(imager))
        if key not in self._test_images:
            s = self.split(seed)
            cons = np.concatenate([self.jets["qcd"][s["qcd"][0]], self.jets["top"][s["top"][0]]])
            X = JetImager(**imager).transform(cons)
            is_top = np.r_[np.zeros(len(s["qcd"][0])), np.ones(len(s["top"][0]))]
            self._test_images = {key: (X, is_top, cons)}
        return self._test_images[key]

    def train_set(self, seed, direction, imager):
        from jetad import JetImager

        background = DIRECTIONS[direction][0]
        idx = self.split(seed)[background][1][: self.args.n_train]
        return JetImager(**imager).transform(self.jets[background][idx])

    # ------------------------------------------------------------------- runs
    def baselines(self, imager, seed):
        """The trivial scores of the test jets of ``seed`` on ``imager``'s images (both directions)."""
        from jetad.model_selection import summarize_scores, trivial_baseline_scores

        unit = self.baseline_unit(imager, seed)
        if unit.done():
            return
        self.load()
        X, is_top, cons = self.test_set(seed, imager)
        result = {name: {"top": summarize_scores(is_top, score),
                         "qcd": summarize_scores(1 - is_top, score)}
                  for name, score in trivial_baseline_scores(X, cons).items()}
        unit.write({"imager": imager, "scores": result, "samples": self.samples}, None)

    def run(self, arm, direction, seed):
        unit = self.unit(arm, direction, seed)
        if unit.done():
            self.reused += 1
            return
        self.load()
        params, imager = resolve_arm(arm, self.overrides)
        self.baselines(imager, seed)
        X_test, is_top, _ = self.test_set(seed, imager)
        y = is_top if direction == "top" else 1 - is_top
        X_train = self.train_set(seed, direction, imager)
        result, scores = fit_unit(params, seed, X_train, X_test, y, self.args.verbose)
        background, signal = DIRECTIONS[direction]
        result.update(arm=arm, direction=direction, background=background, signal=signal,
                      overrides=ARMS[arm], param_overrides=self.overrides, params=params,
                      imager=imager, study=self.key, samples=self.samples)
        unit.write(result, scores)
        self.ran += 1
        for text in result["warnings"]:
            print(f"seed {seed} {direction} {arm}: {text}", file=sys.stderr, flush=True)
        sel = result["selection"]
        print(f"seed {seed} {direction} {arm}: NAE {result['nae']['auc']:.3f} (kept it. "
              f"{result['kept_iteration']}, best checkpoint {sel['best_auc']:.3f} at it. "
              f"{sel['best_iteration']}), AE {result['ae']['auc']:.3f}; pre-training "
              f"{result['pretrain_s']:.0f} s, NAE {result['nae_s']:.0f} s", flush=True)


def _load():
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def fit_unit(params, seed, X_train, X_test, y, verbose=0):
    """Fit one NAE and evaluate its kept state, its pre-trained AE and every checkpoint."""
    from jetad.model_selection import evaluate_detector, summarize_scores

    det = make_detector(params, seed)
    det.set_params(verbose=verbose)
    load0 = _load()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept = evaluate_detector(det, X_train, X_test, y)
    nae_scores = kept.pop("anomaly_scores")
    ae_scores = -det.score_samples_pretrained(X_test)
    rows = {r["iteration"]: r for r in det.history_}
    t0 = time.perf_counter()
    curve = []
    for ck in det.checkpoints_:
        det.load_checkpoint(ck["iteration"])
        point = evaluate_detector(det, None, X_test, y, fit=False)
        row = rows.get(ck["iteration"], {})
        curve.append({"iteration": ck["iteration"], "nae_time_s": round(ck["time"], 2),
                      "auc": point["auc"], "rejection": point["rejection"],
                      "n_background_pass": point["n_background_pass"],
                      "rejection_bounded": point["rejection_bounded"],
                      **{k: row.get(k) for k in ("selection_score", "val_energy",
                                                 "latent_spread", "val_x2_corr")}})
    curve_s = time.perf_counter() - t0
    best = max(curve, key=lambda c: c["auc"])
    kept_auc = next(c["auc"] for c in curve if c["iteration"] == det.best_iteration_)
    last = [r for r in det.history_ if r["iteration"] > 0][-10:]
    result = {
        "n_train": int(len(X_train)), "n_test_background": int((y == 0).sum()),
        "n_test_signal": int((y == 1).sum()),
        "fit_s": round(kept.pop("fit_seconds"), 2), "pretrain_s": round(det.pretrain_time_, 2),
        "nae_s": round(det.nae_time_, 2), "score_s": round(kept.pop("score_seconds"), 2),
        "checkpoint_eval_s": round(curve_s, 2), "threads": torch.get_num_threads(),
        "device": str(next(det.net_.module_.parameters()).device),
        "load_1min": [load0, _load()],
        "nae": kept, "ae": summarize_scores(y, ae_scores),
        "kept_iteration": int(det.best_iteration_), "n_nae_iterations": int(det.n_nae_iterations_),
        "collapsed": bool(det.collapsed_), "rollback_iteration": det.rollback_iteration_,
        "pretrain_best_epoch": det.pretrain_best_epoch_, "energy_scale": det.energy_scale_,
        "input_scale": det.input_scale_, "chain_temperatures": det.chain_temperatures_,
        "selection": {"kept_auc": kept_auc, "best_auc": best["auc"],
                      "best_iteration": best["iteration"], "last_auc": curve[-1]["auc"],
                      "last_iteration": curve[-1]["iteration"],
                      "kept_minus_best": kept_auc - best["auc"]},
        "checkpoints": curve,
        "final_diagnostics": {k: float(np.mean([r[k] for r in last])) for k in DIAGNOSTICS
                              if last and k in last[0]},
        "pretrain_curve": [{"epoch": int(h["epoch"]), "train_loss": float(h["train_loss"]),
                            "valid_loss": float(h.get("valid_loss", np.nan))}
                           for h in det.net_.history],
        "warnings": sorted({f"{w.category.__name__}: {w.message}" for w in caught}),
    }
    scores = {"nae": nae_scores.astype(np.float32), "ae": ae_scores.astype(np.float32),
              "y": y.astype(np.int8)}
    return result, scores


# ------------------------------------------------------------------ aggregation and report
def _load_records(out, task):
    folder = os.path.join(out, "units", task)
    recs = []
    if os.path.isdir(folder):
        for f in sorted(os.listdir(folder)):
            if f.endswith(".json"):
                with open(os.path.join(folder, f)) as fh:
                    recs.append(json.load(fh))
    return recs


def current_records(study):
    """The unit records that match the study's options and arm definitions, and the others."""
    units, stale = [], []
    for r in _load_records(study.out, "nae"):
        ok = (r.get("method") in ARMS and r.get("setting") in DIRECTIONS
              and study.unit(r["method"], r["setting"], r["seed"]).fingerprint
              == r.get("fingerprint"))
        (units if ok else stale).append(r)
    base = {}
    for r in _load_records(study.out, "baselines"):
        imager = r.get("imager")
        if (imager is not None and r["setting"] == imager_tag(imager)
                and study.baseline_unit(imager, r["seed"]).fingerprint == r.get("fingerprint")):
            base[(r["setting"], r["seed"])] = r
    return units, stale, base


def _r(x, digits=4):
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def _stats(values):
    from jetad.metrics import mean_std

    mean, std = mean_std(values)
    return {"mean": _r(mean), "std": _r(std), "per_seed": [_r(v) for v in values]}


def _tagging(summaries):
    """Mean ± std over seeds of AUC and 1/ε_B, with every seed's k and interval."""
    from jetad._benchmark._results import format_rejection

    return {"auc": _stats([s["auc"] for s in summaries]),
            "rejection": _stats([s["rejection"] for s in summaries]),
            "k_per_seed": [s["n_background_pass"] for s in summaries],
            "n_background": summaries[0]["n_background"],
            "bounded_per_seed": [bool(s["rejection_bounded"]) for s in summaries],
            "rejection_cells": [format_rejection(s) for s in summaries]}


def aggregate(units, base):
    """Per direction and arm: the seeds' tagging, AE, gain, selection and times."""
    table = {}
    for direction in DIRECTIONS:
        for arm in ARMS:
            recs = sorted((r for r in units if r["setting"] == direction and r["method"] == arm),
                          key=lambda r: r["seed"])
            if not recs:
                continue
            trivial = {}
            for name in TRIVIAL:
                found = [base.get((imager_tag(r["imager"]), r["seed"])) for r in recs]
                if all(found):
                    trivial[name] = _stats([b["scores"][name][direction]["auc"] for b in found])
            best_trivial = max(trivial.items(), key=lambda kv: kv[1]["mean"] or 0,
                               default=(None, None))
            table.setdefault(direction, {})[arm] = {
                "overrides": ARMS[arm], "imager": recs[0]["imager"],
                "seeds": [r["seed"] for r in recs],
                "nae": _tagging([r["nae"] for r in recs]),
                "ae": _tagging([r["ae"] for r in recs]),
                "gain_auc": _stats([r["nae"]["auc"] - r["ae"]["auc"] for r in recs]),
                "kept_iteration": [r["kept_iteration"] for r in recs],
                "best_checkpoint_iteration": [r["selection"]["best_iteration"] for r in recs],
                "best_checkpoint_auc": _stats([r["selection"]["best_auc"] for r in recs]),
                "last_checkpoint_auc": _stats([r["selection"]["last_auc"] for r in recs]),
                "kept_minus_best": _stats([r["selection"]["kept_minus_best"] for r in recs]),
                "selection_within_0.01": [r["selection"]["kept_minus_best"] >= -0.01
                                          for r in recs],
                "collapsed": [r["collapsed"] for r in recs],
                "pretrain_s": _stats([r["pretrain_s"] for r in recs]),
                "nae_s": _stats([r["nae_s"] for r in recs]),
                "fit_s": _stats([r["fit_s"] for r in recs]),
                "threads": sorted({r["threads"] for r in recs}),
                "trivial_auc": trivial,
                "best_trivial": {"name": best_trivial[0],
                                 "auc": best_trivial[1] and best_trivial[1]["mean"]},
            }
    return table


def aggregate_baselines(base):
    """Per imager setting and direction: the trivial scores over seeds."""
    groups = {}
    for (tag, _), r in sorted(base.items()):
        for name, by_dir in r["scores"].items():
            for direction, s in by_dir.items():
                groups.setdefault(tag, {"imager": r["imager"], "scores": {}})["scores"] \
                    .setdefault(direction, {}).setdefault(name, []).append(s)
    return {tag: {"imager": g["imager"],
                  "scores": {d: {n: _tagging(v) for n, v in by_name.items()}
                             for d, by_name in g["scores"].items()}}
            for tag, g in groups.items()}


def _pm(s, digits=3):
    if s is None or s["mean"] is None:
        return "–"
    std = "" if s["std"] is None else f" ± {s['std']:.{digits}f}"
    return f"{s['mean']:.{digits}f}{std}"


def _signed(s):
    if s["mean"] is None:
        return "–"
    std = "" if s["std"] is None else f" ± {s['std']:.3f}"
    return f"{s['mean'] + 0.0:+.3f}{std}"


def _rej(t):
    ge = "≥ " if any(t["bounded_per_seed"]) else ""
    std = "" if t["rejection"]["std"] is None else f" ± {t['rejection']['std']:.3g}"
    return f"{ge}{t['rejection']['mean']:.3g}{std}"


def _overrides_text(arm):
    return ", ".join(f"`{k}={json.dumps(v)}`" for k, v in ARMS[arm].items()) or "–"


def _ranking(table):
    return {d: [{"arm": arm, "auc_mean": e["nae"]["auc"]["mean"],
                 "auc_std": e["nae"]["auc"]["std"], "n_seeds": len(e["seeds"])}
                for arm, e in sorted(rows.items(), key=lambda kv: -kv[1]["nae"]["auc"]["mean"])]
            for d, rows in table.items()}


def render(study, extra):
    """Write report.md, nae_study.json and auc_vs_time.png from the matching units."""
    from jetad.utils import atomic_json, atomic_path

    out = study.out
    os.makedirs(out, exist_ok=True)
    units, stale, base = current_records(study)
    table = aggregate(units, base)
    baselines = aggregate_baselines(base)
    seeds = sorted({r["seed"] for r in units})
    samples = next((r["samples"] for r in units if r.get("samples")), study.samples)
    json_path = os.path.join(out, "nae_study.json")
    invocations = []
    if os.path.exists(json_path):
        try:
            with open(json_path) as fh:
                invocations = json.load(fh).get("invocations", [])
        except (OSError, ValueError):
            invocations = []
    if extra.get("invocation"):
        invocations = [*invocations, extra["invocation"]]
    settings = {"base": BASE, "pinned": PINNED, "base_imager": BASE_IMAGER, "fixed": FIXED,
                "param_overrides": study.overrides, "study": study.key, "samples": samples,
                "arms": ARMS, "not_measured": list(NOT_MEASURED)}
    data = {"settings": settings, "seeds": seeds, "results": table, "baselines": baselines,
            "ranking_by_auc": _ranking(table),
            "best_arm_and_next_step": _conclusion(study.out),
            "units": [{k: r.get(k) for k in ("method", "setting", "seed", "fingerprint",
                                             "finished_utc", "scores_file")} for r in units],
            "stale_units": [{k: r.get(k) for k in ("task", "method", "setting", "seed",
                                                   "finished_utc")} for r in stale],
            "invocations": invocations, "versions": extra["versions"]}
    n_b = study.args.n_test
    pools = "; ".join(
        f"{k}: " + (", ".join(f"`{f}`" for f in v["files"]) if "files" in v else
                    f"`fetch_generated({k!r}, {v['n_jets']}, random_state="
                    f"{v['generation_seed']})`") for k, v in study.pools.items())
    lines = ["# NAE study: what moves the QCD direction", "",
             f"Jets of our simulation, not the papers' samples ({pools}): {study.args.n_train} "
             f"training jets of the background class, {n_b} held-out test jets per class, "
             f"seeds {seeds} (each seed its own split of the pools and its own initial weights; "
             "the arms of one seed share them). Every arm is "
             f"`NAEDetector({', '.join(f'{k}={v!r}' for k, v in {**BASE, **PINNED}.items())})` on "
             f"`JetImager({', '.join(f'{k}={v!r}' for k, v in BASE_IMAGER.items())})` images "
             "with the overrides of its row"
             + (f" and, for every arm, `{json.dumps(study.overrides)}`" if study.overrides
                else "") + ".", "",
             "AUC and 1/ε_B(ε_S = 0.2) of the kept NAE state (chosen without labels): mean ± "
             "sample std (ddof = 1) over seeds; per seed 1/ε_B with its 68 % Clopper–Pearson "
             f"interval and k = test background jets passing the cut, of N_B = {n_b} (⚠ k < 10; "
             "≥: no background jet passed). *AE*: the detector's own pre-trained AE on the same "
             "jets; *gain*: NAE − AE AUC; *kept − best*: the kept state's AUC minus that of the "
             "best checkpoint (every `check_interval` iterations, iteration 0 = the AE), per seed; "
             "*best trivial*: the best of mean(x²), jet mass (both signs) on the arm's images. "
             "Times: wall clock per phase, mean ± std over seeds.", ""]
    for direction, rows in table.items():
        lines += [f"## {DIRECTION_TITLES[direction]}", "",
                  "| arm | overrides | seeds | AUC | 1/ε_B | per seed 1/ε_B (68 % CL; k/N_B) | "
                  "AE AUC | gain | kept − best (per seed) | kept it. | pre-train s | NAE s | "
                  "best trivial |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for arm, e in rows.items():
            regret = ", ".join(f"{v:+.3f}" for v in e["kept_minus_best"]["per_seed"])
            kept = ", ".join(str(k) for k in e["kept_iteration"])
            bt = e["best_trivial"]
            triv = "–" if bt["name"] is None else f"{bt['name']} {bt['auc']:.3f}"
            lines.append(
                f"| {arm} | {_overrides_text(arm)} | {len(e['seeds'])} | "
                f"{_pm(e['nae']['auc'])} | {_rej(e['nae'])} | {'; '.join(e['nae']['rejection_cells'])}"
                f" | {_pm(e['ae']['auc'])} | {_signed(e['gain_auc'])} | {regret} | {kept} | "
                f"{_pm(e['pretrain_s'], 0)} | {_pm(e['nae_s'], 0)} | {triv} |")
        default_tag = imager_tag(study.default_imager)
        default = baselines.get(default_tag, {}).get("scores", {}).get(direction, {})
        for name in TRIVIAL:
            if name in default:
                t = default[name]
                lines.append(f"| *{name}* (baseline, `JetImager({json.dumps(study.default_imager)})`"
                             f") | | {len(t['k_per_seed'])} | {_pm(t['auc'])} | {_rej(t)} | "
                             f"{'; '.join(t['rejection_cells'])} | | | | | | | |")
        for tag, b in baselines.items():
            if tag == default_tag:
                continue
            for name in ("mean(x²)", "−mean(x²)"):
                t = b["scores"].get(direction, {}).get(name)
                if t:
                    lines.append(f"| *{name}* (baseline, `JetImager({json.dumps(b['imager'])})`)"
                                 f" | | {len(t['k_per_seed'])} | {_pm(t['auc'])} | {_rej(t)} | "
                                 f"{'; '.join(t['rejection_cells'])} | | | | | | | |")
        lines.append("")
    lines += ["## Label-free selection (issue 12, item 3)", "",
              "Per unit: kept iteration (its AUC) against the best checkpoint (its AUC) on the "
              "same test jets; within 0.01 of the best checkpoint: per seed.", "",
              "| direction | arm | kept it. | best it. | kept AUC | best checkpoint AUC | last "
              "checkpoint AUC | within 0.01 | collapsed |", "|---|---|---|---|---|---|---|---|---|"]
    for direction, rows in table.items():
        for arm, e in rows.items():
            within = ", ".join("yes" if w else "**no**" for w in e["selection_within_0.01"])
            lines.append(f"| {direction} | {arm} | {', '.join(map(str, e['kept_iteration']))} | "
                         f"{', '.join(map(str, e['best_checkpoint_iteration']))} | "
                         f"{_pm(e['nae']['auc'])} | {_pm(e['best_checkpoint_auc'])} | "
                         f"{_pm(e['last_checkpoint_auc'])} | {within} | "
                         f"{', '.join(str(c) for c in e['collapsed'])} |")
    lines += ["", "Checkpoint AUCs (iteration: AUC; [kept]):", ""]
    for r in sorted(units, key=lambda r: (r["setting"], list(ARMS).index(r["method"]), r["seed"])):
        pts = ", ".join(f"{c['iteration']}{' [kept]' if c['iteration'] == r['kept_iteration'] else ''}"
                        f": {c['auc']:.3f}" for c in r["checkpoints"])
        lines.append(f"- {r['setting']} {r['method']} seed {r['seed']}: {pts}")
    lines += ["", "## Best arm and next step", "",
              data["best_arm_and_next_step"] or
              f"_To be written by a person from the tables above (`ranking_by_auc` in "
              f"`nae_study.json`) into `{CONCLUSION_FILE}` of the output folder._",
              "", "## Not yet measured", ""]
    lines += [f"- {text}" for text in NOT_MEASURED]
    not_run = [f"{d}/{arm}" for d in DIRECTIONS for arm in ARMS if arm not in table.get(d, {})]
    if not_run:
        lines.append(f"- arms defined but without a finished unit: {', '.join(not_run)}")
    lines += ["", "## Run", ""]
    if stale:
        lines += [f"{len(stale)} unit file(s) in `units/nae/` do not match these options or arm "
                  "definitions and are left out: "
                  + ", ".join(f"{r.get('setting')}/{r.get('method')}/seed {r.get('seed')}"
                              for r in stale) + ".", ""]
    for inv in invocations[-5:]:
        lines.append(f"- {inv['finished_utc']}: `{inv['command']}` ({inv['ran']} units run, "
                     f"{inv['reused']} reused, {inv['wall_s']} s, {inv['threads']} torch "
                     "threads)")
    lines += ["", f"Versions: `{json.dumps(extra['versions'])}`.", ""]
    if table and _plot(table, os.path.join(out, "auc_vs_time.png")):
        lines += ["![AUC against fit time](auc_vs_time.png)", ""]
        data["figures"] = ["auc_vs_time.png"]
    atomic_json(json_path, data)
    with atomic_path(os.path.join(out, "report.md")) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
    return data


def _plot(table, path):
    """Mean AUC against mean fit time per arm, one panel per direction."""
    import matplotlib.pyplot as plt

    from jetad.utils import atomic_path

    fig, axes = plt.subplots(1, len(table), figsize=(6 * len(table), 4.5), squeeze=False)
    for ax, (direction, rows) in zip(axes[0], table.items(), strict=True):
        for arm, e in rows.items():
            t = e["fit_s"]["mean"] / 60
            auc = e["nae"]["auc"]
            ax.errorbar(t, auc["mean"], yerr=auc["std"] or 0, fmt="o", ms=4, capsize=2)
            ax.annotate(arm, (t, auc["mean"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        if "baseline" in rows:
            e = rows["baseline"]
            ax.axhline(e["ae"]["auc"]["mean"], color="grey", ls="--", lw=1,
                       label="baseline's pre-trained AE")
            if e["best_trivial"]["name"]:
                ax.axhline(e["best_trivial"]["auc"], color="k", ls=":", lw=1,
                           label=f"{e['best_trivial']['name']} (baseline images)")
            ax.legend(fontsize=7)
        ax.set_title(DIRECTION_TITLES[direction])
        ax.set_xlabel("fit wall time [min] (pre-training + NAE), mean over seeds")
        ax.set_ylabel("AUC of the kept state, mean ± std over seeds")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return True


def _parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--qcd", nargs="+", help="QCD jet files instead of the generated pool")
    p.add_argument("--top", nargs="+", help="top jet files instead of the generated pool")
    p.add_argument("--cache-dir", default=None, help="cache folder of fetch_generated")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--directions", nargs="+", choices=list(DIRECTIONS), default=list(DIRECTIONS))
    p.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    p.add_argument("--n-train", type=int, default=20000, help="training jets (background)")
    p.add_argument("--n-test", type=int, default=5000, help="held-out test jets per class")
    p.add_argument("--param", nargs="+", action="extend", metavar="KEY=VALUE",
                   help="override of every arm (NAEDetector, sampler__*, imager__*)")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--verbose", type=int, default=0, help="NAEDetector verbose (not stored)")
    p.add_argument("--output-dir", default=os.path.join(HERE, "results", "nae_study"))
    p.add_argument("--render", action="store_true", help="only rebuild the report")
    p.add_argument("--list-arms", action="store_true", help="print the arms and exit")
    return p


def _portable_args(argv, cache_dir):
    """The command-line words with absolute paths made portable (:func:`portable_path`)."""
    from jetad._benchmark._samples import portable_path

    out = []
    for word in argv:
        key, sep, value = word.rpartition("=") if word.startswith("--") else ("", "", word)
        if os.path.isabs(value):
            value = portable_path(value, cache_dir)
        out.append(f"{key}{sep}{value}")
    return out


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.list_arms:
        for name, overrides in ARMS.items():
            print(f"{name}: {json.dumps(overrides)}")
        return None
    torch.set_num_threads(args.threads)
    import matplotlib

    matplotlib.use("Agg")
    t0 = time.perf_counter()
    command = "python benchmarks/nae_study.py " + shlex.join(
        _portable_args(sys.argv[1:] if argv is None else argv, args.cache_dir))
    study = Study(args)
    from jetad import JetImager

    for arm in args.arms:  # fail early on a bad parameter, before any jets are loaded
        params, imager = resolve_arm(arm, study.overrides)
        make_detector(params, 0)._check_params()
        JetImager(**imager)._check_params()
    extra = {"versions": _versions()}
    if args.render:
        units, stale, _ = current_records(study)
        if not units and stale:
            raise SystemExit(
                f"no unit in {os.path.join(args.output_dir, 'units')} matches these options; "
                f"they were run with {json.dumps(stale[-1].get('study'))} and --param "
                f"{json.dumps(stale[-1].get('param_overrides'))}: pass the same options")
    if not args.render:
        for seed in args.seeds:
            study.baselines(study.default_imager, seed)
        for arm in args.arms:  # arm by arm: each finished arm has all its seeds
            for direction in args.directions:
                for seed in args.seeds:
                    study.run(arm, direction, seed)
            render(study, extra)
        extra["invocation"] = {
            "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": command, "ran": study.ran, "reused": study.reused,
            "wall_s": round(time.perf_counter() - t0, 1), "threads": args.threads}
    data = render(study, extra)
    print(f"{study.ran} units run, {study.reused} reused, "
          f"{time.perf_counter() - t0:.0f} s -> {os.path.join(args.output_dir, 'report.md')}")
    return data


if __name__ == "__main__":
    main()
