"""evsynth: reproducible evidence synthesis (effect sizes, pooling, absolute effects, report)."""

__version__ = "0.1.0"
