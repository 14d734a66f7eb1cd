"""``jetad benchmark``: the paper-reproduction suite.

One configurable, resumable suite that reproduces the tables of the two seed
papers on jets simulated here (Pythia 8 + FastJet + a Delphes-ATLAS-like
response):

``top_qcd``
    Top vs QCD jets (550-650 GeV) in both directions -- train on QCD and tag
    tops, train on tops and tag QCD -- with every detector (AE, VAE, GMVAE,
    DVAE, NAE; arXiv:2206.14225 Fig. 4, arXiv:2104.08291).
``dark``
    Low-pT QCD (150-300 GeV) against the Aachen (semi-visible) and Heidelberg
    (fully visible) dark showers, trained on QCD, for the pT^n pixel
    reweightings ``JetImager(pt_power=n)`` (arXiv:2206.14225 Fig. 9).
``mmd``
    Maximum mean discrepancy between QCD and each dark signal in image space and
    in the latent space of a detector, as a function of n (Fig. 8).

Every task also runs the same baselines on the same jets: the trivial
image-concentration score mean(x²) with both signs, sklearn's
``IsolationForest`` on the images, a jet-mass cut (both signs) and a supervised
CNN trained with labels (an upper bound of the separation).

Each (task, setting, method, seed) *unit* is written atomically to its own JSON
file under ``output_dir/units`` as soon as it finishes; a rerun with the same
configuration skips finished units (a unit whose configuration changed is
rerun). Generated samples are cached under ``data_dir``.
"""

import contextlib
import copy
import glob
import hashlib
import json
import math
import os
import platform
import re
import time

import numpy as np

__all__ = ["BASELINES", "DETECTORS", "PAPER", "PRESETS", "TASKS", "maximum_mean_discrepancy",
           "resolve_config", "run_benchmark"]

#: Suite tasks.
TASKS = ("top_qcd", "dark", "mmd")

#: Detector short names and their classes in :mod:`jetad.detectors`.
DETECTORS = {"AE": "AEDetector", "VAE": "VAEDetector", "GMVAE": "GMVAEDetector",
             "DVAE": "DVAEDetector", "NAE": "NAEDetector"}

#: Baselines run on the same data as the detectors.
BASELINES = ("mean_x2", "isolation_forest", "jet_mass", "supervised_cnn")

_CNN_DEFAULTS = {"max_epochs": 5, "batch_size": 128, "lr": 1e-3, "n_filters": 8}

#: Generation seed offset of each jet kind (seed = 100 * data_seed + offset).
_KIND_OFFSET = {"qcd": 0, "top": 1, "qcd_lowpt": 2, "aachen": 3, "heidelberg": 4}

#: Numbers of the papers (AUC, 1/eps_B at eps_S = 0.2).
PAPER = {
    "top_qcd": {
        # arXiv:2206.14225 Fig. 4 (100k training jets; the AE is the NAE's pre-trained AE).
        ("top", "NAE"): (0.91, 80), ("top", "NAE pre-trained AE"): (0.875, 68),
        ("qcd", "NAE"): (0.89, 350), ("qcd", "NAE pre-trained AE"): (0.579, 12),
        ("top", "AE"): (0.875, 68), ("qcd", "AE"): (0.579, 12),
        # arXiv:2104.08291: latent-space AUCs, trained on a balanced QCD + top mixture.
        ("top", "VAE"): (0.83, None), ("top", "DVAE"): (0.89, None),
    },
    # arXiv:2206.14225 Fig. 9 (NAE, mean of five runs).
    "dark": {
        ("heidelberg", 0.5): (0.795, 62), ("heidelberg", 0.3): (0.796, 42),
        ("heidelberg", 0.2): (0.789, 42), ("heidelberg", 0.1): (0.78, 28),
        ("heidelberg", 0.01): (0.790, 30),
        ("aachen", 0.5): (0.68, 15), ("aachen", 0.3): (0.746, 38),
        ("aachen", 0.2): (0.75, 33), ("aachen", 0.1): (0.767, 41),
        ("aachen", 0.01): (0.755, 41),
    },
}

_PT_POWERS = [0.01, 0.1, 0.2, 0.3, 0.5]

# Short training for the small preset: the NAE settings of ``jetad demo`` (Table 1's chains
# with 5 + 5 steps, NAE lr 1e-4) with 100 NAE iterations. The earlier hot image chain
# (noise 1e-2, no Metropolis) degraded the top direction (benchmarks/results/nae_tuning.md).
_NAE_FAST = {"preset": "cpu", "max_epochs": 8, "batch_size": 64, "lr": 2e-3,
             "nae_iterations": 100, "nae_batch_size": 32, "nae_lr": 1e-4, "n_z_steps": 5,
             "n_x_steps": 5, "x_noise_std": 1e-4, "x_metropolis": True}

#: Size presets. ``run_benchmark(config=...)`` overrides any key.
PRESETS = {
    "small": {
        "tasks": list(TASKS),
        "seeds": [0],
        "imager": {"gaussian_sigma": 1.0},
        "detectors": {
            "AE": {"max_epochs": 6, "batch_size": 64, "lr": 2e-3},
            "VAE": {"max_epochs": 6, "batch_size": 64, "lr": 2e-3},
            "GMVAE": {"max_epochs": 6, "batch_size": 64, "lr": 2e-3},
            "DVAE": {"max_epochs": 20},
            "NAE": dict(_NAE_FAST),
        },
        "baselines": {"mean_x2": {}, "isolation_forest": {"n_estimators": 100},
                      "jet_mass": {}, "supervised_cnn": {"max_epochs": 4}},
        "top_qcd": {"n_train": 1500, "n_test": 1500},
        "dark": {"n_train": 1500, "n_test": 1500, "detectors": ["NAE"]},
        "mmd": {"n_subsample": 600},
    },
    "medium": {
        "tasks": list(TASKS),
        "seeds": [0, 1, 2],
        "imager": {"gaussian_sigma": 1.0},
        "detectors": {
            "AE": {"max_epochs": 30, "batch_size": 128},
            "VAE": {"max_epochs": 30, "batch_size": 128},
            "GMVAE": {"max_epochs": 30, "batch_size": 128},
            "DVAE": {"max_epochs": 50},
            "NAE": {"preset": "cpu", "max_epochs": 30, "nae_iterations": 500,
                    "nae_batch_size": 64, "nae_lr": 1e-4, "n_z_steps": 10, "n_x_steps": 10},
        },
        "baselines": {"mean_x2": {}, "isolation_forest": {"n_estimators": 200},
                      "jet_mass": {}, "supervised_cnn": {"max_epochs": 10}},
        "top_qcd": {"n_train": 10000, "n_test": 5000},
        "dark": {"n_train": 10000, "n_test": 5000, "detectors": ["AE", "NAE"]},
        "mmd": {"n_subsample": 2000},
    },
    "paper": {
        "tasks": list(TASKS),
        "seeds": [0, 1, 2, 3, 4],
        "imager": {"gaussian_sigma": 1.0},
        "detectors": {
            "AE": {"max_epochs": 300, "batch_size": 2048},
            "VAE": {"max_epochs": 100, "batch_size": 256},
            "GMVAE": {"max_epochs": 100, "batch_size": 256},
            "DVAE": {"max_epochs": 100},
            "NAE": {"preset": "paper"},
        },
        "baselines": {"mean_x2": {}, "isolation_forest": {"n_estimators": 200},
                      "jet_mass": {}, "supervised_cnn": {"max_epochs": 20}},
        "top_qcd": {"n_train": 100000, "n_test": 20000},
        "dark": {"n_train": 100000, "n_test": 20000, "detectors": ["AE", "NAE"]},
        "mmd": {"n_subsample": 5000},
    },
}

_TOP_DEFAULTS = {"tasks": list(TASKS), "seeds": [0], "data_seed": 0, "data_dir": None,
                 "data_files": {}, "n_jobs": 2, "torch_threads": 1, "device": "auto",
                 "imager": {}, "detectors": {}, "baselines": {}, "top_qcd": {}, "dark": {},
                 "mmd": {}, "plots": {}}
