"""Mongo access for the assignment service: reads, and the claim insert (the one write that
does not go through the outbox, because its unique key is what settles a race)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from labelops_shared.mongo import (
    Document,
    decode_key,
    decode_keys,
    encode_key,
    find_by_ids,
    insert_absent,
    retry_busy,
)
from labelops_shared.package_states import State
from services.assignment.domain.workflow import JobStatus

JOBS, PACKAGES, TICKETS, ANNOTATIONS, PRELABELS, TEAMS = (
    "jobs", "packages", "tickets", "annotations", "prelabels", "teams")

INDEXES = {
    # claimable packages in import order; listing; progress counts
    PACKAGES: [IndexModel([("job_id", ASCENDING), ("state", ASCENDING), ("index", ASCENDING)]),
               IndexModel([("job_id", ASCENDING), ("index", ASCENDING)]),
               # the board's rebuild reads the packages still in the workflow
               IndexModel([("state", ASCENDING)]),
               # items deleted from a dataset, or pre-labeled: which packages hold them
               IndexModel([("job_id", ASCENDING), ("item_ids", ASCENDING)]),
               # a retried claim finds what its first attempt claimed
               IndexModel([("claim_request", ASCENDING)])],
    # auto-synchronised jobs of a dataset
    JOBS: [IndexModel([("dataset_id", ASCENDING)])],
    ANNOTATIONS: [IndexModel([("package_id", ASCENDING), ("stage", ASCENDING)]),
                  # label renames and deletions rewrite a job's annotations
                  IndexModel([("job_id", ASCENDING)])],
    PRELABELS: [IndexModel([("job_id", ASCENDING)])],
    # tickets and teams are read by _id only
}

# How long a read for a call may serve the next calls: a job (settings and status change
# rarely, and only through events, so its view here lags the jobs service anyway), and a
# package for the saves of its holder (its busiest call: one read saved per answer). This
# replica's own changes reach the cache at once (``forget_job``, ``forget_package``), other
# replicas' within this long.
RECENT_SECONDS = 1.0
RECENT_KEPT = 1000


class Recent:
    """Documents read at most ``RECENT_SECONDS`` ago, by id. They are shared: callers never
    change them. Concurrent misses share one read (a second's worth of calls would otherwise
    all read the job the moment its entry runs out). Bounded: when full, the entries too old
    to serve are dropped."""

    def __init__(self, load: Callable[[str], Awaitable[Document | None]]) -> None:
        self._load = load
        self._docs: dict[str, tuple[float, Document]] = {}
        # a read under way: (its token, its task)
        self._loading: dict[str, tuple[object, asyncio.Future[Document | None]]] = {}

    async def read(self, doc_id: str) -> Document | None:
        found = self._docs.get(doc_id)
        if found is not None and time.monotonic() - found[0] < RECENT_SECONDS:
            return found[1]
        loading = self._loading.get(doc_id)
        if loading is None:
            token = object()
            loading = (token, asyncio.ensure_future(self._read_through(doc_id, token)))
            self._loading[doc_id] = loading
        return await asyncio.shield(loading[1])

    async def _read_through(self, doc_id: str, token: object) -> Document | None:
        try:
            doc = await self._load(doc_id)
        finally:
            current = self._loading.get(doc_id)
            kept = current is not None and current[0] is token  # no forget() meanwhile
            if kept:
                del self._loading[doc_id]
        if doc is not None and kept:
            now = time.monotonic()
            if len(self._docs) >= RECENT_KEPT:
                self._docs = {k: v for k, v in self._docs.items()
                              if now - v[0] < RECENT_SECONDS}
            self._docs[doc_id] = (now, doc)
        return doc

    def renewed(self, pkg_id: str, version: int, lease_until: datetime) -> None:
        """A package's lease extended at ``version``: its entry (if of that version) shows
        it, keeping the time it was read."""
        found = self._docs.get(pkg_id)
        if found is not None and found[1].get("version", 0) == version:
            self._docs[pkg_id] = (found[0], {**found[1], "lease_until": lease_until})

    def forget(self, doc_id: str) -> None:
        """Changed here: the next call reads it anew (a read under way serves its callers,
        which came before the change, but is not kept)."""
        self._docs.pop(doc_id, None)
        self._loading.pop(doc_id, None)


class Coalesced:
    """A long read by key (a job's progress: a read of all its packages, seconds on a large
    job) run at most once at a time per key. Callers that come while it runs share the next
    read, which starts when the running one ends: every caller's answer comes from a read
    that started after it asked (it sees its own changes), and a dashboard polling every
    half second no longer stacks up reads that slow each other down."""

    def __init__(self, read: Callable[[str], Awaitable[Any]]) -> None:
        self._read = read
        self._running: dict[str, asyncio.Task[Any]] = {}
        self._queued: dict[str, asyncio.Task[Any]] = {}

    async def read(self, key: str) -> Any:
        queued = self._queued.get(key)
        if queued is None:
            queued = asyncio.ensure_future(self._read_after(key, self._running.get(key)))
            self._queued[key] = queued
        # Shielded: a caller that hangs up does not cancel the others' read.
        return await asyncio.shield(queued)

    async def _read_after(self, key: str, running: asyncio.Task[Any] | None) -> Any:
        if running is not None:
            await asyncio.wait([running])  # its outcome is its own callers'
        me = self._queued.pop(key)  # from now on, newcomers queue behind this read
        self._running[key] = me
        try:
            return await self._read(key)
        finally:
            if self._running.get(key) is me:
                del self._running[key]


# Packages a claim board keeps (every state but the final ones).
IN_WORKFLOW = [s.value for s in State if s not in (State.ACCEPTED, State.CLOSED)]
REBUILD_BATCH = 500  # packages per read of the claim board's rebuild

# Answers are stored as JSON text: an answer holds user keys and nested arrays (polygon
# points [[x, y], ..]) that FerretDB v1 refuses in documents. Documents written before kept
# the answer as a document under "answer" (keys escaped); both are read.
ANSWER_JSON, PRELABEL_JSON = "answer_json", "answers_json"
# Fields of a saved answer that a new save of the item drops (a rewrite's mark that the
# item needs answering again; the answer as a document, from before ANSWER_JSON).
REPLACED_BY_A_SAVE = ("needs_relabel", "relabel_reason", "answer", "invalid", "hard")


def dump_answer(answer: Any) -> str:
    return json.dumps(answer, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def answer_of(doc: Mapping[str, Any]) -> Any:
    """The answer of an annotation document, decoded."""
    if ANSWER_JSON in doc:
        return json.loads(doc[ANSWER_JSON])
    return decode_keys(doc.get("answer"))


def prelabel_fields(answers: Mapping[str, Any]) -> Document:
    """The $set fields storing these topic answers of a pre-label document."""
    return {f"{PRELABEL_JSON}.{encode_key(topic)}": dump_answer(answer)
            for topic, answer in answers.items()}


def prelabel_answers(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A pre-label document's answers per topic, decoded (older documents kept them as
    documents under "answers")."""
    found: dict[str, Any] = decode_keys(doc.get("answers") or {})
    found.update({decode_key(k): json.loads(v)
                  for k, v in (doc.get(PRELABEL_JSON) or {}).items()})
    return found


