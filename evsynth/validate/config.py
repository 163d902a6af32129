"""Load and validate a review's configuration (``config/config.yaml`` of a review folder).

The config says what the review is (its title, intervention and control: the words of the
report), where its files are, its raw tables, the columns it derives, the titles of its
variables and the analyses it runs. It is read with the safe YAML loader only and checked
against ``evsynth/schemas/config.schema.yaml`` (JSON Schema) plus the checks a schema cannot
express (:func:`cross_checks`): paths stay inside the review folder; every analysis names a
table the config lists; every column it uses (subgroups, moderators, filters, derived
columns' inputs) exists in that table's schema, a table it joins or the derived columns; the
measure's columns exist; the model suits the measure. Every problem is reported at once as
``file:line: key: problem``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from evsynth.errors import DataValidationError
from evsynth.io.yamlfile import SAFE_LOADER, YamlDocument, line_for, load_yaml, where
from evsynth.io.yamlfile import schema_problems as yaml_schema_problems

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"

#: Where a review keeps its files, relative to the review folder.
DEFAULT_PATHS: dict[str, str] = {
    "raw": "data/raw",
    "schemas": "schemas",
    "processed": "data/processed",
    "results": "results",
    "narrative": "config/narrative.yaml",
    "report_settings": "config/report.yaml",
}

#: Analysis settings an analysis inherits from ``defaults`` when it does not set them.
#: The CI defaults to the modified Hartung–Knapp–Sidik–Jonkman interval, which is never
#: narrower than the Wald interval (Knapp & Hartung 2003; docs/methods.md).
DEFAULTS: dict[str, Any] = {
    "model": "random",
    "method": "REML",
    "fixed_method": "IV",
    "ci_method": "hksj_modified",
    "pi_method": "metafor",
    "level": 0.95,
    "subgroup_tau2": "separate",
    "min_k_egger": 10,
    "min_k_prediction": 3,
    "trial_key": "study_id",
    "multi_arm": "combine",
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

#: Per-analysis keys that have no default.
ANALYSIS_OPTIONAL: dict[str, Any] = {
    "where": {},
    "accept": [],
    "event_counts": False,
    "higher_is": "worse",
    "subgroups": [],
    "moderators": [],
    "sensitivity": [],
}

#: The measures by kind of input, and the columns each kind needs.
BINARY = ("RR", "OR", "RD")
CONTINUOUS = ("MD", "SMD")
GENERIC_ONLY = ("HR", "IRR")
RATIOS = ("RR", "OR", "HR", "IRR")
COLUMNS_OF = {
    "binary": ("events_treat", "n_treat", "events_control", "n_control"),
    "continuous": ("mean_treat", "sd_treat", "n_treat", "mean_control", "sd_control", "n_control"),
    "generic": ("effect_measure", "effect"),
}
#: Derived-column operations: exactly one of these keys per derived column.
DERIVED_OPERATIONS = ("sum", "product", "ratio", "difference", "greater", "equals", "cut", "column")


def input_kind(measure: str) -> str:
    """``binary``, ``continuous`` or ``generic``: the table format a measure is computed from."""
    if measure in BINARY:
        return "binary"
    if measure in CONTINUOUS:
        return "continuous"
    return "generic"


def _within(folder: Path, relative: str) -> bool:
    target = (folder / relative).resolve()
    return target == folder or folder in target.parents


class _Problems:
    """Problems found in one config, each with the line of the key at fault."""

    def __init__(self, lines: Mapping[tuple[str, ...], int]) -> None:
        self.lines = lines
        self.found: list[tuple[int, str]] = []

    def add(self, path: tuple[str, ...], message: str) -> None:
        self.found.append((line_for(path, self.lines), f"{where(path)}: {message}"))

    def messages(self, source: str) -> list[str]:
        """``source:line: key: problem`` lines, sorted by line (no line when it is unknown)."""
        return [
            f"{source}:{line}: {msg}" if line else f"{source}: {msg}"
            for line, msg in sorted(self.found)
        ]


def schema_problems(config: Mapping[str, Any], problems: _Problems, schema_path: Path) -> None:
    """JSON Schema errors of ``config``, each at the line of the key at fault (an unknown key
    at its own line, with a close spelling; see :func:`evsynth.io.yamlfile.schema_problems`)."""
    schema = yaml.load(schema_path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    document = YamlDocument("", config, problems.lines)
    for problem in yaml_schema_problems(document, schema):
        problems.found.append((problem.line, problem.message))


def _table_columns(
    table: str, schema_dir: Path, cache: dict[str, tuple[set[str], list[str]]]
) -> tuple[set[str], list[str]] | None:
    """The columns of ``table`` and the tables it references (foreign keys), from its schema;
    None when the schema cannot be read (the validate stage reports that with its own
    message)."""
    if table in cache:
        return cache[table]
    path = schema_dir / f"{table}.schema.yaml"
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
        columns = {str(c) for c in document["columns"]}
        refs = [str(fk["table"]) for fk in document.get("foreign_keys") or []]
    except (OSError, yaml.YAMLError, TypeError, KeyError, AttributeError):
        return None
    cache[table] = (columns, refs)
    return cache[table]


def dataset_columns(table: str, schema_dir: Path, derived: Mapping[str, Any]) -> set[str] | None:
    """Every column an analysis of ``table`` can read after the validate stage: the table's
    own, those of the tables it joins (foreign keys, transitively), ``row_id`` and the derived
    columns whose inputs are there."""
    cache: dict[str, tuple[set[str], list[str]]] = {}
    seen, todo, columns = set(), [table], {"row_id"}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        found = _table_columns(name, schema_dir, cache)
        if found is None:
            return None
        columns |= found[0]
        todo.extend(found[1])
    for name in derived_order(derived):
        if set(derived_inputs(derived[name])) <= columns:
            columns.add(name)
    return columns


def table_references(tables: list[str], schema_dir: Path | str) -> dict[str, list[str]]:
    """``{table: the tables it joins through foreign keys, transitively}`` from the schemas
    (read with the YAML loader only: the Snakemake rules call this at every start)."""
    cache: dict[str, tuple[set[str], list[str]]] = {}
    out: dict[str, list[str]] = {}
    for table in tables:
        seen: list[str] = []
        todo = [table]
        while todo:
            found = _table_columns(todo.pop(), Path(schema_dir), cache)
            for ref in found[1] if found else []:
                if ref not in seen and ref != table:
                    seen.append(ref)
                    todo.append(ref)
        out[table] = sorted(seen)
    return out


def derived_inputs(spec: Mapping[str, Any]) -> list[str]:
    """The columns a derived column reads."""
    out: list[str] = []
    for key in ("sum", "product", "ratio", "difference", "greater"):
        out += list(spec.get(key) or [])
    if "equals" in spec:
        out.append(spec["equals"]["column"])
    for key in ("cut", "column"):
        if key in spec:
            out.append(spec[key])
    return out


def derived_order(derived: Mapping[str, Any]) -> list[str]:
    """Derived columns in an order where each comes after the derived columns it reads
    (config order otherwise; a cycle leaves the rest in config order, reported elsewhere)."""
    order: list[str] = []
    pending = list(derived)
    while pending:
        ready = [n for n in pending if not (set(derived_inputs(derived[n])) & set(pending) - {n})]
        if not ready:
            return order + pending
        order.append(ready[0])
        pending.remove(ready[0])
    return order


def _check_derived(config: Mapping[str, Any], problems: _Problems) -> None:
    for name, spec in (config.get("derived") or {}).items():
        at = ("derived", name)
        ops = [k for k in DERIVED_OPERATIONS if k in spec]
        if len(ops) != 1:
            problems.add(
                at,
                f"give exactly one of {', '.join(DERIVED_OPERATIONS)} (found "
                f"{', '.join(ops) or 'none'})",
            )
            continue
        op = ops[0]
        if ("times" in spec or "divide_by" in spec) and op not in ("product", "column", "sum"):
            problems.add(at, "times / divide_by apply to product, sum or column only")
        if op == "column" and not ("times" in spec or "divide_by" in spec):
            problems.add(at, "column: give times or divide_by (a constant factor)")
        if (op == "cut") != ("breaks" in spec):
            problems.add(at, "cut and breaks go together")
        if op == "cut" and "breaks" in spec:
            breaks, labels = spec["breaks"], spec.get("labels") or []
            if list(breaks) != sorted(set(breaks)):
                problems.add((*at, "breaks"), "breaks must increase")
            if len(labels) != len(breaks) + 1:
                problems.add(
                    (*at, "labels"),
                    f"{len(breaks)} breaks make {len(breaks) + 1} bands: give that many labels",
                )
        elif "labels" in spec:
            problems.add((*at, "labels"), "labels go with cut")
        if name in derived_inputs(spec):
            problems.add(at, "a derived column cannot read itself")


def _check_columns(config: Mapping[str, Any], review_dir: Path, problems: _Problems) -> None:
    """Each analysis's columns exist in its dataset (schema, joined tables, derived)."""
    schemas = Path(config.get("paths", {}).get("schemas", DEFAULT_PATHS["schemas"]))
    schema_dir = review_dir / schemas
    derived = config.get("derived") or {}
    known: dict[str, set[str] | None] = {}  # each dataset's schemas are read once
    for section in ("analyses", "markers"):
        for name, spec in (config.get(section) or {}).items():
            if spec["dataset"] not in known:
                known[spec["dataset"]] = dataset_columns(spec["dataset"], schema_dir, derived)
            columns = known[spec["dataset"]]
            if columns is None:
                continue
            shown = (schemas / f"{spec['dataset']}.schema.yaml").as_posix()
            used = [("where", c) for c in spec.get("where") or {}]
            used += [(k, c) for k in ("subgroups", "moderators") for c in spec.get(k) or []]
            dr = spec.get("dose_response")
            if dr:
                used.append(("dose_response", dr["variable"]))
                used += [("dose_response", c) for c in dr.get("where") or {}]
            rob = (config["review"].get("risk_of_bias") or {}) if section == "analyses" else {}
            used += [(f"review.risk_of_bias.{k}", c) for k, c in rob.items()]
            for index, sens in enumerate(spec.get("sensitivity") or []):
                used += [(f"sensitivity.{index}", c) for c in sens.get("where") or {}]
            for key, column in used:
                if column not in columns:
                    at = (
                        tuple(key.split("."))
                        if key.startswith("review.")
                        else (section, name, *key.split("."))
                    )
                    problems.add(
                        at,
                        f"column {column!r} is not a column of {spec['dataset']} ({shown}), of "
                        "a table it joins, or a derived column; fix the name or add the column",
                    )
            if section == "analyses":
                _check_measure_columns(name, spec, columns, shown, problems)


