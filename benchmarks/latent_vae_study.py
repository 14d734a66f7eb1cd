"""Paper 001 (arXiv:2104.08291) at scale: latent-space tagging over seeds, resumable.

Usage (the committed run in ``benchmarks/results/latent_vae_study/``)::

    python benchmarks/latent_vae_study.py --seeds 0 1 2 --threads 2

Every (section, direction, S/B, model, seed) is one *unit*, written atomically to
``<output-dir>/units/`` as soon as it finishes; a rerun with the same settings
reuses the finished units, so an interrupted study resumes where it stopped
(``--render`` only rebuilds the report from them). Each seed draws its own
random train/test split of the jet pools (the paper: "the testing data is
selected randomly on each run"); the held-out test jets (``--n-test`` per class)
are never used for training.

Sections:

``balanced``
    t/Q = 1 (``--n-train`` jets, half top): the VAE and GMVAE with a 1-D latent
    space and the DVAE with R = 2, alpha = (1, 1) (Figs. 3, 5, 7); top = signal.
``dvae``
    DVAE R = 2, alpha = (1, 0.25) and R = 3, alpha = (1, 0.25, 0.1) trained on
    contaminated samples, t/Q and Q/t in {1, 0.25, 0.05, 0.01} (Figs. 9, 11).
``lund``
    The same R = 2 DVAE on primary Lund-plane images (appendix A, Fig. 15).

Scores: ``label_free`` is the detector's own orientation (the skewness rule of
:class:`jetad.detectors.DVAEDetector` / :class:`~jetad.detectors.GMVAEDetector`,
the sign rule of the VAE's latent coordinate); ``labelled`` orients the same
latent quantity with the test labels (max(AUC, 1 - AUC)), as the paper and its
code do; ``r<k>`` is the AUC of mixture weight k as it is (high = anomalous);
``reconstruction`` the reconstruction error. The trivial scores (mean(x²) and
the jet mass, both signs) are evaluated on the same test jets of every seed.
Mean ± sample std (ddof = 1) over seeds; 1/ε_B at ε_S = 0.2 with the passing
counts k of every seed.
"""

import argparse
import json
import os
import platform
import shlex
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
RATIOS = (1.0, 0.25, 0.05, 0.01)
DIRECTIONS = {"top": "t/Q (top = anomaly, QCD background)",
              "qcd": "Q/t (QCD = anomaly, top background)"}
ALPHAS = {2: (1.0, 0.25), 3: (1.0, 0.25, 0.1)}
# (kind, n_jets, generation seed) of the default jet pools
SAMPLES = (("qcd", 50000, 31), ("top", 50000, 32))
PAPER = {
    "sizes": "100k QCD + 100k top jets, 90/10 train/test split, models converge before "
             "epoch 200; beta_KL = 1e-4 (VAE, GMVAE), 0.1 (DVAE); Adam lr 1e-3",
    "balanced_latent_auc": {"VAE": 0.83, "DVAE": 0.89},
    "GMVAE": "no improvement over the VAE (Fig. 5, no number given)",
    "dvae_r3_qcd_anomaly_sb0.01_auc": 0.91,
}
TARGETS = (("VAE balanced latent AUC (labelled)", ("balanced", "top", "1", "VAE"), "labelled", 0.83),
           ("DVAE balanced latent AUC (labelled)", ("balanced", "top", "1", "DVAE"), "labelled",
            0.89),
           ("DVAE R=3, QCD as anomaly at Q/t = 0.01, best weight (labelled)",
            ("dvae", "qcd", "0.01", "DVAE_R3"), "labelled", 0.91))


def _versions():
    import sklearn
    import skorch

    import jetad
    return {"python": platform.python_version(), "numpy": np.__version__,
            "torch": torch.__version__, "skorch": skorch.__version__,
            "sklearn": sklearn.__version__, "jetad": getattr(jetad, "__version__", "?"),
            "torch_threads": torch.get_num_threads(), "machine": platform.machine(),
            "cpu_count": os.cpu_count()}


