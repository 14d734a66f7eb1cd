"""The suite runner: one loop over the task specs, the unit store and the sample cache."""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import contextlib
import dataclasses
import functools
import json
import os
import time

import numpy as np

from ._baselines import Split, baseline_scores
from ._config import DETECTORS, LABEL, detector_class, resolve_config
from ._figures import model_figures, report_figures
from ._report import write_report
from ._samples import SampleCache
from ._store import RunState, Unit, fingerprint
from ._tasks import IMAGE_MMD, task_specs

__all__ = ["SuiteRunner", "run_benchmark"]

_DETECTOR_INFO = ("pretrain_time_", "nae_time_", "best_iteration_", "n_nae_iterations_",
                  "collapsed_", "energy_scale_")


def log(message):
    """Progress line of the suite (flushed, above the bar of the units)."""
    from jetad.utils._progress import write_line

    write_line(f"[jetad benchmark] {message}")


@contextlib.contextmanager
def torch_threads(n):
    """Run with ``n`` torch intra-op threads (0: leave the setting alone)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        yield
        return
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


@dataclasses.dataclass(frozen=True)
class _SettingData:
    """Images and constituents of one setting: ``[:n_train]`` train, ``[n_train:]`` test.

    Signal jets are split like the background (their training part is used by
    the supervised baseline only), so every task sees the same test jets. The
    detectors' test set is the background test jets, then each of
    ``test_signals`` in turn.
    """

    n_train: int
    n_test: int
    background: str
    test_signals: tuple
    images: dict
    jets: dict

    @property
    def X_train(self):
        return self.images[self.background][:self.n_train]

    def test(self, kind):
        return self.images[kind][self.n_train:]

    @functools.cached_property
    def X_test(self):
        return np.concatenate([self.test(self.background)]
                              + [self.test(s) for s in self.test_signals])

    @property
    def y_test(self):
        """1 for every signal jet of :attr:`X_test`."""
        return np.r_[np.zeros(self.n_test), np.ones(self.n_test * len(self.test_signals))]

    def y(self, signal):
        """Labels of one signal's test set (background, then that signal; any signal)."""
        return np.r_[np.zeros(self.n_test), np.ones(self.n_test)]

    def signal_scores(self, scores, signal):
        """The scores of the background and of ``signal`` out of scores on :attr:`X_test`."""
        i = self.test_signals.index(signal)
        n = self.n_test
        return np.r_[scores[:n], scores[n * (i + 1):n * (i + 2)]]

    def split(self, signal):
        """What a baseline sees for ``signal``."""
        bkg = self.background
        return Split(X_train=self.X_train, X_train_signal=self.images[signal][:self.n_train],
                     X_test=np.concatenate([self.test(bkg), self.test(signal)]),
                     C_test=np.concatenate([self.jets[bkg][self.n_train:],
                                            self.jets[signal][self.n_train:]]),
                     y_test=self.y(signal))


def _metric_rows(scores, signals, y, part, seconds=None):
    """Metric rows and score arrays of every (row label, signal).

    ``part(scores, signal)`` cuts a signal's test scores, ``y(signal)`` gives
    their labels; ``seconds`` maps a row label to its own training time when it
    differs from the unit's (the NAE's pre-trained AE).
    """
    from jetad.model_selection import summarize_scores

    rows, arrays = [], {}
    for label, values in scores.items():
        for signal in signals:
            cut = part(values, signal)
            row = {"label": label, "signal": signal, **summarize_scores(y(signal), cut)}
            if seconds and label in seconds:
                row["fit_seconds"] = float(seconds[label])
            rows.append(row)
            arrays[f"{signal}|{label}"] = cut.astype(np.float32)
    for signal in signals:
        arrays[f"{signal}|y"] = y(signal).astype(np.int8)
    return rows, arrays


