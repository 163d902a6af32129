"""Load the raw CSV tables and check them against their schemas in ``workflow/schemas/``.

Reading happens in three layers, each reporting every problem it finds:

1. **Bytes and structure** (Python's :mod:`csv` module on the decoded text): the file must be
   valid UTF-8 (a UTF-8 byte-order mark is accepted), must not be empty or header-only, and
   its header must have no duplicate, missing or unexpected columns; every record must have
   as many fields as the header. Each record is mapped to the line an editor shows for its
   first character (header = line 1): ``csv.reader.line_num`` counts the physical lines read
   so far, so a record starts on ``line_num + 1`` taken *before* it is read. A quoted cell that
   spans several lines therefore pushes the following records further down, exactly as an
   editor shows them.
2. **Cells** (a pandera ``DataFrameSchema`` built from the YAML schema, validated with
   ``lazy=True`` so every failure is collected): type (strictly: ``"12 "``, ``"12.5"`` and
   ``"1e3"`` are not integers), blank cells where a value is required, allowed values, regular
   expressions, bounds and the unique key.
3. **Across cells and tables** (:data:`CROSS_CHECKS`, named in the schema's ``checks``):
   events ≤ n, ``ci_low ≤ effect ≤ ci_high`` and all > 0 for ratio measures, fields required
   when others are given, and foreign keys into ``studies.csv``.

Every problem is one line, ``<path>:<line>: column '<name>': <what is wrong>``, and all of
them, for every table, are raised together as one :class:`~evsynth.errors.DataValidationError`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa
import yaml
from pandera.errors import SchemaErrors

from evsynth.errors import DataValidationError

TYPES = ("string", "integer", "number", "boolean")
INTEGER_RE = re.compile(r"[+-]?[0-9]+")
NUMBER_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
BOOLEANS = {"true": True, "false": False}
COLUMN_KEYS = {"type", "required", "nullable", "allowed", "regex", "min", "max", "description"}
COLUMN_KEYS |= {"quoted"}  # read by evsynth.validate.provenance (the provenance check)
TABLE_KEYS = {"table", "columns", "unique", "foreign_keys", "checks", "description"}


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a table schema (the format is documented in studies.schema.yaml)."""

    name: str
    type: str = "string"
    required: bool = True
    nullable: bool = True
    allowed: tuple[str, ...] | None = None
    regex: str | None = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class TableSchema:
    """A raw table's schema: columns in file order, unique key, foreign keys, cross checks."""

    table: str
    columns: tuple[ColumnSpec, ...]
    unique: tuple[str, ...] = ()
    foreign_keys: tuple[Mapping[str, Any], ...] = ()
    checks: tuple[Mapping[str, Any], ...] = ()
    path: str = ""

    def column(self, name: str) -> ColumnSpec:
        """The spec of column ``name``."""
        return next(c for c in self.columns if c.name == name)

    @property
    def names(self) -> list[str]:
        """Column names in schema order."""
        return [c.name for c in self.columns]


@dataclass
class RawTable:
    """A raw table as read: text cells (``None`` = blank) and typed cells, indexed by line."""

    name: str
    path: str
    schema: TableSchema
    text: pd.DataFrame
    typed: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass(order=True)
class Problem:
    """One finding; sorts by editor line, then by the column's position in the schema."""

    line: int
    position: int
    message: str = field(compare=False)
    path: str = field(compare=False, default="")
    column: str | None = field(compare=False, default=None)

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        column = f" column '{self.column}':" if self.column else ""
        return f"{where}:{column} {self.message}"


# --------------------------------------------------------------------------- schemas