def _summary(y, score):
    from jetad.model_selection import summarize_scores

    s = summarize_scores(y, score)
    keep = ("auc", "rejection", "rejection_low", "rejection_high", "n_background_pass",
            "n_background", "rejection_bounded")
    return {k: s[k] for k in keep if k in s}


def _labelled(y, score):
    """The summary of ``score`` or ``-score``, whichever ranks the signal higher."""
    from jetad.metrics import anomaly_auc

    return _summary(y, score if anomaly_auc(y, score) >= 0.5 else -score)


class Study:
    """Jets, splits and the unit store of one study configuration."""

    def __init__(self, args):
        from jetad import JetImager
        from jetad.datasets import fetch_generated, load_jets

        self.args = args
        self.out = args.output_dir
        os.makedirs(os.path.join(self.out, "figures"), exist_ok=True)
        if args.qcd and args.top:
            jets = {"qcd": np.concatenate([load_jets(f)[0] for f in args.qcd]),
                    "top": np.concatenate([load_jets(f)[0] for f in args.top])}
            self.samples = {"qcd": [os.path.basename(f) for f in args.qcd],
                            "top": [os.path.basename(f) for f in args.top]}
            self.load_s = {}
        else:
            jets, self.samples, self.load_s = {}, {}, {}
            for kind, n_jets, seed in SAMPLES:
                t0 = time.perf_counter()
                jets[kind], _ = fetch_generated(kind, n_jets, random_state=seed,
                                                cache_dir=args.cache_dir, n_jobs=2)
                self.samples[kind] = {"kind": kind, "n_jets": n_jets, "generation_seed": seed,
                                      "level": "detector"}
                self.load_s[kind] = round(time.perf_counter() - t0, 1)
        self.jets = jets
        t0 = time.perf_counter()
        self.images = {k: JetImager().transform(v) for k, v in jets.items()}
        self.image_s = round(time.perf_counter() - t0, 1)
        self._lund = None
        self.settings = {
            "n_train": args.n_train, "n_test_per_class": args.n_test,
            "epochs_dvae": args.epochs_dvae, "epochs_vae": args.epochs_vae,
            "architecture_vae": args.architecture, "samples": self.samples,
            "imager": "JetImager() defaults (40x40, unit sum)",
            "lund": "LundPlane(normalize=True): primary plane, ln(1/ΔR) in [0, 6], "
                    "ln kT in [-2, 5], 40x40, unit sum",
        }
        self.splits = {}
        self.ran = self.reused = 0

    def lund(self):
        """Primary Lund-plane images of the pools, made when first asked for."""
        from jetad import LundPlane

        if self._lund is None:
            self._lund = {k: LundPlane(normalize=True).transform(v) for k, v in self.jets.items()}
        return self._lund

    def split(self, seed):
        """Test indices (``n_test`` per class) and training pools of one seed."""
        if seed not in self.splits:
            rng = np.random.default_rng(1000 + seed)
            n_test = self.args.n_test
            idx = {k: rng.permutation(len(v)) for k, v in self.jets.items()}
            self.splits[seed] = {k: (i[:n_test], i[n_test:]) for k, i in idx.items()}
        return self.splits[seed]

    def test_set(self, seed, images):
        s = self.split(seed)
        X = np.concatenate([images["qcd"][s["qcd"][0]], images["top"][s["top"][0]]])
        is_top = np.r_[np.zeros(len(s["qcd"][0])), np.ones(len(s["top"][0]))]
        return X, is_top

    def train_set(self, seed, images, direction, ratio):
        from jetad.datasets import make_contaminated_sample

        s = self.split(seed)
        bkg, sig = ("qcd", "top") if direction == "top" else ("top", "qcd")
        X, y = make_contaminated_sample(images[bkg][s[bkg][1]], images[sig][s[sig][1]], ratio,
                                        n_samples=self.args.n_train, random_state=seed)
        return X, y

    def unit(self, section, direction, ratio, model, seed, extra=None):
        from jetad._benchmark._store import Unit, fingerprint

        config = {"settings": self.settings, "section": section, "direction": direction,
                  "ratio": ratio, "model": model, "seed": seed, **(extra or {})}
        return Unit(self.out, section, f"{direction}_sb{ratio:g}", model, seed,
                    fingerprint(config))

    def baselines(self, seed):
        """Trivial scores on the test jets of ``seed``, both directions, stored as a unit."""
        from jetad.model_selection import trivial_baseline_scores

        unit = self.unit("baselines", "both", 1.0, "trivial", seed)
        if unit.done():
            return
        s = self.split(seed)
        X, is_top = self.test_set(seed, self.images)
        cons = np.concatenate([self.jets["qcd"][s["qcd"][0]], self.jets["top"][s["top"][0]]])
        L, _ = self.test_set(seed, self.lund())
        result = {}
        for name, score in trivial_baseline_scores(X, cons).items():
            result[name] = {"top": _summary(is_top, score), "qcd": _summary(1 - is_top, score)}
        for name, score in trivial_baseline_scores(L).items():
            result["Lund " + name] = {"top": _summary(is_top, score),
                                      "qcd": _summary(1 - is_top, score)}
        unit.write({"scores": result}, None)


