"""The claim board: which packages wait for which stage, in package order, and when each
held package's lease runs out. Pure and in memory.

The database stays the truth; the board only saves a claim from scanning for a candidate
(FerretDB serves nothing but point reads by ``_id`` without a scan). A claim takes a slot
off the board while it tries it, so two claims in this process never race for the same
package; a claim that loses the race anyway (another replica won, or the board was stale)
reads the package back and the board learns its real state. A periodic rebuild from the
database brings in what other replicas changed.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple


class Slot(NamedTuple):
    """What the board keeps of a package: enough to pick and filter claim candidates."""

    package_id: str
    job_id: str
    index: int  # type: ignore[assignment]  # the package's place in its job, not tuple.index
    state: str
    version: int
    labeler: str = ""
    holder: str = ""
    lease_until: float | None = None  # seconds since the epoch
    targets: tuple[str, ...] = ()  # people a targeted package is reserved for
    target_teams: tuple[str, ...] = ()
    item_count: int = 0


# The board keeps each slot as a plain tuple of plain values, which Python's cycle
# collector stops tracking after one look (it never does so for a class's instances): a
# board of 32,000 slot objects made every full collection walk them, 20-50 ms of a held
# event loop a few times a minute under load.
Kept = tuple[str, str, int, str, int, str, str, float | None, tuple[str, ...], tuple[str, ...], int]
_JOB, _STATE = Slot._fields.index("job_id"), Slot._fields.index("state")


def _slot(kept: Kept | None) -> Slot | None:
    return None if kept is None else Slot._make(kept)


@dataclass
class Board:
    claimable_states: frozenset[str]
    _slots: dict[str, Kept] = field(default_factory=dict)
    _queues: dict[tuple[str, str], list[tuple[int, str]]] = field(default_factory=dict)
    _taken: set[str] = field(default_factory=set)
    _leases: list[tuple[float, str, int]] = field(default_factory=list)
    _recent: dict[str, Slot | None] | None = None  # learned during a rebuild's scan
    _scanned: Board | None = None  # what a rebuild's scan has read so far
    _per_job: dict[str, int] = field(default_factory=dict)  # packages on the board by job
    # Kept up to date at every change: the gauges read them every second, and counting a
    # board of 30,000 packages each time held the event loop for 10-20 ms.
    _counts: dict[tuple[str, str], int] = field(default_factory=dict)  # by (job, state)
    _items: dict[str, int] = field(default_factory=dict)  # items by state

    def __len__(self) -> int:
        return len(self._slots)

    def get(self, package_id: str) -> Slot | None:
        return _slot(self._slots.get(package_id))

    def update(self, slot: Slot) -> None:
        """The package's state as it now is (after a move, or read back): it goes back in
        its stage's queue if it waits for a claim, and its lease is watched if held."""
        if self._recent is not None:
            self._recent[slot.package_id] = slot
        self._taken.discard(slot.package_id)
        self._put(slot, heaps=True)

    def _put(self, slot: Slot, *, heaps: bool) -> None:
        """Keep the slot, queue it if it waits, watch its lease if held. Without ``heaps``
        the queues and leases are plain lists, heapified once by the caller."""
        old = _slot(self._slots.get(slot.package_id))
        if old is None:
            self._per_job[slot.job_id] = self._per_job.get(slot.job_id, 0) + 1
        else:
            self._count(old, -1)
        self._slots[slot.package_id] = tuple(slot)  # type: ignore[assignment]
        self._count(slot, 1)
        if slot.state in self.claimable_states:
            queue = self._queues.setdefault((slot.job_id, slot.state), [])
            if heaps:
                heapq.heappush(queue, (slot.index, slot.package_id))
            else:
                queue.append((slot.index, slot.package_id))
        if slot.holder and slot.lease_until is not None:
            lease = (slot.lease_until, slot.package_id, slot.version)
            if heaps:
                heapq.heappush(self._leases, lease)
            else:
                self._leases.append(lease)

    def _count(self, slot: Slot, sign: int) -> None:
        key = (slot.job_id, slot.state)
        packages = self._counts.get(key, 0) + sign
        if packages:
            self._counts[key] = packages
        else:
            del self._counts[key]
        items = self._items.get(slot.state, 0) + sign * slot.item_count
        if items or packages:
            self._items[slot.state] = items
        else:
            self._items.pop(slot.state, None)

    def forget(self, package_id: str) -> None:
        if self._recent is not None:
            self._recent[package_id] = None
        self._taken.discard(package_id)
        gone = _slot(self._slots.pop(package_id, None))
        if gone is not None:
            self._count(gone, -1)
            left = self._per_job[gone.job_id] - 1
            if left:
                self._per_job[gone.job_id] = left
            else:
                del self._per_job[gone.job_id]

    def holds_job(self, job_id: str) -> bool:
        """Whether any package of the job is still on the board (in the workflow)."""
        return job_id in self._per_job

    def begin_rebuild(self) -> None:
        """A scan of the database starts: its slots go to ``add_scanned`` as they are read,
        and ``finish_rebuild`` puts them in place of the board's. What the board learns
        from now on is newer than the scan and wins over it."""
        self._recent = {}
        self._scanned = Board(self.claimable_states)

    def add_scanned(self, slots: Iterable[Slot]) -> None:
        """Slots read by the rebuild's scan, a batch at a time: the board is rebuilt in
        steps between the scan's reads, not in one long step at the end."""
        if self._scanned is None:
            raise RuntimeError("add_scanned outside a rebuild")
        for slot in slots:
            self._scanned._put(slot, heaps=False)

    def finish_rebuild(self) -> None:
        """The scan is complete: the board becomes what it read, with the changes learned
        while it ran (packages cut, claimed, moved meanwhile) applied over it. Slots taken
        by claims in flight stay taken: their claims put them back with what they find."""
        fresh, recent = self._scanned, self._recent or {}
        if fresh is None:
            raise RuntimeError("finish_rebuild outside a rebuild")
        self._scanned, self._recent = None, None
        for queue in fresh._queues.values():
            heapq.heapify(queue)
        heapq.heapify(fresh._leases)
        for package_id, newer in recent.items():
            if newer is None:
                fresh.forget(package_id)
            else:
                fresh.update(newer)
        self._slots, self._queues, self._leases = fresh._slots, fresh._queues, fresh._leases
        self._per_job, self._counts, self._items = fresh._per_job, fresh._counts, fresh._items

    def abandon_rebuild(self) -> None:
        """The scan failed: the board stays as it was."""
        self._scanned, self._recent = None, None

    def replace_all(self, slots: Iterable[Slot]) -> None:
        """A rebuild from slots read at once (``begin_rebuild`` unless already begun)."""
        if self._scanned is None:
            self.begin_rebuild()
        self.add_scanned(slots)
        self.finish_rebuild()

    def take(self, job_id: str, state: str, allowed: Callable[[Slot], bool]) -> Slot | None:
        """The first package (in package order) waiting in this state that ``allowed``
        admits, taken off the board until ``update`` or ``give_back``. Those passed over
        stay where they are."""
        queue = self._queues.get((job_id, state))
        passed: list[tuple[int, str]] = []
        found = None
        while queue:
            entry = heapq.heappop(queue)
            slot = _slot(self._slots.get(entry[1]))
            if (slot is None or slot.state != state or slot.index != entry[0]
                    or entry[1] in self._taken):
                continue  # stale entry: the package moved on since it was queued
            if not allowed(slot):
                passed.append(entry)
                continue
            found = slot
            break
        for entry in passed:
            heapq.heappush(self._queues[(job_id, state)], entry)
        if found is not None:
            self._taken.add(found.package_id)
        return found

    def give_back(self, slot: Slot) -> None:
        """A taken slot whose claim was not made (the caller gave up): queue it again."""
        if slot.package_id in self._taken:
            self.update(self.get(slot.package_id) or slot)

    def counts(self) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
        """Packages on the board by (job, state), and items by state."""
        return dict(self._counts), dict(self._items)

    def waiting(self, job_id: str, state: str) -> int:
        """Packages of the job waiting in this state (entries still valid)."""
        return sum(1 for package_id, kept in self._slots.items()
                   if kept[_JOB] == job_id and kept[_STATE] == state
                   and package_id not in self._taken)

    def due(self, now: float) -> list[Slot]:
        """Held packages whose lease ran out by ``now`` (each once per lease)."""
        found = []
        while self._leases and self._leases[0][0] <= now:
            until, package_id, version = heapq.heappop(self._leases)
            slot = self.get(package_id)
            if (slot is not None and slot.version == version and slot.holder
                    and slot.lease_until == until):
                found.append(slot)
        return found

    def renew(self, package_id: str, version: int, until: float) -> None:
        """The holder worked on the package: its lease now ends at ``until``."""
        slot = self.get(package_id)
        if slot is not None and slot.version == version and slot.holder:
            self.update(slot._replace(lease_until=until))
