"""NAE tuning study: does the NAE phase improve on its own pre-trained AE in both directions?

Reduced CPU study (2 shared cores, one process, ``torch.set_num_threads(1)``):
3000 training jets of the background class (jets 0-2999 of each file) and
4000 + 4000 held-out test jets (jets 3000-6999)
per class (JetImager(gaussian_sigma=1)), both directions (QCD background ->
top anomaly, top background -> QCD anomaly), the SAME NAE hyper-parameters in
both directions.

Stages (each one process; results are appended to ``<out>/results.jsonl``):

* ``prep``: images, cached in ``<out>/images.npz``.
* ``pre``: one AE pre-training per (direction, seed) with ``PRETRAIN`` (an
  ``NAEDetector`` with ``nae_iterations=0``), pickled; AE AUC and mean(x^2)
  AUCs (both signs) recorded.
* ``nae``: for every configuration in ``CONFIGS`` named on the command line,
  the NAE phase only, started from the pickled pre-trained detector
  (``NAEDetector.fit_nae``, the code path of ``fit`` after pre-training), with
  ``keep_checkpoints=True``; the test AUC of every checkpoint is computed
  AFTER training (labels never enter training or selection), and the kept
  state of several label-free selection rules is reported.
* ``fit``: full ``NAEDetector(...).fit`` from scratch (pre-training + NAE) with
  the given preset/params, to time a complete fit and check the shipped
  defaults end to end.

Usage::

    python benchmarks/nae_tuning.py prep
    python benchmarks/nae_tuning.py pre --seeds 0 1
    python benchmarks/nae_tuning.py nae --configs demo lr1e-4 --seeds 0
    python benchmarks/nae_tuning.py fit --seeds 0 1 --preset cpu
    python benchmarks/nae_tuning.py pre --seeds 0 --tag _s --param 'input_scale="auto"'
    python benchmarks/nae_tuning.py nae --configs px_lr1e-4 --check 40 --tag _s
    python benchmarks/nae_tuning.py table --json benchmarks/results/nae_tuning.json

``--tag`` names a variant of the pickled pre-trained detectors; ``table`` keeps the last
row per (stage, configuration, direction, seed). Results of this study:
``benchmarks/results/nae_tuning.{json,md}``.
"""

import argparse
import json
import os
import pickle
import sys
import time
import warnings

import numpy as np
import torch

#: the jet files of the recorded study (``jetad generate --kind qcd -n 60000``, same for top);
#: ``--qcd`` / ``--top`` name them for the ``prep`` stage
FILES = {"qcd": None, "top": None}
#: jets [0, N_TRAIN) of each file train, jets [N_TRAIN, N_TRAIN + N_TEST) evaluate; the
#: benchmarks use other jets of the same files.
N_TRAIN, N_TEST = 3000, 4000

#: AE pre-training shared by every NAE configuration (the demo's).
PRETRAIN = dict(max_epochs=12, batch_size=64, lr=2e-3)

#: The demo's NAE settings before this study (nae_lr 1e-3, 60 iterations).
DEMO = dict(nae_iterations=60, nae_batch_size=32, nae_lr=1e-3, n_z_steps=5, n_x_steps=5,
            x_noise_std=1e-2, x_metropolis=False)


def _cfg(**kw):
    c = dict(DEMO)
    c.update(kw)
    return c


#: The paper's image chain (Table 1: noise 1e-4, Metropolis) on the demo's short schedule.
PX = dict(DEMO, x_noise_std=1e-4, x_metropolis=True)


def _px(**kw):
    c = dict(PX)
    c.update(kw)
    return c


#: The "cpu" preset's NAE phase before this study (Table 1 chains shortened to 10 + 10
#: steps, batch 128, lr 1e-4, gamma 0.1 on the E/s scale), 200 iterations (~10 epochs of
#: 2700 jets).
CPU = dict(nae_iterations=200, nae_batch_size=128, nae_lr=1e-4)