_SECTION_DEFAULTS = {
    "top_qcd": {"n_train": 1500, "n_test": 1500, "directions": ["top", "qcd"],
                "detectors": None, "baselines": None},
    "dark": {"n_train": 1500, "n_test": 1500, "pt_powers": list(_PT_POWERS),
             "signals": ["aachen", "heidelberg"], "detectors": None, "baselines": None},
    "mmd": {"n_subsample": 600, "pt_powers": None, "signals": None,
            "latent_detectors": ["NAE"]},
    "plots": {"enabled": True, "dpi": 100, "detectors": ["AE", "NAE"], "n_worst": 4,
              "n_map_jets": 300},
}
_DIRECTIONS = {"top": ("qcd", "top"), "qcd": ("top", "qcd")}  # anomaly -> (background, signal)
_LABEL = {"qcd": "QCD", "top": "top", "qcd_lowpt": "QCD", "aachen": "Aachen",
          "heidelberg": "Heidelberg"}


# --------------------------------------------------------------------------- configuration
def _merge_named(base, override, where):
    """Named parameter sets: the override's names replace the set, params merge."""
    if not isinstance(override, dict):
        raise ValueError(f"config key {where!r} must be a mapping name -> parameters, "
                         f"got {type(override).__name__}")
    out = {}
    for name, params in override.items():
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ValueError(f"config key '{where}.{name}' must be a mapping of parameters")
        out[name] = {**base.get(name, {}), **params}
    return out


def resolve_config(config=None, preset="small"):
    """Merge a configuration over a size preset and validate it.

    Parameters
    ----------
    config : dict, str, path-like or None
        Overrides (or a JSON file with them). Top-level keys: ``tasks``,
        ``seeds``, ``data_seed``, ``data_dir``, ``data_files``, ``n_jobs``,
        ``torch_threads``, ``device``, ``imager``, ``detectors``, ``baselines``,
        ``top_qcd``, ``dark``, ``mmd``, ``plots`` (see :func:`run_benchmark`).
        A ``"preset"`` key in the configuration takes precedence over ``preset``.
    preset : {"small", "medium", "paper"}, default="small"

    Returns
    -------
    config : dict
        The full configuration.

    Raises
    ------
    ValueError
        Naming the offending key for unknown keys, detectors, baselines or
        parameters and for invalid values.
    """
    if config is None:
        config = {}
    elif not isinstance(config, dict):
        with open(config) as fh:
            config = json.load(fh)
    config = copy.deepcopy(config)
    preset = config.pop("preset", None) or preset
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    for key in config:
        if key not in _TOP_DEFAULTS:
            raise ValueError(f"unknown config key {key!r}; allowed: {sorted(_TOP_DEFAULTS)}")
    base = copy.deepcopy(_TOP_DEFAULTS)
    for key, value in copy.deepcopy(PRESETS[preset]).items():
        base[key] = value
    cfg = copy.deepcopy(base)
    for key, value in config.items():
        if key in ("detectors", "baselines"):
            cfg[key] = _merge_named(base[key], value, key)
        elif key in _SECTION_DEFAULTS or key in ("imager", "data_files"):
            if not isinstance(value, dict):
                raise ValueError(f"config key {key!r} must be a mapping")
            cfg[key] = {**base[key], **value}
        else:
            cfg[key] = value
    for section, defaults in _SECTION_DEFAULTS.items():
        for key in cfg[section]:
            if key not in defaults:
                raise ValueError(f"unknown config key '{section}.{key}'; allowed: "
                                 f"{sorted(defaults)}")
        cfg[section] = {**defaults, **cfg[section]}
    cfg["preset"] = preset
    _validate(cfg)
    return cfg


def _check_int(where, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"config key {where!r} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_names(where, names, allowed):
    if not isinstance(names, (list, tuple)):
        raise ValueError(f"config key {where!r} must be a list, got {names!r}")
    for name in names:
        if name not in allowed:
            raise ValueError(f"config key {where!r}: unknown name {name!r}; allowed: "
                             f"{sorted(allowed)}")


def _validate(cfg):
    from jetad.datasets._generate import KINDS

    _check_names("tasks", cfg["tasks"], TASKS)
    if not cfg["seeds"]:
        raise ValueError("config key 'seeds' must list at least one seed")
    for s in cfg["seeds"]:
        _check_int("seeds", s, 0)
    _check_int("data_seed", cfg["data_seed"], 0)
    _check_int("torch_threads", cfg["torch_threads"], 0)
    if isinstance(cfg["n_jobs"], bool) or not isinstance(cfg["n_jobs"], int) or cfg["n_jobs"] == 0:
        raise ValueError(f"config key 'n_jobs' must be a non-zero integer, got {cfg['n_jobs']!r}")
    if cfg["device"] not in ("auto", "cpu", "cuda") and not str(cfg["device"]).startswith("cuda"):
        raise ValueError(f"config key 'device' must be 'auto', 'cpu' or 'cuda', "
                         f"got {cfg['device']!r}")
    for kind, path in cfg["data_files"].items():
        if kind not in KINDS:
            raise ValueError(f"config key 'data_files.{kind}': unknown jet kind; allowed: "
                             f"{list(KINDS)}")
        if not isinstance(path, (str, os.PathLike)):
            raise ValueError(f"config key 'data_files.{kind}' must be a file path")
    from jetad.preprocessing import JetImager

    imager_params = JetImager().get_params()
    for key in cfg["imager"]:
        if key not in imager_params or key in ("pt_power", "output_shape"):
            raise ValueError(f"unknown config key 'imager.{key}' (JetImager parameters except "
                             f"pt_power and output_shape)")
    for name, params in cfg["detectors"].items():
        if name not in DETECTORS:
            raise ValueError(f"config key 'detectors': unknown detector {name!r}; allowed: "
                             f"{sorted(DETECTORS)}")
        cls = _detector_class(name)
        if cls is not None:
            valid = cls().get_params()
            for key in params:
                if key not in valid or key in ("random_state", "device", "verbose"):
                    raise ValueError(f"unknown config key 'detectors.{name}.{key}' (not a "
                                     f"settable parameter of {cls.__name__})")
    for name, params in cfg["baselines"].items():
        if name not in BASELINES:
            raise ValueError(f"config key 'baselines': unknown baseline {name!r}; allowed: "
                             f"{list(BASELINES)}")
        if name == "isolation_forest":
            from sklearn.ensemble import IsolationForest

            valid = set(IsolationForest().get_params()) - {"random_state"}
        elif name == "supervised_cnn":
            valid = set(_CNN_DEFAULTS)
        else:
            valid = set()
        for key in params:
            if key not in valid:
                raise ValueError(f"unknown config key 'baselines.{name}.{key}'; allowed: "
                                 f"{sorted(valid)}")
    for task in ("top_qcd", "dark"):
        sec = cfg[task]
        _check_int(f"{task}.n_train", sec["n_train"], 2)
        _check_int(f"{task}.n_test", sec["n_test"], 2)
        if sec["detectors"] is not None:
            _check_names(f"{task}.detectors", sec["detectors"], DETECTORS)
        if sec["baselines"] is not None:
            _check_names(f"{task}.baselines", sec["baselines"], BASELINES)
    _check_names("top_qcd.directions", cfg["top_qcd"]["directions"], _DIRECTIONS)
    _check_names("dark.signals", cfg["dark"]["signals"], ("aachen", "heidelberg"))
    for where, powers in (("dark.pt_powers", cfg["dark"]["pt_powers"]),
                          ("mmd.pt_powers", cfg["mmd"]["pt_powers"])):
        if powers is None and where == "mmd.pt_powers":
            continue
        if not isinstance(powers, (list, tuple)) or not powers:
            raise ValueError(f"config key {where!r} must be a non-empty list")
        for n in powers:
            if isinstance(n, bool) or not isinstance(n, (int, float)) or not n > 0:
                raise ValueError(f"config key {where!r}: pT powers must be positive, got {n!r}")
    if cfg["mmd"]["signals"] is not None:
        _check_names("mmd.signals", cfg["mmd"]["signals"], ("aachen", "heidelberg"))
    _check_names("mmd.latent_detectors", cfg["mmd"]["latent_detectors"], DETECTORS)
    _check_int("mmd.n_subsample", cfg["mmd"]["n_subsample"], 4)
    _check_names("plots.detectors", cfg["plots"]["detectors"], DETECTORS)
    _check_int("plots.dpi", cfg["plots"]["dpi"], 10)


def _detector_class(name):
    """The detector class, or None if it cannot be imported."""
    try:
        import jetad.detectors as detectors

        return getattr(detectors, DETECTORS[name])
    except (ImportError, AttributeError):
        return None


def _task_methods(cfg, task):
    sec = cfg[task]
    dets = [d for d in cfg["detectors"] if sec.get("detectors") is None or d in sec["detectors"]]
    base = [b for b in cfg["baselines"] if sec.get("baselines") is None or b in sec["baselines"]]
    return dets, base


# ----------------------------------------------------------------------------------- I/O
def _atomic_json(path, obj):
    from jetad.datasets._io import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            json.dump(obj, fh, indent=1, default=_json_default)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{obj!r} is not JSON-serialisable")


def _atomic_npz(path, arrays):
    from jetad.datasets._io import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def _save_fig(fig, path, dpi):
    import matplotlib.pyplot as plt

    from jetad.datasets._io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)