def _check_measure_columns(
    name: str, spec: Mapping[str, Any], columns: set[str], shown: str, problems: _Problems
) -> None:
    measure = spec["measure"]
    kinds = [input_kind(measure)] if measure not in GENERIC_ONLY else []
    kinds.append("generic")
    usable = [k for k in kinds if set(COLUMNS_OF[k]) <= columns]
    if not usable:
        wanted = " or ".join(", ".join(COLUMNS_OF[k]) for k in kinds)
        problems.add(
            ("analyses", name, "measure"),
            f"a {measure} analysis needs the columns {wanted} in {spec['dataset']} ({shown})",
        )
    has_spread = {"ci_low", "ci_high"} <= columns or "se" in columns
    if usable == ["generic"] and not has_spread:
        problems.add(
            ("analyses", name, "measure"),
            f"published estimates need ci_low and ci_high, or se, in {spec['dataset']}",
        )


def _check_models(config: Mapping[str, Any], problems: _Problems) -> None:
    defaults = config.get("defaults") or {}
    for name, spec in (config.get("analyses") or {}).items():
        at = ("analyses", name)
        measure = spec["measure"]
        model = spec.get("model", defaults.get("model", DEFAULTS["model"]))
        fixed = spec.get("fixed_method", defaults.get("fixed_method", DEFAULTS["fixed_method"]))
        if model == "fixed" and fixed in ("MH", "Peto") and measure not in BINARY:
            problems.add((*at, "fixed_method"), f"{fixed} needs 2x2 tables (RR, OR or RD)")
        if model == "fixed" and fixed == "Peto" and measure != "OR":
            problems.add((*at, "fixed_method"), "Peto's method gives an odds ratio: use measure OR")
        if "nnt_trial" in spec and measure not in BINARY:
            problems.add((*at, "nnt_trial"), "a single-trial NNT needs a binary measure")
        if "control_risk" in spec and measure not in ("RR", "OR", "RD", "HR"):
            problems.add((*at, "control_risk"), "absolute risks need a binary or hazard ratio")
        if "dose_response" in spec and measure != "RR":
            problems.add((*at, "dose_response"), "the dose–response model needs measure RR")
        for other in spec.get("accept") or []:
            if (other in RATIOS) != (measure in RATIOS):
                problems.add(
                    (*at, "accept"),
                    f"{other} cannot enter a {measure} analysis (ratios and differences "
                    "do not mix)",
                )