class SuiteRunner:
    """Runs the suite's units for one resolved configuration.

    Parameters
    ----------
    cfg : dict
        From :func:`~jetad._benchmark.resolve_config`.
    output_dir : str

    Attributes
    ----------
    cfg : dict
    output_dir : str
    samples : SampleCache
        The jets and images, loaded when a unit first needs them.
    state : RunState
        Units run and reused, notes and the unit records.
    bar : tqdm.tqdm or None
        The bar over the units (one tqdm bar on stderr) while :meth:`run` runs.
    """

    def __init__(self, cfg, output_dir):
        self.cfg = cfg
        self.output_dir = output_dir
        self.samples = SampleCache(cfg)
        self.state = RunState()
        self.bar = None

    def run(self):
        """Run (or reuse) every unit of every task; return :attr:`state`."""
        from jetad.utils._progress import progress_bar

        for name in self.cfg["detectors"]:
            self._importable(name)
        specs = task_specs(self.cfg)
        n_units = sum(len(spec.seeds(self.cfg, method)) for spec in specs
                      for _ in spec.settings for method in spec.methods)
        self.bar = progress_bar(n_units, desc="benchmark units", unit="unit")
        try:
            with torch_threads(self.cfg["torch_threads"]):
                for spec in specs:
                    self.run_task(spec)
        finally:
            self.bar.close()
            self.bar = None
        return self.state

    def run_task(self, spec):
        """The one loop: settings × methods × seeds, each unit reused or run and stored."""
        for note in spec.notes:
            self.state.note(note)
        for setting in spec.settings:
            for method in spec.methods:
                seeds = spec.seeds(self.cfg, method)
                for i, seed in enumerate(seeds):
                    unit = Unit(self.output_dir, spec.task, setting.name, method, seed,
                                fingerprint(self._fingerprint(setting, method)))
                    if self.state.reuse(unit):
                        self._advance()
                        continue
                    if not self._importable(method):
                        self._advance(len(seeds) - i)
                        break
                    log(f"{spec.task}: {setting.name}, {method}, seed {seed}")
                    if self.bar is not None:
                        self.bar.set_postfix_str(
                            f"{spec.task} {setting.name} {method} seed {seed}")
                    result, scores = self._evaluate(spec, setting, method, seed)
                    self.state.finish(unit, result, scores)
                    self._advance()

    def _advance(self, n=1):
        if self.bar is not None:
            self.bar.update(n)

    def _fingerprint(self, setting, method):
        if method == IMAGE_MMD:
            return setting.fingerprint
        params = (self.cfg["detectors"] if method in DETECTORS else self.cfg["baselines"])[method]
        return {**setting.fingerprint, "params": params}

    def _importable(self, method):
        if method not in DETECTORS or detector_class(method) is not None:
            return True
        self.state.note(f"{method} skipped: jetad.detectors.{DETECTORS[method]} is not "
                        "importable")
        return False

    def _data(self, spec, setting):
        n = spec.n_train + spec.n_test
        kinds = (setting.background, *setting.test_signals)
        return _SettingData(
            spec.n_train, spec.n_test, setting.background, setting.test_signals,
            images={k: self.samples.images(k, n, setting.pt_power) for k in kinds},
            jets={k: self.samples.jets(k, n) for k in kinds})

    def _evaluate(self, spec, setting, method, seed):
        """The record and the score arrays of one unit."""
        if method == IMAGE_MMD:
            return self._image_mmd(spec, setting, seed)
        data = self._data(spec, setting)
        if method in DETECTORS:
            result, arrays = self._detector_unit(spec, setting, method, seed, data)
        else:
            result, arrays = self._baseline_unit(setting, method, seed, data)
        if setting.pt_power is not None:
            result["pt_power"] = setting.pt_power
        result.update(n_train=spec.n_train, n_test=spec.n_test,
                      data=self.samples.provenance((setting.background, *setting.test_signals)))
        return result, arrays

    def _detector_unit(self, spec, setting, method, seed, data):
        from jetad.model_selection import evaluate_detector

        # set_params, not the constructor: configs name nested parameters (sampler__*)
        det = detector_class(method)(random_state=int(seed), device=self.cfg["device"],
                                     verbose=0).set_params(**self.cfg["detectors"][method])
        evaluation = evaluate_detector(det, data.X_train, data.X_test, data.y_test)
        scores = {method: evaluation["anomaly_scores"]}
        score_seconds = evaluation["score_seconds"]
        seconds = None
        if method == "NAE" and hasattr(det, "score_samples_pretrained"):
            start = time.perf_counter()
            scores["NAE pre-trained AE"] = -det.score_samples_pretrained(data.X_test)
            score_seconds += time.perf_counter() - start
            if getattr(det, "pretrain_time_", None) is not None:
                seconds = {"NAE pre-trained AE": det.pretrain_time_}
        bkg_test = data.test(setting.background)
        extra = self._detector_extra(spec, det, data, bkg_test, seed)
        figures = model_figures(self.cfg, self.output_dir, spec.task, setting.name, method,
                                seed, det, {LABEL[setting.background]: bkg_test},
                                {LABEL[s]: data.test(s) for s in setting.signals})
        rows, arrays = _metric_rows(scores, setting.signals, data.y, data.signal_scores,
                                    seconds)
        return {"kind": "detector", "rows": rows, "fit_seconds": evaluation["fit_seconds"],
                "score_seconds": score_seconds, "extra": extra, "figures": figures}, arrays

    def _detector_extra(self, spec, det, data, bkg_test, seed):
        """Fitted attributes worth reporting, the latent spread and (mmd) the latent MMD."""
        from jetad.metrics import maximum_mean_discrepancy

        extra = {attr.rstrip("_"): getattr(det, attr) for attr in _DETECTOR_INFO
                 if hasattr(det, attr)}
        z_bkg = det.encode(bkg_test)
        # mean distance of the encoded background jets from their mean (0: collapsed encoder)
        extra["latent_spread"] = float(np.linalg.norm(z_bkg - z_bkg.mean(axis=0), axis=1).mean())
        if spec.latent_mmd:
            extra["latent_mmd2"] = {
                s: maximum_mean_discrepancy(z_bkg, det.encode(data.test(s)),
                                            n_subsample=spec.n_subsample, random_state=seed)
                for s in spec.mmd_signals}
        return extra

    def _baseline_unit(self, setting, method, seed, data):
        params = self.cfg["baselines"][method]
        rows, arrays, seconds = [], {}, 0.0
        for signal in setting.signals:
            split = data.split(signal)
            scores, elapsed = baseline_scores(method, params, split, seed, self.cfg["device"])
            seconds += elapsed
            more_rows, more_arrays = _metric_rows(scores, [signal], data.y,
                                                  lambda values, _signal: values)
            rows += more_rows
            arrays.update(more_arrays)
        return {"kind": "baseline", "rows": rows, "fit_seconds": seconds, "score_seconds": None,
                "extra": {}, "figures": []}, arrays

    def _image_mmd(self, spec, setting, seed):
        """Image-space MMD of QCD against each signal, and of two halves of QCD (≈ 0)."""
        from jetad.metrics import maximum_mean_discrepancy

        start = time.perf_counter()
        n = spec.n_train + spec.n_test
        bkg = self.samples.images(setting.background, n, setting.pt_power)[spec.n_train:]
        values = {s: maximum_mean_discrepancy(
            bkg, self.samples.images(s, n, setting.pt_power)[spec.n_train:],
            n_subsample=spec.n_subsample, random_state=seed) for s in setting.signals}
        half = len(bkg) // 2
        values["QCD vs QCD"] = maximum_mean_discrepancy(
            bkg[:half], bkg[half:], n_subsample=spec.n_subsample, random_state=seed)
        return {"kind": "mmd", "pt_power": setting.pt_power, "image_mmd2": values,
                "fit_seconds": time.perf_counter() - start,
                "data": self.samples.provenance((setting.background, *setting.signals))}, None


