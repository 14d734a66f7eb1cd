"""
Pipelines, grid search with an anomaly scorer, and detector comparison
======================================================================

jetad detectors are scikit-learn outlier detectors, so they compose with
``Pipeline``, ``GridSearchCV`` and ``cross_validate``. Three things are specific
to anomaly detection:

* detectors are trained on background only -- :class:`jetad.model_selection.BackgroundOnly`
  drops the signal rows of each training fold (and of the final refit);
* scorers take the physicists' sign (higher = more anomalous, signal labelled 1) --
  :func:`jetad.metrics.make_anomaly_scorer`;
* results are compared over repeated splits with different seeds --
  :func:`jetad.model_selection.compare_detectors`.

The samples here are tiny so that the example runs in seconds; see
``benchmarks/`` for real sizes.
"""

# %%
# Simulate a few hundred QCD and top jets
# ---------------------------------------
import os
import tempfile

import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline

from jetad import AEDetector, JetImager, VAEDetector
from jetad.datasets import fetch_generated
from jetad.metrics import make_anomaly_scorer
from jetad.model_selection import (
    BackgroundOnly,
    compare_detectors,
    evaluate_detector,
    format_comparison,
)

cache = os.environ.get("JETAD_EXAMPLE_CACHE") or tempfile.gettempdir()
qcd, _ = fetch_generated("qcd", 400, random_state=1, cache_dir=cache, prefix="example_")
top, _ = fetch_generated("top", 200, random_state=2, cache_dir=cache, prefix="example_")
print(qcd.shape, top.shape)  # (n_jets, 200 constituents, (E, px, py, pz))

# %%
# A pipeline from constituents to anomaly scores
# ----------------------------------------------
# ``score_samples`` follows scikit-learn (higher = more normal);
# ``anomaly_score`` is its negative (higher = more anomalous).
pipe = Pipeline([
    ("image", JetImager(gaussian_sigma=1.0)),
    ("ae", AEDetector(max_epochs=15, batch_size=32, lr=3e-3, random_state=0)),
])
X_test = np.concatenate([qcd[300:], top[:100]])
y_test = np.r_[np.zeros(100), np.ones(100)]
# fit on background, score, AUC and 1/eps_B with its interval and passing count
result = evaluate_detector(pipe, qcd[:300], X_test, y_test)
print("AE AUC, top as anomaly:", round(result["auc"], 3))

# %%
# Grid search with a background-only fit and anomaly scorers
# ----------------------------------------------------------
# Labels go to ``search.fit``; ``BackgroundOnly`` fits each fold's detector on the
# background rows only, and the scorers use the labels of the held-out fold.
# Detectors are not classifiers, so pass a stratified, shuffled splitter.
images = JetImager(gaussian_sigma=1.0).transform(np.concatenate([qcd, top]))
y = np.r_[np.zeros(len(qcd), dtype=int), np.ones(len(top), dtype=int)]
search = GridSearchCV(
    BackgroundOnly(AEDetector(max_epochs=15, batch_size=32, lr=3e-3, random_state=0)),
    {"detector__latent_dim": [2, 3]},
    scoring={"auc": make_anomaly_scorer("auc"),
             "rejection": make_anomaly_scorer("background_rejection", signal_efficiency=0.2,
                                              zero_background="bound")},
    refit="auc",
    cv=StratifiedKFold(2, shuffle=True, random_state=0),
)
search.fit(images, y)
print("best:", search.best_params_, "AUC", round(search.best_score_, 3))

# %%
# Cross-validated comparison of detectors
# ---------------------------------------
table = compare_detectors(
    {"AE": AEDetector(max_epochs=15, batch_size=32, lr=3e-3),
     "VAE": VAEDetector(max_epochs=15, batch_size=32, lr=3e-3)},
    images, y, n_repeats=2, random_state=0, zero_background="bound",
)
print(format_comparison(table))
