"""Helpers for the jetad documentation build (imported by ``docs/conf.py``).

They live in a module, not in ``conf.py``, so that sphinx-gallery can name
them by their import path (functions defined in ``conf.py`` cannot be pickled
into Sphinx's environment cache, which makes a ``-W`` build fail).
"""

import importlib
import os
import signal

# --------------------------------------------------------------------------
# Per-example timeout for sphinx-gallery
# --------------------------------------------------------------------------
#: Seconds one gallery example may run, from ``JETAD_DOCS_EXAMPLE_TIMEOUT``; 0 (the
#: default) sets no limit: wall time on a loaded machine says nothing about the code,
#: so the test suite's docs build must not depend on it.
EXAMPLE_TIMEOUT = int(os.environ.get("JETAD_DOCS_EXAMPLE_TIMEOUT", "0"))


class ExampleTimeout(TimeoutError):
    """An example ran longer than ``JETAD_DOCS_EXAMPLE_TIMEOUT`` seconds."""


def _on_alarm(signum, frame):
    raise ExampleTimeout(
        f"the example ran longer than {EXAMPLE_TIMEOUT} s (set JETAD_DOCS_EXAMPLE_TIMEOUT "
        "to change the limit); gallery examples must run in seconds"
    )


def example_timeout(gallery_conf, fname, when):
    """sphinx-gallery ``reset_modules`` hook: arm a SIGALRM timer around each example.

    sphinx-gallery has no timeout option of its own. It calls this before and
    after every example (``reset_modules_order = "both"``); the alarm raises
    :class:`ExampleTimeout` inside the example, which sphinx-gallery reports as a
    failing example. Without ``SIGALRM`` (Windows) or off the main thread this
    does nothing.
    """
    if not hasattr(signal, "SIGALRM"):
        return
    try:
        signal.alarm(0)  # cancel a timer left by an example that raised
        if when == "before" and fname is not None and EXAMPLE_TIMEOUT > 0:
            signal.signal(signal.SIGALRM, _on_alarm)
            signal.alarm(EXAMPLE_TIMEOUT)
    except ValueError:  # not the main thread (parallel builds)
        pass


# --------------------------------------------------------------------------
# API reference generated from the packages' __all__
# --------------------------------------------------------------------------
#: (title, description, subpackage): the subpackage's ``__all__`` names that the
#: top-level ``jetad`` exports are listed as ``jetad.<name>``, the others as
#: ``<subpackage>.<name>``.
API_SECTIONS = [
    ("Preprocessing",
     "Stateless transformers from jet constituents to images.",
     "jetad.preprocessing"),
    ("Detectors",
     "Neural anomaly detectors: scikit-learn outlier detectors built on skorch. "
     "``score_samples`` is higher for more normal jets, ``anomaly_score`` higher for "
     "more anomalous ones.",
     "jetad.detectors"),
    ("Datasets", "Jet simulation, I/O and public data sets.", "jetad.datasets"),
    ("Jet formats", "Constituent formats and conversions.", "jetad.jets"),
    ("Metrics", "Anomaly metrics and scorers (signal = 1, background = 0).", "jetad.metrics"),
    ("Model selection", "Model selection with background-only training.",
     "jetad.model_selection"),
    ("Scores of any estimator",
     "The anomaly score (higher = more anomalous) and the latent code of a detector, a "
     "pipeline ending in one, or any scikit-learn or PyOD outlier detector.",
     "jetad._scores"),
    ("Saving and loading models",
     "A model file safe to share: parameters as JSON, arrays as safetensors, no pickle "
     "(see :ref:`persistence`).",
     "jetad._model_io"),
    ("Plotting", "Plots of jet images, latent spaces and ROC curves.", "jetad.plotting"),
    ("Utilities", "Shared helpers: the sample cache folder, atomic writes, seeds, optional "
     "imports.", "jetad.utils"),
]

_HEADER = """\
.. This file is written by docs/conf.py at every build from the packages'
.. ``__all__`` lists (see docs/_ext/jetad_docs_helpers.py); do not edit it.

.. _api:

=============
API reference
=============

Every name below is public. The transformers and detectors are scikit-learn
estimators: they take the constituent formats of :mod:`jetad.jets`, compose in
:class:`~sklearn.pipeline.Pipeline` and work with
:class:`~sklearn.model_selection.GridSearchCV`.
"""


def _existing(module, names):
    """The names of ``names`` that ``module`` has: classes and functions, not constants."""
    out = []
    for name in names:
        try:
            obj = getattr(module, name)
        except (AttributeError, ImportError):
            continue  # a name that is being written and is not importable yet
        if isinstance(obj, type) or callable(obj):
            out.append(name)
    return sorted(out, key=str.lower)


def _autosummary(module, names):
    lines = [f"\n.. currentmodule:: {module}\n\n.. autosummary::\n",
             "   :toctree: gen_modules/\n   :nosignatures:\n\n"]
    lines.extend(f"   {name}\n" for name in names)
    return "".join(lines)


