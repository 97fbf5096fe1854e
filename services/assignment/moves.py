"""Package changes, one at a time: every change takes the ticket of the package's next
version, then commits the new fields and their events through the outbox, then tells the
claim board. Used by the gRPC servicer and the event handlers alike.

Why tickets: FerretDB has no atomic conditional update, but a unique insert is atomic
everywhere. Whoever inserts ``<package>:v<n+1>`` is the one change from version n; the
others lost a race and are told so. A ticket whose writer died before committing is
skipped once it is older than ``STALE_TICKET`` (the package jumps a version), and a writer
that got its ticket more than ``STALE_TICKET / 2`` ago gives up instead of committing, so a
skipped ticket can never come back to life.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from labelops_shared.contracts import (
    AcceptedItem,
    JobCompleted,
    PackageAccepted,
    PackageReleased,
)
from labelops_shared.mongo import Document
from labelops_shared.outbox import Outbox, UnitOfWork
from services.assignment import metrics
from services.assignment.adapters.dataset_client import Datasets
from services.assignment.adapters.repository import JOBS, PACKAGES, Repository
from services.assignment.domain import workflow as wf
from services.assignment.domain.board import Board, Slot
from services.assignment.settings import AssignmentSettings

log = logging.getLogger(__name__)

STALE_TICKET = timedelta(seconds=10)
Commit = Callable[[UnitOfWork], Awaitable[bool]]


class LostRace(Exception):
    """Another change of the package came first; the caller reads it again."""


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def slot_of(doc: Document) -> Slot:
    lease = doc.get("lease_until")
    targets = doc.get("targets") or {}
    return Slot(
        package_id=doc["_id"], job_id=doc["job_id"], index=doc["index"], state=doc["state"],
        version=doc.get("version", 0), labeler=doc.get("labeler", ""),
        holder=doc.get("holder", ""),
        lease_until=_aware(lease).timestamp() if lease else None,
        targets=tuple(targets.get("people", [])), target_teams=tuple(targets.get("teams", [])),
        item_count=int(doc.get("item_count", 0)))


class Packages:
    def __init__(self, repo: Repository, outbox: Outbox, source: str,
                 settings: AssignmentSettings) -> None:
        self.repo = repo
        self.outbox = outbox
        # Changes made here reach the recent reads at once.
        outbox.watch(JOBS, repo.forget_job)
        outbox.watch(PACKAGES, repo.forget_package)
        self.source = source
        self.settings = settings
        self.board = Board(frozenset(s.value for s in wf.CLAIMABLE.values()))
        self._rebuilt_at = 0.0
        self._rebuild_seconds = 0.0  # how long the last rebuild took
        self._rebuilding = asyncio.Lock()
        self.built = False  # the board has been read from the database at least once
        self._reported: set[tuple[str, str]] = set()

    def lease_until(self, now: datetime | None = None) -> datetime:
        return (now or datetime.now(UTC)) + timedelta(seconds=self.settings.lease_seconds)

    # --- the board ------------------------------------------------------------------

    async def rebuild(self, *, min_age: float = 0.0) -> bool:
        """Read every package still in the workflow into the board (unless the board was
        rebuilt less than ``min_age`` seconds ago). True if it was rebuilt."""
        async with self._rebuilding:
            if self.built and time.monotonic() - self._rebuilt_at < min_age:
                return False
            started = time.monotonic()
            self.board.begin_rebuild()
            try:
                async for batch in self.repo.workflow_packages():
                    self.board.add_scanned([slot_of(doc) for doc in batch])
            except BaseException:
                self.board.abandon_rebuild()
                raise
            self.board.finish_rebuild()
            self._rebuilt_at = time.monotonic()
            self._rebuild_seconds = self._rebuilt_at - started
            self.built = True
            metrics.BOARD_REBUILD_SECONDS.observe(self._rebuild_seconds)
            self._report_counts()
            return True

    async def ensure_built(self) -> None:
        """Wait for the board's first reading of the database (the service's start); later
        rebuilds run in the background and never hold a claim up."""
        if not self.built:
            await self.rebuild(min_age=float("inf"))

    def rebuild_due(self, since_last: float) -> bool:
        """A periodic rebuild is due after the rescan interval, and never sooner than ten
        times the last rebuild's duration: on a large database a rebuild is a long scan,
        and claims and submits must keep most of the database's time."""
        return since_last >= max(self.settings.rescan_seconds, 10 * self._rebuild_seconds)

    def _report_counts(self) -> None:
        """Packages by job and state, items waiting per stage, on the gauges; series of
        jobs gone are removed."""
        counts, items = self.board.counts()
        for stage, waiting in wf.CLAIMABLE.items():
            metrics.ITEMS_WAITING.labels(stage.value).set(items.get(waiting.value, 0))
        for key in self._reported - set(counts):
            metrics.PACKAGES.remove(*key)
        for (job_id, state), count in counts.items():
            metrics.PACKAGES.labels(job_id, state).set(count)
        self._reported = set(counts)

    def show(self, doc: Document) -> None:
        """The board learns the package's current state."""
        if doc["state"] in (wf.State.ACCEPTED, wf.State.CLOSED):
            self.board.forget(doc["_id"])
        else:
            self.board.update(slot_of(doc))

    async def read_back(self, package_id: str) -> Document | None:
        doc = await self.repo.package(package_id)
        if doc is None:
            self.board.forget(package_id)
        else:
            self.show(doc)
        return doc

    # --- a change -------------------------------------------------------------------

    async def move(self, doc: Document, fields: Document, uow: UnitOfWork, *, action: str,
                   actor: str, owner: str = "", commit: Commit | None = None) -> Document:
        """Apply ``fields`` (and the events in ``uow``) as the package's next version.
        Raises LostRace if another change of this package came first. ``commit`` is the
        event handler's idempotent commit; the servicer's commits are keyed by ticket."""
        current = doc.get("version", 0)
        version = current + 1
        owner = owner or uuid.uuid4().hex
        while not await self.repo.take_ticket(doc["_id"], version, action=action, actor=actor,
                                              owner=owner):
            ticket = await self.repo.ticket(doc["_id"], version)
            stale = ticket is not None and (
                datetime.now(UTC) - _aware(ticket["at"]) > STALE_TICKET)
            now = await self.repo.package(doc["_id"])
            if not stale or now is None or now.get("version", 0) != current:
                if now is not None:
                    self.show(now)
                raise LostRace(f"package {doc['_id']} changed meanwhile")
            log.warning("skipping the orphaned ticket %s v%d (%s by %s)", doc["_id"], version,
                        ticket["action"] if ticket else "?", ticket["actor"] if ticket else "?")
            version += 1
        taken_at = time.monotonic()
        moved = {**fields, "version": version}
        if fields.get("state") in self.board.claimable_states:
            moved["waiting_since"] = datetime.now(UTC)  # the stage's wait, in metrics
        # Guarded: applied again later (a recovery), the move never undoes a newer one.
        uow.set(PACKAGES, doc["_id"], moved, below=("version", version))
        if time.monotonic() - taken_at > STALE_TICKET.total_seconds() / 2:
            raise LostRace(f"package {doc['_id']}: too slow to commit version {version}")
        if commit is not None:
            await commit(uow)
        else:
            # The ticket for this version is ours: nobody else can have committed it. A
            # record of guarded moves alone needs no "applied" mark (see Outbox.commit).
            await self.outbox.commit(uow, key=f"move:{doc['_id']}:v{version}", fresh=True,
                                     unmarked=all("below" in op for op in uow.ops))
        new = {**doc, **moved}
        self.show(new)
        return new

    # --- the job --------------------------------------------------------------------

    async def complete_if_done(self, job: Document, by_state: Any = None,
                               items: int = 0) -> bool:
        """Emit JobCompleted once all the job's packages are accepted or closed (once per
        job: the outbox key is the job's). Called after every acceptance, after packages
        close or are accepted by events (deleted items, formal pre-labels), and by
        GetJobProgress, so a crash between the two commits is repaired by the next
        progress query."""
        if by_state is None:
            # Reading every package of a large job after each acceptance would cost a scan
            # of the job: this replica's board knows whether packages are still at work
            # (a stale board errs towards "not done"; the replica that moved them last, or
            # the next GetJobProgress, completes the job).
            if self.built and self.board.holds_job(job["_id"]):
                return False
            by_state, items, _ = await self.repo.progress(job["_id"])
        total = sum(by_state.values())
        refreshed = job if job.get("package_count") is not None else (
            await self.repo.job(job["_id"]) or job)
        # closed packages (every item deleted) count as done; at least one was accepted
        done = (bool(by_state[wf.State.ACCEPTED]) and refreshed.get("package_count") == total
                and by_state[wf.State.ACCEPTED] + by_state[wf.State.CLOSED] == total)
        if done:
            uow = UnitOfWork(source=self.source)
            uow.emit(JobCompleted(job_id=job["_id"], package_count=total, item_count=items),
                     subject=f"jobs/{job['_id']}")
            await self.outbox.commit(uow, key=f"completed:{job['_id']}")
        return done

    # --- leases ---------------------------------------------------------------------

    async def expire_leases(self) -> int:
        """Release every package whose claim's lease ran out (drafts stay)."""
        released = 0
        for slot in self.board.due(time.time()):
            doc = await self.repo.package(slot.package_id)
            if doc is None or not doc.get("holder") or doc.get("version", 0) != slot.version:
                if doc is not None:
                    self.show(doc)
                continue
            lease = doc.get("lease_until")
            if lease is None or _aware(lease) > datetime.now(UTC):
                self.show(doc)  # renewed meanwhile (perhaps on another replica)
                continue
            stage = wf.working_stage(doc["state"])
            if stage is None:
                self.show(doc)
                continue
            uow = UnitOfWork(source=self.source)
            uow.emit(PackageReleased(job_id=doc["job_id"], package_id=doc["_id"],
                                     stage=stage.value, holder=doc["holder"], by="",
                                     reason="lease expired"),
                     subject=f"packages/{doc['_id']}")
            fields = released_fields(doc)
            try:
                await self.move(doc, fields, uow, action="lease expired", actor="",
                                owner=f"lease:{doc['_id']}:v{doc.get('version', 0)}")
                released += 1
                metrics.LEASES_EXPIRED.labels(stage.value).inc()
            except LostRace:
                continue
        return released

    async def run(self) -> None:
        """Background: expire leases every sweep interval, rebuild the board every rescan
        interval (what other replicas changed) and settle claims whose writer died."""
        await self.ensure_built()
        last_rebuild = time.monotonic()
        while True:
            await asyncio.sleep(self.settings.sweep_seconds)
            try:
                if self.rebuild_due(time.monotonic() - last_rebuild):
                    await self.rebuild()
                    last_rebuild = time.monotonic()
                    # claims' records staged by a process that died before applying them
                    await self.outbox.recover(older_than=STALE_TICKET, staged_only=True)
                await self.expire_leases()
                self._report_counts()
            except Exception:  # a database hiccup must not end the sweeper
                log.exception("claim board upkeep failed; retrying")


