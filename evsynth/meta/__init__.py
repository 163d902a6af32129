"""The meta-analysis engine: effect sizes, tau², pooling, heterogeneity, fixed-effect methods,
subgroups, meta-regression, small-study tests, sensitivity analyses and absolute effects.

Pure, vectorised functions checked against R's metafor; the public names are re-exported
from :mod:`evsynth`.
"""
