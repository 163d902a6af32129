"""GRADE certainty of an analysis: :class:`evsynth.report.grade.GradeInputs` built from the
analysis's results (their JSON), judged with the review's ``grade:`` settings.

Each trial enters with its share of the weight, its estimate and CI on the display scale,
its risk-of-bias judgements (the columns the review names in ``review.risk_of_bias``) and its
attrition; the analysis with its pooled estimate, prediction interval, I², trials,
participants and events (when every trial entered as a 2×2 table), Egger's test (only
computed from ``min_k_egger`` trials) and the assumed control risk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evsynth.report.grade import (
    Certainty,
    GradeInputs,
    RiskOfBias,
    RobJudgement,
    Trial,
    grade,
    grade_settings,
)

ROB_FIELDS = ("randomisation", "deviations", "missing_data", "measurement", "selection", "overall")


def _display(analysis: Mapping[str, Any], row: Mapping[str, Any], key: str) -> float | None:
    value = row.get(f"{key}_exp" if analysis.get("scale") == "log" else key)
    return None if value is None else float(value)


def risk_of_bias(study: Mapping[str, Any]) -> RiskOfBias:
    """A trial's RoB 2 judgements as the analysis carries them (``risk_of_bias``)."""
    given = study.get("risk_of_bias") or {}
    support = str(given.get("support") or "")
    return RiskOfBias(
        **{
            name: RobJudgement(given[name], support) if given.get(name) else None
            for name in ROB_FIELDS
        }
    )


def grade_inputs(analysis: Mapping[str, Any]) -> GradeInputs:
    """The GRADE inputs of one pooled analysis."""
    pooled = analysis["overall"]
    trials = tuple(
        Trial(
            label=str(s["label"]),
            weight=float(s.get("weight_pct") or 0.0) / 100,
            estimate=_display(analysis, s, "yi"),
            ci_low=_display(analysis, s, "ci_low"),
            ci_high=_display(analysis, s, "ci_high"),
            rob=risk_of_bias(s),
            attrition=(s.get("risk_of_bias") or {}).get("attrition"),
        )
        for s in analysis["studies"]
    )
    egger = analysis.get("egger") or {}
    absolute = analysis.get("absolute") or {}
    return GradeInputs(
        measure=str(analysis["measure"]),
        kind="ratio" if analysis.get("scale") == "log" else "difference",
        higher_is=analysis.get("higher_is", "worse"),
        estimate=float(_display(analysis, pooled, "estimate") or 0.0),
        ci_low=float(_display(analysis, pooled, "ci_low") or 0.0),
        ci_high=float(_display(analysis, pooled, "ci_high") or 0.0),
        k=int(pooled["trials"]),
        trials=trials,
        pi_low=_display(analysis, pooled, "pi_low"),
        pi_high=_display(analysis, pooled, "pi_high"),
        i2=pooled.get("i2"),
        tau2=pooled.get("tau2"),
        participants=pooled.get("participants")
        if pooled.get("participants_trials") == pooled.get("trials")
        else None,
        events=pooled.get("events"),
        egger_p=egger.get("p_value"),
        egger_k=egger.get("k"),
        control_risk=absolute.get("control_risk"),
        level=float(analysis.get("level", 0.95)),
    )


def certainty_of(
    analysis: Mapping[str, Any], grade_yaml: Mapping[str, Any], source: str = "report.yaml"
) -> Certainty:
    """GRADE certainty of one pooled analysis with the review's ``grade:`` settings."""
    return grade(grade_inputs(analysis), grade_settings(grade_yaml, analysis["id"], source))
