"""Baselines run on the suite's jets beside the detectors.

mean(x²) and the jet mass with both signs (the trivial observables of
:func:`jetad.model_selection.trivial_baseline_scores`), sklearn's
``IsolationForest`` on the images, and a small CNN trained *with labels* (an
upper bound of the separation).
"""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import dataclasses
import math
import time

import numpy as np

from ._config import CNN_DEFAULTS

__all__ = ["Split", "baseline_scores"]

_TRIVIAL_LABELS = {"mean_x2": ("mean(x²)", "−mean(x²)"), "jet_mass": ("jet mass", "−jet mass")}


@dataclasses.dataclass(frozen=True)
class Split:
    """The jets one baseline sees for one signal.

    Attributes
    ----------
    X_train : ndarray
        Background training images.
    X_train_signal : ndarray
        Signal training images (the supervised CNN only).
    X_test : ndarray
        Test images, background first, then signal.
    C_test : ndarray
        Constituents of the test jets (the jet mass).
    y_test : ndarray
        1 for the signal test jets.
    """

    X_train: np.ndarray
    X_train_signal: np.ndarray
    X_test: np.ndarray
    C_test: np.ndarray
    y_test: np.ndarray


def _cnn_module(side, n_filters):
    import torch.nn as nn

    f = int(n_filters)
    return nn.Sequential(
        nn.Conv2d(1, f, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(f, 2 * f, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * f * (side // 4) ** 2, 32), nn.ReLU(), nn.Linear(32, 1),
    )


def _resolve_device(device):
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def supervised_cnn_scores(X_train, y_train, X_test, params, seed, device):
    """Train a small CNN with labels; return logits on ``X_test`` (higher = class 1)."""
    import torch

    p = {**CNN_DEFAULTS, **params}
    side = math.isqrt(X_train.shape[1])
    scale = float(X_train.std()) or 1.0
    dev = _resolve_device(device)
    gen = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = _cnn_module(side, p["n_filters"]).to(dev)
    Xt = torch.as_tensor(np.asarray(X_train, np.float32) / scale).reshape(-1, 1, side, side)
    yt = torch.as_tensor(np.asarray(y_train, np.float32))
    opt = torch.optim.Adam(net.parameters(), lr=p["lr"])
    loss_fn = torch.nn.BCEWithLogitsLoss()
    batch_size = int(p["batch_size"])
    net.train()
    for _ in range(int(p["max_epochs"])):
        perm = torch.randperm(Xt.shape[0], generator=gen)
        for start in range(0, Xt.shape[0], batch_size):
            idx = perm[start:start + batch_size]
            opt.zero_grad()
            loss = loss_fn(net(Xt[idx].to(dev)).squeeze(1), yt[idx].to(dev))
            loss.backward()
            opt.step()
    net.eval()
    Xs = torch.as_tensor(np.asarray(X_test, np.float32) / scale).reshape(-1, 1, side, side)
    out = []
    with torch.no_grad():
        for start in range(0, Xs.shape[0], 4096):
            out.append(net(Xs[start:start + 4096].to(dev)).squeeze(1).double().cpu().numpy())
    return np.concatenate(out)


def baseline_scores(name, params, split, seed, device):
    """Anomaly scores of one baseline, keyed by report row label, and its seconds.

    Parameters
    ----------
    name : {"mean_x2", "jet_mass", "isolation_forest", "supervised_cnn"}
    params : dict
        The baseline's configured parameters.
    split : Split
    seed : int
    device : str

    Returns
    -------
    scores : dict of str to ndarray
        Higher = more anomalous, one entry per row label.
    seconds : float
        Wall clock of fitting and scoring.
    """
    from jetad.model_selection import evaluate_detector, trivial_baseline_scores

    start = time.perf_counter()
    if name in _TRIVIAL_LABELS:
        trivial = trivial_baseline_scores(split.X_test,
                                          split.C_test if name == "jet_mass" else None)
        scores = {label: trivial[label] for label in _TRIVIAL_LABELS[name]}
    elif name == "isolation_forest":
        from sklearn.ensemble import IsolationForest

        forest = IsolationForest(**{"n_estimators": 100, **params}, random_state=int(seed))
        result = evaluate_detector(forest, split.X_train, split.X_test, split.y_test)
        scores = {"IsolationForest": result["anomaly_scores"]}
    elif name == "supervised_cnn":
        X = np.concatenate([split.X_train, split.X_train_signal])
        y = np.r_[np.zeros(len(split.X_train)), np.ones(len(split.X_train_signal))]
        scores = {"supervised CNN": supervised_cnn_scores(X, y, split.X_test, params, seed,
                                                          device)}
    else:
        raise ValueError(f"unknown baseline {name!r}")
    return scores, time.perf_counter() - start