def released_fields(doc: Document) -> Document:
    """The package back in its stage's pool: no holder, no lease, drafts kept."""
    state = wf.release(doc["state"])
    return {"state": state.value, "stage": wf.stage_of(state), "holder": "",
            "lease_until": None}


def claim_fields(doc: Document, stage: wf.Stage, holder: str, lease_until: datetime,
                 check_ratio: float = 1.0, request_key: str = "") -> dict[str, Any]:
    state = wf.claim(doc["state"], stage)
    fields: dict[str, Any] = {"state": state.value, "stage": wf.stage_of(state),
                              "holder": holder, "claimed_at": datetime.now(UTC),
                              "lease_until": lease_until, "claim_request": request_key}
    if stage is wf.Stage.LABEL:
        fields["labeler"] = holder
        fields["labeling_started_at"] = fields["claimed_at"]  # time per item, in stats
    if stage is wf.Stage.CHECK:  # deterministic: the same sample for the same ratio
        fields["to_inspect"] = wf.check_sample(doc["_id"], doc["item_ids"], check_ratio)
        fields["check_started_at"] = fields["claimed_at"]  # the checker's versions since
    return fields


async def emit_accepted(uow: UnitOfWork, datasets: Datasets, job: Document, doc: Document,
                        finals: list[tuple[str, Any, bool]], accepter: str) -> None:
    """Announce the package's final answers ((item, answer, hard) each) with the dataset
    records: everything the export needs, so it never calls back. The revision is the
    package's next version, so a later acceptance of the same item wins."""
    data = await datasets.items(job["dataset_id"], [i for i, _, _ in finals])
    items = [AcceptedItem(item_id=i, data=data.get(i, {}), answer=answer,
                          labeler=doc["labeler"], revision=doc.get("version", 0) + 1,
                          hard=hard)
             for i, answer, hard in finals]
    uow.emit(PackageAccepted(job_id=job["_id"], package_id=doc["_id"], accepter=accepter,
                             items=items), subject=f"packages/{doc['_id']}")
