"""The JSON Schema of the analysis results (``docs/results.schema.json``), generated from the
dataclasses of :mod:`evsynth.analysis.model`, so the documented layout is the code's.

``python -m evsynth.analysis.schema > docs/results.schema.json`` writes it; a test checks that
the file is current and that real results validate against it.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from evsynth.analysis import model

#: Fields a dataclass adds to its JSON beyond its own (see each ``to_json``).
EXTRA: dict[str, dict[str, Any]] = {
    "Pooled": {f"{k}_exp": {"type": ["number", "null"]} for k in model.EXP_FIELDS},
    "Study": {
        **{f"{k}_exp": {"type": ["number", "null"]} for k in ("yi", "ci_low", "ci_high")},
        "effect": {"type": ["number", "null"]},
        "effect_ci_low": {"type": ["number", "null"]},
        "effect_ci_high": {"type": ["number", "null"]},
        "effect_measure": {"type": ["string", "null"]},
    },
}
#: Fields a ``to_json`` folds into the parent object instead of nesting.
FLATTENED = {"Study": {"counts", "published", "columns", "log_scale"}, "Pooled": {"log_scale"}}


def _type(hint: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is type(None):
        return {"type": "null"}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_type(a, defs) for a in args]}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _ref(hint, defs)
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": ["number", "null"]}
    if hint is str:
        return {"type": "string"}
    if origin in (tuple, list) or (origin is not None and issubclass(origin, Sequence)):
        item = args[0] if args else Any
        return {"type": "array", "items": _type(item, defs) if item is not Ellipsis else {}}
    if origin is not None and issubclass(origin, Mapping):
        value = args[1] if len(args) == 2 else Any
        return {"type": "object", "additionalProperties": _type(value, defs)}
    return {}


def _ref(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    name = cls.__name__
    if name not in defs:
        defs[name] = {}
        hints = typing.get_type_hints(cls)
        props: dict[str, Any] = {}
        required = []
        for f in dataclasses.fields(cls):
            if f.name in FLATTENED.get(name, set()):
                continue
            props[f.name] = _type(hints[f.name], defs)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                required.append(f.name)
        if name == "SubgroupGroup":  # to_json flattens the pooled estimate beside "group"
            props = {"group": {"type": "string"}}
            required = ["group"]
            defs[name] = {
                "allOf": [{"$ref": "#/$defs/Pooled"}],
                "type": "object",
                "properties": props,
                "required": required,
                "description": (cls.__doc__ or "").strip(),
            }
            _ref(model.Pooled, defs)
            return {"$ref": f"#/$defs/{name}"}
        props.update(EXTRA.get(name, {}))
        defs[name] = {
            "type": "object",
            "description": " ".join((cls.__doc__ or "").split()),
            "properties": props,
            "required": required,
        }
    return {"$ref": f"#/$defs/{name}"}


def results_schema() -> dict[str, Any]:
    """The JSON Schema of ``results/analyses/{dataset}.json``."""
    defs: dict[str, Any] = {}
    analysis = _ref(model.AnalysisResult, defs)
    markers = _ref(model.MarkerSet, defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "evsynth results of one dataset (results/analyses/{dataset}.json)",
        "description": "Generated from evsynth.analysis.model by evsynth.analysis.schema; "
        "ratio measures are on the log scale with *_exp copies on the ratio scale.",
        "type": "object",
        "required": ["dataset", "analyses", "markers"],
        "properties": {
            "dataset": {"type": "string"},
            "analyses": {"type": "array", "items": analysis},
            "markers": {"type": "array", "items": markers},
        },
        "$defs": dict(sorted(defs.items())),
    }


def main() -> None:
    print(json.dumps(results_schema(), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
