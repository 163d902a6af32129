"""evsynth: reproducible evidence synthesis.

The public API (see ``docs/api.md``): effect sizes, pooling of one or many meta-analyses,
heterogeneity, fixed-effect methods, meta-regression, small-study tests, sensitivity and
subgroup analyses, and absolute effects.
"""

from evsynth.absolute import NNTResult, nnt_from_counts, nnt_from_ratio, per_1000, risk_difference
from evsynth.effects import EffectSizes, binary_effects, continuous_effects, generic_effects
from evsynth.fixed_effects import FixedEffectResult, mantel_haenszel, peto
from evsynth.heterogeneity import Tau2Interval, tau2_ci
from evsynth.pooling import PoolResult, pool, pool_many
from evsynth.regression import MetaRegressionResult, meta_regression
from evsynth.sensitivity import cumulative, leave_one_out
from evsynth.small_study import EggerResult, TrimFillResult, egger_test, funnel_data, trim_and_fill
from evsynth.subgroups import SubgroupResult, subgroup_analysis

__version__ = "0.1.0"

__all__ = [
    "EffectSizes",
    "EggerResult",
    "FixedEffectResult",
    "MetaRegressionResult",
    "NNTResult",
    "PoolResult",
    "SubgroupResult",
    "Tau2Interval",
    "TrimFillResult",
    "binary_effects",
    "continuous_effects",
    "cumulative",
    "egger_test",
    "funnel_data",
    "generic_effects",
    "leave_one_out",
    "mantel_haenszel",
    "meta_regression",
    "nnt_from_counts",
    "nnt_from_ratio",
    "per_1000",
    "peto",
    "pool",
    "pool_many",
    "risk_difference",
    "subgroup_analysis",
    "tau2_ci",
    "trim_and_fill",
]
