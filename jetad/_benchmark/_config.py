"""The suite's configuration: tasks, methods, size presets, the papers' numbers, validation."""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import copy
import json
import os

import numpy as np

__all__ = ["BASELINES", "DETECTORS", "PAPER", "PRESETS", "TASKS", "resolve_config"]

#: Suite tasks.
TASKS = ("top_qcd", "dark", "mmd")

#: Detector short names and their classes in :mod:`jetad.detectors`.
DETECTORS = {"AE": "AEDetector", "VAE": "VAEDetector", "GMVAE": "GMVAEDetector",
             "DVAE": "DVAEDetector", "NAE": "NAEDetector"}

#: Baselines run on the same data as the detectors.
BASELINES = ("mean_x2", "isolation_forest", "jet_mass", "supervised_cnn")

#: Parameters of the supervised CNN baseline and their defaults.
CNN_DEFAULTS = {"max_epochs": 5, "batch_size": 128, "lr": 1e-3, "n_filters": 8}

#: Generation seed offset of each jet kind (seed = 100 * data_seed + offset).
KIND_OFFSET = {"qcd": 0, "top": 1, "qcd_lowpt": 2, "aachen": 3, "heidelberg": 4}

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

# The small preset's NAE: the chain settings of ``jetad demo``; why these, in
# benchmarks/results/nae_tuning.md.
_NAE_FAST = {"preset": "cpu", "max_epochs": 8, "batch_size": 64, "lr": 2e-3,
             "nae_iterations": 100, "nae_batch_size": 32, "nae_lr": 1e-4, "sampler__n_z_steps": 5,
             "sampler__n_x_steps": 5, "sampler__x_noise_std": 1e-4,
             "sampler__x_metropolis": True}

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
                    "nae_batch_size": 64, "nae_lr": 1e-4, "sampler__n_z_steps": 10,
                    "sampler__n_x_steps": 10},
        },
        "baselines": {"mean_x2": {}, "isolation_forest": {"n_estimators": 200},
                      "jet_mass": {}, "supervised_cnn": {"max_epochs": 10}},
        "top_qcd": {"n_train": 10000, "n_test": 5000},
        "dark": {"n_train": 20000, "n_test": 10000, "detectors": ["AE", "NAE"]},
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

#: Anomaly class of a top_qcd direction -> (background kind, signal kind).
DIRECTIONS = {"top": ("qcd", "top"), "qcd": ("top", "qcd")}

#: Jet kind -> the name printed in the report.
LABEL = {"qcd": "QCD", "top": "top", "qcd_lowpt": "QCD", "aachen": "Aachen",
         "heidelberg": "Heidelberg"}

#: Baselines whose scores do not depend on the training seed (run for the first seed only).
DETERMINISTIC = ("mean_x2", "jet_mass")


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
    _validate_run(cfg)
    _validate_detectors(cfg["detectors"])
    _validate_baselines(cfg["baselines"])
    _validate_sections(cfg)


def _validate_run(cfg):
    from jetad.datasets import KINDS
    from jetad.preprocessing import JetImager

    _check_names("tasks", cfg["tasks"], TASKS)
    if not cfg["seeds"]:
        raise ValueError("config key 'seeds' must list at least one seed")
    for seed in cfg["seeds"]:
        _check_int("seeds", seed, 0)
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
    imager_params = JetImager().get_params()
    for key in cfg["imager"]:
        if key not in imager_params or key in ("pt_power", "output_shape"):
            raise ValueError(f"unknown config key 'imager.{key}' (JetImager parameters except "
                             f"pt_power and output_shape)")


def _validate_detectors(detectors):
    for name, params in detectors.items():
        if name not in DETECTORS:
            raise ValueError(f"config key 'detectors': unknown detector {name!r}; allowed: "
                             f"{sorted(DETECTORS)}")
        cls = detector_class(name)
        if cls is None:
            continue  # reported as skipped by the run
        valid = cls().get_params()
        for key in params:
            if key not in valid or key in ("random_state", "device", "verbose"):
                raise ValueError(f"unknown config key 'detectors.{name}.{key}' (not a "
                                 f"settable parameter of {cls.__name__})")


def _validate_baselines(baselines):
    for name, params in baselines.items():
        if name not in BASELINES:
            raise ValueError(f"config key 'baselines': unknown baseline {name!r}; allowed: "
                             f"{list(BASELINES)}")
        if name == "isolation_forest":
            from sklearn.ensemble import IsolationForest

            valid = set(IsolationForest().get_params()) - {"random_state"}
        elif name == "supervised_cnn":
            valid = set(CNN_DEFAULTS)
        else:
            valid = set()
        for key in params:
            if key not in valid:
                raise ValueError(f"unknown config key 'baselines.{name}.{key}'; allowed: "
                                 f"{sorted(valid)}")


def _check_powers(where, powers):
    if not isinstance(powers, (list, tuple)) or not powers:
        raise ValueError(f"config key {where!r} must be a non-empty list")
    for n in powers:
        if isinstance(n, bool) or not isinstance(n, (int, float)) or not n > 0:
            raise ValueError(f"config key {where!r}: pT powers must be positive, got {n!r}")


def _validate_sections(cfg):
    for task in ("top_qcd", "dark"):
        sec = cfg[task]
        _check_int(f"{task}.n_train", sec["n_train"], 2)
        _check_int(f"{task}.n_test", sec["n_test"], 2)
        if sec["detectors"] is not None:
            _check_names(f"{task}.detectors", sec["detectors"], DETECTORS)
        if sec["baselines"] is not None:
            _check_names(f"{task}.baselines", sec["baselines"], BASELINES)
    _check_names("top_qcd.directions", cfg["top_qcd"]["directions"], DIRECTIONS)
    _check_names("dark.signals", cfg["dark"]["signals"], ("aachen", "heidelberg"))
    _check_powers("dark.pt_powers", cfg["dark"]["pt_powers"])
    if cfg["mmd"]["pt_powers"] is not None:
        _check_powers("mmd.pt_powers", cfg["mmd"]["pt_powers"])
    if cfg["mmd"]["signals"] is not None:
        _check_names("mmd.signals", cfg["mmd"]["signals"], ("aachen", "heidelberg"))
    _check_names("mmd.latent_detectors", cfg["mmd"]["latent_detectors"], DETECTORS)
    _check_int("mmd.n_subsample", cfg["mmd"]["n_subsample"], 4)
    _check_names("plots.detectors", cfg["plots"]["detectors"], DETECTORS)
    _check_int("plots.dpi", cfg["plots"]["dpi"], 10)


def detector_class(name):
    """The detector class, or None if it cannot be imported."""
    try:
        import jetad.detectors as detectors

        return getattr(detectors, DETECTORS[name])
    except (ImportError, AttributeError):
        return None


def task_methods(cfg, task):
    """The detectors and the baselines configured for ``task``, in configuration order."""
    sec = cfg[task]
    dets = [d for d in cfg["detectors"] if sec.get("detectors") is None or d in sec["detectors"]]
    base = [b for b in cfg["baselines"] if sec.get("baselines") is None or b in sec["baselines"]]
    return dets, base
