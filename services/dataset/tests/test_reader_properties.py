"""Properties of the readers under random and hostile input: every line, row or file either
parses or is refused by a ``LineError``/``FileError`` naming file, line and field — never
another exception — and whatever parses is stored and read back unchanged."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import bson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from services.dataset.domain.fingerprints import fingerprint
from services.dataset.domain.lines import UTF8_BOM, Line, OversizedLine, split_lines
from services.dataset.domain.manifest import (
    MAX_DEPTH,
    FileError,
    LineError,
    Record,
    csv_records,
    parse_line,
)
from services.dataset.domain.model import ImportFormat, item_document
from services.dataset.importer import ImportRequest, _xlsx_records

pytestmark = pytest.mark.unit

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW = settings(FUZZ, max_examples=20)
FILE = "upload/data.jsonl"
MAX_LINE = 4096

# -- strategies ------------------------------------------------------------------------------

HOSTILE_KEYS = st.sampled_from(["$where", "$gt", "a.b", "$", ".", "..", "_id", "data",
                                "source", "__proto__", " ", "", "\x00", "\ud800", "ключ",
                                "a\u0000b", "$set.x"])
KEYS = st.text(max_size=12) | HOSTILE_KEYS
LEAVES = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
          | st.sampled_from(['{"$gt": ""}', "$where", "\ud800", "\x00", 10**40, -(2**63)]))
ANY_JSON = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(KEYS, inner, max_size=4), max_leaves=20)

# What a record may hold: JSON values the database keeps exactly (no NUL, NaN, infinity or
# unpaired surrogate), under field names that are not blank — ``$`` and ``.`` included.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=20)
GOOD_KEYS = (TEXT.filter(lambda k: k.strip() != "")
             | st.sampled_from(["$where", "$gt", "a.b", "$set.x", "_id", "."]))
GOOD_LEAVES = (st.none() | st.booleans() | st.integers()
               | st.floats(allow_nan=False, allow_infinity=False) | TEXT)
GOOD_JSON = st.recursive(GOOD_LEAVES, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(GOOD_KEYS, inner, max_size=4), max_leaves=20)
GOOD_DATA = st.dictionaries(GOOD_KEYS.filter(lambda k: k != "source"), GOOD_JSON, max_size=5)
GOOD_SOURCE = TEXT.filter(lambda s: s.strip() != "")


@st.composite
def good_records(draw: st.DrawFn) -> dict[str, Any]:
    data = draw(GOOD_DATA)
    if draw(st.booleans()) or not data:
        data["source"] = draw(GOOD_SOURCE)
    return data


def nested(depth: int, leaf: str = "1") -> str:
    """JSON text nested ``depth`` levels deep, arrays and objects alternating."""
    opens = "".join('[' if i % 2 else '{"k":' for i in range(depth))
    closes = "".join(']' if i % 2 else '}' for i in reversed(range(depth)))
    return opens + leaf + closes


ADVERSARIAL_LINES = st.one_of(
    st.binary(max_size=200),
    ANY_JSON.map(lambda v: json.dumps(v).encode()),
    ANY_JSON.map(lambda v: json.dumps({"data": v}).encode()),
    st.dictionaries(KEYS, ANY_JSON, max_size=4).map(lambda d: json.dumps({"data": d}).encode()),
    st.tuples(st.dictionaries(KEYS, ANY_JSON, min_size=1, max_size=3), st.integers(0, 60)).map(
        lambda t: json.dumps({"data": t[0]}).encode()[:t[1]]),  # truncated
    st.integers(1, 5000).map(lambda n: f'{{"data": {{"a": {nested(n)}}}}}'.encode()),
    st.integers(1, 5000).map(lambda n: ("[" * n).encode()),
    st.integers(4000, 6000).map(lambda n: b'{"data": {"n": ' + b"9" * n + b"}}"),
    st.sampled_from([b'{"data": {"source": "\\ud800"}}', b'{"data": {"\\udc00": 1}}',
                     b'{"data": {"a": {"\\ud83d": 1}}}', b'{"data": {"source": "a\\u0000"}}',
                     b'{"data": {"x": NaN}}', b'{"data": {"x": -Infinity}}',
                     b'{"data": {"source": 5}}', b'{"data": {"source": ""}}', b'{"data": []}',
                     b'{"data": {}}', b'{"data": {"  ": 1}}', b'{"data": 1, "data": {"a": 1}}',
                     b'{"data": {"source": "a", "source": 7}}', b'\xef\xbb\xbf\xef\xbb\xbf{}',
                     b'\xff\xfe{\x00}\x00', b'{"data": {"a": "\xc3"}}', b"\r", b"null"]),
)


def check_error(error: LineError, file: str, lines: int) -> None:
    """A refusal names the file and a line of it, and says why."""
    assert error.file == file
    assert 0 <= error.line <= lines + 1
    assert error.reason
    assert str(error).startswith(f"{file}:{error.line}: ")
    str(error).encode()  # storable as the failure's text


def check_stored(record: Record) -> None:
    """A record is stored (JSON text in a BSON document) and read back equal."""
    document = item_document("ds1", 1, record.line, record.data)
    assert bson.decode(bson.encode(document)) == document
    assert json.loads(document["data"]) == record.data
    fingerprint(record.data)


# -- lines -----------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=6),
       st.integers(1, 64))
def test_lines_are_the_bytes_between_newlines(data: bytes, cuts: list[int],
                                              max_bytes: int) -> None:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    chunks = [data[a:b] for a, b in zip(points, points[1:], strict=False)]
    expected = data.split(b"\n")
    if expected[-1] == b"":
        expected.pop()  # a final newline ends the last line, it opens none
    found = list(split_lines(chunks, max_bytes))
    assert [line.number for line in found] == list(range(1, len(expected) + 1))
    for line, raw in zip(found, expected, strict=True):
        content = raw[:-1] if raw.endswith(b"\r") else raw
        if isinstance(line, OversizedLine):
            assert len(raw) > max_bytes + 1 and line.size == len(raw)
        else:
            assert line.raw == content and len(raw) <= max_bytes + 1


# -- manifests (JSON lines) ------------------------------------------------------------------


@FUZZ
@given(ADVERSARIAL_LINES, st.integers(1, 10**6))
def test_any_manifest_line_parses_or_names_file_line_and_field(raw: bytes, number: int) -> None:
    for encoding in ("utf-8", "gb18030"):
        found = parse_line(FILE, Line(number, raw), encoding, MAX_LINE)
        if isinstance(found, LineError):
            check_error(found, FILE, number)
            assert found.line == number
        elif isinstance(found, Record):
            assert found.line == number and found.data
            check_stored(found)
        else:
            assert found is None and not raw.decode(encoding).strip()


@FUZZ
@given(st.integers(MAX_DEPTH + 1, 3000))
def test_deep_nesting_is_refused_at_any_depth(depth: int) -> None:
    found = parse_line(FILE, Line(3, f'{{"data": {{"a": {nested(depth)}}}}}'.encode()))
    assert isinstance(found, LineError) and found.line == 3
    assert f"nested more than {MAX_DEPTH} levels" in found.reason


@FUZZ
@given(st.sampled_from(['"\\ud800"', '"a\\udfffb"', '{"\\ud800": 1}', '["x", "\\udc00"]']))
def test_unpaired_surrogates_are_refused_with_their_field(value: str) -> None:
    found = parse_line(FILE, Line(2, f'{{"data": {{"source": "s", "f": {value}}}}}'.encode()))
    assert isinstance(found, LineError) and found.field.startswith("data.f")
    assert "surrogate" in found.reason


@FUZZ
@given(st.lists(good_records(), min_size=1, max_size=6), st.booleans(), st.booleans(),
       st.integers(1, 64))
def test_manifest_round_trip(records: list[dict[str, Any]], bom: bool, crlf: bool,
                             chunk: int) -> None:
    end = b"\r\n" if crlf else b"\n"
    body = (UTF8_BOM if bom else b"") + b"".join(
        json.dumps({"data": r}, ensure_ascii=False).encode() + end + end * (i % 2)
        for i, r in enumerate(records))
    chunks = [body[i:i + chunk] for i in range(0, len(body), chunk)]
    found = [parse_line(FILE, line) for line in split_lines(chunks)]
    parsed = [f for f in found if f is not None]
    assert all(isinstance(f, Record) for f in parsed), parsed
    assert [f.data for f in parsed if isinstance(f, Record)] == records
    for record in parsed:
        assert isinstance(record, Record)
        check_stored(record)


def test_duplicate_keys_keep_the_last_and_duplicate_sources_are_records() -> None:
    lines = split_lines([b'{"data": {"source": "a", "id": 1, "id": 2}}\n'
                         b'{"data": {"source": "a", "id": 1}}\n'])
    found = [parse_line(FILE, line) for line in lines]
    assert found == [Record(1, {"source": "a", "id": 2}), Record(2, {"source": "a", "id": 1})]


# -- CSV -------------------------------------------------------------------------------------


def read_csv(body: bytes, text_column: str, encoding: str = "utf-8",
             chunk: int = 1 << 16) -> list[Record | LineError]:
    chunks = [body[i:i + chunk] for i in range(0, len(body), chunk)]
    return list(csv_records("t.csv", split_lines(chunks, MAX_LINE), text_column, encoding,
                            MAX_LINE))


CSV_BYTES = st.one_of(
    st.binary(max_size=300),
    st.lists(st.lists(st.text(max_size=8) | st.sampled_from(['"', '""', ",", "\r", "\n",
                                                             "\x00", "\ufeff", "$where"]),
                      max_size=4), max_size=5).map(
        lambda rows: "\n".join(",".join(r) for r in rows).encode("utf-8", "surrogatepass")),
    st.sampled_from([b"", b"\xef\xbb\xbf", b"\n\n", b"text\n\"open", b'text\n"a"b"\n',
                     b"text,text\n", b"text,\n", b",\n", b"text\r\nx\r\n", b"text\nx\x00\n",
                     b"text\n" + b"x" * (MAX_LINE + 10) + b"\nok\n", b"\xff\nx\n"]),
)


@FUZZ
@given(CSV_BYTES, st.sampled_from(["", "text", "source", "$where", "a.b"]),
       st.sampled_from(["utf-8", "gb18030"]))
def test_any_csv_reads_or_names_file_line_and_field(body: bytes, text_column: str,
                                                    encoding: str) -> None:
    lines = body.count(b"\n") + 1
    try:
        found = read_csv(body, text_column, encoding)
    except FileError as exc:
        check_error(exc.error, "t.csv", lines)
        return
    for record in found:
        if isinstance(record, LineError):
            check_error(record, "t.csv", lines)
        else:
            assert isinstance(record.data.get("source"), str) and record.data["source"].strip()
            check_stored(record)


CELL = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
COLUMN = CELL.map(str.strip).filter(lambda c: c != "" and c != "source")


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    columns = draw(st.lists(COLUMN | st.sampled_from(["$where", "a.b", "_id"]), min_size=1,
                            max_size=4, unique=True))
    text = CELL.filter(lambda c: c.strip() != "")
    rows = draw(st.lists(st.tuples(text, st.lists(CELL, min_size=len(columns) - 1,
                                                   max_size=len(columns) - 1)),
                         min_size=1, max_size=5))
    return columns, [[t, *rest] for t, rest in rows]


@FUZZ
@given(tables(), st.booleans(), st.booleans(), st.sampled_from(["\n", "\r\n"]))
def test_csv_round_trip(table: tuple[list[str], list[list[str]]], bom: bool, quote_all: bool,
                        end: str) -> None:
    columns, rows = table
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=end,
                        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    writer.writerows(rows)
    body = (UTF8_BOM if bom else b"") + out.getvalue().encode()
    found = read_csv(body, columns[0], chunk=7)
    expected = [{"source": r[0], **dict(zip(columns[1:], r[1:], strict=True))} for r in rows]
    assert [r.data if isinstance(r, Record) else r for r in found] == expected
    for record in found:
        assert isinstance(record, Record)
        check_stored(record)


# -- XLSX ------------------------------------------------------------------------------------


class FileStore:
    """The one call the XLSX reader makes on object storage."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def fget_object(self, bucket: str, key: str, path: str) -> None:
        with open(path, "wb") as out:
            out.write(self.body)


