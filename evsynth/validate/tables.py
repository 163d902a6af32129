"""Load the raw CSV tables and check them against their schemas in ``workflow/schemas/``.

Reading happens in three layers, each reporting every problem it finds:

1. **Bytes and structure** (Python's :mod:`csv` module on the decoded text): the file must be
   valid UTF-8 (a UTF-8 byte-order mark is accepted) without control characters other than
   tab, CR and LF (:mod:`evsynth.io.text`), must not be empty or header-only, and its header
   must have no duplicate, missing or unexpected columns; every record must have as many
   fields as the header. Each record is mapped to the line an editor shows for its first
   character (header = line 1): ``csv.reader.line_num`` counts the physical lines read so
   far, so a record starts on ``line_num + 1`` taken *before* it is read. A quoted cell that
   spans several lines therefore pushes the following records further down, exactly as an
   editor shows them.
2. **Cells** (a pandera ``DataFrameSchema`` built from the YAML schema, validated with
   ``lazy=True`` so every failure is collected): type (strictly: ``"12 "``, ``"12.5"`` and
   ``"1e3"`` are not integers; whole numbers within ±(2^53 − 1), the largest a float64 holds
   exactly; numbers finite), blank cells where a value is required, allowed values, regular
   expressions and bounds. Each check is evaluated once per *distinct* text of a column
   (``pd.factorize``), so its cost follows the number of distinct values, not of rows.
3. **Across cells, rows and tables**: the unique key (one pass with a dict: each duplicate
   names the line of the key's first row), the cross-field checks named in the schema's
   ``checks`` (:data:`CROSS_CHECKS`, vectorised over the rows: events ≤ n, n > 0 when the arm
   is reported, ``ci_low ≤ effect ≤ ci_high`` and all > 0 for ratio measures, fields required
   when others are given) and foreign keys into ``studies.csv`` (a set lookup per row).

Every layer is linear in the number of rows (sorting the problems found is n log n).
Every problem is one line, ``<path>:<line>: column '<name>': <what is wrong>``, and all of
them, for every table, are raised together as one :class:`~evsynth.errors.DataValidationError`.
The schemas themselves are YAML files read by :func:`evsynth.io.yamlfile.load_yaml` and checked
against ``evsynth/schemas/table.schema.yaml``; their problems name the schema's line.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import yaml
from pandera.errors import SchemaErrors

from evsynth.errors import DataValidationError
from evsynth.io import text as textio
from evsynth.io.yamlfile import YamlDocument, YamlProblem, by_line, load_yaml, schema_problems

TYPES = ("string", "integer", "number", "boolean")
NUMERIC = ("integer", "number")
INTEGER_RE = re.compile(r"[+-]?[0-9]+")
NUMBER_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
#: Words Python's float() reads as infinite or NaN: rejected with their own message.
NON_FINITE_RE = re.compile(r"[+-]?(inf|infinity|nan)", re.IGNORECASE)
BOOLEANS = {"true": True, "false": False}
#: The largest whole number a float64 holds exactly (2^53 - 1): the engine computes in float64.
MAX_INTEGER = 2**53 - 1
#: The JSON Schema of a table schema's format (package data).
TABLE_SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "table.schema.yaml"


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
    """Read ``<schema_dir>/<table>.schema.yaml`` into a :class:`TableSchema`.

    The file is read with :func:`~evsynth.io.yamlfile.load_yaml` and checked against
    ``evsynth/schemas/table.schema.yaml`` plus what JSON Schema cannot say (the key columns,
    foreign-key columns and checked columns are columns; comparisons are on numeric columns;
    regular expressions compile; ``min <= max``). Raises :class:`DataValidationError` with
    every problem at its line of the schema file.
    """
    path = Path(schema_dir) / f"{table}.schema.yaml"
    document = load_yaml(path, what="table schema")
    meta = yaml.safe_load(TABLE_SCHEMA_PATH.read_text(encoding="utf-8"))
    problems = schema_problems(document, meta) or _schema_consistency(document)
    if problems:
        raise DataValidationError([str(p) for p in by_line(problems)])
    data = document.data
    columns = tuple(
        ColumnSpec(
            name=str(name),
            type=spec.get("type", "string"),
            required=spec.get("required", True),
            nullable=spec.get("nullable", True),
            allowed=None if "allowed" not in spec else tuple(str(v) for v in spec["allowed"]),
            regex=spec.get("regex"),
            min=spec.get("min"),
            max=spec.get("max"),
        )
        for name, spec in ((n, s or {}) for n, s in data["columns"].items())
    )
    return TableSchema(
        table=str(data.get("table", table)),
        columns=columns,
        unique=tuple(data.get("unique") or ()),
        foreign_keys=tuple(data.get("foreign_keys") or ()),
        checks=tuple(data.get("checks") or ()),
        path=str(path),
    )


def _compared_columns(spec: Mapping[str, Any]) -> list[str]:
    """The columns a cross check compares as numbers."""
    if spec["check"] == "counts_within_n":
        return [c for pair in spec["pairs"] for c in pair]
    if spec["check"] == "interval":
        return [spec["estimate"], spec["low"], spec["high"]]
    if spec["check"] == "positive_when_any":
        return list(spec["columns"])
    return []


def _schema_consistency(document: YamlDocument) -> list[YamlProblem]:
    """Problems of a table schema that conforms to the format but not to itself."""
    data = document.data
    columns = {str(name): spec or {} for name, spec in data["columns"].items()}
    problems: list[YamlProblem] = []
    for name, spec in columns.items():
        if spec.get("regex") is not None:
            try:
                re.compile(spec["regex"])
            except re.error as error:
                problems.append(
                    document.problem(
                        ("columns", name, "regex"), f"not a valid regular expression: {error}"
                    )
                )
        low, high = spec.get("min"), spec.get("max")
        if low is not None and high is not None and low > high:
            problems.append(
                document.problem(("columns", name, "min"), "min exceeds max; swap them?")
            )

    def unknown(name: str) -> str:
        close = difflib.get_close_matches(name, list(columns), n=1)
        hint = f"did you mean '{close[0]}'?" if close else "add it under 'columns' or fix it"
        return f"'{name}' is not a column of this table; {hint}"

    for index, name in enumerate(data.get("unique") or ()):
        if name not in columns:
            problems.append(document.problem(("unique", index), unknown(name)))
    for index, fk in enumerate(data.get("foreign_keys") or ()):
        for position, name in enumerate(fk["columns"]):
            if name not in columns:
                where = ("foreign_keys", index, "columns", position)
                problems.append(document.problem(where, unknown(name)))
    for index, spec in enumerate(data.get("checks") or ()):
        for name in sorted(_columns_of(spec)):
            if name not in columns:
                problems.append(document.problem(("checks", index), unknown(name)))
        for name in _compared_columns(spec):
            if name in columns and columns[name].get("type", "string") not in NUMERIC:
                message = f"{spec['check']} compares numbers, but column '{name}' is not numeric"
                problems.append(document.problem(("checks", index), message))
    return problems


# --------------------------------------------------------------------------- reading


def _shown(value: str, limit: int = 60) -> str:
    """A cell value quoted for a message (``repr``, so spaces show), shortened when long."""
    text = value if len(value) <= limit else value[: limit - 1] + "…"
    return repr(text)


def decode_utf8(data: bytes, path: str) -> tuple[str | None, list[Problem]]:
    """Decode ``data`` as strict UTF-8, dropping a leading byte-order mark.

    Returns ``(text, [])`` or ``(None, [problem])`` naming the line of the first bad byte.
    """
    text, fault = textio.decode_utf8(data)
    if fault is not None:
        return None, [Problem(fault.line, -1, fault.message, path)]
    return text, []


def _printable(value: str) -> str:
    """``value`` with its control characters written as ``\\xNN`` (for messages)."""
    return textio.CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", value)


def check_control_characters(
    header: Sequence[str], records: Sequence[tuple[int, Sequence[str]]], path: str
) -> list[Problem]:
    """Every control character (other than tab, CR, LF) in the header and the cells, at its
    line and column, with the text before it on its line. A NUL byte or an escape sequence
    pasted from a PDF is invisible in an editor and would reach the processed table and the
    report."""
    problems: list[Problem] = []
    for line, row in [(1, header), *records]:
        offset = 0  # line feeds in the record's earlier cells (a quoted cell may span lines)
        for position, cell in enumerate(row):
            for match in textio.CONTROL_RE.finditer(cell):
                start = match.start()
                before = cell[cell.rfind("\n", 0, start) + 1 : start][-20:]
                where = f"after {_printable(before)!r}" if before else "at the start"
                problems.append(
                    Problem(
                        line + offset + cell.count("\n", 0, start),
                        position,
                        f"the control character {textio.describe_control(match.group())} "
                        f"{where} is not allowed (it is invisible in most editors); delete it",
                        path,
                        _printable(header[position]) if position < len(header) else None,
                    )
                )
            offset += cell.count("\n")
    return problems


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
    if textio.CONTROL_RE.search(text):
        return None, check_control_characters(header, records, shown)
    fatal, problems = check_header(header, schema, shown)
    if fatal:
        return None, problems
    frame = pd.DataFrame(
        [row for _, row in records],
        columns=header,
        index=pd.Index([line for line, _ in records], name="line"),
        dtype=object,
    )
    frame = frame.where(frame != "", None)  # blank = unknown
    known = [c for c in schema.names if c in frame.columns]
    return RawTable(schema.table, shown, schema, frame[known]), problems


# --------------------------------------------------------------------------- cell checks


def is_literal(spec: ColumnSpec, value: str) -> bool:
    """Whether the text ``value`` is written as a literal of the column's type (for numbers,
    also the words ``inf`` and ``nan``, which get their own message)."""
    if spec.type == "integer":
        return INTEGER_RE.fullmatch(value) is not None
    if spec.type == "number":
        return NUMBER_RE.fullmatch(value) is not None or NON_FINITE_RE.fullmatch(value) is not None
    if spec.type == "boolean":
        return value in BOOLEANS
    return True


def _integer_in_range(value: str) -> bool:
    """|value| <= 2^53 - 1 for a text that matches :data:`INTEGER_RE` (by its digits first:
    Python refuses to convert a text of more than 4,300 digits)."""
    digits = value.lstrip("+-").lstrip("0")
    return len(digits) < 16 or (len(digits) == 16 and int(digits) <= MAX_INTEGER)


def _finite(value: str) -> bool:
    """A :data:`NUMBER_RE` text whose value is finite (``1e999`` is not)."""
    return NUMBER_RE.fullmatch(value) is not None and math.isfinite(float(value))


def parses(spec: ColumnSpec, value: str) -> bool:
    """Whether the text ``value`` is a valid value of the column's type: a literal, and for
    integers within ±(2^53 − 1), for numbers finite."""
    if spec.type == "integer":
        return INTEGER_RE.fullmatch(value) is not None and _integer_in_range(value)
    if spec.type == "number":
        return _finite(value)
    return is_literal(spec, value)


def _element(fn: Callable[[str], bool], error: str) -> pa.Check:
    """A pandera check whose ``error`` text is the problem's message, evaluated once per
    distinct text of the column (``pd.factorize``; blank cells pass)."""

    def check(series: pd.Series) -> pd.Series:
        if isinstance(series.dtype, pd.CategoricalDtype):  # as check_cells passes them
            codes, uniques = series.cat.codes.to_numpy(), series.cat.categories
        else:
            codes, uniques = pd.factorize(series)
        passed = np.fromiter((bool(fn(v)) for v in uniques), dtype=bool, count=len(uniques))
        return pd.Series(np.append(passed, True)[codes], index=series.index)

    return pa.Check(check, error=error, ignore_na=True)


TYPE_MESSAGES = {
    "integer": "is not a whole number (digits only, no spaces, decimals or exponents)",
    "number": "is not a number (digits with an optional '.', no spaces or commas)",
    "boolean": "is not true or false",
}
OUT_OF_RANGE = (
    f"is too large: whole numbers must lie within ±{MAX_INTEGER:,} (2^53 − 1, the largest "
    "that computes exactly); check the value against the source"
)
NOT_ALLOWED = "is not one of the allowed values"
NOT_FINITE = (
    "is not a finite number (infinity, NaN and values beyond ±1.8e308 cannot be analysed); "
    "leave the cell blank if the value is unknown"
)


def cell_checks(spec: ColumnSpec) -> list[pa.Check]:
    """pandera checks on the text cells of one column, built from its schema settings."""
    checks = [_element(lambda v: v.strip() != "", "is only spaces; leave it blank or fill it in")]
    if spec.type != "string":
        checks.append(_element(lambda v: is_literal(spec, v), TYPE_MESSAGES[spec.type]))
    if spec.type == "integer":
        checks.append(
            _element(lambda v: not is_literal(spec, v) or _integer_in_range(v), OUT_OF_RANGE)
        )
    if spec.type == "number":
        checks.append(_element(lambda v: not is_literal(spec, v) or _finite(v), NOT_FINITE))
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
        checks.append(_element(lambda v: v in allowed, f"{NOT_ALLOWED}: {listed}"))
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
    """The pandera schema of a table's *text* cells, for the columns present in the file
    (the unique key is checked by :func:`check_unique`)."""
    present = set(present)
    columns = {
        spec.name: pa.Column(None, nullable=spec.nullable, required=True, checks=cell_checks(spec))
        for spec in schema.columns
        if spec.name in present
    }
    return pa.DataFrameSchema(columns)


def check_cells(table: RawTable) -> list[Problem]:
    """Run the pandera schema lazily and turn every failure case into a :class:`Problem`."""
    frame = table.text.astype("category")  # each column's distinct texts, found once
    try:
        dataframe_schema(table.schema, frame.columns).validate(frame, lazy=True)
    except SchemaErrors as errors:
        cases = errors.failure_cases.to_dict(orient="records")
    else:
        return []
    names = table.schema.names
    problems: list[Problem] = []
    for case in cases:
        line, column, check = case["index"], case["column"], str(case["check"])
        if line is None or pd.isna(line):  # a table-level failure without a row
            problems.append(Problem(0, -1, f"{check}: {case['failure_case']}", table.path, column))
        elif check == "not_nullable":
            what = "is blank but a value is required"
            problems.append(Problem(int(line), names.index(column), what, table.path, column))
        else:
            value = str(case["failure_case"])
            what = f"{_shown(value)} {check}"
            allowed = table.schema.column(column).allowed
            if check.startswith(NOT_ALLOWED) and allowed:
                what += _did_you_mean(value, allowed)
            problems.append(Problem(int(line), names.index(column), what, table.path, column))
    return problems


def _did_you_mean(value: str, choices: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for the allowed value closest to ``value`` (ignoring case,
    spaces and '_' / '-'), or nothing when none is close."""

    def key(text: str) -> str:
        return re.sub(r"[\s_-]+", " ", text.strip().lower())

    keys = {key(c): c for c in choices}
    close = difflib.get_close_matches(key(value), list(keys), n=1, cutoff=0.75)
    return f"; did you mean '{keys[close[0]]}'?" if close else ""


