"""Outbox: a state change and the events announcing it are committed as one document.

FerretDB v1 (and MongoDB without a replica set) gives no multi-document transactions, so
the outbox record itself is the commit point, like a write-ahead log entry:

1. ``commit`` inserts one record holding the state operations and the events (atomic: a
   single-document insert). Its ``_id`` is the idempotency key: for an event handler it is
   ``<consumer>:<event id>``, so the same event committed twice fails on the unique ``_id``
   and changes nothing (this record doubles as the consumer's inbox).
2. The operations are applied. Each is idempotent (upsert by id, set absolute values,
   insert-if-absent, delete), so re-applying after a crash is harmless.
3. The record is marked ``applied``; the relay publishes its events to Kafka in commit
   order, then moves the key to the insert-only ``inbox`` and deletes the record. The outbox
   thus holds only pending work and stays small (FerretDB v1 scans a collection on every
   update, even by ``_id``); the inbox only grows and is only inserted into and read by
   ``_id``, which is fast everywhere.

A crash between 1 and 3 leaves a ``committed`` record: ``recover`` re-applies it, so there is
never state without its event, nor an event without its state. A crash between publishing
and marking re-publishes; consumers are idempotent by event id, so nothing happens twice.

A record whose operations are all guarded sets (``UnitOfWork.set(..., below=...)``: a
versioned document's move, which a later re-application can never undo) skips step 3's
mark: its process's relay knows it applied it, and after a crash ``recover`` applies it again
harmlessly and it is published then.

A record may also be *staged* beside the unique ticket it depends on (``staged``): both
inserts in one round trip instead of two in a row. It counts as committed only if that
ticket is its own writer's; ``recover`` checks, applies the winners and drops the rest.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from pymongo import ASCENDING, IndexModel, ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from labelops_shared import metrics
from labelops_shared.events import Envelope, EventData, new_event
from labelops_shared.mongo import Document, insert_absent, retry_busy

log = logging.getLogger(__name__)

COLLECTION = "outbox"
INBOX = "inbox"
INDEXES = {
    COLLECTION: [IndexModel([("state", ASCENDING), ("seq", ASCENDING)], name="state_seq")],
    INBOX: [IndexModel([("done_at", ASCENDING)], name="done_at")],
}

COMMITTED, APPLIED = "committed", "applied"
DONE_CHUNK = 500  # keys per marking round trip (FerretDB's $in pushdown takes up to 1,000)
# Whole-document writes per bulk command. Stock FerretDB v1 holds a SQLite connection per
# update until its command ends and has 100 per database: a bigger command waits for ever.
# The stack's build fixes that (FERRETDB_PATCH); this keeps an unpatched one usable.
PUT_CHUNK = 50
RELAY_BATCH = 100  # records per read of a relay round
# A staged record without its ticket is dropped after this long (see ``staged``): longer
# than any writer waits between the two inserts and its apply.
STAGED_GRACE = timedelta(seconds=30)

# Publishes one serialized event: (topic, key, value).
Publish = Callable[[str, str, bytes], Awaitable[None]]


@dataclass
class UnitOfWork:
    """State operations and events to commit together. Build it, then ``Outbox.commit``."""

    source: str
    ops: list[Document] = field(default_factory=list)
    events: list[Envelope[Any]] = field(default_factory=list)

    def put(self, collection: str, doc: Document) -> None:
        """Create or replace the whole document with this ``_id``."""
        self.ops.append({"k": "put", "c": collection, "doc": doc})

    def set(self, collection: str, doc_id: Any, fields: dict[str, Any], *,
            below: tuple[str, Any] | None = None) -> None:
        """Set these fields (dotted paths allowed) of an existing document. ``below``
        (field, value): only while the document's field is below that value, so applying
        the operation again later (a recovery) never undoes a newer change: a versioned
        document's move to version n is ``below=("version", n)``."""
        # Stored as a list of {path, value}: dotted paths cannot be document keys, and
        # FerretDB stores no nested arrays.
        pairs = [{"path": path, "value": value} for path, value in fields.items()]
        op: Document = {"k": "set", "c": collection, "id": doc_id, "fields": pairs}
        if below is not None:
            op["below"] = {"field": below[0], "value": below[1]}
        self.ops.append(op)

    def insert(self, collection: str, doc: Document) -> None:
        """Insert the document unless one with its ``_id`` exists."""
        self.ops.append({"k": "insert", "c": collection, "doc": doc})

    def delete(self, collection: str, doc_id: Any) -> None:
        self.ops.append({"k": "delete", "c": collection, "id": doc_id})

    def emit(self, data: EventData, subject: str | None = None) -> Envelope[Any]:
        event = new_event(data, source=self.source, subject=subject)
        self.events.append(event)
        return event


