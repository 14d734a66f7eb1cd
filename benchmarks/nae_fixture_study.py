"""Which settings make the CI-sized NAE gain test reliable (tests/test_nae.py, real jets).

Trains ``NAEDetector`` on top jets (QCD = anomaly), the way the ``nae_on_top_jets``
fixture does, for named settings and seeds, and appends one JSON record per
(setting, seed) to ``benchmarks/results/nae_fixture_study.json``: AUCs of the
pre-trained AE, of the kept NAE state and of mean(x^2) on the same held-out jets,
the kept iteration, the per-epoch AE AUC of the pre-training and the AUC of every NAE
checkpoint (signal labels are used here only to compare settings, never inside the
detector), timings, package versions and the command. Existing (setting, seed)
records are skipped, so the script can be resumed.

Usage::

    OMP_NUM_THREADS=1 JETAD_TEST_CACHE=/tmp/jetad_test_cache PYTHONPATH=$PWD \
        python benchmarks/nae_fixture_study.py --settings base --seeds 0 1 2
"""

import argparse
import fcntl
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback

from jetad.utils import atomic_path

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "nae_fixture_study.json"

#: The fixture as it was (tests/detectors/test_nae.py before this study).
BASE = dict(det=dict(preset="cpu", max_epochs=60, batch_size=128, lr=1e-3, nae_iterations=100),
            imager=dict(gaussian_sigma=1.0), n_train=1500, extra_tops=0)


def _setting(det=None, imager=None, **rest):
    out = {"det": {**BASE["det"], **(det or {})}, "imager": {**BASE["imager"], **(imager or {})},
           "n_train": BASE["n_train"], "extra_tops": BASE["extra_tops"]}
    out.update(rest)
    return out


SETTINGS = {
    "base": _setting(),
    "ld8": _setting(det=dict(latent_dim=8)),
    "ld16": _setting(det=dict(latent_dim=16)),
    "ep120": _setting(det=dict(max_epochs=120)),
    "bs32": _setting(det=dict(max_epochs=40, batch_size=32)),
    "nf16": _setting(det=dict(n_filters=16)),
    "sig0": _setting(imager=dict(gaussian_sigma=None)),
    "nlr1e-5": _setting(det=dict(nae_lr=1e-5)),
    "nbs128": _setting(det=dict(nae_batch_size=128)),
    "ld8_nlr3e-5": _setting(det=dict(latent_dim=8, nae_lr=3e-5)),
    "ld8_nbs128": _setting(det=dict(latent_dim=8, nae_batch_size=128)),
    "ld16_nbs128": _setting(det=dict(latent_dim=16, nae_batch_size=128)),
    "ld8_ep40": _setting(det=dict(latent_dim=8, max_epochs=40)),
    # the encoder sees unit-norm images (input_scale docstring): jets differ from the start
    "isauto": _setting(det=dict(input_scale="auto")),
    "isauto_ep30": _setting(det=dict(input_scale="auto", max_epochs=30)),
    "isauto_ep40": _setting(det=dict(input_scale="auto", max_epochs=40)),
    "lr3e-3": _setting(det=dict(lr=3e-3)),
    # 4x the NAE batch against the checkpoint-to-checkpoint noise, paid for by 40 epochs
    # (the AE transition is at epoch ~15-25 with input_scale="auto") and 50 iterations
    "isauto_ep40_nbs128_it50": _setting(det=dict(input_scale="auto", max_epochs=40,
                                                 nae_batch_size=128, nae_iterations=50,
                                                 check_interval=5)),
    # weight averaging against the checkpoint-to-checkpoint noise, and a longer NAE phase
    "isauto_it300": _setting(det=dict(input_scale="auto", nae_iterations=300,
                                      check_interval=25)),
    "isauto_ema0.99_it300": _setting(det=dict(input_scale="auto", nae_iterations=300,
                                              check_interval=25, ema_decay=0.99)),
    "isauto_ema0.95_it300": _setting(det=dict(input_scale="auto", nae_iterations=300,
                                              check_interval=25, ema_decay=0.95)),
}


def _versions():
    import sklearn
    import skorch

    import jetad
    return {"python": platform.python_version(), "numpy": np.__version__,
            "torch": torch.__version__, "skorch": skorch.__version__,
            "sklearn": sklearn.__version__, "jetad": getattr(jetad, "__version__", "?"),
            "torch_threads": torch.get_num_threads(), "machine": platform.machine()}


def _load(extra_tops):
    from jetad.datasets import fetch_generated

    cache = os.environ.get("JETAD_TEST_CACHE", "/tmp/jetad_test_cache")
    qcd, _ = fetch_generated("qcd", 4000, random_state=1, cache_dir=cache, n_jobs=2)
    top, _ = fetch_generated("top", 2000, random_state=2, cache_dir=cache, n_jobs=2)
    extra = None
    if extra_tops:
        t0 = time.perf_counter()
        extra, _ = fetch_generated("top", extra_tops, random_state=3, cache_dir=cache, n_jobs=2)
        print(f"extra tops: {time.perf_counter() - t0:.1f} s", flush=True)
    return qcd, top, extra


