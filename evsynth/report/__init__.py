"""The HTML evidence summary: results/analyses + figures + narrative -> results/report.html.

Everything the report states with a number is read from the analysis results; sentences that
interpret the numbers follow the explicit rules in :mod:`evsynth.report.conclusions` and
:mod:`evsynth.report.grade` with thresholds and wording from ``config/report.yaml``.
"""

from evsynth.report.build import build_report, load_inputs

__all__ = ["build_report", "load_inputs"]
