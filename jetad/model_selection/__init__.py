"""Model selection for anomaly detectors trained on background only."""

from ._background_only import BackgroundOnly
from ._compare import compare_detectors, format_comparison

__all__ = ["BackgroundOnly", "compare_detectors", "format_comparison"]