def _fit(det, X):
    t0 = time.perf_counter()
    det.fit(X)
    return round(time.perf_counter() - t0, 2)


def _save_fig(fig, study, name):
    import matplotlib.pyplot as plt

    fig.savefig(os.path.join(study.out, "figures", name), dpi=90, bbox_inches="tight")
    plt.close(fig)


def _dvae_result(det, X_test, y, X_train):
    w = det.encode(X_test)
    res = {"label_free": _summary(y, det.anomaly_score(X_test)),
           "anomaly_component": int(det.anomaly_component()),
           "logit_skewness": np.round(det.logit_skewness(), 4).tolist(),
           "mean_weights_train": np.round(det.encode(X_train).mean(0), 4).tolist()}
    for k in range(w.shape[1]):
        res[f"r{k}"] = _summary(y, w[:, k])
    # the paper's reading: the mixture weight that tags best, oriented with the labels
    res["labelled"] = max((_labelled(y, w[:, k]) for k in range(w.shape[1])),
                          key=lambda s: s["auc"])
    det.set_params(score_type="reconstruction")
    res["reconstruction"] = _summary(y, det.anomaly_score(X_test))
    det.set_params(score_type="latent")
    return res


def run_balanced(study, seed, common):
    from jetad.detectors import DVAEDetector, GMVAEDetector, VAEDetector

    a = study.args
    X_test, y = study.test_set(seed, study.images)
    models = {
        "VAE": lambda: VAEDetector(latent_dim=1, score_type="latent_coordinate",
                                   max_epochs=a.epochs_vae, architecture=a.architecture, **common),
        "GMVAE": lambda: GMVAEDetector(latent_dim=1, score_type="responsibility",
                                       max_epochs=a.epochs_vae, architecture=a.architecture,
                                       **common),
        "DVAE": lambda: DVAEDetector(alpha=(1.0, 1.0), max_epochs=a.epochs_dvae, **common),
    }
    for name, make in models.items():
        unit = study.unit("balanced", "top", 1.0, name, seed)
        if unit.done():
            study.reused += 1
            continue
        X_tr, _ = study.train_set(seed, study.images, "top", 1.0)
        det = make()
        fit_s = _fit(det, X_tr)
        res = {"fit_s": fit_s, "n_train": int(len(X_tr))}
        if name == "DVAE":
            res.update(_dvae_result(det, X_test, y, X_tr))
            if seed == 0:
                from jetad.plotting import plot_mixture_components

                _save_fig(plot_mixture_components(det), study, "dvae_balanced_components.png")
        else:
            z = det.encode(X_test)[:, 0]
            res["label_free"] = _summary(y, det.anomaly_score(X_test))
            res["labelled"] = _labelled(y, z)
            if name == "VAE":
                det.set_params(score_type="latent")
                res["kl"] = _summary(y, det.anomaly_score(X_test))
            else:
                prior = det.prior_parameters()
                res["prior"] = {k: np.round(v, 4).tolist() for k, v in prior.items()}
                res["ashman_d"] = round(float(np.max(prior["ashman_d"])), 3)
            det.set_params(score_type="reconstruction")
            res["reconstruction"] = _summary(y, det.anomaly_score(X_test))
        unit.write(res, None)
        study.ran += 1
        print(f"seed {seed} balanced {name}: fit {fit_s:.0f} s, label-free "
              f"{res['label_free']['auc']:.3f}, labelled {res['labelled']['auc']:.3f}",
              flush=True)