def cross_checks(config: Mapping[str, Any], review_dir: Path, problems: _Problems) -> None:
    """The checks a schema cannot express (run only on a config the schema accepts)."""
    folder = review_dir.resolve()
    for key, value in (config.get("paths") or {}).items():
        if not _within(folder, value):
            problems.add(
                ("paths", key), f"{value!r} leaves the review folder; use a path inside it"
            )
    tables = set(config["tables"])
    for section in ("analyses", "markers"):
        for name, spec in (config.get(section) or {}).items():
            if spec["dataset"] not in tables:
                problems.add(
                    (section, name, "dataset"),
                    f"{spec['dataset']!r} is not one of the tables {sorted(tables)}; add it to "
                    "'tables' or fix the name",
                )
    _check_derived(config, problems)
    _check_models(config, problems)
    if not problems.found:
        _check_columns(config, folder, problems)


def validate_config(
    config: Mapping[str, Any],
    *,
    source: str = "config/config.yaml",
    project_dir: Path | str = ".",
    lines: Mapping[tuple[str, ...], int] | None = None,
    schema_path: Path = SCHEMA_PATH,
) -> dict[str, Any]:
    """Check ``config`` against the schema and the cross-field rules; return it with every
    default filled in (see :func:`with_defaults`). ``project_dir`` is the review folder.

    Raises :class:`DataValidationError` listing every problem as ``source:line: key: message``.
    """
    problems = _Problems(lines or {})
    schema_problems(config, problems, schema_path)
    if not problems.found:
        cross_checks(config, Path(project_dir), problems)
    if problems.found:
        raise DataValidationError(problems.messages(source))
    return with_defaults(config)


