"""Figures of an analysis: forest (overall, by subgroup, leave-one-out, cumulative), funnel and
bubble plots, saved deterministically as SVG + PNG with generated alt text.

Every plotting function takes one per-analysis dict of ``results/analyses/{dataset}.json``
(see ``docs/results.md``) and returns a :class:`matplotlib.figure.Figure`; nothing here
computes statistics beyond drawing what the analysis stage already wrote.
"""

from evsynth.plots.bubble import bubble_plot
from evsynth.plots.forest import forest_plot
from evsynth.plots.funnel import funnel_plot
from evsynth.plots.output import alt_text, save_figure, write_analysis_figures

__all__ = [
    "alt_text",
    "bubble_plot",
    "forest_plot",
    "funnel_plot",
    "save_figure",
    "write_analysis_figures",
]