def run_dvae(study, seed, common, section):
    from jetad.detectors import DVAEDetector

    images = study.images if section == "dvae" else study.lund()
    X_test, is_top = study.test_set(seed, images)
    ranks = (2, 3) if section == "dvae" else (2,)
    for direction in DIRECTIONS:
        y = is_top if direction == "top" else 1 - is_top
        for ratio in RATIOS:
            for R in ranks:
                model = f"DVAE_R{R}"
                unit = study.unit(section, direction, ratio, model, seed)
                if unit.done():
                    study.reused += 1
                    continue
                X_tr, y_tr = study.train_set(seed, images, direction, ratio)
                det = DVAEDetector(alpha=ALPHAS[R], max_epochs=study.args.epochs_dvae, **common)
                fit_s = _fit(det, X_tr)
                res = {"fit_s": fit_s, "n_train": int(len(X_tr)),
                       "n_signal_train": int(y_tr.sum()), "alpha": list(ALPHAS[R]),
                       **_dvae_result(det, X_test, y, X_tr)}
                if seed == 0 and (ratio in (1.0, 0.01)):
                    from jetad.plotting import plot_gibbs_triangle, plot_mixture_components

                    tag = f"{section}_{direction}_sb{ratio:g}_R{R}"
                    _save_fig(plot_mixture_components(det), study, f"components_{tag}.png")
                    if R == 3:
                        ax = plot_gibbs_triangle(det.encode(X_test), y,
                                                 labels={0: "background", 1: "anomaly"})
                        ax.set_title(f"{DIRECTIONS[direction].split(' (')[0]} = {ratio:g}")
                        _save_fig(ax.figure, study, f"gibbs_{tag}.png")
                unit.write(res, None)
                study.ran += 1
                print(f"seed {seed} {section} {direction} S/B={ratio:g} R={R}: fit {fit_s:.0f} s,"
                      f" label-free {res['label_free']['auc']:.3f}, labelled "
                      f"{res['labelled']['auc']:.3f}, reco {res['reconstruction']['auc']:.3f}",
                      flush=True)


# ------------------------------------------------------------------ aggregation and report
def _records(out):
    recs = []
    for root, _, files in os.walk(os.path.join(out, "units")):
        for f in sorted(files):
            if f.endswith(".json"):
                with open(os.path.join(root, f)) as fh:
                    recs.append(json.load(fh))
    return recs


def _agg(summaries):
    from jetad.metrics import mean_std

    auc = mean_std([s["auc"] for s in summaries])
    rej = mean_std([s["rejection"] for s in summaries])
    return {"auc_mean": round(auc[0], 4), "auc_std": _r(auc[1]), "rejection_mean": _r(rej[0]),
            "rejection_std": _r(rej[1]), "n_seeds": len(summaries),
            "auc_per_seed": [round(s["auc"], 4) for s in summaries],
            "rejection_per_seed": [_r(s["rejection"]) for s in summaries],
            "k_per_seed": [s.get("n_background_pass") for s in summaries],
            "n_background": summaries[0].get("n_background"),
            "bounded_per_seed": [bool(s.get("rejection_bounded")) for s in summaries]}