def with_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``config`` whose paths and analyses carry every default explicitly.

    ``figures`` is merged key by key: an analysis that sets only ``figures.kinds`` keeps the
    default ``formats`` (and the defaults' ``figures`` likewise fill in from :data:`DEFAULTS`).
    """
    resolved = dict(config)
    resolved["paths"] = {**DEFAULT_PATHS, **(config.get("paths") or {})}
    given = config.get("defaults") or {}
    defaults = {
        **DEFAULTS,
        **given,
        "figures": {**DEFAULTS["figures"], **given.get("figures", {})},
    }
    resolved["defaults"] = defaults
    resolved["analyses"] = {
        name: {
            **defaults,
            **ANALYSIS_OPTIONAL,
            **spec,
            "figures": {**defaults["figures"], **spec.get("figures", {})},
        }
        for name, spec in config["analyses"].items()
    }
    resolved["markers"] = {
        name: {"where": {}, **spec} for name, spec in (config.get("markers") or {}).items()
    }
    resolved.setdefault("derived", {})
    resolved["variables"] = dict(config.get("variables") or {})
    return resolved


def figure_settings(config: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    """``{analysis id: its figures setting}`` of a validated config (see :func:`with_defaults`)."""
    return {name: dict(spec["figures"]) for name, spec in config["analyses"].items()}


def read_yaml(path: Path | str, what: str) -> tuple[Any, Mapping[tuple[str, ...], int]]:
    """Read a YAML file with :func:`evsynth.io.yamlfile.load_yaml` (safe loader, duplicate keys
    refused, errors at their line): its data and the line of every key path."""
    document = load_yaml(path, what=what)
    return document.data, document.lines


def load_config(path: Path | str, project_dir: Path | str | None = None) -> dict[str, Any]:
    """Read a YAML config safely and validate it (see :func:`validate_config`).

    ``project_dir`` is the review folder; by default the folder holding ``config/``
    (the parent of the config file's folder).
    """
    path = Path(path)
    review_dir = Path(project_dir) if project_dir is not None else path.resolve().parent.parent
    config, lines = read_yaml(path, "config")
    return validate_config(config, source=str(path), project_dir=review_dir, lines=lines)
