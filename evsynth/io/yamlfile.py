"""Read a YAML file a reviewer edits (config, report settings, narrative, table schemas) safely,
with the line of every key, and report its problems at the line of the key at fault.

:func:`load_yaml` reads the file as strict UTF-8 text without control characters
(:mod:`evsynth.io.text`), parses it with PyYAML's *safe* loader (the C one, libyaml, when
PyYAML has it), and refuses what PyYAML would pass silently or as a traceback:

* an empty file (or only comments), or a top level that is not a mapping;
* a key that appears twice in one mapping, at any depth (PyYAML keeps the last one quietly:
  a second block of the same analysis would replace the first);
* aliases that expand to an enormous or recursive document (``&a [*a]``, "billion laughs");
* syntax errors, tags (``!!python/...``) and undefined aliases, each at its line and column
  with a hint where the usual cause is known (a tab in the indentation, an unquoted ``: ``).

The :class:`YamlDocument` it returns holds the plain data (dicts, lists, scalars) and the
1-based line of every key path, so that :func:`schema_problems` can report a JSON Schema
(Draft 2020-12) error at the line of the key at fault: an unknown key at its own line (with
"did you mean" for a misspelling), a missing key at its parent's line, a wrong value at its
key's line. Every problem is one line, ``file:line: key.path: what is wrong; what to do``,
and all of them are reported together, sorted by line, as one
:class:`~evsynth.errors.DataValidationError`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from evsynth.errors import DataValidationError
from evsynth.io.text import control_characters, decode_utf8

#: PyYAML's safe loader, in C (libyaml) where PyYAML has it: a config of 1,000 analyses
#: parses in 0.1 s instead of 1.5 s, and every job of the workflow reads the config.
SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Most values (scalars, lists and mappings, counted after aliases are expanded) a document
#: may hold: aliases that repeat a list of aliases grow exponentially ("billion laughs").
MAX_VALUES = 1_000_000

MERGE_TAG = "tag:yaml.org,2002:merge"

#: A key path: mapping keys and sequence indices, as text (``("analyses", "hip", "measure")``).
KeyPath = tuple[str, ...]


@dataclass(frozen=True)
class YamlProblem:
    """One problem of a YAML file at a 1-based line and column (0 = unknown: not shown)."""

    line: int
    column: int = 0
    message: str = ""
    path: str = ""

    def __str__(self) -> str:
        where = self.path
        if self.line:
            where += f":{self.line}"
            if self.column:
                where += f":{self.column}"
        return f"{where}: {self.message}"


def by_line(problems: Iterable[YamlProblem]) -> list[YamlProblem]:
    """``problems`` without repeats, sorted by line and column (stable otherwise)."""
    return sorted(dict.fromkeys(problems), key=lambda p: (p.line, p.column))


def where(path: Iterable[object]) -> str:
    """A key path as shown in messages: ``analyses.primary-outcome.measure``."""
    return ".".join(str(p) for p in path) or "(top level)"


def line_for(path: Sequence[object], lines: Mapping[KeyPath, int]) -> int:
    """The line of ``path``, or of its nearest ancestor that ``lines`` has; 0 if none."""
    key = tuple(str(p) for p in path)
    while key not in lines and key:
        key = key[:-1]
    return lines.get(key, 0)


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file: its ``path`` as shown in messages, the plain ``data`` and the
    1-based line of every key path (a mapping key's own line; a sequence item's first line;
    ``()`` is the line where the top-level mapping starts)."""

    path: str
    data: Any
    lines: Mapping[KeyPath, int]

    def line(self, path: Sequence[object]) -> int:
        """The line of the key ``path`` (the nearest ancestor's when the key is absent)."""
        return line_for(path, self.lines)

    def problem(self, path: Sequence[object], message: str) -> YamlProblem:
        """A problem ``key.path: message`` at the line of ``path``."""
        return YamlProblem(self.line(path), 0, f"{where(path)}: {message}", self.path)


# --------------------------------------------------------------------------- loading


def load_yaml(path: str | Path, *, what: str) -> YamlDocument:
    """Read the YAML file ``path`` (``what`` names it in messages: "config", "narrative").

    Raises :class:`DataValidationError` listing every problem found (see the module doc).
    """
    shown = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        reason = {
            FileNotFoundError: "the file does not exist",
            IsADirectoryError: "this is a folder, not a file",
        }.get(type(error), error.strerror)
        problem = YamlProblem(0, 0, f"cannot read the {what}: {reason}", shown)
        raise _error(problem) from None
    return parse_yaml(data, shown, what=what)


