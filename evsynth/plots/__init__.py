"""Figures of an analysis: forest (overall, by subgroup, leave-one-out, cumulative), funnel,
bubble and dose–response plots, saved deterministically as SVG + PNG with generated alt text.

Every plotting function takes one per-analysis dict of ``results/analyses/{dataset}.json``
(see ``docs/results.md``); nothing here computes statistics beyond drawing what the analysis
stage wrote, and every word a figure prints comes from those results. Forest plots are
:class:`~evsynth.plots.drawing.Drawing` objects (SVG written directly); the other plots are
matplotlib figures. :func:`~evsynth.plots.output.save_figure` saves either.
"""

from evsynth.plots.alt_text import alt_text
from evsynth.plots.axis import forest_axis
from evsynth.plots.bubble import bubble_plot
from evsynth.plots.dose_response import dose_response_plot
from evsynth.plots.forest import forest_plot
from evsynth.plots.forest_rows import forest_table
from evsynth.plots.funnel import funnel_plot
from evsynth.plots.output import save_figure, write_analysis_figures

__all__ = [
    "alt_text",
    "bubble_plot",
    "dose_response_plot",
    "forest_axis",
    "forest_plot",
    "forest_table",
    "funnel_plot",
    "save_figure",
    "write_analysis_figures",
]
