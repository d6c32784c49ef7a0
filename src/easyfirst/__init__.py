"""easyfirst: curriculum learning driven by per-sample difficulty scores."""

__version__ = "0.1.0"