def _fingerprint(obj):
    text = json.dumps(obj, sort_keys=True, default=_json_default)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _slug(value):
    return re.sub(r"[^A-Za-z0-9.]+", "_", str(value)).strip("_")


# ---------------------------------------------------------------------------------- data
def _sample_path(cfg, kind, n_jets):
    """Cached sample file with at least ``n_jets`` jets of ``kind`` (generated if needed)."""
    from jetad.datasets import generate_jets
    from jetad.utils import get_cache_dir

    if kind in cfg["data_files"]:
        return os.fspath(cfg["data_files"][kind]), None
    folder = get_cache_dir(cfg["data_dir"])
    seed = 100 * cfg["data_seed"] + _KIND_OFFSET[kind]
    pattern = re.compile(rf"suite_{kind}_(\d+)_seed{seed}\.h5$")
    found = []
    for path in glob.glob(os.path.join(folder, f"suite_{kind}_*_seed{seed}.h5")):
        m = pattern.search(os.path.basename(path))
        if m and int(m.group(1)) >= n_jets:
            found.append((int(m.group(1)), path))
    if found:
        return min(found)[1], seed
    path = os.path.join(folder, f"suite_{kind}_{n_jets}_seed{seed}.h5")
    print(f"[jetad benchmark] generating {n_jets} {kind} jets -> {path}", flush=True)
    generate_jets(kind, n_jets, random_state=seed, n_jobs=cfg["n_jobs"], output=path,
                  progress=False)
    return path, seed


def _load(cfg, kind, n_jets, cache):
    """First ``n_jets`` constituent arrays of ``kind``; memoised in ``cache``."""
    from jetad.datasets import load_jets

    key = (kind, n_jets)
    if key not in cache:
        path, seed = _sample_path(cfg, kind, n_jets)
        X, _ = load_jets(path)
        if X.shape[0] < n_jets:
            raise ValueError(f"{path} holds {X.shape[0]} {kind} jets, {n_jets} are needed")
        cache[key] = X[:n_jets]
        cache.setdefault("_files", {})[kind] = {"path": path, "generation_seed": seed,
                                               "n_jets_used": n_jets}
    return cache[key]


def _data_files(cache, kinds):
    return {k: cache["_files"][k] for k in kinds if k in cache.get("_files", {})}


def _images(cfg, X, pt_power=None):
    from jetad import JetImager

    return JetImager(**cfg["imager"], pt_power=pt_power).transform(X)


# ------------------------------------------------------------------------------- metrics
def _metrics(y, scores):
    from jetad.metrics import tagging_summary

    summary = tagging_summary(y, scores, 0.2)
    if summary["rejection_bounded"]:
        summary["rejection_error"] = None  # strict JSON has no NaN
    return summary


def _pairwise_sq(A, B):
    d = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    return np.maximum(d, 0.0)


def maximum_mean_discrepancy(X, Y, *, bandwidth="median", n_subsample=None,
                             random_state=None):
    r"""Unbiased squared maximum mean discrepancy with a Gaussian kernel.

    .. math::

        \mathrm{MMD}^2_u = \frac{1}{m(m-1)}\sum_{i\ne j} k(x_i, x_j)
        + \frac{1}{n(n-1)}\sum_{i\ne j} k(y_i, y_j)
        - \frac{2}{mn}\sum_{i,j} k(x_i, y_j),
        \qquad k(a, b) = \exp\!\left(-\frac{\lVert a-b\rVert^2}{2\sigma^2}\right).

    Parameters
    ----------
    X : array-like of shape (m, n_features)
    Y : array-like of shape (n, n_features)
    bandwidth : "median" or float, default="median"
        Kernel width ``sigma``. ``"median"``: the median heuristic, the median
        Euclidean distance between distinct points of the pooled (subsampled)
        sample.
    n_subsample : int or None, default=None
        Use at most this many random rows of each of ``X`` and ``Y``.
    random_state : int, Generator or None, default=None
        Seeds the subsampling.

    Returns
    -------
    mmd2 : float
        The unbiased estimate of MMD² (it fluctuates around 0, and can be
        slightly negative, when both samples come from the same distribution).
    """
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    Y = np.asarray(Y, dtype=np.float64).reshape(len(Y), -1)
    if X.shape[0] < 2 or Y.shape[0] < 2:
        raise ValueError("both samples need at least 2 points")
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"X has {X.shape[1]} features, Y has {Y.shape[1]}")
    rng = np.random.default_rng(random_state)
    if n_subsample is not None:
        if X.shape[0] > n_subsample:
            X = X[rng.choice(X.shape[0], n_subsample, replace=False)]
        if Y.shape[0] > n_subsample:
            Y = Y[rng.choice(Y.shape[0], n_subsample, replace=False)]
    dxx, dyy, dxy = _pairwise_sq(X, X), _pairwise_sq(Y, Y), _pairwise_sq(X, Y)
    if bandwidth == "median":
        m, n = X.shape[0], Y.shape[0]
        pooled = np.concatenate([dxx[np.triu_indices(m, 1)], dyy[np.triu_indices(n, 1)],
                                 dxy.ravel()])
        sigma = float(np.sqrt(np.median(pooled)))
        if not sigma > 0:
            sigma = 1.0
    else:
        sigma = float(bandwidth)
        if not sigma > 0:
            raise ValueError(f"bandwidth must be 'median' or a positive float, got {bandwidth!r}")
    g = -0.5 / sigma ** 2
    kxx, kyy, kxy = np.exp(g * dxx), np.exp(g * dyy), np.exp(g * dxy)
    m, n = kxx.shape[0], kyy.shape[0]
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                 + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2.0 * kxy.mean())


