"""NAE tuning study: does the NAE phase improve on its own pre-trained AE in both directions?

Reduced CPU study (2 shared cores, one process, ``torch.set_num_threads(1)``):
3000 training jets of the background class and 2000 + 2000 held-out test jets
per class (JetImager(gaussian_sigma=1)), both directions (QCD background ->
top anomaly, top background -> QCD anomaly), the SAME NAE hyper-parameters in
both directions.

Stages (each one process; results are appended to ``<out>/results.jsonl``):

* ``prep``: images, cached in ``<out>/images.npz``.
* ``pre``: one AE pre-training per (direction, seed) with ``PRETRAIN`` (an
  ``NAEDetector`` with ``nae_iterations=0``), pickled; AE AUC and mean(x^2)
  AUCs (both signs) recorded.
* ``nae``: for every configuration in ``CONFIGS`` named on the command line,
  the NAE phase only, started from the pickled pre-trained detector (same code
  path as ``NAEDetector._train`` after pre-training), with
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
    python benchmarks/nae_tuning.py table
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

QCD = "/work/scratch/bench/qcd_30k.h5"
TOP = "/work/scratch/bench/top_30k.h5"
N_TRAIN, N_TEST = 3000, 2000

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


#: NAE-phase configurations (everything else: preset "cpu" and the class defaults).
#: Special keys: ``train_part`` in {"all", "decoder", "encoder"} (the others are frozen).
CONFIGS = {
    "demo": _cfg(),
    "lr3e-4": _cfg(nae_lr=3e-4, nae_iterations=150),
    "lr1e-4": _cfg(nae_lr=1e-4, nae_iterations=150),
    "lr1e-4_T10": _cfg(nae_lr=1e-4, nae_iterations=150, temperature=10.0),
    "lr1e-4_g1": _cfg(nae_lr=1e-4, nae_iterations=150, gamma=1.0),
    "lr1e-4_dec": _cfg(nae_lr=1e-4, nae_iterations=150, train_part="decoder"),
    "lr1e-4_enc": _cfg(nae_lr=1e-4, nae_iterations=150, train_part="encoder"),
    "lr1e-4_mala": _cfg(nae_lr=1e-4, nae_iterations=150, x_noise_std=1e-3, x_metropolis=True),
    "lr1e-4_norep": _cfg(nae_lr=1e-4, nae_iterations=150, replay_ratio=0.0),
    "lr1e-4_zhot": _cfg(nae_lr=1e-4, nae_iterations=150, z_noise_std=0.1),
    "lr3e-5": _cfg(nae_lr=3e-5, nae_iterations=150),
    "px": _px(),
    "px_lr3e-4": _px(nae_lr=3e-4, nae_iterations=200),
    "px_lr1e-4": _px(nae_lr=1e-4, nae_iterations=200),
    "px_noMH_lr1e-4": _px(nae_lr=1e-4, nae_iterations=200, x_metropolis=False),
    "px_b64_lr3e-4": _px(nae_lr=3e-4, nae_iterations=150, nae_batch_size=64),
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
    for name, path in (("qcd", QCD), ("top", TOP)):
        X, _ = load_jets(path)
        X = np.concatenate([X[:N_TRAIN], X[-N_TEST:]])
        imgs[name] = JetImager(gaussian_sigma=1.0).transform(X).astype(np.float32)
        _log(f"{name}: {imgs[name].shape}")
    np.savez_compressed(os.path.join(out, "images.npz"), **imgs)


def _data(out, bkg):
    d = np.load(os.path.join(out, "images.npz"))
    sig = "top" if bkg == "qcd" else "qcd"
    B, S = d[bkg], d[sig]
    X_train, X_test = B[:N_TRAIN], np.concatenate([B[-N_TEST:], S[-N_TEST:]])
    y = np.r_[np.zeros(N_TEST), np.ones(N_TEST)]
    return X_train, X_test, y


def _x2_aucs(X_test, y):
    m = np.mean(X_test.astype(np.float64) ** 2, axis=1)
    return _auc(y, m), _auc(y, -m)


def pretrain(out, seeds):
    from jetad import NAEDetector

    for bkg in ("qcd", "top"):
        X_train, X_test, y = _data(out, bkg)
        for seed in seeds:
            t0 = time.perf_counter()
            det = NAEDetector(preset="cpu", nae_iterations=0, random_state=seed, device="cpu",
                              **PRETRAIN).fit(X_train)
            t = time.perf_counter() - t0
            with open(os.path.join(out, f"pre_{bkg}_{seed}.pkl"), "wb") as f:
                pickle.dump(det, f)
            ae = _auc(y, det.anomaly_score(X_test))
            x2, mx2 = _x2_aucs(X_test, y)
            row = dict(stage="pre", bkg=bkg, seed=seed, params=PRETRAIN, ae_auc=ae,
                       x2_auc=x2, minus_x2_auc=mx2, pretrain_s=t,
                       best_epoch=det.pretrain_best_epoch_)
            _append(out, row)
            _log(json.dumps(row))


def _nae_phase(det, X_train, cfg, seed):
    """The NAE phase of ``NAEDetector._train`` on a pre-trained detector (in place)."""
    cfg = dict(cfg)
    part = cfg.pop("train_part", "all")
    det.set_params(keep_checkpoints=True, **cfg)
    s = det._check_params()
    X_train = det._validate_images(X_train, reset=False)
    module = det.net_.module_
    module.load_state_dict(det.pretrained_state_)
    train_idx, valid_idx = det._split_indices(X_train.shape[0], seed)
    X_val = X_train[valid_idx]
    if det.energy_scale == "auto":
        scale = det._mean_energy(module, X_val)
    else:
        scale = float(det.energy_scale)
    det.energy_scale_ = scale
    frozen = []
    if part != "all":
        frozen = [p for name, p in module.named_parameters()
                  if not name.startswith(part + ".")]
        for p in frozen:
            p.requires_grad_(False)
    from jetad.detectors._langevin import implied_temperature

    tz = implied_temperature(s["z_step_size"], s["z_noise_std"])
    tx = implied_temperature(s["x_step_size"], s["x_noise_std"])
    det.chain_temperatures_ = {"z": tz, "x": tx, "z_scaled": tz / scale, "x_scaled": tx / scale}
    gen_state = torch.get_rng_state()
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        det._train_nae(X_train[train_idx], X_val, s, seed)
    t = time.perf_counter() - t0
    torch.set_rng_state(gen_state)
    for p in frozen:
        p.requires_grad_(True)
    return t, [str(x.message) for x in w], X_val


def _summary(hist, lo, hi, scale=1.0):
    """Mean diagnostics over iterations (lo, hi]; the raw chain energies divided by ``scale``."""
    rows = [r for r in hist if lo < r["iteration"] <= hi and "loss" in r]
    keys = ("loss", "pos_energy", "neg_energy", "neg_energy_z0", "neg_energy_z", "neg_energy_x",
            "accept_z", "accept_x", "sample_spread", "weight_norm")
    if not rows:
        return {}
    out = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    for k in ("neg_energy_z0", "neg_energy_z", "neg_energy_x"):
        out[k] /= scale
    return out


def nae(out, names, seeds, check=None):
    for name in names:
        cfg = CONFIGS[name]
        for bkg in ("qcd", "top"):
            X_train, X_test, y = _data(out, bkg)
            for seed in seeds:
                with open(os.path.join(out, f"pre_{bkg}_{seed}.pkl"), "rb") as f:
                    det = pickle.load(f)
                c = dict(cfg)
                n_iter = c["nae_iterations"]
                c.setdefault("check_interval", check or max(1, n_iter // 15))
                t, warns, X_val = _nae_phase(det, X_train, c, seed)
                ae = _auc(y, -det.score_samples_pretrained(X_test))
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
                    cks.append(dict(iteration=it, auc=_auc(y, e_test),
                                    val_energy=r.get("val_energy", hist[0]["val_energy"]),
                                    gap=r.get("selection_score"),
                                    neg_energy=summ.get("neg_energy"),
                                    pos_energy=summ.get("pos_energy"),
                                    bkg_test_energy=float(np.mean(e_test[y == 0])) / scale))
                    prev = it
                row = dict(stage="nae", config=name, params=cfg, bkg=bkg, seed=seed, ae_auc=ae,
                           nae_s=t, n_iter=det.n_nae_iterations_, collapsed=det.collapsed_,
                           warnings=warns, selected_loss=det.best_iteration_,
                           energy_scale=scale, chain_temperatures=det.chain_temperatures_,
                           first=_summary(hist, 0, max(1, n_iter // 10), scale),
                           last=_summary(hist, n_iter - max(1, n_iter // 10), n_iter, scale),
                           checkpoints=cks)
                _append(out, row)
                _log(f"{name} {bkg} seed {seed}: AE {ae:.3f} -> "
                     + " ".join(f"{c_['iteration']}:{c_['auc']:.3f}" for c_ in cks)
                     + f" | sel(loss)={det.best_iteration_} t={t:.0f}s "
                     f"first={ {k: round(v, 3) for k, v in row['first'].items()} } "
                     f"last={ {k: round(v, 3) for k, v in row['last'].items()} }")


def fit(out, seeds, preset, params):
    from jetad import NAEDetector

    for bkg in ("qcd", "top"):
        X_train, X_test, y = _data(out, bkg)
        x2, mx2 = _x2_aucs(X_test, y)
        for seed in seeds:
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                det = NAEDetector(preset=preset, random_state=seed, device="cpu",
                                  **params).fit(X_train)
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("stage", choices=["prep", "pre", "nae", "fit"])
    p.add_argument("--out", default="/work/scratch/nae_tuning")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--configs", nargs="+", default=[])
    p.add_argument("--check", type=int, default=None)
    p.add_argument("--preset", default="cpu")
    p.add_argument("--param", action="append", default=[],
                   help="NAEDetector parameter for the fit stage, e.g. --param nae_lr=1e-4")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)
    if a.stage == "prep":
        prep(a.out)
    elif a.stage == "pre":
        pretrain(a.out, a.seeds)
    elif a.stage == "nae":
        nae(a.out, a.configs, a.seeds, a.check)
    else:
        params = {}
        for kv in a.param:
            k, v = kv.split("=", 1)
            params[k] = json.loads(v)
        fit(a.out, a.seeds, a.preset, params)


if __name__ == "__main__":
    sys.exit(main())