def check_unique(table: RawTable) -> list[Problem]:
    """Rows whose unique-key values repeat an earlier row's, each naming the first row's line
    (one pass with a dict from key to first line: linear in the rows)."""
    key = list(table.schema.unique)
    frame = table.text
    if not key or not set(key) <= set(frame.columns):
        return []
    position = table.schema.names.index(key[0])
    first: dict[tuple[Any, ...], int] = {}
    problems: list[Problem] = []
    for line, values in zip(frame.index, zip(*(frame[c] for c in key), strict=True), strict=True):
        earlier = first.setdefault(values, int(line))
        if earlier != line:
            shown = ", ".join(f"{k}={v!r}" for k, v in zip(key, values, strict=True))
            problems.append(
                Problem(
                    int(line),
                    position,
                    f"duplicate key ({shown}), first on line {earlier}; each key may appear once",
                    table.path,
                    key[0],
                )
            )
    return problems


def _typed_column(spec: ColumnSpec, cells: pd.Series) -> Any:
    """One column parsed by type, each distinct text once; blank and invalid cells missing."""
    if spec.type == "string":
        return cells.to_numpy(dtype=object)
    codes, uniques = pd.factorize(cells)
    valid = np.array([parses(spec, v) for v in uniques] + [False], dtype=bool)
    if spec.type == "integer":
        values = np.array(
            [int(v) if ok else 0 for v, ok in zip(uniques, valid, strict=False)] + [0],
            dtype=np.int64,
        )
        return pd.arrays.IntegerArray(values[codes], ~valid[codes])
    if spec.type == "number":
        floats = np.array(
            [float(v) if ok else math.nan for v, ok in zip(uniques, valid, strict=False)]
            + [math.nan]
        )
        return floats[codes]
    flags = np.array([BOOLEANS.get(v, False) for v in uniques] + [False], dtype=bool)
    return pd.arrays.BooleanArray(flags[codes], ~valid[codes])


