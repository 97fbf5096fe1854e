"""Duplicate-source fingerprints: known sources less deletions, repeats within a file."""

from __future__ import annotations

from services.dataset.domain.fingerprints import (
    KnownSources,
    fingerprint,
    from_bytes,
    new_array,
    repeats,
    to_bytes,
)


def test_fingerprint_of_the_source_only() -> None:
    assert fingerprint({"source": "a", "x": 1}) == fingerprint({"source": "a"})
    assert fingerprint({"source": "a"}) != fingerprint({"source": "b"})
    assert fingerprint({"picture_url": "s3://b/1.jpg"}) is None
    assert 0 <= (fingerprint({"source": "x" * 10_000}) or -1) < 2**64


def test_known_sources_are_every_version_less_one_occurrence_per_deleted_item() -> None:
    a, b, c = (fingerprint({"source": s}) or 0 for s in "abc")
    v1 = from_bytes(to_bytes(new_array([a, b, b])))  # b kept twice
    v2 = new_array([c])
    known = KnownSources([v1, v2], [new_array([b, c])])
    assert a in known and b in known and c not in known
    assert len(known) == 2
    assert b not in KnownSources([v1], [new_array([b]), new_array([b])])
    assert fingerprint({"source": "z"}) not in KnownSources([], [])


def test_repeats_name_each_later_line_and_its_first() -> None:
    values = new_array([5, 7, 5, 9, 7, 5])
    lines = new_array([1, 2, 3, 4, 5, 6])
    assert repeats(values, lines) == [(3, 1), (5, 2), (6, 1)]
    assert repeats(new_array([1, 2, 3]), new_array([1, 2, 3])) == []
