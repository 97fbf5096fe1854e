"""Claims committed in groups. Every claim is a change of its package like any other (the
ticket of the next version, an outbox record, the guarded update; see ``moves``), but
claims come in bursts: a shift starts, a checker polls, sixty labelers finish at once.
One at a time, each pays its round trips behind all the others' writes; here a few
groups are written at once, the claims that arrive while they are busy wait for the next
group, and a group costs the same round trips whatever its size.

A labeling claim takes two round trips in a row: its ticket, its record and the package
read go together (the record is staged: it counts only if the ticket is its writer's,
see ``Outbox.staged``), then the bulk update. A check claim's record needs the package's
items (its sample), so it waits for the read: three.

A claim whose ticket is someone else's while its package is still at the board's version
is not settled here (it may be a ticket orphaned by a crash): the caller moves it the
single way, which knows how to skip such a ticket.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from labelops_shared.contracts import PackageClaimed
from labelops_shared.mongo import Document
from labelops_shared.outbox import UnitOfWork
from services.assignment.adapters.repository import PACKAGES, TICKETS, ticket_id
from services.assignment.domain import workflow as wf
from services.assignment.domain.board import Slot
from services.assignment.moves import STALE_TICKET, Packages, claim_fields

log = logging.getLogger(__name__)

GROUP_MAX = 100  # claims per group: one write each of tickets, records, packages
# Groups written at once. One alone would make a claim that comes while a group is being
# written wait for it: in a steady flow of claims that costs more than grouping saves.
WRITERS = 4


@dataclass(frozen=True, slots=True)
class Outcome:
    """``doc``: the package as read (None: it is gone). ``won``: the package as this claim
    left it, when it won. ``contested``: the ticket was someone else's but the package is
    still at the board's version; the caller settles it one at a time."""

    doc: Document | None
    won: Document | None = None
    contested: bool = False


@dataclass(slots=True)
class _Claim:
    slot: Slot
    stage: wf.Stage
    subject: str
    job: Document
    request_key: str
    outcome: asyncio.Future[Outcome]
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)


def claim_change(packages: Packages, job: Document, doc: Document, stage: wf.Stage,
                 subject: str, request_key: str = "",
                 lease: datetime | None = None) -> tuple[Document, UnitOfWork]:
    """The fields a claim sets on the package, and its unit of work with the event."""
    fields = claim_fields(doc, stage, subject, lease or packages.lease_until(),
                          job["check_ratio"], request_key)
    uow = UnitOfWork(source=packages.source)
    uow.emit(PackageClaimed(job_id=job["_id"], package_id=doc["_id"], stage=stage,
                            holder=subject), subject=f"packages/{doc['_id']}")
    return fields, uow


