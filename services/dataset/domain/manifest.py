"""Parsing of JSON-lines manifests (``.manifest``, ``.jsonl``, ``.txt``): one
``{"data": {...}}`` object per line. Pure: lines in, records and located errors out."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

MAX_ERRORS_KEPT = 20


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Record:
    line: int
    data: dict[str, Any]


def _bad_value(value: Any, path: str) -> tuple[str, str] | None:
    """The first value the database cannot store faithfully (NUL, NaN, infinity)."""
    if isinstance(value, str):
        return (path, "contains a NUL character") if "\x00" in value else None
    if isinstance(value, float) and not math.isfinite(value):
        return path, f"{value} is not a finite number"
    if isinstance(value, dict):
        for key, inner in value.items():
            found = _bad_value(inner, f"{path}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for i, inner in enumerate(value):
            found = _bad_value(inner, f"{path}[{i}]")
            if found:
                return found
    return None


def parse_line(file: str, number: int, text: str) -> Record | LineError | None:
    """One manifest line → a record, an error naming file, line and field, or None (blank)."""
    stripped = text.strip().lstrip("\ufeff")
    if not stripped:
        return None
    try:
        obj = json.loads(stripped)
    except json.JSONDecodeError as exc:
        return LineError(file, number, "", f"not valid JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(obj, dict):
        return LineError(file, number, "", "expected a JSON object like {\"data\": {...}}")
    data = obj.get("data")
    if not isinstance(data, dict):
        return LineError(file, number, "data", "missing or not an object")
    if not data:
        return LineError(file, number, "data", "has no fields")
    source = data.get("source")
    if "source" in data and (not isinstance(source, str) or not source.strip()):
        return LineError(file, number, "data.source", "must be a non-empty string")
    bad = _bad_value(data, "data")
    if bad:
        return LineError(file, number, bad[0], bad[1])
    return Record(number, data)


@dataclass
class ImportReport:
    """Running tally of an import: counts, fields seen, and the first errors."""

    file: str
    items: int = 0
    error_count: int = 0
    errors: list[LineError] | None = None
    fields: set[str] | None = None

    def add_error(self, error: LineError) -> None:
        self.error_count += 1
        if self.errors is None:
            self.errors = []
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(error)

    def add_record(self, record: Record) -> None:
        self.items += 1
        if self.fields is None:
            self.fields = set()
        self.fields.update(record.data.keys())

    def failure(self) -> str | None:
        if self.error_count:
            first = self.errors[0] if self.errors else ""
            return f"{self.error_count} invalid line(s) in {self.file}; first: {first}"
        if self.items == 0:
            return f"{self.file}: no items (the manifest is empty)"
        return None
