"""Duplicate-source fingerprints: known sources less deletions, repeats within a file."""

from __future__ import annotations

from services.dataset.domain.fingerprints import (
    KnownSources,
    fingerprint,
    from_bytes,
    new_array,
    scan_sorted,
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


def test_scan_of_sorted_pairs_names_repeats_and_keeps_firsts_or_all() -> None:
    pairs = sorted([(5, 1), (7, 2), (5, 3), (9, 4), (7, 5), (5, 6)])
    firsts: list[int] = []
    assert scan_sorted(pairs, False, firsts.append) == [(3, 1), (5, 2), (6, 1)]
    assert firsts == [5, 7, 9]
    every: list[int] = []
    assert scan_sorted(pairs, True, every.append) == [(3, 1), (5, 2), (6, 1)]
    assert every == [5, 5, 5, 7, 7, 9]
    assert scan_sorted([(1, 1), (2, 2)], False, lambda _: None) == []


def test_source_log_merges_spilled_runs_in_fingerprint_then_line_order() -> None:
    import random

    from services.dataset.adapters.fingerprints import SourceLog

    rng = random.Random(7)
    pairs = [(rng.randrange(50), line) for line in range(1, 1001)]  # many repeats
    log = SourceLog(run_records=64)
    for value, line in pairs:
        log.add(value, line)
    try:
        merged = list(log.sorted_pairs())
        assert len(log.runs) == 16  # 15 full runs and the rest
    finally:
        log.close()
    assert merged == sorted(pairs)
    kept: list[int] = []
    found = scan_sorted(merged, False, kept.append)
    assert kept == sorted({v for v, _ in pairs})
    first = {}
    for value, line in pairs:
        first.setdefault(value, line)
    assert found == [(line, first[v]) for v, line in pairs if first[v] != line]
