"""The recent-read cache the servicer's busiest calls use for jobs and packages."""

from __future__ import annotations

import asyncio

import pytest

from labelops_shared.mongo import Document
from services.assignment.adapters import repository
from services.assignment.adapters.repository import Recent


class SlowStore:
    """Reads that wait until released, counting how many reached the database."""

    def __init__(self) -> None:
        self.version = 1
        self.reads = 0
        self.release = asyncio.Event()

    async def load(self, doc_id: str) -> Document | None:
        self.reads += 1
        seen = self.version  # what the database held when the read reached it
        await self.release.wait()
        return {"_id": doc_id, "version": seen}


async def _until_reads(store: SlowStore, count: int) -> None:
    for _ in range(100):
        if store.reads >= count:
            break
        await asyncio.sleep(0)
    assert store.reads == count


async def test_concurrent_misses_share_one_read_and_later_calls_reuse_it() -> None:
    store = SlowStore()
    recent = Recent(store.load)
    waiting = [asyncio.ensure_future(recent.read("job-1")) for _ in range(64)]
    await asyncio.sleep(0)
    store.release.set()
    docs = await asyncio.gather(*waiting)
    assert store.reads == 1 and all(d == {"_id": "job-1", "version": 1} for d in docs)
    assert await recent.read("job-1") == {"_id": "job-1", "version": 1}
    assert store.reads == 1


async def test_a_change_made_during_a_read_is_never_hidden_by_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(repository, "RECENT_SECONDS", 60.0)
    store = SlowStore()
    recent = Recent(store.load)
    before = asyncio.ensure_future(recent.read("pkg-1"))
    await _until_reads(store, 1)
    store.version = 2  # a move made here while the read was under way
    recent.forget("pkg-1")
    after = asyncio.ensure_future(recent.read("pkg-1"))  # must not join the older read
    await _until_reads(store, 2)
    store.release.set()
    assert (await before)["version"] == 1  # it came before the change
    assert (await after)["version"] == 2
    assert (await recent.read("pkg-1"))["version"] == 2 and store.reads == 2


async def test_entries_run_out_and_renewals_show_in_the_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = SlowStore()
    store.release.set()
    recent = Recent(store.load)
    monkeypatch.setattr(repository, "RECENT_SECONDS", 60.0)
    await recent.read("pkg-1")
    recent.renewed("pkg-1", 1, "later")  # type: ignore[arg-type]
    recent.renewed("pkg-1", 7, "never")  # type: ignore[arg-type]  # another version
    assert (await recent.read("pkg-1"))["lease_until"] == "later"
    monkeypatch.setattr(repository, "RECENT_SECONDS", 0.0)
    assert "lease_until" not in (await recent.read("pkg-1"))
    assert store.reads == 2


class SlowProgress:
    """A progress read that waits until released; records which job each read was for and
    the database's version when it started, and fails if asked to."""

    def __init__(self) -> None:
        self.version = 1
        self.started: list[tuple[str, int]] = []
        self.gates: list[asyncio.Event] = []
        self.fail = False

    async def load(self, job_id: str) -> Document:
        seen = self.version
        self.started.append((job_id, seen))
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        if self.fail:
            raise RuntimeError("database gone")
        return {"job": job_id, "version": seen}


async def _until_started(store: SlowProgress, count: int) -> None:
    for _ in range(100):
        if len(store.started) >= count:
            break
        await asyncio.sleep(0)
    assert len(store.started) == count


async def test_calls_during_a_progress_read_share_the_next_one_which_sees_their_changes(
) -> None:
    store = SlowProgress()
    reads = repository.Coalesced(store.load)
    first = asyncio.ensure_future(reads.read("job-1"))
    await _until_started(store, 1)
    store.version = 2  # a caller changes a package, then asks for the progress
    later = [asyncio.ensure_future(reads.read("job-1")) for _ in range(20)]
    other_job = asyncio.ensure_future(reads.read("job-2"))  # keys do not wait for each other
    await _until_started(store, 2)
    for _ in range(5):
        await asyncio.sleep(0)
    assert store.started == [("job-1", 1), ("job-2", 2)], "the later calls wait"

    store.gates[0].set()
    assert (await first)["version"] == 1
    await _until_started(store, 3)
    assert store.started[2] == ("job-1", 2), "one shared read, after the first ended"
    store.gates[1].set()
    store.gates[2].set()
    results = await asyncio.gather(*later)
    assert [r["version"] for r in results] == [2] * 20
    assert len(store.started) == 3
    assert (await other_job)["job"] == "job-2"


async def test_a_failed_progress_read_fails_its_callers_and_the_next_call_reads_again(
) -> None:
    store = SlowProgress()
    reads = repository.Coalesced(store.load)
    store.fail = True
    callers = [asyncio.ensure_future(reads.read("job-1")) for _ in range(3)]
    await _until_started(store, 1)
    store.gates[0].set()
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)

    store.fail = False
    again = asyncio.ensure_future(reads.read("job-1"))
    await _until_started(store, 2)
    store.gates[1].set()
    assert (await again)["job"] == "job-1"


async def test_a_caller_that_hangs_up_leaves_the_shared_progress_read_to_the_others(
) -> None:
    store = SlowProgress()
    reads = repository.Coalesced(store.load)
    quitter = asyncio.ensure_future(reads.read("job-1"))
    stayer = asyncio.ensure_future(reads.read("job-1"))
    await _until_started(store, 1)
    quitter.cancel()
    await asyncio.sleep(0)
    store.gates[0].set()
    assert (await stayer)["version"] == 1
    assert quitter.cancelled()