class _EpochAUC(Callback):
    """AE AUC (QCD as anomaly) on the held-out jets after every pre-training epoch."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def on_epoch_end(self, net, **kwargs):
        from jetad.metrics import anomaly_auc

        module = net.module_
        was_training = module.training
        module.eval()
        with torch.no_grad():
            e = module.energy(torch.as_tensor(self.X)).numpy()
        module.train(was_training)
        net.history.record("qcd_auc", float(anomaly_auc(self.y, e)))


def run_one(name, cfg, seed, data):
    from jetad import JetImager, NAEDetector
    from jetad.metrics import anomaly_auc, image_concentration

    qcd_jets, top_jets, extra = data
    imager = JetImager(**cfg["imager"])
    top, qcd = imager.transform(top_jets), imager.transform(qcd_jets)
    X_bkg, X_sig = top[1500:], qcd[-1000:]
    X_train = top[:cfg["n_train"]]
    if extra is not None:
        X_train = np.r_[X_train, imager.transform(extra)]
    y = np.r_[np.zeros(len(X_bkg)), np.ones(len(X_sig))]
    X_test = np.r_[X_bkg, X_sig]
    sub = np.r_[np.arange(300), len(X_bkg) + np.arange(300)]
    X_sub = X_test[sub].reshape(len(sub), 1, 40, 40).astype(np.float32)
    det = NAEDetector(**cfg["det"], random_state=seed, device="cpu", keep_checkpoints=True,
                      callbacks=[_EpochAUC(X_sub, y[sub])])
    t0 = time.perf_counter()
    det.fit(X_train)
    fit_s = time.perf_counter() - t0
    auc_ae = anomaly_auc(y, -det.score_samples_pretrained(X_test))
    auc_nae = anomaly_auc(y, det.anomaly_score(X_test))
    auc_x2 = anomaly_auc(y, image_concentration(X_test))
    curve = []
    for ck in det.checkpoints_:
        state = {k: v for k, v in ck["state"].items()}
        curve.append([ck["iteration"], round(float(anomaly_auc(
            y, -det._score_with_state(X_test, state))), 4)])
    rows = {r["iteration"]: r for r in det.history_ if "val_energy" in r}
    checks = [[it, round(rows[it]["val_energy"], 4), round(rows[it].get("neg_energy", np.nan), 4),
               round(rows[it]["selection_score"], 4)] for it in sorted(rows)]
    z = det.encode(X_bkg)
    return {
        "setting": name, "seed": seed, "config": cfg,
        "auc_ae": round(float(auc_ae), 4), "auc_nae": round(float(auc_nae), 4),
        "auc_x2": round(float(auc_x2), 4), "gain": round(float(auc_nae - auc_ae), 4),
        "best_iteration": int(det.best_iteration_),
        "pretrain_best_epoch": det.pretrain_best_epoch_,
        "pretrain_epoch_auc": [round(r["qcd_auc"], 3) for r in det.net_.history],
        "nae_checkpoint_auc": curve, "checks_val_neg_score": checks,
        "collapsed": bool(det.collapsed_),
        "healthy": bool(all(r["healthy"] for r in det.history_)),
        "latent_spread": round(float(1.0 - np.linalg.norm(z.mean(axis=0))), 4),
        "pretrain_s": round(det.pretrain_time_, 1), "nae_s": round(det.nae_time_, 1),
        "fit_s": round(fit_s, 1), "versions": _versions(),
        "command": " ".join(["python", *sys.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def _append(path, rec):
    # several processes may append to the same file
    with open(Path(tempfile.gettempdir()) / (path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        records = json.loads(path.read_text()) if path.exists() else []
        records.append(rec)
        with atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps(records, indent=1) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--settings", nargs="+", default=["base"], choices=sorted(SETTINGS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    torch.set_num_threads(1)  # as tests/conftest.py
    records = json.loads(args.out.read_text()) if args.out.exists() else []
    done = {(r["setting"], r["seed"]) for r in records}
    data = {}
    for name in args.settings:
        cfg = SETTINGS[name]
        for seed in args.seeds:
            if (name, seed) in done:
                continue
            key = cfg["extra_tops"]
            if key not in data:
                data[key] = _load(key)
            rec = run_one(name, cfg, seed, data[key])
            print(f"{name} seed {seed}: AE {rec['auc_ae']:.3f} NAE {rec['auc_nae']:.3f} "
                  f"x2 {rec['auc_x2']:.3f} kept {rec['best_iteration']} "
                  f"fit {rec['fit_s']:.0f}s", flush=True)
            _append(args.out, rec)


if __name__ == "__main__":
    main()
