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
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Slot:
    """What the board keeps of a package: enough to pick and filter claim candidates."""

    package_id: str
    job_id: str
    index: int
    state: str
    version: int
    labeler: str = ""
    holder: str = ""
    lease_until: float | None = None  # seconds since the epoch
    targets: tuple[str, ...] = ()  # people a targeted package is reserved for
    target_teams: tuple[str, ...] = ()
    item_count: int = 0


@dataclass
class Board:
    claimable_states: frozenset[str]
    _slots: dict[str, Slot] = field(default_factory=dict)
    _queues: dict[tuple[str, str], list[tuple[int, str]]] = field(default_factory=dict)
    _taken: set[str] = field(default_factory=set)
    _leases: list[tuple[float, str, int]] = field(default_factory=list)
    _recent: dict[str, Slot | None] | None = None  # learned during a rebuild's scan
    _per_job: dict[str, int] = field(default_factory=dict)  # packages on the board by job

    def __len__(self) -> int:
        return len(self._slots)

    def get(self, package_id: str) -> Slot | None:
        return self._slots.get(package_id)

    def update(self, slot: Slot) -> None:
        """The package's state as it now is (after a move, or read back): it goes back in
        its stage's queue if it waits for a claim, and its lease is watched if held."""
        if self._recent is not None:
            self._recent[slot.package_id] = slot
        self._taken.discard(slot.package_id)
        if self._slots.get(slot.package_id) is None:
            self._per_job[slot.job_id] = self._per_job.get(slot.job_id, 0) + 1
        self._slots[slot.package_id] = slot
        if slot.state in self.claimable_states:
            heapq.heappush(self._queues.setdefault((slot.job_id, slot.state), []),
                           (slot.index, slot.package_id))
        if slot.holder and slot.lease_until is not None:
            heapq.heappush(self._leases, (slot.lease_until, slot.package_id, slot.version))

    def forget(self, package_id: str) -> None:
        if self._recent is not None:
            self._recent[package_id] = None
        self._taken.discard(package_id)
        gone = self._slots.pop(package_id, None)
        if gone is not None:
            left = self._per_job[gone.job_id] - 1
            if left:
                self._per_job[gone.job_id] = left
            else:
                del self._per_job[gone.job_id]

    def holds_job(self, job_id: str) -> bool:
        """Whether any package of the job is still on the board (in the workflow)."""
        return job_id in self._per_job

    def begin_rebuild(self) -> None:
        """A scan of the database starts: what the board learns from now on is newer than
        the scan and wins over it in ``replace_all``."""
        self._recent = {}

    def replace_all(self, slots: Iterable[Slot]) -> None:
        """Rebuild from a scan of the database; changes the board learned while the scan
        ran (packages cut, claimed, moved meanwhile) are applied over it. Slots taken by
        claims in flight stay taken: their claims put them back with what they find."""
        recent, self._recent = self._recent or {}, None
        taken = self._taken
        self._slots, self._queues, self._leases, self._taken = {}, {}, [], set()
        self._per_job = {}
        for slot in slots:
            if slot.package_id not in recent:
                self.update(slot)
        for newer in recent.values():
            if newer is not None:
                self.update(newer)
        self._taken = taken

    def take(self, job_id: str, state: str, allowed: Callable[[Slot], bool]) -> Slot | None:
        """The first package (in package order) waiting in this state that ``allowed``
        admits, taken off the board until ``update`` or ``give_back``. Those passed over
        stay where they are."""
        queue = self._queues.get((job_id, state))
        passed: list[tuple[int, str]] = []
        found = None
        while queue:
            entry = heapq.heappop(queue)
            slot = self._slots.get(entry[1])
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
            self.update(self._slots.get(slot.package_id, slot))

    def counts(self) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
        """Packages on the board by (job, state), and items by state."""
        packages: dict[tuple[str, str], int] = {}
        items: dict[str, int] = {}
        for slot in self._slots.values():
            key = (slot.job_id, slot.state)
            packages[key] = packages.get(key, 0) + 1
            items[slot.state] = items.get(slot.state, 0) + slot.item_count
        return packages, items

    def waiting(self, job_id: str, state: str) -> int:
        """Packages of the job waiting in this state (entries still valid)."""
        return sum(1 for s in self._slots.values()
                   if s.job_id == job_id and s.state == state and s.package_id not in self._taken)

    def due(self, now: float) -> list[Slot]:
        """Held packages whose lease ran out by ``now`` (each once per lease)."""
        found = []
        while self._leases and self._leases[0][0] <= now:
            until, package_id, version = heapq.heappop(self._leases)
            slot = self._slots.get(package_id)
            if (slot is not None and slot.version == version and slot.holder
                    and slot.lease_until == until):
                found.append(slot)
        return found

    def renew(self, package_id: str, version: int, until: float) -> None:
        """The holder worked on the package: its lease now ends at ``until``."""
        slot = self._slots.get(package_id)
        if slot is not None and slot.version == version and slot.holder:
            self.update(replace(slot, lease_until=until))