def api_rst():
    """The text of ``docs/api.rst``: one autosummary table per subpackage.

    The lists come from the packages' ``__all__`` at build time, so a detector
    or a function appears in the reference as soon as it is exported, and a
    name that is not importable yet is left out instead of breaking the build.
    """
    import jetad

    top = [n for n in jetad.__all__ if not n.startswith("_")]
    parts = [_HEADER]
    for title, description, subpackage in API_SECTIONS:
        try:
            mod = importlib.import_module(subpackage)
        except ImportError:
            continue  # the subpackage itself is not there yet
        names = list(getattr(mod, "__all__", []))
        at_top = _existing(jetad, [n for n in names if n in top])
        rest = _existing(mod, [n for n in names if n not in top])
        if not (at_top or rest):
            continue
        parts.append(f"\n{title}\n{'=' * len(title)}\n\n{description}\n\n"
                     f".. automodule:: {subpackage}\n   :no-members:\n")
        if at_top:
            parts.append(_autosummary("jetad", at_top))
        if rest:
            parts.append(_autosummary(subpackage, rest))
    return "".join(parts)


def write_api_rst(path):
    """Write ``api_rst()`` to ``path`` unless it already holds that text (keeps mtimes)."""
    text = api_rst()
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return False
    except FileNotFoundError:
        pass
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return True


