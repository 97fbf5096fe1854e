"""The pure readers: line splitting with bounded memory, encodings, manifest and CSV records."""

from __future__ import annotations

from services.dataset.domain.lines import Line, OversizedLine, detect_encoding, split_lines
from services.dataset.domain.manifest import (
    FileError,
    LineError,
    Record,
    csv_records,
    parse_line,
)


def test_lines_split_across_chunks_with_crlf_and_no_final_newline() -> None:
    chunks = [b"ab", b"c\r\nde", b"f\n\ng"]
    assert list(split_lines(chunks)) == [
        Line(1, b"abc"), Line(2, b"def"), Line(3, b""), Line(4, b"g")]


def test_an_endless_line_is_dropped_as_it_arrives() -> None:
    def chunks():  # type: ignore[no-untyped-def]
        yield from (b"x" * 1000 for _ in range(500))
        yield b"\nok\n"

    found = list(split_lines(chunks(), max_bytes=4096))
    assert found == [OversizedLine(1, 500_000), Line(2, b"ok")]


def test_oversized_last_line_without_newline() -> None:
    assert list(split_lines([b"a\n", b"y" * 50], max_bytes=10)) == [
        Line(1, b"a"), OversizedLine(2, 50)]


def test_encoding_detection() -> None:
    assert detect_encoding("文本".encode()) == "utf-8"
    assert detect_encoding(b"\xef\xbb\xbfabc") == "utf-8"
    assert detect_encoding("文本，评论".encode("gb18030")) == "gb18030"
    assert detect_encoding("文本".encode()[:-1]) == "utf-8"  # cut inside a character


def test_manifest_line_rules() -> None:
    assert parse_line("f", Line(1, b"  ")) is None
    record = parse_line("f", Line(1, b'\xef\xbb\xbf{"data": {"source": "a", "$x": 1}}'))
    assert record == Record(1, {"source": "a", "$x": 1})
    error = parse_line("f", Line(3, b'{"data": {"source": "a", "v": Infinity}}'))
    assert isinstance(error, LineError) and error.line == 3 and "Infinity" in error.reason
    error = parse_line("f", Line(4, b'{"data": {"source": "a\\u0000"}}'))
    assert isinstance(error, LineError) and error.field == "data.source"


def test_csv_records_and_file_errors() -> None:
    lines = split_lines([b'text,extra\n"multi\nline",1\n,2\n'])
    found = list(csv_records("t.csv", lines, "text", "utf-8", 1 << 20))
    assert found[0] == Record(2, {"source": "multi\nline", "extra": "1"})
    assert isinstance(found[1], LineError) and (found[1].line, found[1].field) == (4, "text")
    for body, words in [(b"", "empty"), (b"a,a\nx,y\n", "twice"), (b"a,b\nx,y\n", "choose")]:
        try:
            list(csv_records("t.csv", split_lines([body]), "", "utf-8", 1 << 20))
        except FileError as exc:
            assert words in str(exc)
        else:
            raise AssertionError(f"{body!r} was accepted")
