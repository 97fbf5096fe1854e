"""Records from the input formats: JSON-lines manifests (``.manifest``, ``.jsonl``, ``.txt``:
one ``{"data": {...}}`` object per line), CSV and XLSX rows. Pure: lines or rows in, records
or errors naming file, line and field out."""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from services.dataset.domain.lines import DecodeFailure, Line, OversizedLine, decode, strip_bom

MAX_ERRORS_KEPT = 20
MAX_FIELDS = 1000  # distinct field names per version: a guard against one-field-per-line files
MAX_DEPTH = 64  # nesting of objects and arrays in a record: deeper is an attack, not data
_SURROGATE = re.compile("[\ud800-\udfff]")  # a lone surrogate has no UTF-8: never storable


@dataclass(frozen=True, slots=True)
class LineError:
    file: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: field '{self.field}': {self.reason}" if self.field else (
            f"{where}: {self.reason}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "field": self.field, "reason": self.reason}


class FileError(ValueError):
    """The whole file is unusable (no header, unknown column, empty file): nothing imports,
    whatever ``skip_invalid`` says."""

    def __init__(self, error: LineError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True, slots=True)
class Record:
    line: int
    data: dict[str, Any]


def _bad_text(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    found = _SURROGATE.search(text)
    return f"contains an unpaired surrogate ({found.group()!a})" if found else None


def _bad_value(value: Any, path: str, depth: int = 0) -> tuple[str, str] | None:
    """The first value the database cannot store faithfully (NUL, unpaired surrogates, NaN,
    infinity, nesting deeper than ``MAX_DEPTH``)."""
    if isinstance(value, str):
        reason = _bad_text(value)
        return (path, reason) if reason else None
    if isinstance(value, float) and not math.isfinite(value):
        return path, f"{value} is not a finite number"
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        return path, f"nested more than {MAX_DEPTH} levels deep"
    if isinstance(value, dict):
        for key, inner in value.items():
            if _SURROGATE.search(key):  # named by its escape: the key itself is not text
                return path, f"the field name {key!a} contains an unpaired surrogate"
            found = _bad_value(inner, f"{path}.{key}", depth + 1)
            if found:
                return found
    if isinstance(value, list):
        for i, inner in enumerate(value):
            found = _bad_value(inner, f"{path}[{i}]", depth + 1)
            if found:
                return found
    return None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def check_data(file: str, number: int, data: dict[str, Any]) -> Record | LineError:
    """The rules every record's ``data`` obeys, whatever the format it came from."""
    if not data:
        return LineError(file, number, "data", "has no fields")
    if "source" in data:
        source = data["source"]
        if not isinstance(source, str) or not source.strip():
            return LineError(file, number, "data.source", "must be a non-empty string")
    for key in data:
        if not key.strip():
            return LineError(file, number, "data", "a field name is empty")
    bad = _bad_value(data, "data")
    if bad:
        return LineError(file, number, bad[0], bad[1])
    return Record(number, data)


def _oversized(file: str, line: OversizedLine, max_bytes: int) -> LineError:
    limit = f" of {max_bytes} bytes" if max_bytes else ""
    return LineError(file, line.number, "", f"line is {line.size} bytes, over the limit{limit}")


def parse_line(file: str, line: Line | OversizedLine, encoding: str = "utf-8",
               max_bytes: int = 0) -> Record | LineError | None:
    """One manifest line → a record, an error naming file, line and field, or None (blank)."""
    if isinstance(line, OversizedLine):
        return _oversized(file, line, max_bytes)
    text = decode(strip_bom(line).raw, encoding)
    if isinstance(text, DecodeFailure):
        return LineError(file, line.number, "", text.reason)
    number = line.number
    stripped = text.strip()
    if not stripped:
        return None
    try:
        obj = json.loads(stripped, parse_constant=_reject_constant)
    except RecursionError:
        return LineError(file, number, "", f"nested more than {MAX_DEPTH} levels deep")
    except (json.JSONDecodeError, ValueError) as exc:
        reason = (f"not valid JSON ({exc.msg} at column {exc.colno})"
                  if isinstance(exc, json.JSONDecodeError) else str(exc))
        return LineError(file, number, "", reason)
    if not isinstance(obj, dict):
        return LineError(file, number, "", "expected a JSON object like {\"data\": {...}}")
    if "data" not in obj:
        return LineError(file, number, "data", "missing")
    data = obj["data"]
    if not isinstance(data, dict):
        return LineError(file, number, "data", "must be an object")
    return check_data(file, number, data)


@dataclass
class ImportReport:
    """Running tally of an import: counts, fields seen, and the first errors."""

    file: str
    items: int = 0
    error_count: int = 0
    errors: list[LineError] | None = None
    fields: set[str] | None = None
    duplicate_count: int = 0
    duplicates: list[LineError] | None = None

    def add_error(self, error: LineError) -> None:
        self.error_count += 1
        if self.errors is None:
            self.errors = []
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(error)

    def add_record(self, record: Record) -> LineError | None:
        """Count the record; an error when the file has more distinct fields than allowed."""
        self.items += 1
        if self.fields is None:
            self.fields = set()
        self.fields.update(record.data.keys())
        if len(self.fields) > MAX_FIELDS:
            return LineError(self.file, record.line, "data", f"more than {MAX_FIELDS} distinct "
                             "field names in one file")
        return None

    def add_duplicate(self, duplicate: LineError, *, skipped: bool) -> None:
        """A record whose source the dataset already has; a skipped one is no item."""
        self.duplicate_count += 1
        if skipped:
            self.items -= 1
        if self.duplicates is None:
            self.duplicates = []
        if len(self.duplicates) < MAX_ERRORS_KEPT:
            self.duplicates.append(duplicate)

    def failure(self, *, skip_invalid: bool = False) -> str | None:
        if self.error_count and not skip_invalid:
            first = self.errors[0] if self.errors else ""
            return f"{self.error_count} invalid record(s) in {self.file}; first: {first}"
        if self.items == 0:
            if self.duplicate_count:
                return f"{self.file}: every source is already in the dataset " \
                       f"({self.duplicate_count} duplicates skipped)"
            if self.error_count:
                return f"{self.file}: every record is invalid ({self.error_count})"
            return f"{self.file}: no items (the file is empty)"
        return None


# --- tables (CSV, XLSX) ---------------------------------------------------------------------


@dataclass(frozen=True)
class TableLayout:
    """Which column holds the text to label; every other column is kept as a field. The text
    column becomes ``source`` so every template finds single-source content the same way."""

    columns: tuple[str, ...]
    text_index: int

    @property
    def text_column(self) -> str:
        return self.columns[self.text_index]


def table_layout(file: str, header: Sequence[Any], text_column: str) -> TableLayout:
    columns = tuple("" if c is None else str(c).strip() for c in header)
    while columns and not columns[-1]:  # trailing empty header cells are formatting, not data
        columns = columns[:-1]
    if not columns:
        raise FileError(LineError(file, 1, "", "no header row: the first row names the columns"))
    seen: set[str] = set()
    for i, name in enumerate(columns):
        if not name:
            raise FileError(LineError(file, 1, f"column {i + 1}", "the header cell is empty"))
        if name in seen:
            raise FileError(LineError(file, 1, name, "the column name appears twice"))
        seen.add(name)
    listed = ", ".join(columns)
    if text_column:
        if text_column not in columns:
            raise FileError(LineError(file, 1, text_column,
                                      f"unknown column; the columns are {listed}"))
        index = columns.index(text_column)
    elif len(columns) == 1:
        index = 0
    else:
        raise FileError(LineError(file, 1, "", f"{len(columns)} columns ({listed}): choose the "
                                  "one holding the text to label (text column)"))
    if "source" in columns and columns[index] != "source":
        raise FileError(LineError(file, 1, "source", "the text column becomes 'source'; "
                                  "rename the other column called 'source'"))
    return TableLayout(columns, index)


def _cell(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)  # spreadsheets store every number as a float
    return value


def table_record(file: str, number: int, layout: TableLayout,
                 row: Sequence[Any]) -> Record | LineError | None:
    cells = list(row)
    while len(cells) > len(layout.columns) and cells[-1] in (None, ""):
        cells.pop()
    if all(c is None or c == "" for c in cells):
        return None  # blank rows separate nothing and label nothing
    if len(cells) != len(layout.columns):
        return LineError(file, number, "", f"expected {len(layout.columns)} columns, "
                         f"found {len(cells)}")
    text = cells[layout.text_index]
    if text is None or (isinstance(text, str) and not text.strip()):
        return LineError(file, number, layout.text_column, "the text to label is empty")
    data: dict[str, Any] = {"source": str(_cell(text))}
    for name, value in zip(layout.columns, cells, strict=True):
        if name != layout.text_column:
            data[name] = "" if value is None else _cell(value)
    return check_data(file, number, data)


@dataclass
class _CsvFeed:
    """Feeds decoded physical lines to ``csv.reader`` and remembers the problems it met on
    the way, so a record spanning several lines can be failed as a whole."""

    file: str
    lines: Iterator[Line | OversizedLine]
    encoding: str
    max_bytes: int
    problems: list[LineError] = field(default_factory=list)
    physical: int = 0

    def __iter__(self) -> Iterator[str]:
        for line in self.lines:
            self.physical = line.number
            if isinstance(line, OversizedLine):
                self.problems.append(_oversized(self.file, line, self.max_bytes))
                yield "\n"  # keeps the reader's line count; the record fails as a whole
                continue
            text = decode(strip_bom(line).raw, self.encoding)
            if isinstance(text, DecodeFailure):
                self.problems.append(LineError(self.file, line.number, "", text.reason))
                yield "\n"
                continue
            yield text + "\n"


def csv_records(file: str, lines: Iterable[Line | OversizedLine], text_column: str,
                encoding: str, max_bytes: int) -> Iterator[Record | LineError]:
    """Records of a CSV file with a header row. Quoted fields may span lines; a record is
    numbered by the line it starts on."""
    feed = _CsvFeed(file, iter(lines), encoding, max_bytes)
    # A field may not outgrow a line: an unclosed quote cannot swallow the file into memory.
    csv.field_size_limit(max(max_bytes, 131072))
    reader = csv.reader(feed, strict=True)
    start = 1
    try:
        header = next(reader)
    except StopIteration:
        raise FileError(LineError(file, 1, "", "the file is empty")) from None
    except csv.Error as exc:
        raise FileError(LineError(file, 1, "", f"malformed CSV: {exc}")) from None
    if feed.problems:
        raise FileError(feed.problems[0])
    layout = table_layout(file, header, text_column)
    while True:
        start = feed.physical + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            feed.problems.clear()
            yield LineError(file, start, "", f"malformed CSV: {exc}")
            continue
        if feed.problems:
            yield feed.problems[0]
            feed.problems.clear()
            continue
        record = table_record(file, start, layout, row)
        if record is not None:
            yield record
