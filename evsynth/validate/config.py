"""Load and validate the workflow configuration.

The config says which analyses run (outcome, measure, estimator, CI method, subgroups,
moderators, direction of benefit, baseline risk). It is read with
:func:`evsynth.io.yamlfile.load_yaml` (the safe loader; duplicate keys refused; the line of
every key kept) and checked against ``evsynth/schemas/config.schema.yaml`` (JSON Schema)
plus the checks a schema cannot express: paths stay inside the project directory and every
analysis names a table the config lists. Every problem is reported at once as
``file:line: key: problem``, at the line of the key at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from evsynth.errors import DataValidationError
from evsynth.io.yamlfile import YamlDocument, by_line, load_yaml, schema_problems

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
        "kinds": ["forest", "subgroups", "leave_one_out", "cumulative", "funnel", "bubble"],
        "formats": ["svg", "png"],
    },
}


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
    document = YamlDocument(source, config, lines or {})
    schema = yaml.safe_load(schema_path.read_text(encoding="utf-8"))
    found = schema_problems(document, schema)

    if not found:
        project = Path(project_dir).resolve()
        for key, value in config.get("paths", {}).items():
            if not _within(project, value):
                found.append(
                    document.problem(
                        ("paths", key),
                        f"{value!r} leaves the project directory; use a path inside it",
                    )
                )
        tables = set(config["tables"])
        sections = [("analyses", a) for a in config["analyses"].items()]
        sections += [("markers", m) for m in config.get("markers", {}).items()]
        for section, (name, spec) in sections:
            if spec["dataset"] not in tables:
                found.append(
                    document.problem(
                        (section, name, "dataset"),
                        f"{spec['dataset']!r} is not one of the tables {sorted(tables)}; "
                        "add it to 'tables' or fix the name",
                    )
                )

    if found:
        raise DataValidationError([str(p) for p in by_line(found)])
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
    document = load_yaml(path, what="config")
    return validate_config(
        document.data, source=document.path, project_dir=project_dir, lines=document.lines
    )