# ------------------------------------------------------------------- supervised baseline
def _cnn_module(side, n_filters):
    import torch.nn as nn

    f = int(n_filters)
    return nn.Sequential(
        nn.Conv2d(1, f, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(f, 2 * f, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * f * (side // 4) ** 2, 32), nn.ReLU(), nn.Linear(32, 1),
    )


def _supervised_cnn_scores(X_train, y_train, X_test, params, seed, device):
    """Train a small CNN with labels; return logits on ``X_test`` (higher = class 1)."""
    import torch

    p = {**_CNN_DEFAULTS, **params}
    side = math.isqrt(X_train.shape[1])
    scale = float(X_train.std()) or 1.0
    dev = "cuda" if device == "auto" and torch.cuda.is_available() else (
        "cpu" if device == "auto" else device)
    gen = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = _cnn_module(side, p["n_filters"]).to(dev)
    Xt = torch.as_tensor(np.asarray(X_train, np.float32) / scale).reshape(-1, 1, side, side)
    yt = torch.as_tensor(np.asarray(y_train, np.float32))
    opt = torch.optim.Adam(net.parameters(), lr=p["lr"])
    loss_fn = torch.nn.BCEWithLogitsLoss()
    bs = int(p["batch_size"])
    net.train()
    for _ in range(int(p["max_epochs"])):
        perm = torch.randperm(Xt.shape[0], generator=gen)
        for start in range(0, Xt.shape[0], bs):
            idx = perm[start:start + bs]
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


# ----------------------------------------------------------------------------- the units
class _Unit:
    """One (task, setting, method, seed) result file."""

    def __init__(self, output_dir, task, setting, method, seed, fingerprint):
        self.task, self.setting, self.method, self.seed = task, setting, method, seed
        stem = f"{_slug(setting)}__{method}__seed{seed}"
        self.folder = os.path.join(output_dir, "units", task)
        self.path = os.path.join(self.folder, stem + ".json")
        self.scores_path = os.path.join(self.folder, stem + ".npz")
        self.fingerprint = fingerprint

    def done(self):
        if not os.path.exists(self.path):
            return None
        try:
            with open(self.path) as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return None
        return data if data.get("fingerprint") == self.fingerprint else None

    def write(self, result, scores):
        if scores:
            _atomic_npz(self.scores_path, scores)
        result = {"task": self.task, "setting": self.setting, "method": self.method,
                  "seed": self.seed, "fingerprint": self.fingerprint,
                  "scores_file": os.path.basename(self.scores_path) if scores else None,
                  "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  **result}
        _atomic_json(self.path, result)
        return result


def _reuse(unit, state):
    """Record a finished unit of an earlier run; True if it can be skipped."""
    done = unit.done()
    if done is None:
        return False
    if unit.path not in state["units"]:
        state["skipped"] += 1
    state["units"][unit.path] = done
    return True


def _fit_detector(cfg, name, X_train, seed):
    """Fit one detector; returns (detector, fit_seconds)."""
    cls = _detector_class(name)
    params = dict(cfg["detectors"][name])
    det = cls(**params, random_state=int(seed), device=cfg["device"], verbose=0)
    t0 = time.perf_counter()
    det.fit(X_train)
    return det, time.perf_counter() - t0


def _detector_scores(name, det, X_test):
    """Anomaly scores (higher = more anomalous) of each row label the detector gives."""
    out = {name: det.anomaly_score(X_test)}
    if name == "NAE" and hasattr(det, "score_samples_pretrained"):
        out["NAE pre-trained AE"] = -det.score_samples_pretrained(X_test)
    return out


def _detector_extra(name, det):
    info = {}
    for attr in ("pretrain_time_", "nae_time_", "best_iteration_", "n_nae_iterations_",
                 "collapsed_", "energy_scale_"):
        if hasattr(det, attr):
            info[attr.rstrip("_")] = getattr(det, attr)
    return info


def _latent_spread(det, X):
    """Mean distance of the encoded background jets from their mean (0: collapsed encoder)."""
    z = det.encode(X)
    return float(np.linalg.norm(z - z.mean(axis=0), axis=1).mean())


def _baseline_scores(name, params, data, seed, device):
    """Baseline anomaly scores keyed by row label; fit seconds."""
    t0 = time.perf_counter()
    if name == "mean_x2":
        from jetad.metrics import image_concentration

        c = image_concentration(data["X_test"])
        out = {"mean(x²)": c, "−mean(x²)": -c}
    elif name == "jet_mass":
        from jetad.jets import jet_mass

        m = jet_mass(data["C_test"])
        out = {"jet mass": m, "−jet mass": -m}
    elif name == "isolation_forest":
        from sklearn.ensemble import IsolationForest

        forest = IsolationForest(**{"n_estimators": 100, **params}, random_state=int(seed))
        forest.fit(data["X_train"])
        out = {"IsolationForest": -forest.score_samples(data["X_test"])}
    elif name == "supervised_cnn":
        X = np.concatenate([data["X_train"], data["X_train_sig"]])
        y = np.r_[np.zeros(len(data["X_train"])), np.ones(len(data["X_train_sig"]))]
        out = {"supervised CNN": _supervised_cnn_scores(X, y, data["X_test"], params, seed,
                                                        device)}
    else:  # pragma: no cover - validated
        raise ValueError(name)
    return out, time.perf_counter() - t0


_DETERMINISTIC = ("mean_x2", "jet_mass")


def _rows(scores_by_label, y_by_signal, split, seconds=None):
    """Metric rows for every (signal, label); ``split`` cuts scores per signal.

    ``seconds`` maps a label to its own training time when it differs from the
    unit's (the NAE's pre-trained AE).
    """
    rows = []
    for label, scores in scores_by_label.items():
        for signal, (y, sl) in y_by_signal.items():
            s = scores if sl is None else split(scores, sl)
            row = {"label": label, "signal": signal, **_metrics(y, s)}
            if seconds and label in seconds:
                row["fit_seconds"] = float(seconds[label])
            rows.append(row)
    return rows


def _row_seconds(det):
    """Training time of the extra rows of a detector (the NAE's pre-trained AE)."""
    t = getattr(det, "pretrain_time_", None)
    return {"NAE pre-trained AE": t} if t is not None else None


# ------------------------------------------------------------------------- model figures
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
    _save_fig(fig, path, cfg["plots"]["dpi"])


def _latent_map_figure(cfg, det, X_by_class, title, path):
    """Equirectangular map of the latent-sphere energy with encoded jets (NAE)."""
    import matplotlib.pyplot as plt

    bkg = next(iter(X_by_class.values()))
    emap = det.latent_energy_map(n_theta=60, n_phi=120, center=bkg)
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
    _save_fig(fig, path, cfg["plots"]["dpi"])


def _plot_model(cfg, output_dir, task, setting, name, seed, det, bkg, sigs):
    """Model figures for the first seed of the configured plot detectors."""
    if not cfg["plots"]["enabled"] or name not in cfg["plots"]["detectors"] \
            or seed != cfg["seeds"][0]:
        return []
    folder = os.path.join(output_dir, "figures")
    os.makedirs(folder, exist_ok=True)
    stem = f"{task}_{_slug(setting)}_{name}"
    files = []
    (bkg_label, X_bkg), = bkg.items()
    sig_label, X_sig = next(iter(sigs.items()))
    path = os.path.join(folder, f"model_{stem}.png")
    _model_figure(cfg, det, name, X_bkg, X_sig, bkg_label, sig_label,
                  f"{task} {setting}: trained on {bkg_label}", path)
    files.append(os.path.relpath(path, output_dir))
    if hasattr(det, "latent_energy_map") and getattr(det, "latent_dim", 0) == 3:
        path = os.path.join(folder, f"latent_map_{stem}.png")
        _latent_map_figure(cfg, det, {**bkg, **sigs},
                           f"{task} {setting}: NAE latent-sphere energy, trained on {bkg_label}",
                           path)
        files.append(os.path.relpath(path, output_dir))
    return files


# --------------------------------------------------------------------------------- tasks
def _log(msg):
    print(f"[jetad benchmark] {msg}", flush=True)


def _run_top_qcd(cfg, output_dir, data_cache, state):
    sec = cfg["top_qcd"]
    n_train, n_test = sec["n_train"], sec["n_test"]
    dets, bases = _task_methods(cfg, "top_qcd")
    data = None

    def get_data():
        nonlocal data
        if data is None:
            C = {k: _load(cfg, k, n_train + n_test, data_cache) for k in ("qcd", "top")}
            X = {k: _images(cfg, v) for k, v in C.items()}
            data = (C, X)
        return data

    base_fp = {"sizes": [n_train, n_test], "data_seed": cfg["data_seed"],
               "data_files": cfg["data_files"], "imager": cfg["imager"]}
    for direction in sec["directions"]:
        bkg, sig = _DIRECTIONS[direction]
        for method in dets + bases:
            is_det = method in cfg["detectors"]
            params = cfg["detectors"][method] if is_det else cfg["baselines"][method]
            seeds = cfg["seeds"][:1] if method in _DETERMINISTIC else cfg["seeds"]
            for seed in seeds:
                unit = _Unit(output_dir, "top_qcd", direction, method, seed,
                             _fingerprint({**base_fp, "params": params}))
                if _reuse(unit, state):
                    continue
                if is_det and _detector_class(method) is None:
                    state["notes"].append(f"{method} skipped: jetad.detectors."
                                          f"{DETECTORS[method]} is not importable")
                    break
                C, X = get_data()
                d = {"X_train": X[bkg][:n_train], "X_train_sig": X[sig][:n_train],
                     "X_test": np.concatenate([X[bkg][n_train:], X[sig][n_train:]]),
                     "C_test": np.concatenate([C[bkg][n_train:], C[sig][n_train:]])}
                y = np.r_[np.zeros(n_test), np.ones(n_test)]
                _log(f"top_qcd: {direction} as anomaly, {method}, seed {seed}")
                extra, figures = {}, []
                if is_det:
                    det, fit_s = _fit_detector(cfg, method, d["X_train"], seed)
                    t0 = time.perf_counter()
                    scores = _detector_scores(method, det, d["X_test"])
                    score_s = time.perf_counter() - t0
                    extra = _detector_extra(method, det)
                    extra["latent_spread"] = _latent_spread(det, d["X_test"][:n_test])
                    figures = _plot_model(cfg, output_dir, "top_qcd", direction, method, seed,
                                          det, {_LABEL[bkg]: d["X_test"][:n_test]},
                                          {_LABEL[sig]: d["X_test"][n_test:]})
                else:
                    scores, fit_s = _baseline_scores(method, params, d, seed, cfg["device"])
                    score_s = None
                rows = _rows(scores, {sig: (y, None)}, None,
                             _row_seconds(det) if is_det else None)
                res = unit.write({"kind": "detector" if is_det else "baseline", "rows": rows,
                            "fit_seconds": fit_s, "score_seconds": score_s, "extra": extra,
                            "figures": figures, "n_train": n_train, "n_test": n_test,
                            "data": _data_files(data_cache, ("qcd", "top"))},
                           {**{f"{sig}|{k}": v.astype(np.float32) for k, v in scores.items()},
                            f"{sig}|y": y.astype(np.int8)})
                state["units"][unit.path] = res
                state["ran"] += 1


def _dark_data(cfg, data_cache, signals):
    """QCD and signal jets of the dark task: ``[:n_train]`` train, ``[n_train:]`` test.

    Signal jets are split like the background (the training part is used by the
    supervised baseline only), so every task sees the same test jets.
    """
    sec = cfg["dark"]
    n = sec["n_train"] + sec["n_test"]
    return {k: _load(cfg, k, n, data_cache) for k in ["qcd_lowpt", *signals]}


def _run_dark(cfg, output_dir, data_cache, state, methods=None, mmd_only=False):
    sec = cfg["dark"]
    n_train, n_test = sec["n_train"], sec["n_test"]
    dets, bases = _task_methods(cfg, "dark")
    if methods is not None:
        dets, bases = [m for m in methods if m in cfg["detectors"]], []
    signals = list(sec["signals"])
    mmd_signals = cfg["mmd"]["signals"] or signals
    all_signals = list(dict.fromkeys(signals + (mmd_signals if "mmd" in cfg["tasks"] else [])))
    latent_mmd = "mmd" in cfg["tasks"]
    C = None
    images = {}
    base_fp = {"sizes": [n_train, n_test], "data_seed": cfg["data_seed"],
               "data_files": cfg["data_files"], "imager": cfg["imager"],
               "signals": all_signals, "latent_mmd": latent_mmd,
               "n_subsample": cfg["mmd"]["n_subsample"] if latent_mmd else None}
    for n in sec["pt_powers"]:
        setting = f"n={n}"
        for method in dets + bases:
            is_det = method in cfg["detectors"]
            params = cfg["detectors"][method] if is_det else cfg["baselines"][method]
            seeds = cfg["seeds"][:1] if method in _DETERMINISTIC else cfg["seeds"]
            for seed in seeds:
                unit = _Unit(output_dir, "dark", setting, method, seed,
                             _fingerprint({**base_fp, "params": params, "pt_power": n}))
                if _reuse(unit, state):
                    continue
                if is_det and _detector_class(method) is None:
                    state["notes"].append(f"{method} skipped: jetad.detectors."
                                          f"{DETECTORS[method]} is not importable")
                    break
                if C is None:
                    C = _dark_data(cfg, data_cache, all_signals)
                if n not in images:
                    images[n] = {k: _images(cfg, v, pt_power=n) for k, v in C.items()}
                X = images[n]
                sig_test = {s: X[s][n_train:] for s in all_signals}
                csig_test = {s: C[s][n_train:] for s in all_signals}
                X_bkg_test = X["qcd_lowpt"][n_train:]
                ys = {s: (np.r_[np.zeros(n_test), np.ones(n_test)], s) for s in signals}

                def split(scores, s):
                    # scores are laid out [bkg test, signal_1 test, signal_2 test, ...]
                    i = all_signals.index(s)
                    return np.r_[scores[:n_test], scores[n_test * (i + 1):n_test * (i + 2)]]

                X_test = np.concatenate([X_bkg_test] + [sig_test[s] for s in all_signals])
                _log(f"dark: {setting}, {method}, seed {seed}")
                extra, figures = {}, []
                if is_det:
                    det, fit_s = _fit_detector(cfg, method, X["qcd_lowpt"][:n_train], seed)
                    t0 = time.perf_counter()
                    scores = _detector_scores(method, det, X_test)
                    score_s = time.perf_counter() - t0
                    extra = _detector_extra(method, det)
                    extra["latent_spread"] = _latent_spread(det, X_bkg_test)
                    if latent_mmd:
                        z_bkg = det.encode(X_bkg_test)
                        extra["latent_mmd2"] = {
                            s: maximum_mean_discrepancy(
                                z_bkg, det.encode(sig_test[s]),
                                n_subsample=cfg["mmd"]["n_subsample"], random_state=seed)
                            for s in mmd_signals}
                    figures = _plot_model(cfg, output_dir, "dark", setting, method, seed, det,
                                          {"QCD": X_bkg_test},
                                          {_LABEL[s]: sig_test[s] for s in signals})
                    rows = _rows(scores, ys, split, _row_seconds(det))
                    npz = {f"{s}|{k}": split(v, s).astype(np.float32)
                           for k, v in scores.items() for s in signals}
                else:
                    rows, npz, fit_s = [], {}, 0.0
                    for s in signals:
                        d = {"X_train": X["qcd_lowpt"][:n_train],
                             "X_train_sig": X[s][:n_train],
                             "X_test": np.concatenate([X_bkg_test, sig_test[s]]),
                             "C_test": np.concatenate([C["qcd_lowpt"][n_train:], csig_test[s]])}
                        sc, secs = _baseline_scores(method, params, d, seed, cfg["device"])
                        fit_s += secs
                        rows += _rows(sc, {s: (ys[s][0], None)}, None)
                        npz.update({f"{s}|{k}": v.astype(np.float32) for k, v in sc.items()})
                    score_s = None
                for s in signals:
                    npz[f"{s}|y"] = ys[s][0].astype(np.int8)
                res = unit.write({"kind": "detector" if is_det else "baseline", "rows": rows,
                            "pt_power": n, "fit_seconds": fit_s, "score_seconds": score_s,
                            "extra": extra, "figures": figures, "n_train": n_train,
                            "n_test": n_test,
                            "data": _data_files(data_cache, ["qcd_lowpt", *all_signals])}, npz)
                state["units"][unit.path] = res
                state["ran"] += 1


def _run_mmd(cfg, output_dir, data_cache, state):
    sec = cfg["mmd"]
    powers = sec["pt_powers"] or cfg["dark"]["pt_powers"]
    signals = sec["signals"] or cfg["dark"]["signals"]
    n_test = cfg["dark"]["n_test"]
    n_train = cfg["dark"]["n_train"]
    C = None
    for n in powers:
        for seed in cfg["seeds"]:
            unit = _Unit(output_dir, "mmd", f"n={n}", "image", seed, _fingerprint(
                {"sizes": [n_train, n_test], "data_seed": cfg["data_seed"],
                 "data_files": cfg["data_files"], "imager": cfg["imager"], "pt_power": n,
                 "signals": signals, "n_subsample": sec["n_subsample"]}))
            if _reuse(unit, state):
                continue
            if C is None:
                C = _dark_data(cfg, data_cache, signals)
            t0 = time.perf_counter()
            bkg = _images(cfg, C["qcd_lowpt"][n_train:], pt_power=n)
            values = {s: maximum_mean_discrepancy(bkg, _images(cfg, C[s][n_train:], pt_power=n),
                                                  n_subsample=sec["n_subsample"],
                                                  random_state=seed) for s in signals}
            # Self-check: two disjoint halves of the QCD test sample (should be ~0).
            half = len(bkg) // 2
            values["QCD vs QCD"] = maximum_mean_discrepancy(
                bkg[:half], bkg[half:], n_subsample=sec["n_subsample"], random_state=seed)
            res = unit.write({"kind": "mmd", "pt_power": n, "image_mmd2": values,
                              "fit_seconds": time.perf_counter() - t0,
                              "data": _data_files(data_cache, ["qcd_lowpt", *signals])}, None)
            state["units"][unit.path] = res
            state["ran"] += 1
    # Latent space: the latent detectors' dark units (trained on QCD) carry the latent MMD.
    latent = [d for d in sec["latent_detectors"] if d in cfg["detectors"]]
    missing = [d for d in sec["latent_detectors"] if d not in cfg["detectors"]]
    for d in missing:
        state["notes"].append(f"mmd: latent detector {d} is not in the configured detectors")
    if latent:
        dark_cfg = copy.deepcopy(cfg)
        dark_cfg["dark"]["pt_powers"] = list(powers)
        _run_dark(dark_cfg, output_dir, data_cache, state, methods=latent)


# -------------------------------------------------------------------------------- report
def _mean_std(values):
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def _aggregate(units, cfg):
    """Rows averaged over seeds: key (task, setting, signal, label)."""
    groups = {}
    for u in units:
        if u.get("fingerprint") is None or "rows" not in u:
            continue
        for r in u["rows"]:
            key = (u["task"], u["setting"], r["signal"], r["label"])
            g = groups.setdefault(key, {"task": u["task"], "setting": u["setting"],
                                        "signal": r["signal"], "label": r["label"],
                                        "method": u["method"], "kind": u["kind"],
                                        "auc": [], "rejection": [], "rejection_error": [],
                                        "fit_seconds": [], "seeds": [], "bound": []})
            g["auc"].append(r["auc"])
            g["rejection"].append(r["rejection"])
            g["rejection_error"].append(r["rejection_error"])
            g["fit_seconds"].append(r.get("fit_seconds", u["fit_seconds"]))
            # 1/eps_B is the bound N_B when no background jet passes the cut
            g["bound"].append(bool(r.get("rejection_bounded",
                                         r["rejection"] >= u.get("n_test", math.inf) - 1e-9)))
            g["seeds"].append(u["seed"])
    out = []
    for g in groups.values():
        g["auc_mean"], g["auc_std"] = _mean_std(g["auc"])
        g["rejection_mean"], g["rejection_std"] = _mean_std(g["rejection"])
        g["fit_seconds_mean"] = float(np.mean(g["fit_seconds"]))
        g["n_seeds"] = len(g["seeds"])
        g["deterministic"] = g["method"] in _DETERMINISTIC
        g["rejection_at_bound"] = all(g["bound"])
        out.append(g)
    return out


def _fmt(mean, std, n, digits):
    if mean is None:
        return "-"
    if n > 1:
        return f"{mean:.{digits}f} ± {std:.{digits}f}"
    return f"{mean:.{digits}f}"


def _fmt_rej(g):
    if g["rejection_at_bound"]:
        return f"≥ {g['rejection_mean']:.0f}"
    return _fmt(g["rejection_mean"], g["rejection_std"], g["n_seeds"], 1)


def _fmt_time(s):
    return "-" if s is None else (f"{s:.1f} s" if s < 10 else f"{s:.0f} s")


def _method_order(cfg, label):
    names = list(DETECTORS) + ["NAE pre-trained AE"]
    if label in names:
        return (0, names.index(label), "")
    return (1, label.lstrip("−"), label)


def _load_scores(output_dir, task, setting, method, seed):
    path = os.path.join(output_dir, "units", task,
                        f"{_slug(setting)}__{method}__seed{seed}.npz")
    if not os.path.exists(path):
        return {}
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def _report_plots(cfg, output_dir, units):
    """ROC curves, energy distributions and the MMD curves from the unit files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jetad.plotting import plot_roc_curves

    if not cfg["plots"]["enabled"]:
        return []
    folder = os.path.join(output_dir, "figures")
    os.makedirs(folder, exist_ok=True)
    dpi = cfg["plots"]["dpi"]
    seed0 = cfg["seeds"][0]
    files = []
    by_setting = {}
    for u in units:
        if u.get("scores_file") and u["seed"] == seed0:
            by_setting.setdefault((u["task"], u["setting"]), []).append(u)
    for (task, setting), us in sorted(by_setting.items(), key=lambda kv: str(kv[0])):
        scores = {}
        for u in us:
            scores[u["method"]] = (u["kind"], _load_scores(output_dir, task, setting,
                                                           u["method"], seed0))
        signals = sorted({k.split("|")[0] for _, s in scores.values() for k in s})
        for sig in signals:
            curves, energies = {}, {}
            for _method, (kind, s) in sorted(scores.items(), key=lambda kv: _method_order(
                    cfg, kv[0])):
                y = s.get(f"{sig}|y")
                if y is None:
                    continue
                for key, v in s.items():
                    sg, label = key.split("|", 1)
                    if sg != sig or label == "y":
                        continue
                    curves[label] = (y, v)
                    if kind == "detector":
                        energies[label] = (y, v)
            if not curves:
                continue
            ncols = 1 + max(1, len(energies))
            fig, axes = plt.subplots(1, ncols, figsize=(4.2 * ncols, 3.6))
            plot_roc_curves(curves, ax=axes[0])
            axes[0].legend(fontsize=6)
            bkg_name = ("QCD" if task == "dark" else
                        _LABEL[_DIRECTIONS[setting][0]] if setting in _DIRECTIONS else "bkg")
            axes[0].set_title(f"{task} {setting}: {_LABEL.get(sig, sig)} as anomaly",
                              fontsize=9)
            for ax, (label, (y, v)) in zip(axes[1:], energies.items(), strict=False):
                lo, hi = np.percentile(v, [0.5, 99.5])
                bins = np.linspace(lo, hi if hi > lo else lo + 1, 50)
                ax.hist(v[y == 0], bins=bins, histtype="step", density=True, label=bkg_name)
                ax.hist(v[y == 1], bins=bins, histtype="step", density=True,
                        label=_LABEL.get(sig, sig))
                ax.set_xlabel(f"{label} energy")
                ax.set_yscale("log")
                ax.legend(fontsize=7)
            if not energies:
                axes[1].axis("off")
            path = os.path.join(folder, f"roc_{task}_{_slug(setting)}_{sig}.png")
            _save_fig(fig, path, dpi)
            files.append(os.path.relpath(path, output_dir))
    # Fig. 9: ROC per signal, one curve per n, for each dark detector.
    dark = {}
    for u in units:
        if u["task"] == "dark" and u.get("kind") == "detector" and u["seed"] == seed0:
            dark.setdefault(u["method"], []).append(u)
    for method, us in dark.items():
        signals = cfg["dark"]["signals"]
        fig, axes = plt.subplots(1, len(signals), figsize=(4.6 * len(signals), 3.8))
        axes = np.atleast_1d(axes)
        for ax, sig in zip(axes, signals, strict=True):
            curves = {}
            for u in sorted(us, key=lambda u: u["pt_power"]):
                s = _load_scores(output_dir, "dark", u["setting"], method, seed0)
                if f"{sig}|{method}" in s:
                    curves[f"n={u['pt_power']}"] = (s[f"{sig}|y"], s[f"{sig}|{method}"])
            if curves:
                plot_roc_curves(curves, ax=ax)
            ax.set_title(f"{method}: {_LABEL[sig]} vs QCD", fontsize=9)
        path = os.path.join(folder, f"roc_dark_sweep_{method}.png")
        _save_fig(fig, path, dpi)
        files.append(os.path.relpath(path, output_dir))
    # Fig. 8: MMD against n.
    mmd = _mmd_table(units)
    if mmd["powers"]:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for i, sig in enumerate(mmd["signals"]):
            color = f"C{i}"
            ax.plot(mmd["powers"], [mmd["image"].get((n, sig), (np.nan,))[0]
                                    for n in mmd["powers"]],
                    "o-", color=color, label=f"{_LABEL.get(sig, sig)}: image")
            for j, det in enumerate(mmd["detectors"]):
                ax.plot(mmd["powers"], [mmd["latent"].get((n, sig, det), (np.nan,))[0]
                                        for n in mmd["powers"]],
                        "s--", color=color, alpha=1 - 0.3 * j,
                        label=f"{_LABEL.get(sig, sig)}: {det} latent")
        ax.plot(mmd["powers"], [mmd["image"].get((n, "QCD vs QCD"), (np.nan,))[0]
                                for n in mmd["powers"]], "x:", color="gray",
                label="QCD vs QCD: image")
        ax.set_xlabel("pT power n")
        ax.set_ylabel("MMD² (unbiased, Gaussian kernel)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        path = os.path.join(folder, "mmd_vs_n.png")
        _save_fig(fig, path, dpi)
        files.append(os.path.relpath(path, output_dir))
    return files


def _mmd_table(units):
    image, latent = {}, {}
    for u in units:
        if u["task"] == "mmd":
            for sig, v in u["image_mmd2"].items():
                image.setdefault((u["pt_power"], sig), []).append(v)
        elif u["task"] == "dark" and "latent_mmd2" in u.get("extra", {}):
            for sig, v in u["extra"]["latent_mmd2"].items():
                latent.setdefault((u["pt_power"], sig, u["method"]), []).append(v)
    image = {k: _mean_std(v) + (len(v),) for k, v in image.items()}
    latent = {k: _mean_std(v) + (len(v),) for k, v in latent.items()}
    powers = sorted({k[0] for k in image} | {k[0] for k in latent})
    signals = sorted({k[1] for k in image if k[1] != "QCD vs QCD"} | {k[1] for k in latent})
    detectors = sorted({k[2] for k in latent})
    return {"image": image, "latent": latent, "powers": powers, "signals": signals,
            "detectors": detectors}


def _top_qcd_table(cfg, agg):
    rows = [g for g in agg if g["task"] == "top_qcd"]
    if not rows:
        return []
    lines = ["| anomaly (trained on) | method | paper AUC | paper 1/ε_B | AUC | "
             "1/ε_B(ε_S=0.2) | seeds | fit time |", "|---|---|---|---|---|---|---|---|"]
    for direction in cfg["top_qcd"]["directions"]:
        bkg, sig = _DIRECTIONS[direction]
        for g in sorted((g for g in rows if g["setting"] == direction),
                        key=lambda g: _method_order(cfg, g["label"])):
            paper = PAPER["top_qcd"].get((direction, g["label"]), (None, None))
            label = g["label"] if g["kind"] == "detector" else f"*{g['label']}* (baseline)"
            seeds = "det." if g["deterministic"] else str(g["n_seeds"])
            lines.append(
                f"| {_LABEL[sig]} ({_LABEL[bkg]}) | {label} | "
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
        out += [f"**{_LABEL[sig]} vs QCD** (AUC / 1/ε_B(0.2); trained on QCD)", "",
                "| method | " + " | ".join(f"n = {n:g}" for n in powers) + " | fit time |",
                "|---|" + "---|" * (len(powers) + 1)]
        cells = []
        for n in powers:
            p = PAPER["dark"].get((sig, n))
            cells.append("-" if p is None else f"{p[0]} / {p[1]}")
        out.append("| paper NAE (5 runs) | " + " | ".join(cells) + " | - |")
        labels = sorted({g["label"] for g in sr}, key=lambda lab: _method_order(cfg, lab))
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


def _observations(agg):
    trivial = {}
    for g in agg:
        if g["label"] in ("mean(x²)", "−mean(x²)"):
            key = (g["task"], g["setting"], g["signal"])
            trivial[key] = max(trivial.get(key, 0.0), g["auc_mean"])
    out = []
    for g in sorted(agg, key=lambda g: (g["task"], g["setting"], g["signal"], g["label"])):
        key = (g["task"], g["setting"], g["signal"])
        if g["kind"] == "detector" and key in trivial and g["auc_mean"] <= trivial[key]:
            out.append(f"- {g['task']} {g['setting']}, {_LABEL.get(g['signal'], g['signal'])} "
                       f"as anomaly: {g['label']} AUC {g['auc_mean']:.3f} ≤ "
                       f"{trivial[key]:.3f}")
    return out


def _mmd_lines(units):
    t = _mmd_table(units)
    if not t["powers"]:
        return []
    cols = [("image", s, None) for s in t["signals"]] + [("image", "QCD vs QCD", None)]
    cols += [("latent", s, d) for d in t["detectors"] for s in t["signals"]]
    head = ["image: " + _LABEL.get(s, s) if k == "image" else f"{d} latent: {_LABEL.get(s, s)}"
            for k, s, d in cols]
    lines = ["| n | " + " | ".join(head) + " |", "|---|" + "---|" * len(cols)]
    for n in t["powers"]:
        cells = []
        for k, s, d in cols:
            v = t["image"].get((n, s)) if k == "image" else t["latent"].get((n, s, d))
            cells.append("-" if v is None else _fmt(v[0] * 1e3, v[1] * 1e3, v[2], 2))
        lines.append(f"| {n:g} | " + " | ".join(cells) + " |")
    return lines


def _write_report(cfg, output_dir, units, state, figures, total_s):
    agg = _aggregate(units, cfg)
    seeds = cfg["seeds"]
    tq, dk = cfg["top_qcd"], cfg["dark"]
    files = state.get("files", {})
    lines = [
        "# jetad benchmark suite", "",
        f"Preset **{cfg['preset']}**, tasks {', '.join(cfg['tasks'])}; "
        f"{len(seeds)} training seed(s) {seeds} (the jets are the same for every seed; "
        "mean ± sample std over seeds where there is more than one seed, a single value "
        "otherwise). Anomaly scores are higher = more anomalous; AUC below 0.5 means the score "
        "ranks background as more anomalous and is reported as such. 1/ε_B at ε_S = 0.2 is "
        "capped at the number of background test jets when no background jet passes the cut "
        "(shown as ≥ N).",
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
    tab = _top_qcd_table(cfg, agg)
    if tab:
        lines += ["## Top vs QCD, both directions (arXiv:2206.14225 Fig. 4)", "",
                  "Paper AE numbers are the NAE's pre-trained AE (row *NAE pre-trained AE* "
                  "here); the VAE/DVAE paper numbers are latent-space AUCs after training on a "
                  "balanced mixture, here every detector is trained on background only with "
                  "its default score. Baselines: mean(x²) with both signs (anchors §9: "
                  "AUC ≈ 0.91 in one direction), IsolationForest on the images, the jet mass "
                  "with both signs, and a supervised CNN trained with labels (upper bound). "
                  "The DVAE's default latent score (mixture weight of the last component, "
                  "symmetric α) has an orientation fixed by training, not by the labels: its "
                  "AUC can come out as 1 − AUC.",
                  "", *tab, ""]
        for fig in figures:
            if fig.startswith("figures/roc_top_qcd"):
                lines += [f"![{fig}]({fig})", ""]
    dark = _dark_tables(cfg, agg)
    if dark:
        lines += ["## Dark jets: QCD vs Aachen / Heidelberg, pT^n sweep (Fig. 9)", "",
                  f"Trained on {dk['n_train']} QCD jets (150-300 GeV) per n; "
                  f"{len(seeds)} seed(s) (paper: 5 runs).", "", *dark]
        for fig in figures:
            if fig.startswith("figures/roc_dark"):
                lines += [f"![{fig}]({fig})", ""]
    mmd = _mmd_lines(units)
    if mmd:
        lines += ["## MMD between QCD and the dark signals against n (Fig. 8)", "",
                  "Unbiased MMD² × 10³, Gaussian kernel with the median-heuristic bandwidth, "
                  f"on random subsamples of {cfg['mmd']['n_subsample']} test jets per class; "
                  "image space (the JetImager images at each n) and the latent space of the "
                  "detector(s) trained on QCD at that n. *QCD vs QCD* compares two disjoint "
                  "halves of the QCD test jets (should be ≈ 0).", "", *mmd, "",
                  "![MMD](figures/mmd_vs_n.png)", ""]
    model_figs = [f for u in units for f in u.get("figures", [])]
    if model_figs:
        lines += ["## Model figures (first seed)", "",
                  "Average input, reconstructed and (NAE) sampled images, the worst 10% of "
                  "background test jets by energy and the most poorly reconstructed jets; "
                  "NAE latent-sphere energy maps (equirectangular, centred on the background) "
                  "with encoded test jets.", ""]
        lines += [f"![{f}]({f})" for f in sorted(set(model_figs))] + [""]
    obs = _observations(agg)
    if obs:
        lines += ["## Detectors against the trivial score", "",
                  "Detector rows whose AUC does not exceed the better sign of mean(x²) on the "
                  "same test jets (anchors §9: such a detector has learned nothing beyond how "
                  "peaked the jet image is):", "", *obs, ""]
    notes = list(dict.fromkeys(state["notes"]))
    nae_rows = [u for u in units if u["method"] == "NAE" and u.get("extra", {}).get("collapsed")]
    if nae_rows:
        notes.append(f"NAE collapsed and was rolled back in {len(nae_rows)} unit(s): "
                     + ", ".join(f"{u['task']} {u['setting']} seed {u['seed']}"
                                 for u in nae_rows))
    invocations = _previous_invocations(output_dir, cfg) + [
        {"finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
         "wall_seconds": round(total_s, 1), "units_run": state["ran"],
         "units_reused": state["skipped"]}]
    unit_seconds = sum(float(u.get("fit_seconds") or 0.0) for u in units)
    collapsed = [u for u in units if u.get("extra", {}).get("latent_spread", 1.0) < 1e-3]
    if collapsed:
        notes.append("encoder collapse (mean distance of encoded background jets from their "
                     "mean < 1e-3, every jet gets the same reconstruction) in: "
                     + ", ".join(f"{u['task']} {u['setting']} {u['method']} seed {u['seed']}"
                                 for u in collapsed))
    lines += ["## Run", "",
              f"- units run now: {state['ran']}, reused from an earlier run: {state['skipped']}",
              f"- wall time of this invocation: {total_s:.0f} s (torch threads: "
              f"{cfg['torch_threads']}, device {cfg['device']})",
              "- invocations with this configuration (wall time, units run): "
              + "; ".join(f"{i['finished_utc']}: {i['wall_seconds']:.0f} s, {i['units_run']}"
                          for i in invocations),
              f"- sum of the training times of all units: {unit_seconds:.0f} s",
              f"- machine: {platform.platform()}, {os.cpu_count()} CPUs",
              *(f"- data {k}: `{v['path']}` (first {v['n_jets_used']} jets)"
                for k, v in files.items()),
              *(f"- note: {n}" for n in notes), ""]
    report = "\n".join(lines)
    from jetad.datasets._io import atomic_path

    with atomic_path(os.path.join(output_dir, "report.md")) as tmp:
        with open(tmp, "w") as fh:
            fh.write(report)
    import jetad

    summary = {
        "config": cfg, "results": [{k: v for k, v in g.items()} for g in agg],
        "mmd": {"image": [{"pt_power": k[0], "signal": k[1], "mmd2_mean": v[0], "mmd2_std": v[1],
                           "n_seeds": v[2]} for k, v in _mmd_table(units)["image"].items()],
                "latent": [{"pt_power": k[0], "signal": k[1], "detector": k[2],
                            "mmd2_mean": v[0], "mmd2_std": v[1], "n_seeds": v[2]}
                           for k, v in _mmd_table(units)["latent"].items()]},
        "paper": {task: [{"key": list(k), "auc": v[0], "rejection": v[1]}
                         for k, v in d.items()] for task, d in PAPER.items()},
        "units_run": state["ran"], "units_reused": state["skipped"], "notes": notes,
        "invocations": invocations, "unit_fit_seconds_total": unit_seconds,
        "figures": figures + sorted(set(model_figs)), "data_files": files,
        "wall_seconds": total_s, "jetad_version": jetad.__version__,
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "python": platform.python_version()},
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _atomic_json(os.path.join(output_dir, "suite.json"), summary)
    return report


def _previous_invocations(output_dir, cfg):
    """Invocations recorded in an existing ``suite.json`` with the same configuration."""
    try:
        with open(os.path.join(output_dir, "suite.json")) as fh:
            old = json.load(fh)
    except (OSError, ValueError):
        return []
    if _fingerprint(old.get("config")) != _fingerprint(cfg):
        return []
    return list(old.get("invocations", []))


# ---------------------------------------------------------------------------------- main
@contextlib.contextmanager
def _torch_threads(n):
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def run_benchmark(config=None, output_dir="benchmarks/results", preset="small", *,
                  data_dir=None, tasks=None):
    """Run the paper-reproduction suite; write ``suite.json``, ``report.md`` and PNGs.

    The suite is resumable: every (task, setting, method, seed) unit is written
    atomically to ``output_dir/units/<task>/<setting>__<method>__seed<s>.json``
    (scores in a ``.npz`` beside it) as soon as it finishes, and a rerun skips
    units whose file exists with the same configuration fingerprint. Generated
    jets are cached as ``suite_<kind>_<n>_seed<s>.h5`` under ``data_dir``.

    Parameters
    ----------
    config : dict, str, path-like or None
        Overrides of the preset (a dict or a JSON file). Keys:

        - ``tasks``: subset of ``["top_qcd", "dark", "mmd"]``;
        - ``seeds``: training seeds (list of int);
        - ``data_seed``: seed of the generated samples; ``data_dir``: sample
          cache (default :func:`jetad.utils.get_cache_dir`); ``data_files``:
          ``{kind: path}`` of existing HDF5 samples to use instead (the first
          jets are taken); ``n_jobs``: generation workers;
        - ``torch_threads`` (default 1), ``device`` ("auto", "cpu", "cuda");
        - ``imager``: :class:`jetad.JetImager` parameters (not ``pt_power``);
        - ``detectors``: ``{"AE": {...}, "VAE": {...}, "GMVAE": {...},
          "DVAE": {...}, "NAE": {...}}`` -- the detectors to run (the names
          given replace the preset's set) and their parameters (merged over
          the preset's for the same name);
        - ``baselines``: ``{"mean_x2": {}, "isolation_forest": {...},
          "jet_mass": {}, "supervised_cnn": {"max_epochs", "batch_size", "lr",
          "n_filters"}}`` (same merging);
        - ``top_qcd``: ``n_train``, ``n_test`` (jets per class), ``directions``
          (``["top", "qcd"]``: the anomaly class), ``detectors`` and
          ``baselines`` (subsets; None = all);
        - ``dark``: ``n_train``, ``n_test``, ``pt_powers`` (default
          ``[0.01, 0.1, 0.2, 0.3, 0.5]``), ``signals``, ``detectors``,
          ``baselines``;
        - ``mmd``: ``n_subsample``, ``pt_powers`` and ``signals`` (default:
          the dark task's), ``latent_detectors`` (default ``["NAE"]``);
        - ``plots``: ``enabled``, ``dpi`` (100), ``detectors`` (model figures
          for these, first seed), ``n_worst``, ``n_map_jets``.
    output_dir : str, default="benchmarks/results"
    preset : {"small", "medium", "paper"}, default="small"
        ``small``: ~1.5k training jets, 1 seed, short training (minutes on 2
        CPU cores); ``medium``: 10k, 3 seeds; ``paper``: 100k training and 20k
        test jets per class, 5 seeds, the paper's schedules (GPU, hours).
    data_dir : str or None
        Overrides ``config["data_dir"]``.
    tasks : list of str or None
        Overrides ``config["tasks"]``.

    Returns
    -------
    exit_code : int
        0 on success.

    Raises
    ------
    ValueError
        For unknown or invalid configuration keys (the message names the key).
    """
    cfg_in = {} if config is None else config
    if not isinstance(cfg_in, dict):
        with open(cfg_in) as fh:
            cfg_in = json.load(fh)
    cfg_in = dict(cfg_in)
    if data_dir is not None:
        cfg_in["data_dir"] = data_dir
    if tasks is not None:
        cfg_in["tasks"] = list(tasks)
    cfg = resolve_config(cfg_in, preset)
    os.makedirs(output_dir, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    start = time.perf_counter()
    state = {"ran": 0, "skipped": 0, "notes": [], "units": {}}
    for name in cfg["detectors"]:
        if _detector_class(name) is None:
            state["notes"].append(f"{name} skipped: jetad.detectors.{DETECTORS[name]} is not "
                                  "importable")
    data_cache = {}
    with _torch_threads(cfg["torch_threads"]):
        if "top_qcd" in cfg["tasks"]:
            _run_top_qcd(cfg, output_dir, data_cache, state)
        if "dark" in cfg["tasks"]:
            _run_dark(cfg, output_dir, data_cache, state)
        if "mmd" in cfg["tasks"]:
            _run_mmd(cfg, output_dir, data_cache, state)
    state["files"] = {}
    for u in sorted(state["units"].values(), key=lambda u: u.get("finished_utc", "")):
        state["files"].update(u.get("data", {}))
    units = [state["units"][k] for k in sorted(state["units"])]
    figures = _report_plots(cfg, output_dir, units)
    total = time.perf_counter() - start
    report = _write_report(cfg, output_dir, units, state, figures, total)
    print(report)
    _log(f"done in {total:.0f} s ({state['ran']} units run, {state['skipped']} reused); "
         f"report: {os.path.join(output_dir, 'report.md')}")
    return 0
