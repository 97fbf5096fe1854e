"""Duplicate sources, found without a database index.

A unique index on a hash of the source halves the insert rate of a Mongo-API database
(random B-tree inserts, measured 34.5k → 17.8k docs/s on FerretDB), so duplicates are found
from 8-byte fingerprints instead: a sorted array per dataset version (8 bytes an item, kept
in object storage), less the fingerprints of deleted items; an import checks its records
against the dataset's earlier versions as it goes, and against its own earlier lines at the
end, by sorting its fingerprints in bounded runs spilled to disk and merging them. A
collision of two different sources among a million items has a probability of about 3 in
100 million.
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any


def fingerprint(data: dict[str, Any]) -> int | None:
    """The source's 64-bit fingerprint (None: the item has no single source)."""
    source = data.get("source")
    if not isinstance(source, str):
        return None
    return int.from_bytes(hashlib.blake2b(source.encode(), digest_size=8).digest(), "big")


def new_array(values: Iterable[int] = ()) -> array[int]:
    return array("Q", values)


def to_bytes(values: array[int]) -> bytes:
    return array("Q", sorted(values)).tobytes()


def from_bytes(blob: bytes) -> array[int]:
    found = array("Q")
    found.frombytes(blob)
    return found


class KnownSources:
    """The fingerprints of the sources a dataset has: every version's, less one occurrence
    per deleted item (a kept duplicate has two occurrences; deleting one keeps the other)."""

    def __init__(self, versions: Iterable[array[int]], deleted: Iterable[array[int]]) -> None:
        present = sorted(v for part in versions for v in part)
        gone = sorted(v for part in deleted for v in part)
        kept = array("Q")
        g = 0
        for value in present:
            while g < len(gone) and gone[g] < value:
                g += 1
            if g < len(gone) and gone[g] == value:
                g += 1  # this occurrence was deleted
                continue
            kept.append(value)
        self._sorted = kept

    def __len__(self) -> int:
        return len(self._sorted)

    def __contains__(self, value: int) -> bool:
        at = bisect_left(self._sorted, value)
        return at < len(self._sorted) and self._sorted[at] == value


def scan_sorted(pairs: Iterable[tuple[int, int]], keep_all: bool,
                emit: Callable[[int], None]) -> list[tuple[int, int]]:
    """Over (fingerprint, line) pairs sorted by fingerprint then line: ``emit`` each
    fingerprint to keep (every occurrence with ``keep_all``, else the first of each), and
    return (line, first line) of every record repeating an earlier line, in line order."""
    found: list[tuple[int, int]] = []
    previous, first = -1, 0
    for value, line in pairs:
        if value == previous:
            found.append((line, first))
            if keep_all:
                emit(value)
            continue
        previous, first = value, line
        emit(value)
    found.sort()
    return found