def package_id(job_id: str, index: int) -> str:
    return f"{job_id}-p{index:06d}"


def ticket_id(pkg_id: str, version: int) -> str:
    return f"{pkg_id}:v{version}"


def annotation_id(pkg_id: str, item_id: str, stage: str) -> str:
    return f"{pkg_id}:{item_id}:{stage}"


def prelabel_id(job_id: str, item_id: str) -> str:
    return f"{job_id}:{item_id}"


class Repository:
    def __init__(self, db: AsyncDatabase[Document],
                 answers: AsyncDatabase[Document] | None = None) -> None:
        """``answers``: the database holding the annotations (``answers_database``)."""
        self.db = db
        self.answers = (db if answers is None else answers)[ANNOTATIONS]
        self._recent_jobs = Recent(self.job)
        self._recent_packages = Recent(self.package)
        self._progress_reads = Coalesced(self._read_progress)

    async def job(self, job_id: str) -> Document | None:
        return await self.db[JOBS].find_one({"_id": job_id})

    async def recent_job(self, job_id: str) -> Document | None:
        """The job as read at most ``RECENT_SECONDS`` ago (for the servicer's calls; handlers
        read ``job``). Shared: callers never change it."""
        return await self._recent_jobs.read(job_id)

    def forget_job(self, job_id: str) -> None:
        """This process changed the job: the next call reads it again."""
        self._recent_jobs.forget(job_id)

    async def package(self, pkg_id: str) -> Document | None:
        return await self.db[PACKAGES].find_one({"_id": pkg_id})

    async def recent_package(self, pkg_id: str) -> Document | None:
        """The package as read at most ``RECENT_SECONDS`` ago, for a save by its holder (a
        save that it would refuse reads the package again). Shared: never changed."""
        return await self._recent_packages.read(pkg_id)

    def forget_package(self, pkg_id: str) -> None:
        """This process moved the package: the next save reads it again."""
        self._recent_packages.forget(pkg_id)

    async def claimed_by_request(self, request_key: str) -> Document | None:
        """The package a claim with this (caller, request id) key took, if any."""
        return await self.db[PACKAGES].find_one({"claim_request": request_key})

    async def claimable(self, job_id: str, state: str, after_index: int = -1,
                        limit: int = 50) -> list[Document]:
        """A page of packages waiting in this state, in import order (keyset paging)."""
        cursor = self.db[PACKAGES].find(
            {"job_id": job_id, "state": state, "index": {"$gt": after_index}}
        ).sort("index", ASCENDING).limit(limit)
        return await cursor.to_list(None)

    async def packages(self, job_id: str, state: str | None = None) -> list[Document]:
        query: Document = {"job_id": job_id}
        if state:
            query["state"] = state
        cursor = self.db[PACKAGES].find(query, {"item_ids": 0}).sort("index", ASCENDING)
        return await cursor.to_list(None)

    async def take_ticket(self, pkg_id: str, version: int, *, action: str, actor: str,
                          owner: str) -> bool:
        """Every change of a package takes the ticket of its next version first: of all
        inserts for (package, version) one succeeds, so of two racing changes (two claims,
        a submit and a transfer, a release and a lease expiry) exactly one happens. The
        owner names the attempt: an event handler re-running after a crash finds its own
        ticket and goes on."""
        taken = await self.take_tickets([(pkg_id, version, action, actor, owner)])
        return ticket_id(pkg_id, version) in taken

    async def take_tickets(self, wanted: Sequence[tuple[str, int, str, str, str]]) -> set[str]:
        """``take_ticket`` for many changes at once ((package, version, action, actor,
        owner) each), in one write: the ids of the tickets held by their own owner."""
        docs = [{"_id": ticket_id(pkg_id, version), "package_id": pkg_id, "version": version,
                 "action": action, "actor": actor, "owner": owner, "at": datetime.now(UTC)}
                for pkg_id, version, action, actor, owner in wanted]
        present = await retry_busy(partial(insert_absent, self.db[TICKETS], docs))
        taken: set[str] = {str(d["_id"]) for d in docs} - set(present)
        if present:  # someone else's, or ours from an attempt a retry repeated
            owners = {d["_id"]: d["owner"] for d in docs}
            taken |= {t["_id"] for t in await find_by_ids(self.db[TICKETS], present)
                      if t.get("owner") == owners.get(t["_id"])}
        return taken

    async def packages_by_id(self, ids: Sequence[str]) -> dict[str, Document]:
        return {d["_id"]: d for d in await find_by_ids(self.db[PACKAGES], ids)}

    async def ticket(self, pkg_id: str, version: int) -> Document | None:
        return await self.db[TICKETS].find_one({"_id": ticket_id(pkg_id, version)})

    async def workflow_packages(self) -> AsyncIterator[list[Document]]:
        """Every package still in the workflow (not accepted or closed) of the jobs still
        at work (not finished or deleted: nobody claims or works on theirs again), without
        its item ids, in batches: what the claim board is rebuilt from. Job by job, so what
        ended jobs left behind costs the periodic rebuild nothing."""
        ended = [JobStatus.FINISHED.value, JobStatus.DELETED.value]
        live = [j["_id"] async for j in self.db[JOBS].find({}, {"status": 1})
                if j.get("status") not in ended]
        for job_id in live:
            # $in rather than $nin: the (job, state, index) index serves it (FerretDB pushes
            # equality and $in down). In batches of 500: a whole job's packages decoded at
            # once would raise the resident high-water mark for good, and each batch is
            # decoded while the service's other work waits.
            cursor = self.db[PACKAGES].find({"job_id": job_id, "state": {"$in": IN_WORKFLOW}},
                                            {"item_ids": 0}).batch_size(REBUILD_BATCH)
            while batch := await cursor.to_list(REBUILD_BATCH):
                yield batch

    async def packages_holding(self, job_id: str, item_ids: Sequence[str]) -> list[Document]:
        """The job's packages holding any of these items."""
        cursor = self.db[PACKAGES].find({"job_id": job_id, "item_ids": {"$in": list(item_ids)}})
        return await cursor.to_list(None)

    async def jobs_of_dataset(self, dataset_id: str) -> list[Document]:
        return await self.db[JOBS].find({"dataset_id": dataset_id}).to_list(None)

    async def team_labelers(self, team_ids: Sequence[str]) -> set[str]:
        """The members of these teams who label (as the jobs service last announced)."""
        docs = await self.db[TEAMS].find({"_id": {"$in": list(team_ids)}}).to_list(None)
        return {m for d in docs for m in d.get("labelers", [])}

    async def annotations(self, pkg_id: str, stage: str | None = None) -> list[Document]:
        query: Document = {"package_id": pkg_id}
        if stage:
            query["stage"] = stage
        return await self.answers.find(query).to_list(None)

    async def save_answer(self, annotation: Document, version: int,
                          lease_until: datetime | None) -> int:
        """A worker's answer stored (whatever the item's earlier save at this stage held is
        replaced; its ``revision`` counts the saves) and, given ``lease_until``, their
        claim's lease extended (if the package is still at ``version``: a lease never
        outlives a move). Returns the answer's revision.

        One findAndModify rather than a read and a replace: this is the busiest call of a
        labeling floor. Writes by ``_id``, not through the outbox: nothing is announced,
        and each write stands on its own (a crash between them leaves the answer saved and
        the lease as it was), so the record, its application and its removal (three more
        writes) would buy nothing."""
        fields = {k: v for k, v in annotation.items() if k not in ("_id", "revision")}
        gone = {f: "" for f in REPLACED_BY_A_SAVE if f not in fields}
        update: Document = {"$set": fields, "$inc": {"revision": 1}}
        if gone:
            update["$unset"] = gone
        saved = await retry_busy(lambda: self.answers.find_one_and_update(
            {"_id": annotation["_id"]}, update, upsert=True,
            return_document=ReturnDocument.AFTER))
        if lease_until is not None:
            renewed = await retry_busy(lambda: self.db[PACKAGES].update_one(
                {"_id": annotation["package_id"], "version": version},
                {"$set": {"lease_until": lease_until}}))
            if renewed.modified_count:
                self._recent_packages.renewed(annotation["package_id"], version, lease_until)
        return int(saved["revision"]) if saved else 1

    async def move_answers_in(self, batch: int = 1000) -> int:
        """Move saved answers that an earlier version kept in the main database into the
        answers database, then drop them there; the number moved. Idempotent and safe to
        interrupt: an answer already in the answers database (saved since) is kept, and the
        old collection goes only once everything is copied."""
        if self.answers.database.name == self.db.name:
            return 0
        if ANNOTATIONS not in await self.db.list_collection_names():
            return 0
        moved, docs = 0, []
        async for doc in self.db[ANNOTATIONS].find({}).batch_size(batch):
            docs.append(doc)
            if len(docs) >= batch:
                await retry_busy(partial(insert_absent, self.answers, docs))
                moved, docs = moved + len(docs), []
        if docs:
            await retry_busy(partial(insert_absent, self.answers, docs))
            moved += len(docs)
        await self.db.drop_collection(ANNOTATIONS)
        return moved

    async def prelabels(self, job_id: str, item_ids: Sequence[str]) -> dict[str, Any]:
        ids = [prelabel_id(job_id, i) for i in item_ids]
        docs = await self.db[PRELABELS].find({"_id": {"$in": ids}}).to_list(None)
        return {d["item_id"]: prelabel_answers(d) for d in docs}

    async def prelabels_and_marks(
        self, job_id: str, item_ids: Sequence[str],
    ) -> tuple[dict[str, Any], dict[str, Document]]:
        """These items' pre-label answers (as ``prelabels``) and, from the same read, their
        marks: to_confirm, hard, confidence, source."""
        ids = [prelabel_id(job_id, i) for i in item_ids]
        docs = await self.db[PRELABELS].find({"_id": {"$in": ids}}).to_list(None)
        marks = ("item_id", "to_confirm", "hard", "confidence", "source")
        return ({d["item_id"]: prelabel_answers(d) for d in docs},
                {d["item_id"]: {k: d[k] for k in marks if k in d} for d in docs})

    async def job_annotations(self, job_id: str) -> AsyncIterator[Document]:
        """Every annotation of the job, in _id order (a scan on FerretDB v1)."""
        cursor = self.answers.find({"job_id": job_id}).sort("_id", ASCENDING)
        async for doc in cursor:
            yield doc

    async def job_prelabels(self, job_id: str) -> AsyncIterator[Document]:
        cursor = self.db[PRELABELS].find({"job_id": job_id}).sort("_id", ASCENDING)
        async for doc in cursor:
            yield doc

    async def progress(self, job_id: str) -> tuple[Counter[str], int, int]:
        """Packages by state, items, accepted items: from a read that started after the
        call (concurrent calls share one, see ``Coalesced``). The caller must not change
        the Counter."""
        result: tuple[Counter[str], int, int] = await self._progress_reads.read(job_id)
        return result

    async def _read_progress(self, job_id: str) -> tuple[Counter[str], int, int]:
        by_state: Counter[str] = Counter()
        items = accepted = 0
        cursor = self.db[PACKAGES].find({"job_id": job_id}, {"state": 1, "item_count": 1})
        async for doc in cursor:
            by_state[doc["state"]] += 1
            items += doc["item_count"]
            if doc["state"] == "accepted":
                accepted += doc["item_count"]
        return by_state, items, accepted
