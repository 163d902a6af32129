"""Load and validate the workflow configuration.

The config says which analyses run (outcome, measure, estimator, CI method, subgroups,
moderators, direction of benefit, baseline risk). It is read with the safe YAML loader only and
checked against ``evsynth/schemas/config.schema.yaml`` (JSON Schema) plus the checks a schema
cannot express: paths stay inside the project directory and every analysis names a table the
config lists. Every problem is reported at once as ``file:line: key: problem``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from evsynth.errors import DataValidationError

#: PyYAML's safe loader, in C (libyaml) where PyYAML has it: a config of 1,000 analyses
#: parses in 0.1 s instead of 1.5 s, and every job of the workflow reads the config.
SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"

#: Analysis settings an analysis inherits from ``defaults`` when it does not set them.
DEFAULTS: dict[str, Any] = {
    "method": "REML",
    "ci_method": "hksj",
    "pi_method": "metafor",
    "level": 0.95,
    "subgroup_tau2": "separate",
    "min_k_egger": 10,
    # Which figures the figures stage draws, and in which formats (evsynth.plots.output
    # FIGURE_KINDS / FIGURE_FORMATS): everything, as SVG + PNG.
    "figures": {
        "kinds": [
            "forest",
            "subgroups",
            "leave_one_out",
            "cumulative",
            "funnel",
            "bubble",
            "dose_response",
        ],
        "formats": ["svg", "png"],
    },
}


def _key_lines(node: yaml.Node, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    """Map each key path of a composed YAML document to its 1-based line number."""
    lines: dict[tuple[str, ...], int] = {prefix: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = (*prefix, str(key_node.value))
            lines.update(_key_lines(value_node, path))
            lines[path] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_key_lines(item, (*prefix, str(index))))
    return lines


def _line_for(path: tuple[str, ...], lines: Mapping[tuple[str, ...], int]) -> int:
    """The line of ``path`` or of its nearest ancestor that the document has."""
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path, 1)


def _where(path: tuple[str, ...]) -> str:
    return ".".join(path) if path else "(top level)"


def _within(project_dir: Path, relative: str) -> bool:
    target = (project_dir / relative).resolve()
    return target == project_dir or project_dir in target.parents


def validate_config(
    config: Mapping[str, Any],
    *,
    source: str = "config/config.yaml",
    project_dir: Path | str = ".",
    lines: Mapping[tuple[str, ...], int] | None = None,
    schema_path: Path = SCHEMA_PATH,
) -> dict[str, Any]:
    """Check ``config`` against the schema and cross-field rules; return it with defaults filled.

    Raises :class:`DataValidationError` listing every problem as ``source:line: key: message``.
    """
    lines = lines or {}
    schema = yaml.safe_load(schema_path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    found: list[tuple[int, str]] = []
    for error in validator.iter_errors(config):
        path = tuple(str(p) for p in error.absolute_path)
        found.append((_line_for(path, lines), f"{_where(path)}: {error.message}"))

    if not found:
        project = Path(project_dir).resolve()
        for key, value in config.get("paths", {}).items():
            if not _within(project, value):
                found.append(
                    (
                        _line_for(("paths", key), lines),
                        f"paths.{key}: {value!r} leaves the project directory; "
                        "use a path inside it",
                    )
                )
        tables = set(config["tables"])
        sections = [("analyses", a) for a in config["analyses"].items()]
        sections += [("markers", m) for m in config.get("markers", {}).items()]
        for section, (name, spec) in sections:
            if spec["dataset"] not in tables:
                found.append(
                    (
                        _line_for((section, name, "dataset"), lines),
                        f"{section}.{name}.dataset: {spec['dataset']!r} is not one of the "
                        f"tables {sorted(tables)}; add it to 'tables' or fix the name",
                    )
                )

    if found:
        raise DataValidationError([f"{source}:{line}: {msg}" for line, msg in sorted(found)])
    return with_defaults(config)


def with_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``config`` whose analyses carry every default setting explicitly.

    ``figures`` is merged key by key: an analysis that sets only ``figures.kinds`` keeps the
    default ``formats`` (and the defaults' ``figures`` likewise fill in from :data:`DEFAULTS`).
    """
    resolved = dict(config)
    given = config.get("defaults", {})
    defaults = {
        **DEFAULTS,
        **given,
        "figures": {**DEFAULTS["figures"], **given.get("figures", {})},
    }
    resolved["defaults"] = defaults
    resolved["analyses"] = {
        name: {
            **defaults,
            "subgroups": [],
            "moderators": [],
            **spec,
            "figures": {**defaults["figures"], **spec.get("figures", {})},
        }
        for name, spec in config["analyses"].items()
    }
    resolved.setdefault("markers", {})
    resolved.setdefault("subgroup_titles", {})
    return resolved


def figure_settings(config: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    """``{analysis id: its figures setting}`` of a validated config (see :func:`with_defaults`)."""
    return {name: dict(spec["figures"]) for name, spec in config["analyses"].items()}


def load_config(path: Path | str, project_dir: Path | str = ".") -> dict[str, Any]:
    """Read a YAML config safely and validate it (see :func:`validate_config`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataValidationError([f"{path}:1: cannot read the config: {exc}"]) from None
    try:
        node = yaml.compose(text, Loader=SAFE_LOADER)
        config = yaml.load(text, Loader=SAFE_LOADER)  # yaml.safe_load's loader, in C
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise DataValidationError([f"{path}:{line}: invalid YAML: {problem}"]) from None
    if not isinstance(config, dict):
        raise DataValidationError([f"{path}:1: the config must be a mapping of settings"])
    lines = _key_lines(node) if node is not None else {}
    return validate_config(config, source=str(path), project_dir=project_dir, lines=lines)