def typed_frame(table: RawTable) -> pd.DataFrame:
    """Parse the text cells by type; blank cells and cells that do not parse become missing.

    integer → ``Int64``, number → ``float64``, boolean → ``boolean``, string → object
    (``None`` for blank).
    """
    out = {
        name: _typed_column(table.schema.column(name), table.text[name])
        for name in table.text.columns
    }
    return pd.DataFrame(out, index=table.text.index)


# --------------------------------------------------------------------------- cross checks


def _given(table: RawTable, column: str) -> np.ndarray:
    """Rows whose typed ``column`` holds a value (not blank, parsed)."""
    return table.typed[column].notna().to_numpy()


def _where(table: RawTable, mask: Any) -> list[int]:
    """The editor lines of the rows where the boolean ``mask`` (pandas: NA = False) holds."""
    if isinstance(mask, pd.Series):
        mask = mask.fillna(False).to_numpy(dtype=bool)
    return [int(line) for line in table.typed.index[mask]]


def _text(table: RawTable, line: int, column: str) -> str:
    return str(table.text.at[line, column])


def _value(table: RawTable, line: int, column: str) -> Any:
    value = table.typed.at[line, column]
    return value.item() if isinstance(value, np.generic) else value


def _problem(table: RawTable, line: int, column: str, message: str) -> Problem:
    return Problem(line, table.schema.names.index(column), message, table.path, column)


