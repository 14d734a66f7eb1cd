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
from jetad_benchmark_page import (  # noqa: E402,F401  (conf.py calls them from here)
    EXPECTED_RESULTS,
    benchmark_results_rst,
    strip_machine_paths,
)


def write_if_changed(path, text):
    """Write ``text`` to ``path`` unless it already holds it (keeps mtimes stable)."""
    from pathlib import Path

    path = Path(path)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True