def run_benchmark(config=None, output_dir="benchmarks/results", preset="small", *,
                  data_dir=None, tasks=None):
    """Run the paper-reproduction suite; write ``suite.json``, ``report.md`` and PNGs.

    The suite is resumable: every (task, setting, method, seed) unit is written
    atomically to ``output_dir/units/<task>/<setting>__<method>__seed<s>.json``
    (scores in a ``.npz`` beside it) as soon as it finishes, and a rerun skips
    units whose file exists with the same configuration fingerprint. Generated
    jets are cached by :func:`jetad.datasets.fetch_generated` as
    ``suite_<kind>_<n>_seed<s>_detector.h5`` under ``data_dir``, with the
    generation seed ``s = 100 * data_seed + k`` (``k`` = 0 ... 4 for qcd, top,
    qcd_lowpt, aachen, heidelberg), so a run is reproducible from its
    configuration.

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
    state = SuiteRunner(cfg, output_dir).run()
    units = state.units()
    figures = report_figures(cfg, output_dir, units)
    total = time.perf_counter() - start
    report = write_report(cfg, output_dir, units, state, figures, total)
    print(report)
    log(f"done in {total:.0f} s ({state.ran} units run, {state.reused} reused); "
        f"report: {os.path.join(output_dir, 'report.md')}")
    return 0