def _listed(columns: Sequence[str]) -> str:
    verb = "is" if len(columns) == 1 else "are"
    return f"{', '.join(columns)} {verb}"


CrossCheck = Callable[[RawTable, Mapping[str, Any]], list[Problem]]


def counts_within_n(table: RawTable, spec: Mapping[str, Any]) -> list[Problem]:
    """Each ``[events, n]`` pair: events ≤ n (when both are given; a negative n is reported
    by the cell checks)."""
    problems = []
    typed = table.typed
    for events, n in spec["pairs"]:
        exceeds = (typed[n] >= 0) & (typed[events] > typed[n])
        for line in _where(table, exceeds):
            problems.append(
                _problem(
                    table,
                    line,
                    events,
                    f"{_value(table, line, events)} exceeds {n} ({_value(table, line, n)}); "
                    "events cannot exceed the participants analysed",
                )
            )
    return problems


def positive_when_any(table: RawTable, spec: Mapping[str, Any]) -> list[Problem]:
    """Each of ``columns`` that is given must be > 0 when any *other* column of ``when_any``
    is given (an arm of n = 0 beside its events or the other arm). A value below the
    column's ``min`` is left to the cell checks."""
    problems = []
    present = [c for c in spec["when_any"] if c in table.typed.columns]
    for column in spec["columns"]:
        others = [c for c in present if c != column]
        values = table.typed[column]
        low = table.schema.column(column).min
        if not others:
            continue
        bad = values <= 0 if low is None else (values <= 0) & (values >= low)
        any_other = np.logical_or.reduce([_given(table, c) for c in others])
        for line in _where(table, bad & any_other):
            given = [c for c in others if not pd.isna(table.typed.at[line, c])]
            problems.append(
                _problem(
                    table,
                    line,
                    column,
                    f"is {_text(table, line, column)} but {_listed(given)} given; it must be "
                    "> 0 (a group of no participants cannot be analysed): check it against "
                    "the source, or leave the group's cells blank",
                )
            )
    return problems


