"""Validation of the labels, scores and working points of the anomaly metrics.

Conventions used throughout this module (the HEP view):

* ``y_true`` labels the **signal / anomaly** class with ``pos_label`` (default
  ``1``); every other label is background. Both classes must be present.
* ``anomaly_scores`` are **higher = more anomalous**, e.g.
  ``detector.anomaly_score(X)`` or ``-detector.score_samples(X)``. No function
  here flips the sign of the scores depending on the labels: an AUC below 0.5
  means the detector ranks background as more anomalous than signal, and is
  reported as such.
* Signal efficiency ε_S is the true-positive rate, background efficiency ε_B
  the false-positive rate, background rejection is 1/ε_B.
"""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.utils import check_array, check_consistent_length, column_or_1d
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import _check_sample_weight


def _check_targets_scores(y_true, anomaly_scores, sample_weight=None, pos_label=1):
    """Validate labels and scores; return ``(y_signal, scores, sample_weight)``.

    ``y_signal`` is a boolean array, True for the signal (``pos_label``) class.
    """
    y_true = column_or_1d(y_true, warn=True)
    anomaly_scores = column_or_1d(anomaly_scores, warn=True)
    check_consistent_length(y_true, anomaly_scores, sample_weight)
    if y_true.shape[0] == 0:
        raise ValueError("y_true and anomaly_scores are empty.")
    y_type = type_of_target(y_true, input_name="y_true")
    if y_type != "binary":
        raise ValueError(
            f"y_true must contain exactly two classes, signal (pos_label={pos_label!r}) "
            f"and background; got a target of type {y_type!r} with labels "
            f"{np.unique(y_true)[:10].tolist()}."
        )
    labels = np.unique(y_true)
    if labels.shape[0] < 2:
        raise ValueError(
            f"y_true has only one class ({labels.tolist()}); both signal "
            f"(pos_label={pos_label!r}) and background are needed."
        )
    if pos_label not in labels.tolist():
        raise ValueError(
            f"pos_label={pos_label!r} (the signal label) is not among the labels of "
            f"y_true {labels.tolist()}."
        )
    try:
        anomaly_scores = check_array(
            anomaly_scores, ensure_2d=False, dtype=np.float64, input_name="anomaly_scores"
        )
    except ValueError as exc:
        raise ValueError(
            f"anomaly_scores must be finite real numbers: {exc}"
        ) from exc
    if sample_weight is not None:
        sample_weight = _check_sample_weight(sample_weight, anomaly_scores)
    return y_true == pos_label, anomaly_scores, sample_weight


def _check_efficiency(signal_efficiency):
    eff = np.asarray(signal_efficiency, dtype=np.float64)
    if not np.all(np.isfinite(eff)) or np.any(eff <= 0) or np.any(eff > 1):
        raise ValueError(
            "signal_efficiency must be in (0, 1]; got "
            f"{signal_efficiency!r}."
        )
    return eff