def _cpu(**kw):
    c = dict(CPU)
    c.update(kw)
    return c


#: NAE-phase configurations (everything else: preset "cpu" and the class defaults).
#: Special keys: ``train_part`` in {"all", "decoder", "encoder"} (the others are frozen).
CONFIGS = {
    "demo": _cfg(),
    "cpu": _cpu(),
    "cpu_lr3e-5": _cpu(nae_lr=3e-5),
    "cpu_lr1e-5": _cpu(nae_lr=1e-5),
    "cpu_g0.5": _cpu(gamma=0.5),
    "cpu_g2": _cpu(gamma=2.0),
    "cpu_dec": _cpu(train_part="decoder"),
    "cpu_enc": _cpu(train_part="encoder"),
    "cpu_norep": _cpu(replay_ratio=0.0),
    "cpu_lr3e-4": _cpu(nae_lr=3e-4),
    "lr1e-4": _cfg(nae_lr=1e-4, nae_iterations=150),
    "px_lr1e-4": _px(nae_lr=1e-4, nae_iterations=200),
}


def _log(msg):
    print(msg, flush=True)


def _append(out, row):
    with open(os.path.join(out, "results.jsonl"), "a") as f:
        f.write(json.dumps(row) + "\n")


def _auc(y, s):
    from jetad.metrics import anomaly_auc

    return float(anomaly_auc(y, s))


def prep(out):
    from jetad import JetImager
    from jetad.datasets import load_jets

    imgs = {}
    for name, path in FILES.items():
        if path is None:
            raise SystemExit(f"prep needs --{name} FILE (an HDF5 file of generated {name} jets)")
        X, _ = load_jets(path)
        X = X[:N_TRAIN + N_TEST]
        imgs[name] = JetImager(gaussian_sigma=1.0).transform(X).astype(np.float32)
        _log(f"{name}: {imgs[name].shape}")
    np.savez_compressed(os.path.join(out, "images.npz"), **imgs)


def _data(out, bkg):
    d = np.load(os.path.join(out, "images.npz"))
    sig = "top" if bkg == "qcd" else "qcd"
    B, S = d[bkg], d[sig]
    X_train = B[:N_TRAIN]
    X_test = np.concatenate([B[N_TRAIN:N_TRAIN + N_TEST], S[N_TRAIN:N_TRAIN + N_TEST]])
    y = np.r_[np.zeros(N_TEST), np.ones(N_TEST)]
    return X_train, X_test, y


def _x2_aucs(X_test, y):
    m = np.mean(X_test.astype(np.float64) ** 2, axis=1)
    return _auc(y, m), _auc(y, -m)


def pretrain(out, seeds, params=None, tag=""):
    from jetad import NAEDetector

    params = dict(PRETRAIN, **(params or {}))

    for bkg in ("qcd", "top"):
        X_train, X_test, y = _data(out, bkg)
        for seed in seeds:
            t0 = time.perf_counter()
            det = NAEDetector(preset="cpu", nae_iterations=0, random_state=seed, device="cpu")
            det.set_params(**_nae_params(params)).fit(X_train)
            t = time.perf_counter() - t0
            with open(os.path.join(out, f"pre_{bkg}_{seed}{tag}.pkl"), "wb") as f:
                pickle.dump(det, f)
            ae = _auc(y, det.anomaly_score(X_test))
            x2, mx2 = _x2_aucs(X_test, y)
            row = dict(stage="pre", bkg=bkg, seed=seed, tag=tag, params=params, ae_auc=ae,
                       x2_auc=x2, minus_x2_auc=mx2, pretrain_s=t,
                       best_epoch=det.pretrain_best_epoch_)
            _append(out, row)
            _log(json.dumps(row))


def _nae_params(cfg):
    """A flat configuration as ``NAEDetector.set_params`` keys (chain settings: ``sampler__``)."""
    from jetad.detectors import LangevinSampler

    sampler_keys = set(LangevinSampler().get_params())
    return {("sampler__" + k if k in sampler_keys else k): v for k, v in cfg.items()}


