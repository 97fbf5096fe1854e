"""Bytes to numbered lines with bounded memory, and text decoding with encoding detection.

A file of hundreds of megabytes without a newline must not be held in memory: a line longer
than the limit is reported by number and size, and its bytes are dropped as they arrive.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

DEFAULT_MAX_LINE_BYTES = 1 << 20  # 1 MiB: far above any sane record, far below memory limits
UTF8_BOM = codecs.BOM_UTF8
ENCODINGS = ("auto", "utf-8", "gb18030")


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    raw: bytes  # without the line break


@dataclass(frozen=True, slots=True)
class OversizedLine:
    number: int
    size: int  # bytes seen before the line ended (or the file did)


def split_lines(
    chunks: Iterable[bytes], max_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[Line | OversizedLine]:
    """Yield every line of the byte stream (``\\n`` or ``\\r\\n`` endings), numbered from 1.
    Holds at most ``max_bytes`` plus one chunk."""
    number = 0
    pending = b""
    skipped = -1  # > -1 while dropping the rest of an oversized line: bytes dropped so far
    for chunk in chunks:
        if not chunk:
            continue
        pieces = chunk.split(b"\n")
        for piece in pieces[:-1]:  # every piece but the last ends a line
            number += 1
            if skipped >= 0:
                yield OversizedLine(number, skipped + len(piece))
                skipped = -1
                continue
            raw = pending + piece if pending else piece
            pending = b""
            if len(raw) > max_bytes + 1:  # +1: a trailing '\r' is not content
                yield OversizedLine(number, len(raw))
            else:
                yield Line(number, raw[:-1] if raw.endswith(b"\r") else raw)
        tail = pieces[-1]
        if skipped >= 0:
            skipped += len(tail)
        else:
            pending += tail
            if len(pending) > max_bytes + 1:
                skipped, pending = len(pending), b""
    if skipped >= 0:
        yield OversizedLine(number + 1, skipped)
    elif pending:
        yield Line(number + 1, pending[:-1] if pending.endswith(b"\r") else pending)


def detect_encoding(head: bytes) -> str:
    """UTF-8 (with or without BOM) when the first bytes decode as UTF-8, else GB18030.
    ``head`` may end in the middle of a character; that is not held against it."""
    if head.startswith(UTF8_BOM):
        return "utf-8"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def strip_bom(line: Line) -> Line:
    """The BOM is an encoding mark, not content: drop it from the first line."""
    if line.number == 1 and line.raw.startswith(UTF8_BOM):
        return Line(1, line.raw[len(UTF8_BOM):])
    return line


def decode(raw: bytes, encoding: str) -> str | DecodeFailure:
    """The text of a line, or a ``DecodeFailure`` saying where it is not ``encoding``."""
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        return DecodeFailure(f"undecodable bytes for {encoding} at byte {exc.start + 1} "
                             f"(choose the file's encoding: {', '.join(ENCODINGS[1:])})")


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    reason: str

