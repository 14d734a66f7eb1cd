"""The suite's tasks as data: which jets, which settings, which methods.

Every task is a :class:`TaskSpec` run by the one loop of
:class:`~jetad._benchmark._runner.SuiteRunner`:

``top_qcd``
    One setting per direction: train on QCD and tag tops, train on tops and
    tag QCD.
``dark``
    One setting per pT power ``n`` of :class:`jetad.JetImager`: train on
    low-pT QCD, tag the Aachen and Heidelberg dark showers. With the ``mmd``
    task the detectors also record the latent-space MMD of every MMD signal.
``mmd``
    The image-space MMD between QCD and each dark signal at each ``n``
    (method ``"image"``), and the dark units of the latent detectors at the
    MMD powers (the latent MMD).
"""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import dataclasses

from ._config import DETERMINISTIC, DIRECTIONS, task_methods

__all__ = ["IMAGE_MMD", "Setting", "TaskSpec", "task_specs"]

#: Method name of the image-space MMD units.
IMAGE_MMD = "image"


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting of a task: the classes of its test set and what its results depend on.

    Attributes
    ----------
    name : str
        ``"top"``, ``"qcd"`` (the anomaly class) or ``"n=<pT power>"``.
    background : str
        Jet kind trained on.
    signals : tuple of str
        Jet kinds with metric rows.
    test_signals : tuple of str
        Jet kinds in the test set, in order: ``signals`` and those scored for
        the latent MMD only.
    pt_power : float or None
        ``JetImager(pt_power=...)``.
    fingerprint : dict
        The settings a unit's result depends on, except the method's
        parameters.
    """

    name: str
    background: str
    signals: tuple
    test_signals: tuple
    pt_power: float = None
    fingerprint: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """A task: its settings, its methods and the jets they share.

    Attributes
    ----------
    task : str
        Name of the unit folder (``units/<task>/``).
    n_train, n_test : int
        The first ``n_train`` jets of each kind train, the next ``n_test`` test.
    settings : tuple of Setting
    methods : tuple of str
        Detector and baseline names, or ``IMAGE_MMD``.
    latent_mmd : bool
        Detectors also record the latent MMD (``extra["latent_mmd2"]``).
    mmd_signals : tuple of str
        Signals of the latent and image MMD.
    n_subsample : int or None
        Jets per class of the MMD estimates.
    notes : tuple of str
        Remarks recorded when the task runs.
    """

    task: str
    n_train: int
    n_test: int
    settings: tuple
    methods: tuple
    latent_mmd: bool = False
    mmd_signals: tuple = ()
    n_subsample: int = None
    notes: tuple = ()

    def seeds(self, cfg, method):
        """Training seeds of ``method`` (the first one only for deterministic baselines)."""
        return cfg["seeds"][:1] if method in DETERMINISTIC else cfg["seeds"]


def _data_fingerprint(cfg, section):
    return {"sizes": [cfg[section]["n_train"], cfg[section]["n_test"]],
            "data_seed": cfg["data_seed"], "data_files": cfg["data_files"],
            "imager": cfg["imager"]}


def _top_qcd(cfg):
    sec = cfg["top_qcd"]
    dets, bases = task_methods(cfg, "top_qcd")
    fp = _data_fingerprint(cfg, "top_qcd")
    settings = tuple(Setting(direction, DIRECTIONS[direction][0], (DIRECTIONS[direction][1],),
                             (DIRECTIONS[direction][1],), None, fp)
                     for direction in sec["directions"])
    return TaskSpec("top_qcd", sec["n_train"], sec["n_test"], settings, tuple(dets + bases))


def _mmd_signals(cfg):
    return list(cfg["mmd"]["signals"] or cfg["dark"]["signals"])


def _dark(cfg, powers, methods):
    """The dark task at ``powers`` with ``methods``; the latent MMD when ``mmd`` runs too."""
    sec = cfg["dark"]
    signals = tuple(sec["signals"])
    latent_mmd = "mmd" in cfg["tasks"]
    mmd_signals = _mmd_signals(cfg)
    test_signals = tuple(dict.fromkeys(list(signals) + (mmd_signals if latent_mmd else [])))
    n_subsample = cfg["mmd"]["n_subsample"] if latent_mmd else None
    fp = {**_data_fingerprint(cfg, "dark"), "signals": list(test_signals),
          "latent_mmd": latent_mmd, "n_subsample": n_subsample}
    settings = tuple(Setting(f"n={n}", "qcd_lowpt", signals, test_signals, n,
                             {**fp, "pt_power": n}) for n in powers)
    return TaskSpec("dark", sec["n_train"], sec["n_test"], settings, tuple(methods),
                    latent_mmd=latent_mmd, mmd_signals=tuple(mmd_signals),
                    n_subsample=n_subsample)


def _mmd(cfg):
    """The image-MMD task and the latent detectors' dark units at the MMD powers."""
    sec, dark = cfg["mmd"], cfg["dark"]
    powers = sec["pt_powers"] or dark["pt_powers"]
    signals = tuple(_mmd_signals(cfg))
    fp = {**_data_fingerprint(cfg, "dark"), "signals": list(signals),
          "n_subsample": sec["n_subsample"]}
    settings = tuple(Setting(f"n={n}", "qcd_lowpt", signals, signals, n, {**fp, "pt_power": n})
                     for n in powers)
    image = TaskSpec("mmd", dark["n_train"], dark["n_test"], settings, (IMAGE_MMD,),
                     mmd_signals=signals, n_subsample=sec["n_subsample"])
    latent = [d for d in sec["latent_detectors"] if d in cfg["detectors"]]
    notes = tuple(f"mmd: latent detector {d} is not in the configured detectors"
                  for d in sec["latent_detectors"] if d not in cfg["detectors"])
    return [image, dataclasses.replace(_dark(cfg, powers, latent), notes=notes)]


def task_specs(cfg):
    """The task specs of a resolved configuration, in the order they run."""
    specs = []
    if "top_qcd" in cfg["tasks"]:
        specs.append(_top_qcd(cfg))
    if "dark" in cfg["tasks"]:
        dets, bases = task_methods(cfg, "dark")
        specs.append(_dark(cfg, cfg["dark"]["pt_powers"], dets + bases))
    if "mmd" in cfg["tasks"]:
        specs += _mmd(cfg)
    return specs