def _nae_phase(det, X_train, cfg):
    """``NAEDetector.fit_nae``: the NAE phase again, from the pre-trained AE of ``det``."""
    cfg = dict(cfg)
    part = cfg.pop("train_part", "all")
    det.set_params(keep_checkpoints=True, **_nae_params(cfg))
    frozen = []
    if part != "all":
        frozen = [p for name, p in det.net_.module_.named_parameters()
                  if not name.startswith(part + ".")]
        for p in frozen:
            p.requires_grad_(False)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        det.fit_nae(X_train)
    t = time.perf_counter() - t0
    for p in frozen:
        p.requires_grad_(True)
    return t, [str(x.message) for x in w]


def _summary(hist, lo, hi, scale=1.0):
    """Mean diagnostics over iterations (lo, hi]; the raw chain energies divided by ``scale``."""
    rows = [r for r in hist if lo < r["iteration"] <= hi and "loss" in r]
    keys = ("loss", "pos_energy", "neg_energy", "neg_energy_z0", "neg_energy_z", "neg_energy_x",
            "accept_z", "accept_x", "sample_spread", "weight_norm", "buffer_fraction",
            "pos_x2", "neg_x2", "pos_sum", "neg_sum")
    if not rows:
        return {}
    out = {k: float(np.mean([r[k] for r in rows])) for k in keys if k in rows[0]}
    for k in ("neg_energy_z0", "neg_energy_z", "neg_energy_x"):
        out[k] /= scale
    return out


