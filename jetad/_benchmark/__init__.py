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

Layout: ``_config`` (presets, validation), ``_tasks`` (the tasks as data),
``_runner`` (the one loop, :func:`run_benchmark`), ``_store`` (the unit files),
``_samples`` (the jets), ``_baselines``, ``_results`` (aggregation over seeds),
``_report`` and ``_figures``.
"""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

from ._config import BASELINES, DETECTORS, PAPER, PRESETS, TASKS, resolve_config
from ._runner import SuiteRunner, run_benchmark

__all__ = ["BASELINES", "DETECTORS", "PAPER", "PRESETS", "TASKS", "SuiteRunner",
           "resolve_config", "run_benchmark"]