def interval(table: RawTable, spec: Mapping[str, Any]) -> list[Problem]:
    """``low ≤ high``; with ``inside``, ``low ≤ estimate ≤ high``; all > 0 for ratio measures."""
    est, low, high = spec["estimate"], spec["low"], spec["high"]
    ratio_column, ratio_values = spec.get("ratio_column"), list(spec.get("ratio_values") or ())
    typed = table.typed
    problems = []
    if ratio_column and ratio_column in typed.columns:
        ratio = typed[ratio_column].isin(ratio_values).to_numpy()
        for column in (est, low, high):
            for line in _where(table, ratio & (typed[column] <= 0)):
                problems.append(
                    _problem(
                        table,
                        line,
                        column,
                        f"{_text(table, line, column)} is not > 0; a ratio measure "
                        f"({_value(table, line, ratio_column)}) and its CI must be positive",
                    )
                )
    swapped = (typed[low] > typed[high]).to_numpy()
    for line in _where(table, swapped):
        problems.append(
            _problem(
                table,
                line,
                low,
                f"{_text(table, line, low)} exceeds {high} ({_text(table, line, high)}); are "
                "the bounds swapped?",
            )
        )
    if spec.get("inside"):
        both = _given(table, low) & _given(table, high) & _given(table, est) & ~swapped
        outside = both & ~((typed[low] <= typed[est]) & (typed[est] <= typed[high])).to_numpy()
        for line in _where(table, outside):
            problems.append(
                _problem(
                    table,
                    line,
                    est,
                    f"{_text(table, line, est)} lies outside its CI {_text(table, line, low)} "
                    f"to {_text(table, line, high)} ({low} ≤ {est} ≤ {high} is required); "
                    "check the numbers against the source",
                )
            )
    return problems