def nae(out, names, seeds, check=None, tag=""):
    for name in names:
        cfg = CONFIGS[name]
        for bkg in ("qcd", "top"):
            X_train, X_test, y = _data(out, bkg)
            x2, mx2 = _x2_aucs(X_test, y)
            for seed in seeds:
                with open(os.path.join(out, f"pre_{bkg}_{seed}{tag}.pkl"), "rb") as f:
                    det = pickle.load(f)
                c = dict(cfg)
                n_iter = c["nae_iterations"]
                c.setdefault("check_interval", check or max(1, n_iter // 15))
                t, warns = _nae_phase(det, X_train, c)
                ae = _auc(y, -det.score_samples_pretrained(X_test))
                selected_auc = _auc(y, det.anomaly_score(X_test))
                scale = det.energy_scale_
                hist = det.history_
                by_it = {r["iteration"]: r for r in hist}
                cks, prev = [], 0
                for ck in det.checkpoints_:
                    it = ck["iteration"]
                    det.load_checkpoint(it)
                    e_test = det.anomaly_score(X_test)
                    r = by_it.get(it, {})
                    summ = _summary(hist, prev, it) if it else {}
                    z = det.encode(X_test[y == 0])
                    cks.append(dict(iteration=it, time=ck["time"], auc=_auc(y, e_test),
                                    val_energy=r.get("val_energy"),
                                    gap=r.get("selection_score"),
                                    latent_spread_val=r.get("latent_spread"),
                                    latent_spread_test=1.0 - float(np.linalg.norm(z.mean(0))),
                                    val_x2_corr=r.get("val_x2_corr"),
                                    neg_energy=summ.get("neg_energy", r.get("neg_energy")),
                                    pos_energy=summ.get("pos_energy"),
                                    neg_x2=summ.get("neg_x2"), pos_x2=summ.get("pos_x2"),
                                    neg_sum=summ.get("neg_sum"),
                                    accept_z=summ.get("accept_z"), accept_x=summ.get("accept_x"),
                                    bkg_test_energy=float(np.mean(e_test[y == 0])) / scale,
                                    sig_test_energy=float(np.mean(e_test[y == 1])) / scale))
                    prev = it
                last_auc = cks[-1]["auc"] if cks else selected_auc
                row = dict(stage="nae", config=name + tag, params=cfg, pretrain_tag=tag, bkg=bkg, seed=seed, ae_auc=ae,
                           nae_auc=selected_auc, last_auc=last_auc,
                           oracle_auc=max(ck_["auc"] for ck_ in cks) if cks else None,
                           x2_auc=x2, minus_x2_auc=mx2,
                           nae_s=t, n_iter=det.n_nae_iterations_, collapsed=det.collapsed_,
                           warnings=warns, selected_loss=det.best_iteration_,
                           energy_scale=scale, chain_temperatures=det.chain_temperatures_,
                           first=_summary(hist, 0, max(1, n_iter // 10), scale),
                           last=_summary(hist, n_iter - max(1, n_iter // 10), n_iter, scale),
                           checkpoints=cks)
                _append(out, row)
                _log(f"{name}{tag} {bkg} seed {seed}: AE {ae:.3f} -> NAE(sel it "
                     f"{det.best_iteration_}) {selected_auc:.3f} last {last_auc:.3f} "
                     f"x2 {x2:.3f}/{mx2:.3f} t={t:.0f}s")
                for ck_ in cks:
                    _log("   " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                        for k, v in ck_.items()))
                _log("   first " + json.dumps({k: round(v, 5) for k, v in row["first"].items()}))
                _log("   last  " + json.dumps({k: round(v, 5) for k, v in row["last"].items()}))


def fit(out, seeds, preset, params):
    from jetad import NAEDetector

    for bkg in ("qcd", "top"):
        X_train, X_test, y = _data(out, bkg)
        x2, mx2 = _x2_aucs(X_test, y)
        for seed in seeds:
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                det = NAEDetector(preset=preset, random_state=seed, device="cpu")
                det.set_params(**_nae_params(params)).fit(X_train)
            t = time.perf_counter() - t0
            row = dict(stage="fit", preset=preset, params=params, bkg=bkg, seed=seed,
                       ae_auc=_auc(y, -det.score_samples_pretrained(X_test)),
                       nae_auc=_auc(y, det.anomaly_score(X_test)), x2_auc=x2, minus_x2_auc=mx2,
                       fit_s=t, pretrain_s=det.pretrain_time_, nae_s=det.nae_time_,
                       best_iteration=det.best_iteration_, n_iter=det.n_nae_iterations_,
                       collapsed=det.collapsed_, warnings=[str(x.message) for x in w],
                       last=_summary(det.history_, 0, det.n_nae_iterations_,
                                     det.energy_scale_))
            _append(out, row)
            _log(json.dumps(row))


def _load_rows(out):
    with open(os.path.join(out, "results.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def table(out, dest_json=None, dest_md=None, note="", commands=()):
    """Compact summary of ``results.jsonl``: the last row per (stage, config, bkg, seed)."""
    rows = _load_rows(out)
    last = {}
    for r in rows:
        key = (r["stage"], r.get("config", r.get("preset", r.get("tag", ""))), json.dumps(r.get("params"),
               sort_keys=True) if r["stage"] == "fit" else "", r["bkg"], r["seed"])
        last[key] = r
    direction = {"qcd": "top", "top": "qcd"}
    out_rows = []
    for (stage, name, _, bkg, seed), r in last.items():
        if stage == "pre":
            continue
        ck = {c["iteration"]: c for c in r.get("checkpoints", [])}
        sel = r.get("selected_loss", r.get("best_iteration"))
        d = dict(stage=stage, config=name, anomaly=direction[bkg], background=bkg, seed=seed,
                 params=r["params"], ae_auc=r["ae_auc"], nae_auc=r["nae_auc"],
                 x2_auc=r["x2_auc"], minus_x2_auc=r["minus_x2_auc"],
                 nae_s=r["nae_s"], n_iter=r["n_iter"], selected_iteration=sel,
                 collapsed=r["collapsed"])
        if stage == "nae":
            d.update(last_auc=r["last_auc"], oracle_auc_label_peeking=r["oracle_auc"],
                     latent_spread_test=[ck[0].get("latent_spread_test"),
                                         ck.get(sel, {}).get("latent_spread_test"),
                                         r["checkpoints"][-1].get("latent_spread_test")],
                     auc_vs_iteration=[[c["iteration"], round(c["auc"], 4)]
                                       for c in r["checkpoints"]],
                     diag_first=r["first"], diag_last=r["last"])
        else:
            d.update(fit_s=r["fit_s"], pretrain_s=r["pretrain_s"])
        out_rows.append(d)
    pre = [dict(tag=r.get("tag", ""), background=r["bkg"], seed=r["seed"], ae_auc=r["ae_auc"],
                x2_auc=r["x2_auc"],
                minus_x2_auc=r["minus_x2_auc"], pretrain_s=r["pretrain_s"],
                params=r["params"]) for k, r in last.items() if k[0] == "pre"]
    summary = dict(meta=dict(n_train=N_TRAIN, n_test_per_class=N_TEST,
                             train_jets=f"[0, {N_TRAIN}) of each file",
                             test_jets=f"[{N_TRAIN}, {N_TRAIN + N_TEST}) of each file",
                             files=[os.path.basename(str(f)) for f in FILES.values()], images="JetImager(gaussian_sigma=1.0), 40x40",
                             pretrain=PRETRAIN, threads=1, note=note,
                             commands=list(commands)),
                   pretrain=pre, rows=out_rows)
    lines = ["| config | stage | anomaly | AE AUC | NAE AUC (sel. it) | last AUC | "
             "mean(x^2) AUC | -mean(x^2) AUC | NAE s |", "|---|---|---|---|---|---|---|---|---|"]
    for d in out_rows:
        lines.append(f"| {d['config']} | {d['stage']} | {d['anomaly']} | {d['ae_auc']:.3f} | "
                     f"{d['nae_auc']:.3f} ({d['selected_iteration']}/{d['n_iter']}) | "
                     f"{d.get('last_auc', float('nan')):.3f} | {d['x2_auc']:.3f} | "
                     f"{d['minus_x2_auc']:.3f} | {d['nae_s']:.0f} |")
    md = "\n".join(lines)
    print(md)
    if dest_json:
        with open(dest_json, "w") as f:
            json.dump(summary, f, indent=1)
    if dest_md:
        with open(dest_md, "w") as f:
            f.write(md + "\n")
    return summary


def _params(pairs):
    params = {}
    for kv in pairs:
        k, v = kv.split("=", 1)
        params[k] = json.loads(v)
    return params


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("stage", choices=["prep", "pre", "nae", "fit", "table"])
    p.add_argument("--out", default="benchmarks/.cache/nae_tuning")
    p.add_argument("--qcd", default=None, help="prep stage: HDF5 file of QCD jets")
    p.add_argument("--top", default=None, help="prep stage: HDF5 file of top jets")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--configs", nargs="+", default=[])
    p.add_argument("--check", type=int, default=None)
    p.add_argument("--preset", default="cpu")
    p.add_argument("--json", default=None, help="table stage: write the summary JSON here")
    p.add_argument("--md", default=None, help="table stage: write the Markdown table here")
    p.add_argument("--tag", default="", help="suffix of the pickled pre-trained detectors")
    p.add_argument("--param", action="append", default=[],
                   help="NAEDetector parameter for the fit stage, e.g. --param nae_lr=1e-4")
    a = p.parse_args(argv)
    FILES.update(qcd=a.qcd, top=a.top)
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)
    if a.stage == "prep":
        prep(a.out)
    elif a.stage == "pre":
        pretrain(a.out, a.seeds, _params(a.param), a.tag)
    elif a.stage == "nae":
        nae(a.out, a.configs, a.seeds, a.check, a.tag)
    elif a.stage == "table":
        table(a.out, a.json, a.md)
    else:
        fit(a.out, a.seeds, a.preset, _params(a.param))


if __name__ == "__main__":
    sys.exit(main())
