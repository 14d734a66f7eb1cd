"""Progress bars, verbose levels and the NAE phase's callbacks."""

import numpy as np
import pytest
from skorch.callbacks import Callback

from jetad.detectors import AEDetector, LangevinSampler, NAEDetector

ANSI = "\x1b"


def _images(n=48, side=8, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.random((n, side * side)) + 0.1
    return (img / img.sum(axis=1, keepdims=True)).astype(np.float32)


def _nae(**kw):
    params = dict(max_epochs=2, batch_size=16, nae_iterations=4, nae_batch_size=8,
                  n_filters=2, hidden_dim=8, random_state=0, device="cpu",
                  sampler=LangevinSampler(n_z_steps=2, n_x_steps=2))
    params.update(kw)
    return NAEDetector(**params)


def _fit_scores(capsys, det, X):
    capsys.readouterr()
    scores = det.fit(X).score_samples(X)
    return scores, capsys.readouterr()


def test_verbose_0_prints_nothing(capsys):
    X = _images()
    _, captured = _fit_scores(capsys, AEDetector(max_epochs=2, batch_size=16, n_filters=2,
                                                 hidden_dim=8, random_state=0, verbose=0), X)
    assert captured.out == "" and captured.err == ""
    _, captured = _fit_scores(capsys, _nae(verbose=0), X)
    assert captured.out == "" and captured.err == ""


def test_verbose_levels_same_scores_bars_and_lines(capsys):
    X = _images()
    quiet, _ = _fit_scores(capsys, _nae(verbose=0), X)
    bars, captured = _fit_scores(capsys, _nae(verbose=1), X)
    # the fit does not depend on the reporting: scores are bit-identical
    assert np.array_equal(quiet, bars)
    assert captured.out == ""
    err = captured.err
    assert "pre-training" in err and "2/2" in err and "epoch" in err
    assert "NAE" in err and "4/4" in err and "E+=" in err and "E-=" in err and "loss=" in err
    assert ANSI not in err  # capsys is not a terminal
    # one finished line per phase, whatever the length of the phase
    assert err.count("\n") == 2
    _, longer = _fit_scores(capsys, _nae(verbose=1, nae_iterations=12), X)
    assert "12/12" in longer.err and longer.err.count("\n") == 2

    table, captured = _fit_scores(capsys, _nae(verbose=2), X)
    assert np.array_equal(quiet, table)
    lines = captured.out.splitlines()
    assert [line for line in lines if line.startswith("NAE it")] == lines[-4:]
    assert len(lines) == 2 + 2 + 4  # header and rule, 2 epochs, 4 iterations
    assert "train_loss" in lines[0] and "valid_loss" in lines[0]
    assert ANSI not in captured.out and ANSI not in captured.err


def test_ae_bar_and_table(capsys):
    X = _images()
    det = AEDetector(max_epochs=3, batch_size=16, n_filters=2, hidden_dim=8, random_state=0)
    quiet, _ = _fit_scores(capsys, det, X)
    scores, captured = _fit_scores(capsys, det.set_params(verbose=1), X)
    assert np.array_equal(quiet, scores)
    assert captured.out == "" and "training" in captured.err and "3/3" in captured.err
    assert "train_loss=" in captured.err and ANSI not in captured.err
    scores, captured = _fit_scores(capsys, det.set_params(verbose=2), X)
    assert np.array_equal(quiet, scores)
    assert len(captured.out.splitlines()) == 2 + 3 and ANSI not in captured.out


def test_table_keeps_colours_on_a_terminal(monkeypatch):
    import sys

    from jetad.detectors._progress import make_print_log

    assert make_print_log(0) is None and make_print_log(1) is None
    log = make_print_log(2).initialize()
    row = {"epoch": 1, "valid_loss": 0.5, "valid_loss_best": True}
    assert ANSI not in log.format_row(row, "valid_loss", "\x1b[95m")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert ANSI in log.format_row(row, "valid_loss", "\x1b[95m")


class _Recorder(Callback):
    """A skorch callback that also follows the NAE phase."""

    def __init__(self, stop_at=None):
        self.stop_at = stop_at

    def initialize(self):
        self.epochs, self.rows, self.begin, self.end = 0, [], [], []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.epochs += 1

    def on_nae_begin(self, detector, n_iterations):
        self.begin.append((detector, n_iterations))

    def on_nae_iteration_end(self, detector, iteration, row):
        assert row["iteration"] == iteration
        self.rows.append(row)
        if iteration == self.stop_at:
            raise KeyboardInterrupt

    def on_nae_end(self, detector, history):
        self.end.append(history)


def test_nae_callbacks_see_every_iteration():
    recorder = _Recorder()
    det = _nae(nae_iterations=6, check_interval=2, callbacks=[recorder]).fit(_images())
    assert recorder.epochs == 2  # the same callback serves the skorch pre-training
    assert recorder.begin == [(det, 6)]
    assert [row["iteration"] for row in recorder.rows] == list(range(1, 7))
    assert all(a is b for a, b in zip(recorder.rows, det.history_[1:], strict=True))
    assert len(recorder.end) == 1 and recorder.end[0] is det.history_
    assert "val_energy" in recorder.rows[1]  # checkpoint rows are complete when seen


def test_nae_callback_stops_training():
    X = _images()
    recorder = _Recorder(stop_at=3)
    det = _nae(nae_iterations=10, check_interval=4, callbacks=[recorder]).fit(X)
    assert [row["iteration"] for row in recorder.rows] == [1, 2, 3]
    assert det.n_nae_iterations_ == 3 and det.history_[-1]["iteration"] == 3
    assert not det.collapsed_
    # the stopped state was validated and competes in the selection
    assert "selection_score" in det.history_[-1] and det.best_iteration_ in (0, 3)
    # without a stop the phase runs to the end
    full = _nae(nae_iterations=10, check_interval=4, callbacks=[_Recorder()]).fit(X)
    assert full.n_nae_iterations_ == 10


def test_generation_bar(capsys, monkeypatch):
    from jetad.datasets import _generate

    def fake_chunks(tasks, n_jobs):
        for task in tasks:
            yield np.zeros((task[-1], 2, 4), np.float32), {"n_jets": task[-1]}

    monkeypatch.setattr(_generate, "_run_chunks", fake_chunks)
    tasks = [(None, "qcd", "detector", 0, i, size) for i, size in enumerate((10, 10, 5))]
    capsys.readouterr()
    results = _generate._collect_chunks(tasks, 1, None, [], True, 25, "qcd")
    assert sum(len(x) for x in results) == 25
    err = capsys.readouterr().err
    assert "generating qcd jets" in err and "25/25" in err and ANSI not in err
    assert err.count("\n") == 1
    # a resumed run starts the bar at the jets already done
    done = [{"n_jets": 10}]
    _generate._collect_chunks(tasks[1:], 1, None, done, True, 25, "qcd")
    err = capsys.readouterr().err
    assert "10/25" in err and "25/25" in err
    _generate._collect_chunks(tasks, 1, None, [], False, 25, "qcd")
    assert capsys.readouterr().err == ""


def test_suite_bar_over_units(capsys, monkeypatch, tmp_path):
    from jetad._benchmark import _runner, resolve_config

    cfg = resolve_config({"tasks": ["top_qcd"], "seeds": [0, 1], "detectors": {"AE": {}},
                          "baselines": {"mean_x2": {}},
                          "top_qcd": {"directions": ["top", "qcd"]}}, "small")
    evaluated = []

    def fake_evaluate(self, spec, setting, method, seed):
        evaluated.append((setting.name, method, seed))
        return {"kind": "baseline", "rows": [], "fit_seconds": 0.0}, None

    monkeypatch.setattr(_runner.SuiteRunner, "_evaluate", fake_evaluate)
    capsys.readouterr()
    _runner.SuiteRunner(cfg, str(tmp_path)).run()
    # AE: 2 directions x 2 seeds; mean_x2 is deterministic: 2 directions x 1 seed
    assert len(evaluated) == 6
    captured = capsys.readouterr()
    assert "benchmark units" in captured.err and "6/6" in captured.err
    assert ANSI not in captured.err and captured.err.count("\n") == 1
    assert captured.out.count("[jetad benchmark]") == 6
    # a rerun reuses every unit and still completes the bar
    _runner.SuiteRunner(cfg, str(tmp_path)).run()
    assert len(evaluated) == 6 and "6/6" in capsys.readouterr().err


@pytest.mark.parametrize("verbose", [True, 3])
def test_other_verbose_values(capsys, verbose):
    X = _images(32)
    scores, captured = _fit_scores(capsys, _nae(verbose=verbose, nae_iterations=2), X)
    assert ANSI not in captured.err and "2/2" in captured.err
    assert (captured.out == "") == (verbose is True)
