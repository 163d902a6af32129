"""evsynth: reproducible evidence synthesis.

The public API (see ``docs/api.md``): effect sizes, pooling of one or many meta-analyses,
heterogeneity, fixed-effect methods, meta-regression, small-study tests, sensitivity and
subgroup analyses, and absolute effects.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evsynth.meta.absolute import (
        NNTResult,
        nnt_from_counts,
        nnt_from_ratio,
        per_1000,
        risk_difference,
    )
    from evsynth.meta.dose_response import DoseResponseResult, dose_response
    from evsynth.meta.effects import (
        EffectSizes,
        binary_effects,
        continuous_effects,
        generic_effects,
    )
    from evsynth.meta.fixed_effects import FixedEffectResult, mantel_haenszel, peto
    from evsynth.meta.heterogeneity import Tau2Interval, tau2_ci
    from evsynth.meta.pooling import PoolResult, pool, pool_many
    from evsynth.meta.regression import MetaRegressionResult, meta_regression
    from evsynth.meta.sensitivity import cumulative, leave_one_out
    from evsynth.meta.small_study import (
        EggerResult,
        TrimFillResult,
        egger_test,
        funnel_data,
        trim_and_fill,
    )
    from evsynth.meta.subgroups import SubgroupResult, subgroup_analysis

#: Where each name of the public API lives. The modules are imported on first use
#: (PEP 562), so importing a light module such as ``evsynth.validate.config`` (the Snakemake
#: rules do, at every start, even for a run with nothing to do) does not load scipy and the
#: engine.
_EXPORTS = {
    "DoseResponseResult": "evsynth.meta.dose_response",
    "EffectSizes": "evsynth.meta.effects",
    "EggerResult": "evsynth.meta.small_study",
    "FixedEffectResult": "evsynth.meta.fixed_effects",
    "MetaRegressionResult": "evsynth.meta.regression",
    "NNTResult": "evsynth.meta.absolute",
    "PoolResult": "evsynth.meta.pooling",
    "SubgroupResult": "evsynth.meta.subgroups",
    "Tau2Interval": "evsynth.meta.heterogeneity",
    "TrimFillResult": "evsynth.meta.small_study",
    "binary_effects": "evsynth.meta.effects",
    "continuous_effects": "evsynth.meta.effects",
    "cumulative": "evsynth.meta.sensitivity",
    "dose_response": "evsynth.meta.dose_response",
    "egger_test": "evsynth.meta.small_study",
    "funnel_data": "evsynth.meta.small_study",
    "generic_effects": "evsynth.meta.effects",
    "leave_one_out": "evsynth.meta.sensitivity",
    "mantel_haenszel": "evsynth.meta.fixed_effects",
    "meta_regression": "evsynth.meta.regression",
    "nnt_from_counts": "evsynth.meta.absolute",
    "nnt_from_ratio": "evsynth.meta.absolute",
    "per_1000": "evsynth.meta.absolute",
    "peto": "evsynth.meta.fixed_effects",
    "pool": "evsynth.meta.pooling",
    "pool_many": "evsynth.meta.pooling",
    "risk_difference": "evsynth.meta.absolute",
    "subgroup_analysis": "evsynth.meta.subgroups",
    "tau2_ci": "evsynth.meta.heterogeneity",
    "trim_and_fill": "evsynth.meta.small_study",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:  # a submodule (evsynth.meta.tau2, …), as when all were imported up front
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
    "DoseResponseResult",
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
    "dose_response",
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
