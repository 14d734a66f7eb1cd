"""Model selection for anomaly detectors trained on background only."""

from ._background_only import BackgroundOnly
from ._compare import compare_detectors, format_comparison
from ._evaluate import evaluate_detector, summarize_scores, trivial_baseline_scores

__all__ = ["BackgroundOnly", "compare_detectors", "evaluate_detector", "format_comparison",
           "summarize_scores", "trivial_baseline_scores"]