def _r(x, digits=4):
    return None if x is None or not np.isfinite(x) else round(float(x), digits)


def aggregate(records):
    """Mean ± sample std over seeds of every (section, direction, ratio, model, score)."""
    groups, baselines = {}, {}
    for r in records:
        if r.get("task") == "baselines":
            for name, by_dir in r["scores"].items():
                for direction, s in by_dir.items():
                    baselines.setdefault(name, {}).setdefault(direction, []).append(s)
            continue
        direction, sb = r["setting"].split("_sb")
        key = (r["task"], direction, sb, r["method"])
        for score, s in r.items():
            if isinstance(s, dict) and "auc" in s:
                groups.setdefault(key, {}).setdefault(score, []).append(s)
        groups[key].setdefault("_fit_s", []).append(r["fit_s"])
        if "ashman_d" in r:
            groups[key].setdefault("_ashman_d", []).append(r["ashman_d"])
        if "anomaly_component" in r:
            groups[key].setdefault("_anomaly_component", []).append(r["anomaly_component"])
    table = {}
    for key, scores in sorted(groups.items()):
        entry = {}
        for score, vals in scores.items():
            if score.startswith("_"):
                entry[score[1:]] = vals
            else:
                entry[score] = _agg(vals)
        table["/".join(key)] = entry
    base = {name: {d: _agg(v) for d, v in by_dir.items()} for name, by_dir in baselines.items()}
    return table, base


def _cell(a, rejection=True):
    if a is None:
        return "–"
    std = "" if a["auc_std"] is None else f" ± {a['auc_std']:.3f}"
    text = f"{a['auc_mean']:.3f}{std}"
    if rejection and a.get("rejection_mean") is not None:
        rstd = "" if a["rejection_std"] is None else f" ± {a['rejection_std']:.3g}"
        ks = ", ".join("–" if k is None else str(k) for k in a["k_per_seed"])
        warn = " ⚠" if any(k is not None and k < 10 for k in a["k_per_seed"]) else ""
        bound = "≥ " if any(a.get("bounded_per_seed", ())) else ""
        text += f" / {bound}{a['rejection_mean']:.3g}{rstd} (k = {ks}{warn})"
    return text