class Outbox:
    def __init__(self, db: AsyncDatabase[Document], *, owner: str) -> None:
        self.records = db[COLLECTION]
        self.inbox = db[INBOX]
        self.db = db
        self.owner = owner
        # Collections a service keeps in another database of its own (see ``place``).
        self.homes: dict[str, AsyncDatabase[Document]] = {}
        self.wake = asyncio.Event()
        self._last_seq = 0
        self._watchers: dict[str, list[Callable[[Any], None]]] = {}
        # Records this process applied and left unmarked (``commit(unmarked=True)``): the
        # relay publishes them as if marked.
        self._applied_here: set[str] = set()

    def place(self, collection: str, db: AsyncDatabase[Document]) -> None:
        """Operations on ``collection`` go to ``db``. The record stays the one commit point
        (its operations are idempotent and re-applied after a crash wherever they go), so a
        service may keep a write-heavy collection in a database of its own: on FerretDB's
        SQLite each database has its own single writer, and that collection's writes no
        longer queue the others'."""
        self.homes[collection] = db

    def home(self, collection: str) -> AsyncDatabase[Document]:
        """The database holding ``collection``."""
        return self.homes.get(collection, self.db)

    def watch(self, collection: str, changed: Callable[[Any], None]) -> None:
        """Call ``changed(document id)`` after this process applies an operation on
        ``collection``: how an in-process cache of those documents learns of its own
        writes at once (whatever wrote them: a handler, a servicer, a recovery)."""
        self._watchers.setdefault(collection, []).append(changed)

    def _tell_watchers(self, ops: list[Document]) -> None:
        for op in ops:
            for changed in self._watchers.get(op["c"], ()):
                changed(op["doc"]["_id"] if "doc" in op else op["id"])

    def _next_seq(self) -> int:
        self._last_seq = max(self._last_seq + 1, time.time_ns())
        return self._last_seq

    async def seen(self, key: str, *, batched: bool = False) -> bool:
        """Whether a commit with this key happened. ``batched``: the key may also be one of
        the ``keys`` of a batch's record (see ``commit``), still pending."""
        for collection in (self.inbox, self.records):
            if await collection.find_one({"_id": key}, {"_id": 1}) is not None:
                return True
        return batched and await self.records.find_one({"keys": key}, {"_id": 1}) is not None

    async def seen_many(self, keys: list[str]) -> set[str]:
        """Which of these keys were committed, alone or as part of a batch."""
        found: set[str] = set()
        for start in range(0, len(keys), DONE_CHUNK):
            chunk = keys[start:start + DONE_CHUNK]
            found.update([d["_id"] async for d in self.inbox.find({"_id": {"$in": chunk}},
                                                                   {"_id": 1})])
            rest = [k for k in chunk if k not in found]
            if not rest:
                continue
            found.update([d["_id"] async for d in self.records.find({"_id": {"$in": rest}},
                                                                     {"_id": 1})])
            async for doc in self.records.find({"keys": {"$in": rest}}, {"keys": 1}):
                found.update(set(doc["keys"]).intersection(rest))
        return found

    async def commit(self, uow: UnitOfWork, *, key: str | None = None,
                     keys: list[str] | None = None, resume: bool = False,
                     fresh: bool = False, unmarked: bool = False) -> bool:
        """Commit atomically; False when a record with this key was already committed.
        ``keys``: the record also stands for these keys (a consumer's batch of events
        committed as one: each event's key is remembered with the record's).
        ``resume``: the key is the caller's alone (a consumer's event), so a record found
        under it is the caller's own earlier attempt, cut off between its commit and its
        apply (by an outage): it is applied now, before the caller moves on.
        ``fresh``: the caller already holds the key alone (a ticket taken for it), so it
        cannot be done already and the round trip to look it up is saved.
        ``unmarked``: every operation may be applied again at any time without undoing a
        later change (guarded sets, see ``UnitOfWork.set``), so the record is not marked
        applied (a write less, on the caller's path): this process's relay knows it is, and
        if the process dies first, ``recover`` applies it again harmlessly and publishes."""
        if key and not fresh and await self.inbox.find_one({"_id": key},
                                                           {"_id": 1}) is not None:
            return False  # committed and published long ago
        record = self._record(uow, key)
        if keys:
            record["keys"] = keys
        try:
            await retry_busy(lambda: self.records.insert_one(record))
        except DuplicateKeyError:
            if resume and key:
                await self.finish([key])
            return False
        if unmarked and record["events"] and not keys:
            await self._apply_unmarked([record])
        else:
            await self._apply(record)
        return True

    async def commit_fresh(self, units: list[tuple[UnitOfWork, str]]) -> None:
        """Commit several units of work at once (a group commit: one write of their
        records, one round trip per collection their operations change), each under a key
        the caller holds alone (``fresh``). Every unit announces something and has only
        guarded operations (``unmarked``): the units are independent, and whichever of
        them a crash cuts off, ``recover`` applies again harmlessly."""
        if not units:
            return
        for uow, _ in units:
            _check_fresh(uow)
        records = [self._record(uow, key) for uow, key in units]
        # Absent ones only: after a retried write, our own records may be there already.
        await retry_busy(partial(insert_absent, self.records, records))
        await self._apply_unmarked(records)

    def staged(self, uow: UnitOfWork, key: str, ticket: tuple[str, str, str]) -> Document:
        """The record of a unit of work to be written beside the ticket it depends on
        (``stage``), before anyone knows whether that ticket is won. ``ticket``: (collection,
        ticket id, owner). The record counts as committed only if the ticket is its owner's:
        ``recover`` applies it then, and drops it if the ticket went to someone else (or
        never came, once ``STAGED_GRACE`` has passed)."""
        _check_fresh(uow)
        record = self._record(uow, key)
        record["ticket"] = {"c": ticket[0], "id": ticket[1], "owner": ticket[2]}
        return record

    async def stage(self, records: list[Document]) -> None:
        """Write staged records (see ``staged``): one round trip, run beside the tickets'
        insert instead of after it."""
        if records:
            await retry_busy(partial(insert_absent, self.records, records))

    async def apply_staged(self, records: list[Document]) -> None:
        """Apply staged records whose tickets the caller won (``commit_fresh``'s second
        half: unmarked, published by this process's relay)."""
        if records:
            await self._apply_unmarked(records)

    async def drop_staged(self, records: list[Document]) -> None:
        """Remove staged records whose tickets were lost (or that their writer gave up)."""
        if records:
            ids = [r["_id"] for r in records]
            await retry_busy(lambda: self.records.delete_many(
                {"_id": {"$in": ids}, "state": COMMITTED}))

    async def _apply_unmarked(self, records: list[Document]) -> None:
        """Apply records left unmarked (see ``commit``); this process's relay publishes them."""
        await self._apply_ops([op for record in records for op in record["ops"]])
        self._applied_here.update(record["_id"] for record in records)
        self.wake.set()

    def _record(self, uow: UnitOfWork, key: str | None) -> Document:
        return {
            "_id": key or str(uuid.uuid4()),
            "state": COMMITTED,
            "seq": self._next_seq(),
            "owner": self.owner,
            "created_at": datetime.now(UTC),
            "ops": uow.ops,
            # Serialized: user data inside events may hold keys a document may not.
            "events": [
                {"topic": e.topic, "key": e.partitionkey, "type": e.type,
                 "value": e.model_dump_json()}
                for e in uow.events
            ],
        }

    async def finish(self, keys: list[str]) -> int:
        """Apply the records committed under these keys (or standing for them) that are
        still waiting for their apply, oldest first; returns how many. For a consumer that
        finds its own events committed: whatever it handles next must read their effect.
        (Not for keys other writers share: their record may be applied as we speak, and
        applying it again after a newer change would undo that change.)"""
        pending: dict[str, Document] = {}
        for start in range(0, len(keys), DONE_CHUNK):
            chunk = keys[start:start + DONE_CHUNK]
            for query in ({"_id": {"$in": chunk}}, {"keys": {"$in": chunk}}):
                async for record in self.records.find(query):
                    if record["state"] == COMMITTED:
                        pending[record["_id"]] = record
        for record in sorted(pending.values(), key=lambda r: r["seq"]):
            log.warning("applying an outbox record its commit left", extra={
                "record": record["_id"]})
            await self._apply(record)
        return len(pending)

    async def _apply(self, record: Document) -> None:
        """Apply the record's operations, then mark it applied (or, without events, done)."""
        await self._apply_ops(record["ops"])
        if not record["events"]:
            if record.get("keys"):
                await self._done_many([record["_id"], *record["keys"]])
            else:
                await self._done(record["_id"])
            return
        # The operations are done with: dropping them keeps the relay's reads small.
        await retry_busy(lambda: self.records.update_one(
            {"_id": record["_id"]}, {"$set": {"state": APPLIED}, "$unset": {"ops": ""}}))
        self.wake.set()

    async def _apply_ops(self, ops: list[Document]) -> None:
        start = 0
        while start < len(ops):
            # A run of inserts (packages cut from a job, items of a chunk) or of whole-document
            # writes (a batch of events folded into the documents they change) into one
            # collection goes in one round trip: its documents are distinct, order is moot.
            end = _run_end(ops, start)
            if end - start > 1:
                kind, collection = ops[start]["k"], ops[start]["c"]
                if kind == "set":
                    await retry_busy(partial(self._set_many, collection, ops[start:end]))
                else:
                    bulk = self._insert_many if kind == "insert" else self._put_many
                    await retry_busy(partial(bulk, collection,
                                             [op["doc"] for op in ops[start:end]]))
                start = end
                continue
            await retry_busy(partial(self._apply_op, ops[start]))
            start += 1
        if self._watchers:
            self._tell_watchers(ops)

    async def _done(self, key: str) -> None:
        """Remember the key for good, then drop the record (in this order: the key is never
        in neither place, so a late duplicate is always recognised)."""
        try:
            await retry_busy(lambda: self.inbox.insert_one({"_id": key,
                                                            "done_at": datetime.now(UTC)}))
        except DuplicateKeyError:
            pass
        await retry_busy(lambda: self.records.delete_one({"_id": key}))

    async def _done_many(self, keys: list[str]) -> None:
        """``_done`` for many keys, a chunk at a time (each chunk's keys remembered before
        its records are dropped)."""
        for start in range(0, len(keys), DONE_CHUNK):
            await self._done_chunk(keys[start:start + DONE_CHUNK])

    async def _done_chunk(self, chunk: list[str]) -> None:
        now = datetime.now(UTC)
        remembered = [{"_id": key, "done_at": now} for key in chunk]
        await retry_busy(lambda: insert_absent(self.inbox, remembered))
        await retry_busy(lambda: self.records.delete_many({"_id": {"$in": chunk}}))

    async def _insert_many(self, collection: str, docs: list[Document]) -> None:
        """Insert the documents whose ``_id`` is not taken yet (a re-applied record finds
        some or all of them there)."""
        await insert_absent(self.home(collection)[collection], docs)

    async def _put_many(self, collection: str, docs: list[Document]) -> None:
        for start in range(0, len(docs), PUT_CHUNK):
            await self.home(collection)[collection].bulk_write(
                [ReplaceOne({"_id": doc["_id"]}, doc, upsert=True)
                 for doc in docs[start:start + PUT_CHUNK]], ordered=False)

    async def _set_many(self, collection: str, ops: list[Document]) -> None:
        """Field updates of distinct documents, ``PUT_CHUNK`` per round trip."""
        for start in range(0, len(ops), PUT_CHUNK):
            await self.home(collection)[collection].bulk_write(
                [UpdateOne(_set_filter(op),
                           {"$set": {f["path"]: f["value"] for f in op["fields"]}})
                 for op in ops[start:start + PUT_CHUNK]], ordered=False)

    async def _apply_op(self, op: Document) -> None:
        coll = self.home(op["c"])[op["c"]]
        kind = op["k"]
        if kind == "put":
            await coll.replace_one({"_id": op["doc"]["_id"]}, op["doc"], upsert=True)
        elif kind == "set":
            fields = {f["path"]: f["value"] for f in op["fields"]}
            await coll.update_one(_set_filter(op), {"$set": fields})
        elif kind == "insert":
            try:
                await coll.insert_one(op["doc"])
            except DuplicateKeyError:
                pass
        elif kind == "delete":
            await coll.delete_one({"_id": op["id"]})
        else:  # records are only written by commit()
            raise ValueError(f"unknown outbox op {kind!r}")

    async def recover(self, *, older_than: timedelta = timedelta(0),
                      staged_only: bool = False) -> int:
        """Apply records whose writer died between commit and apply (``staged_only``: only
        staged ones, see ``staged``; safe to run while their writers live). Returns their
        count."""
        cutoff = datetime.now(UTC) - older_than
        count = 0
        cursor = self.records.find({"state": COMMITTED}).sort("seq", ASCENDING)
        async for record in cursor:
            if record["created_at"] > cutoff or (staged_only and "ticket" not in record):
                continue
            if "ticket" in record and not await self._ticket_won(record):
                continue
            log.warning("re-applying outbox record", extra={"record": record["_id"]})
            await self._apply(record)
            count += 1
        return count

    async def _ticket_won(self, record: Document) -> bool:
        """Whether a staged record's ticket is its own (then it is committed). One whose
        ticket is someone else's never was, and is dropped; so is one without a ticket once
        ``STAGED_GRACE`` has passed (its writer died between the two inserts, or gave up).
        A younger one without a ticket is left: its writer may be inserting it now."""
        ticket = record["ticket"]
        found = await self.home(ticket["c"])[ticket["c"]].find_one(
            {"_id": ticket["id"]}, {"owner": 1})
        if found is not None and found.get("owner") == ticket["owner"]:
            return True
        created: datetime = record["created_at"]
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        if found is not None or datetime.now(UTC) - created > STAGED_GRACE:
            await self.drop_staged([record])
        return False

    async def relay_once(self, publish: Publish, *, limit: int = 1000) -> int:
        """Publish applied records in commit order; returns how many records were sent.
        The sent ones are marked done together at the end of the round (two round trips
        instead of two per record; on FerretDB the read of the round costs as much as its
        records are many, so rounds are large). A crash before the marking publishes them
        again with the same event ids: delivery is at least once, consumers skip ids."""
        sent: list[str] = []
        published: set[str] = set()
        done: list[str] = []  # the records' keys and the batch keys they stand for
        # Read in batches of RELAY_BATCH: an accepted package's event carries every item's
        # answer and data, and a whole round decoded at once is tens of megabytes that the
        # allocator keeps as resident memory afterwards.
        cursor = (self.records.find({"state": APPLIED}).sort("seq", ASCENDING).limit(limit)
                  .batch_size(RELAY_BATCH))
        try:
            async for record in _merged_by_seq(cursor, await self._unmarked(limit)):
                if record["_id"] in published:
                    continue  # unmarked here and marked by a sibling's recovery meanwhile
                for event in record["events"]:
                    await publish(event["topic"], event["key"], event["value"].encode())
                    metrics.EVENTS_PUBLISHED.labels(topic=event["topic"],
                                                    type=_event_type(event)).inc()
                sent.append(record["_id"])
                published.add(record["_id"])
                done.extend([record["_id"], *record.get("keys", ())])
        finally:
            if done:
                await self._done_many(done)
                self._applied_here.difference_update(sent)
        return len(sent)

    async def _unmarked(self, limit: int) -> list[Document]:
        """The records this process applied without marking them, oldest first (read by
        ``_id``; ones already gone, published by a restarted sibling's recovery, are
        forgotten)."""
        if not self._applied_here:
            return []
        wanted = list(self._applied_here)
        found: list[Document] = []
        for start in range(0, len(wanted), DONE_CHUNK):
            chunk = wanted[start:start + DONE_CHUNK]
            found += await self.records.find({"_id": {"$in": chunk}}).to_list(None)
        self._applied_here.difference_update(set(wanted) - {d["_id"] for d in found})
        return sorted(found, key=lambda d: d["seq"])[:limit]

    async def backlog(self) -> int:
        return await self.records.count_documents({})

    async def oldest_age_seconds(self) -> float:
        """How long the oldest pending record has waited (0 when the outbox is empty)."""
        cursor = self.records.find({}, {"created_at": 1, "seq": 1}).sort("seq", ASCENDING).limit(1)
        oldest = [doc async for doc in cursor]
        if not oldest:
            return 0.0
        created: datetime = oldest[0]["created_at"]
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        return max(0.0, (datetime.now(UTC) - created).total_seconds())

    async def _measure(self) -> None:
        """The backlog gauges; measured after every round, failed ones included (a relay that
        cannot reach Kafka is exactly when the backlog grows)."""
        try:
            metrics.OUTBOX_BACKLOG.set(await self.backlog())
            metrics.OUTBOX_OLDEST_SECONDS.set(await self.oldest_age_seconds())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.debug("outbox backlog not measured", exc_info=True)

    async def run_relay(self, publish: Publish, *, poll_seconds: float = 0.5) -> None:
        """Relay until cancelled. Woken at once by local commits; polls for the rest."""
        backoff = poll_seconds
        while True:
            try:
                while await self.relay_once(publish):
                    pass
                backoff = poll_seconds
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying")
                metrics.OUTBOX_RELAY_FAILURES.inc()
                backoff = min(backoff * 2, 10.0)
            await self._measure()
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=backoff)
            except TimeoutError:
                pass