def load_schema(table: str, schema_dir: str | Path) -> TableSchema:
    """Read ``<schema_dir>/<table>.schema.yaml`` (``yaml.safe_load``) into a :class:`TableSchema`.

    Raises :class:`DataValidationError` naming the schema file when the schema itself is
    malformed (unknown keys or types, unknown checks, a key column that is not a column).
    """
    path = Path(schema_dir) / f"{table}.schema.yaml"
    shown = str(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise DataValidationError([f"{shown}: cannot read the schema: {error}"]) from None
    if not isinstance(document, dict) or not isinstance(document.get("columns"), dict):
        raise DataValidationError([f"{shown}: the schema needs a 'columns' mapping"])
    problems = [
        f"{shown}: unknown key '{key}' (allowed: {', '.join(sorted(TABLE_KEYS))})"
        for key in sorted(set(document) - TABLE_KEYS)
    ]
    columns = []
    for name, spec in document["columns"].items():
        spec = spec or {}
        if not isinstance(spec, dict):
            problems.append(f"{shown}: column '{name}' must map to its settings")
            continue
        for key in sorted(set(spec) - COLUMN_KEYS):
            problems.append(f"{shown}: column '{name}': unknown setting '{key}'")
        if spec.get("type", "string") not in TYPES:
            problems.append(f"{shown}: column '{name}': type must be one of {', '.join(TYPES)}")
        allowed = spec.get("allowed")
        columns.append(
            ColumnSpec(
                name=str(name),
                type=spec.get("type", "string"),
                required=bool(spec.get("required", True)),
                nullable=bool(spec.get("nullable", True)),
                allowed=None if allowed is None else tuple(str(v) for v in allowed),
                regex=spec.get("regex"),
                min=spec.get("min"),
                max=spec.get("max"),
            )
        )
    names = {c.name for c in columns}
    unique = tuple(document.get("unique") or ())
    problems += [
        f"{shown}: unique key column '{name}' is not a column"
        for name in unique
        if name not in names
    ]
    checks = tuple(document.get("checks") or ())
    problems += [
        f"{shown}: unknown check {c.get('check')!r} (known: {', '.join(sorted(CROSS_CHECKS))})"
        for c in checks
        if c.get("check") not in CROSS_CHECKS
    ]
    if problems:
        raise DataValidationError(problems)
    return TableSchema(
        table=str(document.get("table", table)),
        columns=tuple(columns),
        unique=unique,
        foreign_keys=tuple(document.get("foreign_keys") or ()),
        checks=checks,
        path=shown,
    )


# --------------------------------------------------------------------------- reading


def _shown(value: str, limit: int = 60) -> str:
    """A cell value quoted for a message (``repr``, so spaces show), shortened when long."""
    text = value if len(value) <= limit else value[: limit - 1] + "…"
    return repr(text)


def decode_utf8(data: bytes, path: str) -> tuple[str | None, list[Problem]]:
    """Decode ``data`` as strict UTF-8, dropping a leading byte-order mark.

    Returns ``(text, [])`` or ``(None, [problem])`` naming the line of the first bad byte.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        bad = data[error.start : error.start + 1].hex()
        message = (
            f"byte 0x{bad} is not valid UTF-8 (the first bad byte); save the file as UTF-8 "
            "(it looks like Latin-1 or Windows-1252)"
        )
        return None, [Problem(line, -1, message, path)]


def read_records(
    text: str, path: str
) -> tuple[list[str], list[tuple[int, list[str]]], list[Problem]]:
    """Split decoded CSV text into its header and ``(editor line, fields)`` records.

    ``csv.reader.line_num`` is the number of physical lines consumed so far; a record starts
    on the line after the one the previous record ended on. Blank lines are skipped.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    header_line = 0
    records: list[tuple[int, list[str]]] = []
    try:
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            if not row or row == [""]:
                continue
            if header is None:
                header, header_line = row, start
            else:
                records.append((start, row))
    except csv.Error as error:
        message = f"cannot parse the CSV ({error}); check the quotes on this line"
        return header or [], records, [Problem(max(reader.line_num, 1), -1, message, path)]
    if header is None:
        return [], [], [Problem(1, -1, "the file is empty; expected a header line", path)]
    problems: list[Problem] = []
    if header_line != 1:
        problems.append(Problem(header_line, -1, "blank lines before the header", path))
    width = len(header)
    for line, row in records:
        if len(row) != width:
            problems.append(
                Problem(
                    line,
                    -1,
                    f"this record has {len(row)} fields but the header has {width} "
                    "(a comma inside an unquoted cell? quote the cell)",
                    path,
                )
            )
    if not records and not problems:
        problems.append(Problem(1, -1, "the file has a header but no data rows", path))
    return header, records, problems


def check_header(
    header: Sequence[str], schema: TableSchema, path: str
) -> tuple[bool, list[Problem]]:
    """Duplicate, missing and unexpected columns. Returns ``(fatal, problems)``."""
    problems: list[Problem] = []
    fatal = False
    seen: set[str] = set()
    expected = schema.names
    for name in header:
        if name in seen:
            problems.append(
                Problem(1, -1, "appears more than once in the header; keep one", path, name)
            )
            fatal = True
        seen.add(name)
    for position, spec in enumerate(schema.columns):
        if spec.required and spec.name not in seen:
            what = "is missing from the header; add it"
            if spec.nullable:
                what += " (leave cells blank where unknown)"
            problems.append(Problem(1, position, what, path, spec.name))
    for name in header:
        if name not in expected:
            hint = f" (did you mean '{name.strip()}'?)" if name.strip() in expected else ""
            problems.append(
                Problem(
                    1,
                    len(expected),
                    f"is not a column of {schema.table}{hint}; remove it or add it to "
                    f"{schema.path}",
                    path,
                    name,
                )
            )
    return fatal, problems


def read_raw(path: str | Path, schema: TableSchema) -> tuple[RawTable | None, list[Problem]]:
    """Read one raw CSV file as text cells indexed by editor line (``None`` when unusable)."""
    shown = Path(path).as_posix()
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        return None, [Problem(0, -1, f"cannot read the file: {error.strerror}", shown)]
    text, problems = decode_utf8(data, shown)
    if text is None:
        return None, problems
    header, records, problems = read_records(text, shown)
    if problems:
        return None, problems
    fatal, problems = check_header(header, schema, shown)
    if fatal:
        return None, problems
    frame = pd.DataFrame(
        [[None if cell == "" else cell for cell in row] for _, row in records],
        columns=header,
        dtype=object,
        index=pd.Index([line for line, _ in records], name="line"),
    )
    known = [c for c in schema.names if c in frame.columns]
    return RawTable(schema.table, shown, schema, frame[known]), problems


# --------------------------------------------------------------------------- cell checks


def parses(spec: ColumnSpec, value: str) -> bool:
    """Whether the text ``value`` is a valid literal of the column's type."""
    if spec.type == "integer":
        return INTEGER_RE.fullmatch(value) is not None
    if spec.type == "number":
        return NUMBER_RE.fullmatch(value) is not None
    if spec.type == "boolean":
        return value in BOOLEANS
    return True


def _element(fn: Callable[[str], bool], error: str) -> pa.Check:
    """An element-wise pandera check whose ``error`` text is the problem's message."""
    return pa.Check(fn, element_wise=True, error=error, ignore_na=True)


def cell_checks(spec: ColumnSpec) -> list[pa.Check]:
    """pandera checks on the text cells of one column, built from its schema settings."""
    checks = [_element(lambda v: v.strip() != "", "is only spaces; leave it blank or fill it in")]
    if spec.type != "string":
        what = {
            "integer": "is not a whole number (digits only, no spaces, decimals or exponents)",
            "number": "is not a number (digits with an optional '.', no spaces or commas)",
            "boolean": "is not true or false",
        }[spec.type]
        checks.append(_element(lambda v: parses(spec, v), what))
    if spec.min is not None:
        low = spec.min
        hint = " (counts cannot be negative)" if spec.type == "integer" and low == 0 else ""
        checks.append(
            _element(lambda v: not parses(spec, v) or float(v) >= low, f"is below {low}{hint}")
        )
    if spec.max is not None:
        high = spec.max
        checks.append(
            _element(lambda v: not parses(spec, v) or float(v) <= high, f"is above {high}")
        )
    if spec.allowed is not None:
        allowed = frozenset(spec.allowed)
        listed = ", ".join(spec.allowed)
        checks.append(
            _element(lambda v: v in allowed, f"is not one of the allowed values: {listed}")
        )
    if spec.regex is not None:
        pattern = re.compile(spec.regex)
        checks.append(
            _element(
                lambda v: pattern.fullmatch(v) is not None,
                f"does not match the pattern {spec.regex}",
            )
        )
    return checks


def dataframe_schema(schema: TableSchema, present: Iterable[str]) -> pa.DataFrameSchema:
    """The pandera schema of a table's *text* cells, for the columns present in the file."""
    present = set(present)
    columns = {
        spec.name: pa.Column(None, nullable=spec.nullable, required=True, checks=cell_checks(spec))
        for spec in schema.columns
        if spec.name in present
    }
    unique = list(schema.unique) if schema.unique and set(schema.unique) <= present else None
    return pa.DataFrameSchema(columns, unique=unique, report_duplicates="exclude_first")


def check_cells(table: RawTable) -> list[Problem]:
    """Run the pandera schema lazily and turn every failure case into a :class:`Problem`."""
    frame = table.text
    try:
        dataframe_schema(table.schema, frame.columns).validate(frame, lazy=True)
    except SchemaErrors as errors:
        cases = errors.failure_cases.to_dict(orient="records")
    else:
        return []
    names = table.schema.names
    problems: list[Problem] = []
    duplicates: set[int] = set()
    for case in cases:
        line, column, check = case["index"], case["column"], str(case["check"])
        if line is None or pd.isna(line):  # a table-level failure without a row
            problems.append(Problem(0, -1, f"{check}: {case['failure_case']}", table.path, column))
        elif check == "multiple_fields_uniqueness":
            duplicates.add(int(line))
        elif check == "not_nullable":
            what = "is blank but a value is required"
            problems.append(Problem(int(line), names.index(column), what, table.path, column))
        else:
            what = f"{_shown(str(case['failure_case']))} {check}"
            problems.append(Problem(int(line), names.index(column), what, table.path, column))
    key = list(table.schema.unique)
    for line in sorted(duplicates):
        values = list(frame.loc[line, key])
        same = [list(row) == values for row in frame[key].itertuples(index=False)]
        first = int(frame.index[same.index(True)])
        shown = ", ".join(f"{k}={v!r}" for k, v in zip(key, values, strict=True))
        problems.append(
            Problem(
                line,
                names.index(key[0]),
                f"duplicate key ({shown}), first on line {first}; each key may appear once",
                table.path,
                key[0],
            )
        )
    return problems


def typed_frame(table: RawTable) -> pd.DataFrame:
    """Parse the text cells by type; blank cells and cells that do not parse become missing.

    integer → ``Int64``, number → ``float64``, boolean → ``boolean``, string → object
    (``None`` for blank).
    """
    out: dict[str, Any] = {}
    for name in table.text.columns:
        spec = table.schema.column(name)
        cells = [v if v is not None and parses(spec, v) else None for v in table.text[name]]
        if spec.type == "integer":
            out[name] = pd.array([pd.NA if v is None else int(v) for v in cells], "Int64")
        elif spec.type == "number":
            out[name] = pd.array(
                [float("nan") if v is None else float(v) for v in cells], "float64"
            )
        elif spec.type == "boolean":
            out[name] = pd.array([pd.NA if v is None else BOOLEANS[v] for v in cells], "boolean")
        else:
            out[name] = pd.Series(list(table.text[name]), dtype=object).to_numpy()
    return pd.DataFrame(out, index=table.text.index)


# --------------------------------------------------------------------------- cross checks


def _rows(table: RawTable, columns: Iterable[str | None]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, the row's typed ``columns`` as a plain dict) for every row: a dict lookup per
    cell instead of a pandas Series per row (iterrows), which made the checks of a
    20,000-row table take seconds."""
    wanted = [c for c in dict.fromkeys(columns) if c is not None and c in table.typed.columns]
    frame = table.typed[wanted]
    return zip((int(i) for i in frame.index), frame.to_dict("records"), strict=True)


def _given(row: Mapping[str, Any], column: str) -> bool:
    return column in row and row[column] is not None and not pd.isna(row[column])


def _text(table: RawTable, line: int, column: str) -> str:
    return str(table.text.at[line, column])


CrossCheck = Callable[[RawTable, Mapping[str, Any]], list[Problem]]


def counts_within_n(table: RawTable, spec: Mapping[str, Any]) -> list[Problem]:
    """Each ``[events, n]`` pair: events ≤ n (when both are given)."""
    problems = []
    names = table.schema.names
    for line, row in _rows(table, [c for pair in spec["pairs"] for c in pair]):
        for events, n in spec["pairs"]:
            if not (_given(row, events) and _given(row, n)) or row[n] < 0:
                continue  # a negative n is reported by the cell checks
            if row[events] > row[n]:
                problems.append(
                    Problem(
                        int(line),
                        names.index(events),
                        f"{row[events]} exceeds {n} ({row[n]}); events cannot exceed the "
                        "participants analysed",
                        table.path,
                        events,
                    )
                )
    return problems


def interval(table: RawTable, spec: Mapping[str, Any]) -> list[Problem]:
    """``low ≤ high``; with ``inside``, ``low ≤ estimate ≤ high``; all > 0 for ratio measures."""
    est, low, high = spec["estimate"], spec["low"], spec["high"]
    ratio_column, ratio_values = spec.get("ratio_column"), set(spec.get("ratio_values") or ())
    names = table.schema.names
    problems = []
    for line, row in _rows(table, [est, low, high, ratio_column]):
        if ratio_column and _given(row, ratio_column) and row[ratio_column] in ratio_values:
            for column in (est, low, high):
                if _given(row, column) and row[column] <= 0:
                    problems.append(
                        Problem(
                            line,
                            names.index(column),
                            f"{_text(table, line, column)} is not > 0; a ratio measure "
                            f"({row[ratio_column]}) and its CI must be positive",
                            table.path,
                            column,
                        )
                    )
        if not (_given(row, low) and _given(row, high)):
            continue
        low_text, high_text = _text(table, line, low), _text(table, line, high)
        if row[low] > row[high]:
            problems.append(
                Problem(
                    line,
                    names.index(low),
                    f"{low_text} exceeds {high} ({high_text}); are the bounds swapped?",
                    table.path,
                    low,
                )
            )
        elif spec.get("inside") and _given(row, est) and not row[low] <= row[est] <= row[high]:
            problems.append(
                Problem(
                    line,
                    names.index(est),
                    f"{_text(table, line, est)} lies outside its CI {low_text} to {high_text} "
                    f"({low} ≤ {est} ≤ {high} is required); check the numbers against the source",
                    table.path,
                    est,
                )
            )
    return problems


def required_when_any(table: RawTable, spec: Mapping[str, Any]) -> list[Problem]:
    """``column`` must be non-blank when any of ``when_any`` is given."""
    column, others = spec["column"], spec["when_any"]
    if column not in table.typed.columns:
        return []
    problems = []
    for line, row in _rows(table, [column, *others]):
        given = [c for c in others if _given(row, c)]
        if given and not _given(row, column):
            verb = "is" if len(given) == 1 else "are"
            problems.append(
                Problem(
                    int(line),
                    table.schema.names.index(column),
                    f"is blank but {', '.join(given)} {verb} given; fill it in",
                    table.path,
                    column,
                )
            )
    return problems


def required_when_value(table: RawTable, spec: Mapping[str, Any]) -> list[Problem]:
    """``column`` must be non-blank when ``when_column`` equals ``when_value``."""
    column, other, value = spec["column"], spec["when_column"], spec["when_value"]
    if column not in table.typed.columns or other not in table.typed.columns:
        return []
    shown = str(value).lower() if isinstance(value, bool) else value
    problems = []
    for line, row in _rows(table, [column, other]):
        if _given(row, other) and row[other] == value and not _given(row, column):
            problems.append(
                Problem(
                    int(line),
                    table.schema.names.index(column),
                    f"is blank but {other} is {shown}; say why the row is left out",
                    table.path,
                    column,
                )
            )
    return problems


def together(table: RawTable, spec: Mapping[str, Any]) -> list[Problem]:
    """The ``columns`` are all given or all blank."""
    columns = [c for c in spec["columns"] if c in table.typed.columns]
    problems = []
    for line, row in _rows(table, columns):
        given = [c for c in columns if _given(row, c)]
        if given and len(given) < len(columns):
            missing = next(c for c in columns if c not in given)
            problems.append(
                Problem(
                    int(line),
                    table.schema.names.index(missing),
                    f"is blank but {', '.join(given)} is given; give both or neither",
                    table.path,
                    missing,
                )
            )
    return problems


#: Cross-field checks a schema may name under ``checks``.
CROSS_CHECKS: dict[str, CrossCheck] = {
    "counts_within_n": counts_within_n,
    "interval": interval,
    "required_when_any": required_when_any,
    "required_when_value": required_when_value,
    "together": together,
}


def _columns_of(spec: Mapping[str, Any]) -> set[str]:
    """Every column a cross-check names."""
    names: set[str] = set()
    for key, value in spec.items():
        if key in ("check", "inside", "ratio_values", "when_value"):
            continue
        items = value if isinstance(value, list) else [value]
        for item in items:
            names.update(item if isinstance(item, list) else [item])
    return {str(n) for n in names}


def check_cross(table: RawTable) -> list[Problem]:
    """Run the schema's cross-field checks (one whose columns are missing is skipped)."""
    problems: list[Problem] = []
    for spec in table.schema.checks:
        if _columns_of(spec) <= set(table.typed.columns):
            problems.extend(CROSS_CHECKS[spec["check"]](table, spec))
    return problems


def check_foreign_keys(table: RawTable, tables: Mapping[str, RawTable]) -> list[Problem]:
    """Every non-blank foreign-key combination must exist in the referenced table."""
    problems: list[Problem] = []
    for fk in table.schema.foreign_keys:
        columns, target = list(fk["columns"]), tables.get(fk["table"])
        ref_columns = list(fk.get("ref_columns", columns))
        if target is None or not set(columns) <= set(table.typed.columns):
            continue
        if not set(ref_columns) <= set(target.typed.columns):
            continue
        known = set(target.typed[ref_columns].itertuples(index=False, name=None))
        for line, row in _rows(table, columns):
            values = tuple(row[c] for c in columns)
            if any(v is None or pd.isna(v) for v in values) or values in known:
                continue
            shown = ", ".join(f"{c}={v!r}" for c, v in zip(columns, values, strict=True))
            problems.append(
                Problem(
                    int(line),
                    table.schema.names.index(columns[0]),
                    f"({shown}) has no row in {target.path}; add it there or fix the spelling",
                    table.path,
                    columns[0],
                )
            )
    return problems


# --------------------------------------------------------------------------- entry point


def raw_path(raw_dir: str | Path, table: str) -> Path:
    """``<raw_dir>/<table>.csv``."""
    return Path(raw_dir) / f"{table}.csv"


def required_tables(names: Iterable[str], schema_dir: str | Path) -> list[str]:
    """``names`` plus the tables their foreign keys refer to (transitively), each table after
    the tables it refers to (then in alphabetical order)."""
    refs: dict[str, list[str]] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in refs:
            refs[name] = sorted({fk["table"] for fk in load_schema(name, schema_dir).foreign_keys})
            todo.extend(refs[name])
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in order or name in path:
            return
        for ref in refs.get(name, []):
            visit(ref, (*path, name))
        order.append(name)

    for name in sorted(refs):
        visit(name, ())
    return order


def validate_tables(
    raw_dir: str | Path,
    names: Iterable[str],
    schema_dir: str | Path,
) -> dict[str, RawTable]:
    """Read and check ``names`` (and the tables they refer to) from ``raw_dir``.

    Returns the tables with their typed frames, or raises :class:`DataValidationError` listing
    every problem of every table, each as ``path:line: column 'name': problem``. A file whose
    structure is broken (bad UTF-8, ragged lines, duplicate columns, empty) is reported without
    its cell checks; the other tables are still checked.
    """
    tables: dict[str, RawTable] = {}
    messages: list[str] = []
    for name in required_tables(names, schema_dir):
        schema = load_schema(name, schema_dir)
        table, problems = read_raw(raw_path(raw_dir, name), schema)
        if table is not None:
            problems += check_cells(table)
            table.typed = typed_frame(table)
            problems += check_cross(table)
            problems += check_foreign_keys(table, tables)
            tables[name] = table
        messages.extend(str(p) for p in sorted(problems))
    if messages:
        raise DataValidationError(messages)
    return tables