def required_when_any(table: RawTable, spec: Mapping[str, Any]) -> list[Problem]:
    """``column`` must be non-blank when any of ``when_any`` is given."""
    column, others = spec["column"], spec["when_any"]
    problems = []
    any_other = np.logical_or.reduce([_given(table, c) for c in others])
    for line in _where(table, any_other & ~_given(table, column)):
        given = [c for c in others if not pd.isna(table.typed.at[line, c])]
        problems.append(
            _problem(table, line, column, f"is blank but {_listed(given)} given; fill it in")
        )
    return problems


def required_when_value(table: RawTable, spec: Mapping[str, Any]) -> list[Problem]:
    """``column`` must be non-blank when ``when_column`` equals ``when_value``."""
    column, other, value = spec["column"], spec["when_column"], spec["when_value"]
    shown = str(value).lower() if isinstance(value, bool) else value
    equal = (table.typed[other] == value).fillna(False).to_numpy(dtype=bool)
    problems = []
    for line in _where(table, equal & ~_given(table, column)):
        problems.append(
            _problem(
                table,
                line,
                column,
                f"is blank but {other} is {shown}; say why the row is left out",
            )
        )
    return problems


def together(table: RawTable, spec: Mapping[str, Any]) -> list[Problem]:
    """The ``columns`` are all given or all blank."""
    columns = list(spec["columns"])
    given = np.column_stack([_given(table, c) for c in columns])
    problems = []
    for line in _where(table, given.any(axis=1) & ~given.all(axis=1)):
        present = [c for c in columns if not pd.isna(table.typed.at[line, c])]
        missing = next(c for c in columns if c not in present)
        problems.append(
            _problem(
                table,
                line,
                missing,
                f"is blank but {', '.join(present)} is given; give both or neither",
            )
        )
    return problems


#: Cross-field checks a schema may name under ``checks``.
CROSS_CHECKS: dict[str, CrossCheck] = {
    "counts_within_n": counts_within_n,
    "interval": interval,
    "positive_when_any": positive_when_any,
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
        known = set(zip(*(target.typed[c] for c in ref_columns), strict=True))
        complete = np.logical_and.reduce([_given(table, c) for c in columns])
        rows = zip(*(table.typed[c] for c in columns), strict=True)
        for line, values, given in zip(table.typed.index, rows, complete, strict=True):
            if not given or values in known:
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
            problems += check_unique(table)
            table.typed = typed_frame(table)
            problems += check_cross(table)
            problems += check_foreign_keys(table, tables)
            tables[name] = table
        messages.extend(str(p) for p in sorted(problems))
    if messages:
        raise DataValidationError(messages)
    return tables