def _run_end(ops: list[Document], start: int) -> int:
    """Where the run of inserts, or of puts or sets of distinct ids, into one collection that
    begins at ``start`` ends (``start + 1`` for any other operation)."""
    kind, collection = ops[start]["k"], ops[start]["c"]
    if kind not in ("insert", "put", "set"):
        return start + 1
    ids: set[Any] = set()
    end = start
    while end < len(ops) and ops[end]["k"] == kind and ops[end]["c"] == collection:
        if kind != "insert":
            doc_id = ops[end]["doc"]["_id"] if kind == "put" else ops[end]["id"]
            if doc_id in ids:
                break  # a second write of one document must follow the first
            ids.add(doc_id)
        end += 1
    return end


async def _merged_by_seq(cursor: Any, extra: list[Document]) -> AsyncIterator[Document]:
    """The cursor's records and ``extra`` (both in ``seq`` order) in one ``seq`` order."""
    rest = iter(extra)
    pending = next(rest, None)
    async for record in cursor:
        while pending is not None and pending["seq"] < record["seq"]:
            yield pending
            pending = next(rest, None)
        yield record
    while pending is not None:
        yield pending
        pending = next(rest, None)


def _check_fresh(uow: UnitOfWork) -> None:
    """A unit committed under a key its caller holds alone (``commit_fresh``, ``staged``)
    announces something and has only guarded operations, so any recovery may apply it."""
    if not uow.events or not all("below" in op for op in uow.ops):
        raise ValueError("a fresh unit needs events and guarded operations only")


def _set_filter(op: Document) -> Document:
    """The filter of a set operation: its document, and its guard if it has one."""
    below = op.get("below")
    if below is None:
        return {"_id": op["id"]}
    return {"_id": op["id"], below["field"]: {"$lt": below["value"]}}


def _event_type(event: Document) -> str:
    """The CloudEvents type of a stored event (records written before the type was stored
    beside the value carry it only inside)."""
    if "type" in event:
        return str(event["type"])
    try:
        return str(json.loads(event["value"]).get("type", "unknown"))
    except (ValueError, AttributeError):
        return "unknown"