def parse_yaml(data: bytes | str, path: str, *, what: str) -> YamlDocument:
    """Parse the bytes (or text) of a YAML file shown as ``path``; see :func:`load_yaml`."""
    if isinstance(data, bytes):
        text, fault = decode_utf8(data)
        if text is None:
            assert fault is not None
            raise _error(YamlProblem(fault.line, fault.column, fault.message, path))
    else:
        text = data.removeprefix("\ufeff")
    controls = [YamlProblem(f.line, f.column, f.message, path) for f in control_characters(text)]
    if controls:
        raise _error(*controls)
    node = _compose(text, path)
    if node is None:
        raise _error(YamlProblem(0, 0, "the file is empty; expected a mapping of settings", path))
    if not isinstance(node, yaml.MappingNode):
        line = node.start_mark.line + 1
        message = (
            f"the {what} must be a mapping of settings (key: value lines), but the file "
            f"holds {_node_kind(node)}"
        )
        raise _error(YamlProblem(line, 0, message, path))
    lines, duplicates = _walk(node, path)
    duplicates += _expansion_problems(node, path)
    if duplicates:
        raise _error(*duplicates)
    return YamlDocument(path, _construct(node, text, path), lines)


def _error(*problems: YamlProblem) -> DataValidationError:
    return DataValidationError([str(p) for p in by_line(problems)])