def read_xlsx(body: bytes, text_column: str) -> list[Record | LineError]:
    request = ImportRequest("b", "book.xlsx", ImportFormat.XLSX, text_column=text_column)
    records: Iterator[Record | LineError] = _xlsx_records(FileStore(body), request)  # type: ignore[arg-type]
    return list(records)


def workbook(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


XLSX_CELL = (st.none() | st.booleans() | st.integers(-(2**40), 2**40)
             | st.floats(allow_nan=False, allow_infinity=False, width=32)
             | CELL.filter(lambda c: not c.startswith("=")))  # "=..." is a formula


@SLOW
@given(st.one_of(st.binary(max_size=200),
                 st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b),
                 st.lists(st.lists(XLSX_CELL, max_size=4), max_size=4).map(workbook)
                 .map(lambda b: b[:len(b) // 2])),  # truncated archive
       st.sampled_from(["", "text"]))
def test_any_xlsx_bytes_read_or_name_the_file(body: bytes, text_column: str) -> None:
    try:
        read_xlsx(body, text_column)
    except FileError as exc:
        check_error(exc.error, "book.xlsx", 0)
    else:
        raise AssertionError("not an XLSX file, yet read")


@SLOW
@given(st.lists(st.lists(XLSX_CELL, min_size=1, max_size=4), max_size=5),
       st.sampled_from(["", "text", "$where"]))
def test_any_xlsx_sheet_reads_or_names_file_line_and_field(rows: list[list[Any]],
                                                           text_column: str) -> None:
    try:
        found = read_xlsx(workbook(rows), text_column)
    except FileError as exc:
        check_error(exc.error, "book.xlsx", len(rows))
        return
    for record in found:
        if isinstance(record, LineError):
            check_error(record, "book.xlsx", len(rows))
        else:
            check_stored(record)


@SLOW
@given(tables())
def test_xlsx_round_trip(table: tuple[list[str], list[list[str]]]) -> None:
    columns, rows = table
    found = read_xlsx(workbook([columns, *rows]), columns[0])
    expected = [{"source": r[0], **dict(zip(columns[1:], r[1:], strict=True))} for r in rows]
    # An empty cell is read back as None, which a table record keeps as "".
    assert [r.data if isinstance(r, Record) else r for r in found] == expected
    for record in found:
        assert isinstance(record, Record)
        check_stored(record)

