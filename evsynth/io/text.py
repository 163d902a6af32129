"""Decoding input files as text: strict UTF-8 and no control characters.

Every file a reviewer edits (the raw CSV tables, the YAML settings and schemas) is read as
UTF-8 text with these rules, so that a stray byte or an invisible character is reported at
its line and column instead of being copied into the processed tables and the report:

* the bytes must be strict UTF-8 (a leading UTF-8 byte-order mark, which some spreadsheet
  programs write, is accepted and dropped);
* no control characters (Unicode category Cc: C0, DEL and C1) except tab, line feed and
  carriage return. A NUL byte or an ESC sequence copied from a terminal or a PDF is invisible
  in most editors and would reach the HTML report.

This module imports nothing heavy (the config loader, which every Snakemake start runs,
uses it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

BOM = b"\xef\xbb\xbf"

#: Control characters (Unicode category Cc) other than tab, line feed and carriage return.
CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

_C0_NAMES = (
    *("NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT"),
    *("FF", "CR", "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB"),
    *("CAN", "EM", "SUB", "ESC", "FS", "GS", "RS", "US"),
)


@dataclass(frozen=True)
class TextFault:
    """A fault in a file's text at a 1-based ``line`` and character ``column``."""

    line: int
    column: int
    message: str


def describe_control(char: str) -> str:
    """``U+0000 (NUL)``: the code point of a control character and its C0 name if it has one."""
    code = ord(char)
    if code < len(_C0_NAMES):
        return f"U+{code:04X} ({_C0_NAMES[code]})"
    if code == 0x7F:
        return "U+007F (DEL)"
    return f"U+{code:04X}"


def decode_utf8(data: bytes) -> tuple[str, None] | tuple[None, TextFault]:
    """Decode ``data`` as strict UTF-8, dropping a leading byte-order mark.

    Returns ``(text, None)``, or ``(None, fault)`` at the line and column of the first byte
    that is not UTF-8 (the column counts the characters before it on its line, plus one).
    """
    if data.startswith(BOM):
        data = data[len(BOM) :]
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as error:
        line_start = data.rfind(b"\n", 0, error.start) + 1
        line = data.count(b"\n", 0, error.start) + 1
        column = len(data[line_start : error.start].decode("utf-8", errors="replace")) + 1
        bad = data[error.start : error.start + 1].hex()
        message = (
            f"byte 0x{bad} is not valid UTF-8 (the first bad byte); save the file as UTF-8 "
            "(it looks like Latin-1 or Windows-1252)"
        )
        return None, TextFault(line, column, message)


def control_characters(text: str, first_line: int = 1) -> Iterator[TextFault]:
    """Every control character in ``text`` (see :data:`CONTROL_RE`), at its line and column.

    ``first_line`` is the line ``text`` starts on (a CSV cell that is part of a file).
    Lines are counted by line feeds, as editors and the CSV reader count them.
    """
    for match in CONTROL_RE.finditer(text):
        start = match.start()
        line = first_line + text.count("\n", 0, start)
        column = start - (text.rfind("\n", 0, start) + 1) + 1
        message = (
            f"the control character {describe_control(match.group())} is not allowed "
            "(it is invisible in most editors); delete it"
        )
        yield TextFault(line, column, message)