def _compose(text: str, path: str) -> yaml.Node | None:
    """The node tree of the single document in ``text`` (None when it holds none)."""
    loader = SAFE_LOADER(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
    except yaml.YAMLError as error:
        raise _error(_syntax_problem(error, text, path)) from None
    except RecursionError:  # the pure-Python parser; libyaml stops at depth 1000 itself
        raise _error(YamlProblem(0, 0, "invalid YAML: nested too deeply", path)) from None
    finally:
        loader.dispose()
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return None  # "~", "null" or a lone "---": nothing
    return node


def _construct(node: yaml.Node, text: str, path: str) -> Any:
    """Plain Python data of a checked node tree (the safe constructor: no tags, no objects)."""
    loader = SAFE_LOADER("")
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        raise _error(_syntax_problem(error, text, path)) from None
    finally:
        loader.dispose()


def _node_kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"a single value ({node.value!r})"


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _walk(root: yaml.Node, path: str) -> tuple[dict[KeyPath, int], list[YamlProblem]]:
    """The line of every key path, and every key that appears twice in one mapping.

    Walks the node tree in document order without recursion; a node reached again through
    an alias is not walked again (its keys keep the lines of the anchored original)."""
    lines: dict[KeyPath, int] = {(): root.start_mark.line + 1}
    problems: list[YamlProblem] = []
    walked: set[int] = set()
    stack: list[tuple[yaml.Node, KeyPath]] = [(root, ())]
    while stack:
        node, prefix = stack.pop()
        if id(node) in walked:
            continue
        walked.add(id(node))
        children: list[tuple[yaml.Node, KeyPath]] = []
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == MERGE_TAG:
                    continue  # "<<: *defaults": the merged keys are the anchor's
                key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
                line = key_node.start_mark.line + 1
                ident = (key_node.tag, key)
                if ident in first:
                    message = (
                        f"key '{key}' appears twice (lines {first[ident]} and {line}); keep one"
                    )
                    problems.append(
                        YamlProblem(line, 0, f"{where(prefix)}: {message}", path)
                        if prefix
                        else YamlProblem(line, 0, message, path)
                    )
                    continue
                first[ident] = line
                lines[(*prefix, key)] = line
                children.append((value_node, (*prefix, key)))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines[(*prefix, str(index))] = item.start_mark.line + 1
                children.append((item, (*prefix, str(index))))
        stack.extend(reversed(children))
    return lines, problems


def _expansion_problems(root: yaml.Node, path: str) -> list[YamlProblem]:
    """An alias that refers to a value containing it, or aliases that expand the document
    beyond :data:`MAX_VALUES` values (sizes memoised per node: linear in the file)."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        if finished:
            on_path.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[id(node)] > MAX_VALUES:
                message = (
                    f"aliases (*name) repeat values so often that the file would hold more "
                    f"than {MAX_VALUES:,} values; write the values out"
                )
                return [YamlProblem(node.start_mark.line + 1, 0, message, path)]
            continue
        if id(node) in sizes:
            continue
        if id(node) in on_path:
            message = "an alias (*name) refers to a value that contains it; remove the alias"
            return [YamlProblem(node.start_mark.line + 1, 0, message, path)]
        on_path.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return []


# --------------------------------------------------------------------------- syntax errors

#: Hints for the usual causes of PyYAML's (and libyaml's) syntax errors, by problem text.
_HINTS: tuple[tuple[str, str], ...] = (
    ("mapping values are not allowed", "a value that contains ': ' must be quoted"),
    ("found unexpected end of stream", "a quote is opened and never closed"),
    ("did not find expected key", "check this line's indentation against the lines above"),
    ("could not find expected ':'", "a key needs ': ' after it; check the indentation"),
    ("expected ',' or ']'", "close the list with ']'"),
    ("expected ',' or '}'", "close the mapping with '}'"),
    ("found undefined alias", "an alias (*name) needs an anchor (&name) before it"),
    ("but found another document", "keep one document: remove the second '---'"),
)


def _syntax_problem(error: yaml.YAMLError, text: str, path: str) -> YamlProblem:
    """A PyYAML error as a problem at its line and column, with its context and a hint."""
    if isinstance(error, yaml.reader.ReaderError):
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        message = f"the character U+{error.character:04X} is not allowed in YAML; delete it"
        return YamlProblem(line, column, message, path)
    mark = getattr(error, "problem_mark", None)
    problem = str(getattr(error, "problem", None) or error)
    if mark is None:
        return YamlProblem(0, 0, f"invalid YAML: {problem}", path)
    line, column = mark.line + 1, mark.column + 1
    tag = re.search(r"constructor for the tag '([^']*)'", problem)
    if tag:
        shown = tag.group(1).replace("tag:yaml.org,2002:", "!!")
        message = f"the tag {shown} is not allowed: evsynth reads plain YAML values only; remove it"
        return YamlProblem(line, column, message, path)
    message = f"invalid YAML: {problem}"
    context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and not context.startswith("while"):  # "expected a single document ..."
        message = f"invalid YAML: {context}, {problem}"
    elif context and context_mark is not None and context_mark.line + 1 != line:
        message += f" ({context} that starts on line {context_mark.line + 1})"
    hint = _hint(problem, text, mark.index)
    return YamlProblem(line, column, f"{message}; {hint}" if hint else message, path)


def _hint(problem: str, text: str, index: int) -> str:
    if text[index : index + 1] == "\t" or "tab character" in problem:
        return "indent with spaces: YAML does not allow tabs here"
    return next((hint for known, hint in _HINTS if known in problem), "")


# --------------------------------------------------------------------------- JSON Schema


def schema_problems(doc: YamlDocument, schema: Mapping[str, Any]) -> list[YamlProblem]:
    """JSON Schema (Draft 2020-12) errors of ``doc.data``, each at the line of the key at
    fault, sorted by line (see the module doc); an empty list when the data conform."""
    validator = jsonschema.Draft202012Validator(schema)
    found: list[YamlProblem] = []
    try:
        for error in validator.iter_errors(doc.data):
            found.extend(_translate(doc, error))
    except RecursionError:
        found.append(doc.problem((), "nested too deeply to check"))
    return by_line(found)


def validate_document(doc: YamlDocument, schema: Mapping[str, Any]) -> list[str]:
    """:func:`schema_problems` as message lines ``file:line: key.path: problem``."""
    return [str(p) for p in schema_problems(doc, schema)]


def check_document(doc: YamlDocument, schema: Mapping[str, Any]) -> None:
    """Raise :class:`DataValidationError` with every schema problem of ``doc``, if any."""
    problems = schema_problems(doc, schema)
    if problems:
        raise _error(*problems)


def _translate(doc: YamlDocument, error: jsonschema.ValidationError) -> Iterator[YamlProblem]:
    """One jsonschema error as problems at the lines of the keys at fault.

    jsonschema reports an unexpected key and a missing one at the *parent* mapping, and an
    invalid property name with no path of its own: those are pointed at the key itself."""
    path = tuple(str(p) for p in error.absolute_path)
    kind, instance = error.validator, error.instance
    if kind in ("additionalProperties", "unevaluatedProperties") and isinstance(instance, dict):
        allowed = sorted(str(k) for k in error.schema.get("properties", {}))
        for key in _unexpected(instance, error.schema):
            yield doc.problem((*path, key), _unknown_key(key, allowed))
    elif kind == "required" and isinstance(instance, dict):
        for name in error.validator_value:
            if name not in instance:
                yield doc.problem(path, f"'{name}' is required but missing; add it")
    elif "propertyNames" in error.relative_schema_path:
        yield doc.problem((*path, str(instance)), f"the name {error.message}; rename it")
    elif kind == "type":
        expected = _expected(error.validator_value)
        yield doc.problem(path, f"expected {expected} but found {_kind(instance)}")
    elif kind == "enum":
        yield doc.problem(path, error.message + _did_you_mean(instance, error.validator_value))
    else:
        yield doc.problem(path, error.message)


def _unexpected(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """The keys of ``instance`` that neither ``properties`` nor ``patternProperties`` allow."""
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [
        str(key)
        for key in instance
        if key not in properties and not any(re.search(p, str(key)) for p in patterns)
    ]


def _unknown_key(key: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean '{close[0]}'?"
    if allowed:
        return f"unknown key; the keys allowed here: {', '.join(allowed)}"
    return "unknown key; remove it"


def _did_you_mean(value: Any, choices: Iterable[Any]) -> str:
    if not isinstance(value, str):
        return ""
    texts = {str(c).lower(): str(c) for c in choices if isinstance(c, str)}
    close = difflib.get_close_matches(value.lower(), list(texts), n=1, cutoff=0.6)
    return f"; did you mean '{texts[close[0]]}'?" if close else ""


_TYPE_NAMES = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping (key: value lines)",
    "null": "nothing (null)",
}


def _expected(types: str | Sequence[str]) -> str:
    names = [types] if isinstance(types, str) else list(types)
    return " or ".join(_TYPE_NAMES.get(t, t) for t in names)


def _kind(value: Any) -> str:
    """What a YAML value is, in a reviewer's words (for "expected X but found Y")."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the true/false value {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:59] + "…"
        return f"the text {shown!r}"
    if isinstance(value, date):
        return f"the date {value.isoformat()} (quote it to make it text)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