class ClaimGroups:
    def __init__(self, packages: Packages) -> None:
        self.packages = packages
        self._waiting: list[_Claim] = []
        self._writers: set[asyncio.Future[None]] = set()

    async def claim(self, slot: Slot, stage: wf.Stage, subject: str, job: Document,
                    request_key: str = "") -> Outcome:
        """Claim the package of ``slot`` (taken off the board by the caller) for
        ``subject``, with the next group."""
        claim = _Claim(slot, stage, subject, job, request_key,
                       asyncio.get_running_loop().create_future())
        self._waiting.append(claim)
        if len(self._writers) < WRITERS:
            writer = asyncio.ensure_future(self._write_groups())
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        # Shielded: a caller that hangs up does not take the others' group down with it.
        return await asyncio.shield(claim.outcome)

    async def _write_groups(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting[:GROUP_MAX], self._waiting[GROUP_MAX:]
            try:
                outcomes = await self._write(group)
            except Exception as exc:  # every claim of the group hears of it (an outage)
                for claim in group:
                    if not claim.outcome.done():
                        claim.outcome.set_exception(exc)
                continue
            for claim, outcome in zip(group, outcomes, strict=True):
                if not claim.outcome.done():
                    claim.outcome.set_result(outcome)

    async def _write(self, group: list[_Claim]) -> list[Outcome]:
        packages, repo, outbox = self.packages, self.packages.repo, self.packages.outbox
        lease = packages.lease_until()
        # A labeling claim's change needs nothing of the package but its state, which the
        # board's version pins: its record is written beside its ticket (see
        # Outbox.staged). A check's sample needs the package's items: its record waits
        # for the package read.
        staged = {c.owner: self._staged(c, lease) for c in group if c.stage is wf.Stage.LABEL}
        started = time.monotonic()
        docs, taken, _ = await asyncio.gather(
            repo.packages_by_id([c.slot.package_id for c in group]),
            repo.take_tickets([(c.slot.package_id, c.slot.version + 1, f"claim {c.stage}",
                                c.subject, c.owner) for c in group]),
            outbox.stage([record for record, _ in staged.values()]))
        outcomes: list[Outcome] = []
        units: list[tuple[UnitOfWork, str]] = []
        won_staged: list[Document] = []
        lost_staged: list[Document] = []
        moved_docs: list[tuple[int, Document, Document]] = []
        for claim in group:
            slot = claim.slot
            doc = docs.get(slot.package_id)
            version = slot.version + 1
            mine = ticket_id(slot.package_id, version) in taken
            at_version = doc is not None and doc.get("version", 0) == slot.version
            if mine and not at_version:
                # Cannot happen while tickets are never removed: winning the ticket of
                # v+1 proves the package is at v. If it did, the ticket is an orphan the
                # next change skips once it is stale.
                log.warning("ticket %s v%d taken for a package not at v%d",
                            slot.package_id, version, slot.version)
            record, moved = staged.get(claim.owner, (None, None))
            if doc is None or not at_version or doc["state"] != wf.CLAIMABLE[claim.stage].value:
                outcomes.append(Outcome(doc))
            elif not mine:
                outcomes.append(Outcome(doc, contested=True))
            else:
                if record is not None and moved is not None:
                    won_staged.append(record)
                else:
                    uow, moved = self._unit(claim, doc, lease)
                    units.append((uow, f"move:{doc['_id']}:v{version}"))
                moved_docs.append((len(outcomes), doc, moved))
                outcomes.append(Outcome(doc))  # replaced below once committed
                continue
            if record is not None:
                lost_staged.append(record)
        if time.monotonic() - started > STALE_TICKET.total_seconds() / 2:
            # too slow: its tickets may be skipped by now (see moves)
            await outbox.drop_staged(won_staged + lost_staged)
            return outcomes
        await asyncio.gather(outbox.apply_staged(won_staged), outbox.commit_fresh(units),
                             self._drop_lost(lost_staged))
        for at, doc, moved in moved_docs:
            new = {**doc, **moved}
            packages.show(new)
            outcomes[at] = Outcome(doc, won=new)
        return outcomes

    async def _drop_lost(self, records: list[Document]) -> None:
        """Records of lost tickets go; if the database refuses now, the periodic recovery
        drops them (their tickets are someone else's), and the winners are not failed."""
        try:
            await self.packages.outbox.drop_staged(records)
        except Exception:
            log.warning("records of lost claims left for the recovery", exc_info=True)

    def _staged(self, claim: _Claim, lease: datetime) -> tuple[Document, Document]:
        """A labeling claim's record, to be written beside its ticket, and the fields it
        moves the package to."""
        slot, version = claim.slot, claim.slot.version + 1
        uow, moved = self._unit(claim, {"_id": slot.package_id, "state": slot.state}, lease)
        record = self.packages.outbox.staged(
            uow, f"move:{slot.package_id}:v{version}:{claim.owner}",
            (TICKETS, ticket_id(slot.package_id, version), claim.owner))
        return record, moved

    def _unit(self, claim: _Claim, doc: Document,
              lease: datetime) -> tuple[UnitOfWork, Document]:
        """The claim's unit of work (the package moved to the next version, guarded, and
        its event) and the fields it moves the package to."""
        version = claim.slot.version + 1
        fields, uow = claim_change(self.packages, claim.job, doc, claim.stage, claim.subject,
                                   claim.request_key, lease)
        moved = {**fields, "version": version}
        uow.set(PACKAGES, doc["_id"], moved, below=("version", version))
        return uow, moved