# --------------------------------------------------------------------------
# Benchmark results page, generated from benchmarks/results/*.json
# --------------------------------------------------------------------------
def _committed_results(results_dir):
    """Result files under ``results_dir`` that git tracks (all files outside a checkout).

    The documentation quotes committed results only, so that a local build
    shows what a fresh clone (and CI) shows.
    """
    import subprocess
    from pathlib import Path

    results_dir = Path(results_dir)
    files = sorted(p for p in results_dir.glob("*") if p.suffix in (".json", ".md", ".png"))
    try:
        out = subprocess.run(["git", "ls-files", "--", "."],
                             cwd=results_dir, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return files
    if out.returncode != 0:
        return files
    tracked = {Path(line).name for line in out.stdout.split()}
    return [p for p in files if p.name in tracked]


def _escape(text):
    """Free text from a result file, safe inside reST paragraphs."""
    text = str(text)
    for ch in ("\\", "*", "`", "|", "_"):
        text = text.replace(ch, "\\" + ch)
    return text


def _last_commit(path):
    """``"<short hash> (<date>): <subject>"`` of the last commit that touched ``path``."""
    import subprocess

    try:
        out = subprocess.run(["git", "log", "-1", "--format=%h (%cs): %s", "--", path.name],
                             cwd=path.parent, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _fmt(value, digits=3):
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v, digits) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:
            return "nan"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    if isinstance(value, int) and abs(value) >= 10000:
        return f"{value:,}"
    return _escape(value)


def _table(header, rows):
    """A reST list-table."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0]}")
        lines.extend(f"     - {cell}" for cell in row[1:])
    return "\n".join(lines) + "\n"


def _provenance(data):
    machine = data.get("machine", {})
    versions = data.get("versions", {})
    items = []
    if "command" in data:
        items.append(f"command: ``{data['command']}``")
    date = data.get("date_utc") or data.get("date")
    if date:
        items.append(f"date: {_escape(date)}")
    if machine:
        desc = ", ".join(f"{k}={_escape(machine[k])}" for k in ("cpu", "cpu_count", "platform")
                         if machine.get(k))
        if desc:
            items.append(f"machine: {desc}")
        load = machine.get("load_average_1min_at_start", machine.get("load_average_before"))
        if load is not None:
            items.append(f"load average at start: {_fmt(load)}")
    env = data.get("environment")
    if isinstance(env, dict) and env:
        items.append("environment: " + ", ".join(f"{_escape(k)} {_escape(v)}"
                                                 for k, v in env.items()))
    if versions:
        items.append("versions: " + ", ".join(f"{_escape(k)} {_escape(v)}"
                                              for k, v in versions.items()))
    if data.get("notes"):
        items.append(f"notes: {_escape(data['notes'])}")
    return "".join(f"* {item}\n" for item in items)


def _generation_tables(data):
    out = []
    e2e = data.get("end_to_end", {})
    if e2e:
        rows = [[kind, _fmt(r.get("n_jets")), _fmt(r.get("repeats")),
                 _fmt(r.get("jets_per_cpu_s_median")), _fmt(r.get("jets_per_s_median")),
                 _fmt(r.get("selection_efficiency_median")),
                 _fmt(r.get("mean_n_constituents_median")),
                 _fmt(r.get("median_jet_mass_gev"))] for kind, r in e2e.items()]
        out.append("End to end (Pythia 8 + detector response + FastJet + selection), "
                   "one worker process, medians over the repeats:\n\n")
        out.append(_table(["kind", "jets", "repeats", "jets per CPU-second",
                           "jets per second (wall)", "selection efficiency",
                           "mean constituents", "median jet mass (GeV)"], rows))
    det = data.get("detector_response", {})
    if det:
        rows = [[kind, _fmt(r.get("n_events")), _fmt(r.get("visible_particles_per_event")),
                 _fmt(r.get("eflow_objects_per_event")),
                 _fmt(r.get("detector_cpu_ms_per_event_median")),
                 _fmt(r.get("pythia_events_per_cpu_s"))] for kind, r in det.items()]
        out.append("\nDetector response alone:\n\n")
        out.append(_table(["kind", "events", "visible particles per event",
                           "energy-flow objects per event", "detector CPU ms per event",
                           "Pythia events per CPU-second"], rows))
    target = data.get("target")
    if target:
        out.append("\nTarget: " + ", ".join(f"``{k}`` = {_fmt(v)}" for k, v in target.items())
                   + ".\n")
    return "".join(out)


def _preprocessing_tables(data):
    res = data.get("results", [])
    if not res:
        return ""
    d = data.get("data", {})
    out = []
    if d:
        out.append(f"Data: {_escape(d.get('description', ''))} ({_fmt(d.get('n_jets'))} jets, "
                   f"mean {_fmt(d.get('mean_constituents'))} constituents). "
                   f"Threads: {_fmt(data.get('threads'))}.\n\n")
    rows = [[f"``{r.get('name')}``", _fmt(r.get("repeats")), _fmt(r.get("jets_per_second_cpu")),
             _fmt(r.get("jets_per_second_wall")), _fmt(r.get("target_jets_per_second")),
             _fmt(r.get("meets_target_cpu"))] for r in res]
    out.append(_table(["transformer", "repeats", "jets per CPU-second",
                       "jets per second (wall)", "target (jets/s)", "target met (CPU)"], rows))
    return "".join(out)


def _latent_vae_tables(data):
    out = []
    cfg = data.get("config", {})
    if cfg.get("reduced_note"):
        out.append(f"**{_escape(cfg['reduced_note'])}**\n\n")
    bal = data.get("balanced_top_vs_qcd", {})
    rows = []
    for model, res in bal.items():
        if not isinstance(res, dict):
            continue
        for score, val in res.items():
            if isinstance(val, dict) and "auc" in val:
                rows.append([model, f"``{score}``", _fmt(val["auc"]), _fmt(val.get("auc_max", ""))])
    if rows:
        out.append("Balanced top-vs-QCD sample, AUC of each score with top as signal "
                   "(``auc``) and ``auc_max`` as recorded by the script (the better of the "
                   "two orientations, for scores whose orientation is not fixed without "
                   "labels):\n\n")
        out.append(_table(["model", "score", "auc", "auc_max"], rows))
    return "".join(out)


_RENDERERS = {"generation": _generation_tables, "preprocessing": _preprocessing_tables,
              "latent_vae": _latent_vae_tables}


def benchmark_results_rst(results_dir, docs_dir):
    """reST for the committed files of ``benchmarks/results``: provenance, tables, links."""
    import json
    from pathlib import Path

    files = _committed_results(results_dir)
    if not files:
        return "No benchmark results are committed yet.\n"
    parts = []
    for path in [p for p in files if p.suffix != ".png"] + [p for p in files if p.suffix == ".png"]:
        rel = os.path.relpath(path, docs_dir).replace(os.sep, "/")
        title = f"``{path.name}``"
        parts.append(f"{title}\n{'-' * len(title)}\n\n")
        if path.suffix == ".png":
            commit = _last_commit(path)
            parts.append(f".. figure:: {rel}\n   :width: 100%\n\n"
                         f"   {_escape(commit) if commit else _escape(path.name)}\n\n")
            continue
        parts.append(f":download:`Download {path.name} <{rel}>`\n\n")
        if path.suffix == ".md":
            text = Path(path).read_text(encoding="utf-8")
            # included as it is (MyST), unless headings could clash with this page's
            if not any(line.lstrip().startswith("#") for line in text.splitlines()):
                parts.append(f".. include:: {rel}\n   :parser: myst_parser.sphinx_\n\n")
            continue
        if path.suffix != ".json":
            continue
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            parts.append(f"(not readable as JSON: {exc})\n\n")
            continue
        if not isinstance(data, dict):
            continue
        parts.append(_provenance(data) + "\n")
        render = _RENDERERS.get(data.get("benchmark", path.stem))
        if render is not None:
            try:
                parts.append(render(data) + "\n")
            except (AttributeError, KeyError, TypeError, ValueError):
                parts.append("(this file's layout is not the one the documentation "
                             "knows; see the file itself)\n\n")
    return "".join(parts)


def write_if_changed(path, text):
    """Write ``text`` to ``path`` unless it already holds it (keeps mtimes stable)."""
    from pathlib import Path

    path = Path(path)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True