def render(out, extra):
    records = _records(out)
    settings = extra["settings"]
    table, base = aggregate(records)
    seeds = sorted({r["seed"] for r in records})
    data = {"settings": settings, "paper": PAPER, "seeds": seeds, "results": table,
            "baselines": base, **{k: v for k, v in extra.items() if k != "settings"}}
    lines = ["# Paper 001 latent-space study at scale (arXiv:2104.08291)", "",
             f"Generated jets (not the paper's samples): {settings['n_train']} training jets per "
             f"sample, {settings['n_test_per_class']} test jets per class, seeds {seeds} (each "
             "seed its own train/test split); DVAE "
             f"{settings['epochs_dvae']} epochs, VAE/GMVAE {settings['epochs_vae']} epochs "
             f"(architecture `{settings['architecture_vae']}`). Paper: {PAPER['sizes']}.", "",
             "Cells: AUC mean ± sample std (ddof = 1) over seeds / 1/ε_B(ε_S = 0.2) mean ± std "
             "(k = background test jets passing the cut, per seed, of N_B; ⚠ k < 10; ≥: in a seed "
             "with k = 0 the 68 % CL lower limit enters the mean). "
             "*label-free*: the detector's own orientation; *labelled*: the best mixture weight "
             "(or latent coordinate) oriented with the test labels, the paper's reading.", ""]

    def b(name, direction):
        return base.get(name, {}).get(direction)

    def baseline_rows(direction, prefix=""):
        rows = []
        for name in ("mean(x²)", "−mean(x²)", "jet mass", "−jet mass"):
            if b(prefix + name, direction):
                rows.append(f"| *{prefix}{name}* (baseline) | {_cell(b(prefix + name, direction))} |")
        return rows

    lines += ["## Balanced sample (t/Q = 1), top = signal (Figs. 3, 5, 7)", "",
              "| model | score | AUC / 1/ε_B | paper AUC |", "|---|---|---|---|"]
    for model, paper in (("VAE", 0.83), ("GMVAE", "≈ VAE"), ("DVAE", 0.89)):
        e = table.get(f"balanced/top/1/{model}", {})
        for score in ("label_free", "labelled", "kl", "reconstruction"):
            if score in e:
                lines.append(f"| {model} | {score} | {_cell(e[score])} | "
                             f"{paper if score == 'labelled' else ''} |")
        if "ashman_d" in e:
            lines.append(f"| GMVAE | Ashman D of the learned prior (per seed) | "
                         f"{', '.join(str(d) for d in e['ashman_d'])} | > 2 |")
    lines += [f"| {r.split('|')[1].strip()} | | {r.split('|')[2].strip()} | |"
              for r in baseline_rows("top")]
    for section, title in (("dvae", "DVAE on jet images (Figs. 9, 11)"),
                           ("lund", "DVAE R = 2 on primary Lund-plane images (Fig. 15)")):
        ranks = ("DVAE_R2", "DVAE_R3") if section == "dvae" else ("DVAE_R2",)
        if not any(k.startswith(section + "/") for k in table):
            continue
        lines += ["", f"## {title}", ""]
        for direction, label in DIRECTIONS.items():
            lines += [f"**{label}**", "",
                      "| S/B | model | label-free latent | labelled latent (best weight) | "
                      "weights r_k (as they are) | reconstruction | fit s |",
                      "|---|---|---|---|---|---|---|"]
            for ratio in RATIOS:
                for model in ranks:
                    e = table.get(f"{section}/{direction}/{ratio:g}/{model}")
                    if not e:
                        continue
                    rk = ", ".join(f"{e[f'r{k}']['auc_mean']:.3f}" for k in range(3)
                                   if f"r{k}" in e)
                    fit = np.median(e["fit_s"])
                    lines.append(f"| {ratio:g} | {model.replace('_', ' ')} | "
                                 f"{_cell(e['label_free'])} | {_cell(e['labelled'])} | {rk} | "
                                 f"{_cell(e['reconstruction'], False)} | {fit:.0f} |")
            prefix = "Lund " if section == "lund" else ""
            lines += ["", "Trivial scores on the same test jets"
                      + (" (on the Lund images; jet mass from the constituents)"
                         if section == "lund" else "") + ":", "",
                      "| score | AUC / 1/ε_B |", "|---|---|"]
            lines += baseline_rows(direction, prefix)
            if prefix:
                lines += [r for r in baseline_rows(direction) if "jet mass" in r]
            lines.append("")
    lines += ["", "## Targets (the paper's numbers)", "", "| target | jetad | paper | met |",
              "|---|---|---|---|"]
    data["targets"] = []
    for label, key, score, paper in TARGETS:
        e = table.get("/".join(key), {}).get(score)
        met = None if e is None else bool(e["auc_mean"] >= paper)
        data["targets"].append({"target": label, "paper": paper, "met": met,
                                "jetad": e and e["auc_mean"], "std": e and e["auc_std"]})
        lines.append(f"| {label} | {_cell(e, False)} | {paper} | "
                     f"{'–' if met is None else ('yes' if met else '**no**')} |")
    below = [(k, e["label_free"]["auc_mean"]) for k, e in table.items()
             if "label_free" in e and e["label_free"]["auc_mean"] < 0.5]
    seeds_below = [(k, e["label_free"]["auc_per_seed"]) for k, e in table.items()
                   if "label_free" in e and min(e["label_free"]["auc_per_seed"]) < 0.5]
    data["label_free_below_0.5"] = below
    data["label_free_below_0.5_in_a_seed"] = seeds_below
    lines += ["", "Label-free latent score below 0.5 (mean over seeds): "
              + (", ".join(f"`{k}` {v:.3f}" for k, v in below) if below else "none") + ".",
              "", "In at least one seed (per-seed AUCs): "
              + (", ".join(f"`{k}` {', '.join(f'{a:.3f}' for a in v)}" for k, v in seeds_below)
                 if seeds_below else "none") + ". At S/B = 1 no class is rare, so a label-free "
              "rule that orients the latent towards the rare class has nothing to find there."]
    lines += ["", "## Run", "", f"Command: `{extra.get('command', '')}`", "",
              f"Units computed in the last invocation: {extra.get('ran')}, reused: "
              f"{extra.get('reused')}; its wall time {extra.get('wall_s')} s; fit time of all "
              f"units {sum(r.get('fit_s', 0) for r in records):.0f} s. Versions: "
              f"{json.dumps(extra.get('versions', {}))}.", ""]
    figs = sorted(os.listdir(os.path.join(out, "figures")))
    lines += [f"![{f}](figures/{f})" for f in figs]
    data["figures"] = figs
    from jetad.utils import atomic_json

    atomic_json(os.path.join(out, "latent_vae_study.json"), data)
    with open(os.path.join(out, "report.md.tmp"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(os.path.join(out, "report.md.tmp"), os.path.join(out, "report.md"))
    return data


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--qcd", nargs="*", help="QCD jet files (default: generated, see SAMPLES)")
    p.add_argument("--top", nargs="*", help="top jet files")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--sections", nargs="+", default=["balanced", "dvae", "lund"],
                   choices=["balanced", "dvae", "lund"])
    p.add_argument("--n-train", type=int, default=20000, help="training jets per sample")
    p.add_argument("--n-test", type=int, default=5000, help="held-out test jets per class")
    p.add_argument("--epochs-dvae", type=int, default=25)
    p.add_argument("--epochs-vae", type=int, default=10)
    p.add_argument("--architecture", default="dillon2021", choices=["nae2023", "dillon2021"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--output-dir", default=os.path.join(HERE, "results", "latent_vae_study"))
    p.add_argument("--render", action="store_true", help="only rebuild the report")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    import matplotlib

    matplotlib.use("Agg")
    t0 = time.perf_counter()
    command = "python benchmarks/latent_vae_study.py " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    study = Study(args)
    extra = {"settings": study.settings, "command": command, "versions": _versions(),
             "image_s": study.image_s, "load_s": study.load_s}
    if not args.render:
        common = {"device": "cpu"}
        for seed in args.seeds:
            study.baselines(seed)
        for section in args.sections:
            for seed in args.seeds:
                common["random_state"] = seed
                if section == "balanced":
                    run_balanced(study, seed, common)
                else:
                    run_dvae(study, seed, common, section)
                render(args.output_dir, {**extra, "ran": study.ran, "reused": study.reused,
                                         "wall_s": round(time.perf_counter() - t0, 1)})
    extra.update(ran=study.ran, reused=study.reused, wall_s=round(time.perf_counter() - t0, 1))
    previous = os.path.join(args.output_dir, "latent_vae_study.json")
    if args.render and os.path.exists(previous):
        with open(previous) as fh:
            extra.update({k: v for k, v in json.load(fh).items()
                          if k in ("command", "ran", "reused", "wall_s", "versions", "image_s",
                                   "load_s")})
    data = render(args.output_dir, extra)
    print(f"{study.ran} units run, {study.reused} reused, {extra['wall_s']} s -> "
          f"{os.path.join(args.output_dir, 'report.md')}")
    return data


if __name__ == "__main__":
    main()
