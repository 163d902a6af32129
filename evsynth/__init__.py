"""evsynth: reproducible evidence synthesis.

The public API (see ``docs/api.md``): effect sizes, pooling of one or many meta-analyses,
heterogeneity, fixed-effect methods, meta-regression, small-study tests, sensitivity and
subgroup analyses, and absolute effects.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evsynth.absolute import (
        NNTResult,
        nnt_from_counts,
        nnt_from_ratio,
        per_1000,
        risk_difference,
    )
    from evsynth.effects import EffectSizes, binary_effects, continuous_effects, generic_effects
    from evsynth.fixed_effects import FixedEffectResult, mantel_haenszel, peto
    from evsynth.heterogeneity import Tau2Interval, tau2_ci
    from evsynth.pooling import PoolResult, pool, pool_many
    from evsynth.regression import MetaRegressionResult, meta_regression
    from evsynth.sensitivity import cumulative, leave_one_out
    from evsynth.small_study import (
        EggerResult,
        TrimFillResult,
        egger_test,
        funnel_data,
        trim_and_fill,
    )
    from evsynth.subgroups import SubgroupResult, subgroup_analysis

#: Where each name of the public API lives. The modules are imported on first use
#: (PEP 562), so importing a light module such as ``evsynth.config`` (the Snakemake rules do,
#: at every start, even for a run with nothing to do) does not load scipy and the engine.
_EXPORTS = {
    "EffectSizes": "evsynth.effects",
    "EggerResult": "evsynth.small_study",
    "FixedEffectResult": "evsynth.fixed_effects",
    "MetaRegressionResult": "evsynth.regression",
    "NNTResult": "evsynth.absolute",
    "PoolResult": "evsynth.pooling",
    "SubgroupResult": "evsynth.subgroups",
    "Tau2Interval": "evsynth.heterogeneity",
    "TrimFillResult": "evsynth.small_study",
    "binary_effects": "evsynth.effects",
    "continuous_effects": "evsynth.effects",
    "cumulative": "evsynth.sensitivity",
    "egger_test": "evsynth.small_study",
    "funnel_data": "evsynth.small_study",
    "generic_effects": "evsynth.effects",
    "leave_one_out": "evsynth.sensitivity",
    "mantel_haenszel": "evsynth.fixed_effects",
    "meta_regression": "evsynth.regression",
    "nnt_from_counts": "evsynth.absolute",
    "nnt_from_ratio": "evsynth.absolute",
    "per_1000": "evsynth.absolute",
    "peto": "evsynth.fixed_effects",
    "pool": "evsynth.pooling",
    "pool_many": "evsynth.pooling",
    "risk_difference": "evsynth.absolute",
    "subgroup_analysis": "evsynth.subgroups",
    "tau2_ci": "evsynth.heterogeneity",
    "trim_and_fill": "evsynth.small_study",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:  # a submodule (evsynth.tau2, …), as when all were imported up front
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


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
