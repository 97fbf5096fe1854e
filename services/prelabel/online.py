"""Online pre-labels: the job's items go to its model service in work units.

The JobPublished handler (and ItemsAdded for auto-sync jobs) only queues units of up to
1,000 item ids, so no event waits on a model. A background worker takes each queued unit,
reads its items from the dataset service, sends them to the model in batches (concurrency
limited, deadlines, retries with backoff, a circuit breaker per endpoint: see
adapters/model_client.py), judges every answer against the job's topics and commits, in
one outbox record, the unit's PredictionsReady and PrelabelFailed events, the stored
pre-labels and refusals, and the unit's counts. Items the model could not pre-label stay
unlabeled (people label them) and the unit is done anyway: a failing model never stalls a
job. The record's key is the unit's, so a unit done twice (two replicas, a crash before the
unit was marked) is published once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import zip_longest
from typing import Any

from labelops_shared.annotations import AnswerChecker, TemplateError, compile_topics
from labelops_shared.contracts import JobSpec, Prediction
from labelops_shared.kafka import HandlerContext
from labelops_shared.outbox import Outbox, UnitOfWork
from services.prelabel import metrics
from services.prelabel.adapters.dataset_client import ItemSource, ItemsUnavailable
from services.prelabel.adapters.media import ForeignObject, Media
from services.prelabel.adapters.model_client import CallFailed, Models
from services.prelabel.adapters.repository import STATUS, UNITS, Repository, spec_of
from services.prelabel.domain.contract import (
    MEDIA_KINDS,
    Content,
    ModelItem,
    content_of,
    judge,
    request_json,
)
from services.prelabel.domain.mapping import Refusal
from services.prelabel.publishing import CHUNK, add_failures, add_predictions
from services.prelabel.settings import PrelabelSettings

log = logging.getLogger(__name__)
SOURCE = "online"
UNIT = 1000  # item ids per work unit
LEASE = timedelta(minutes=5)
STOPPED = ("finished", "deleted")


def unit_id(job_id: str, origin: str, number: int) -> str:
    return f"{job_id}:{origin}:{number:06d}"


def unit_doc(job_id: str, origin: str, number: int, item_ids: list[str]) -> dict[str, Any]:
    return {"_id": unit_id(job_id, origin, number), "job_id": job_id, "origin": origin,
            "item_ids": item_ids, "state": "queued", "seq": time.time_ns(),
            "predictions": 0, "invalid": 0, "failed": 0, "skipped": 0}


def status_doc(job: JobSpec, state: str, error: str = "") -> dict[str, Any]:
    return {"_id": job.job_id, "workspace": job.workspace, "mode": SOURCE, "state": state,
            "endpoint": job.prelabel.endpoint, "error": error,
            "updated_at": datetime.now(UTC)}


async def queue_job(job: JobSpec, source: ItemSource, ctx: HandlerContext,
                    wake: asyncio.Event | None = None) -> None:
    """Queue every item of the job's version, a unit at a time (each unit committed under
    its own part name: a redelivery re-queues nothing that is queued already)."""
    start = ctx.unit_of_work()
    start.put(STATUS, status_doc(job, "queueing"))
    await ctx.commit(start, part="start")
    ids: list[str] = []
    number = 0

    async def flush() -> None:
        nonlocal ids, number
        uow = ctx.unit_of_work()
        uow.insert(UNITS, unit_doc(job.job_id, "published", number, ids))
        await ctx.commit(uow, part=f"unit-{number}")
        number, ids = number + 1, []
        if wake is not None:
            wake.set()

    state, error = "running", ""
    try:
        async for item_id, _ in source.items(job.dataset_id, job.dataset_version):
            ids.append(item_id)
            if len(ids) >= UNIT:
                await flush()
        if ids:
            await flush()
    except ItemsUnavailable as exc:
        state, error = "failed", str(exc)
    uow = ctx.unit_of_work()
    uow.put(STATUS, status_doc(job, state, error))
    await ctx.commit(uow)


async def queue_items(job: JobSpec, item_ids: list[str], ctx: HandlerContext, origin: str,
                      wake: asyncio.Event | None = None) -> None:
    """New items of an auto-sync job."""
    uow = ctx.unit_of_work()
    for number, start in enumerate(range(0, len(item_ids), UNIT)):
        uow.insert(UNITS, unit_doc(job.job_id, origin, number, item_ids[start:start + UNIT]))
    await ctx.commit(uow, part=f"units-{job.job_id}")
    if wake is not None:
        wake.set()


def summary(units: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A job's online counts, summed over its units."""
    done = [u for u in units if u.get("state") in ("done", "cancelled")]
    versions = [u.get("model_version", "") for u in done if u.get("model_version")]
    return {"units_total": len(units), "units_done": len(done),
            "items_seen": sum(len(u.get("item_ids", [])) for u in done),
            "predictions": sum(u.get("predictions", 0) for u in done),
            "invalid": sum(u.get("invalid", 0) for u in done),
            "failed": sum(u.get("failed", 0) for u in done),
            "missing": sum(u.get("skipped", 0) for u in done),
            "batches": sum(u.get("batches", 0) for u in done),
            "model_version": versions[-1] if versions else ""}


@dataclass
class _Outcome:
    predictions: list[Prediction] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)  # item id -> metric reason
    model_version: str = ""


class OnlineWorker:
    def __init__(self, repo: Repository, outbox: Outbox, datasets: ItemSource, media: Media,
                 models: Models, settings: PrelabelSettings, source: str, owner: str) -> None:
        self.repo, self.outbox, self.datasets, self.media = repo, outbox, datasets, media
        self.models, self.settings, self.source, self.owner = models, settings, source, owner
        self.wake = asyncio.Event()
        self._checkers: dict[str, tuple[str, AnswerChecker]] = {}

    async def run_forever(self) -> None:
        while True:
            try:
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("online pre-labeling failed; retrying")
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=self.settings.worker_poll_seconds)
            except TimeoutError:
                pass

    async def drain(self) -> int:
        """Do every queued unit this worker can take; returns how many it did."""
        done = 0
        while True:
            taken = 0
            for unit in await self.repo.queued_units():
                if await self._lease(unit):
                    await self.process(unit)
                    taken += 1
            done += taken
            if not taken:
                return done

    async def _lease(self, unit: dict[str, Any]) -> bool:
        """A soft lease, so replicas mostly split the work (FerretDB cannot make it atomic;
        a unit done twice is still published once, by its outbox key)."""
        now = datetime.now(UTC)
        until = unit.get("lease_until")
        if until is not None and until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        if unit.get("owner") not in (None, self.owner) and until is not None and until > now:
            return False
        await self.repo.db[UNITS].update_one(
            {"_id": unit["_id"]}, {"$set": {"owner": self.owner, "lease_until": now + LEASE}})
        return True

    def _checker(self, job: JobSpec) -> AnswerChecker:
        key = job.model_dump_json(include={"topics"})
        cached = self._checkers.get(job.job_id)
        if cached is None or cached[0] != key:
            cached = (key, compile_topics(job.topics))
            self._checkers[job.job_id] = cached
        return cached[1]

    async def process(self, unit: dict[str, Any]) -> None:
        uow = UnitOfWork(source=self.source)
        job_doc = await self.repo.job(unit["job_id"])
        job = spec_of(job_doc) if job_doc else None
        now = datetime.now(UTC)
        if (job is None or job_doc is None or job_doc.get("state") in STOPPED
                or job.prelabel.mode != SOURCE):
            uow.set(UNITS, unit["_id"], {"state": "cancelled", "finished_at": now})
            await self.outbox.commit(uow, key=f"prelabel-online:{unit['_id']}")
            return
        try:
            checker = self._checker(job)
        except TemplateError as exc:
            reason = f"the job's topics cannot be checked: {exc}"
            outcome = _Outcome(failed=dict.fromkeys(unit["item_ids"], reason))
            outcome.reasons = dict.fromkeys(outcome.failed, "refused")
            await self._commit(unit, job, outcome, 0, 0)
            return
        try:
            data = await self.datasets.get_items(job.dataset_id, unit["item_ids"])
        except ItemsUnavailable as exc:
            outcome = _Outcome(failed=dict.fromkeys(unit["item_ids"], str(exc)))
            outcome.reasons = dict.fromkeys(outcome.failed, "unreadable")
            await self._commit(unit, job, outcome, 0, 0)
            return
        items, refused = [], {}
        for i in unit["item_ids"]:
            if i not in data:
                continue
            try:
                items.append(ModelItem(i, data[i], await self._content(data[i], job)))
            except ForeignObject as exc:  # never shown to the model, not even by URI
                refused[i] = str(exc)
        size = self.settings.model_batch_size
        batches = [items[s:s + size] for s in range(0, len(items), size)]
        caller = self.models.get(job.prelabel.endpoint)
        results = await asyncio.gather(*(self._batch(caller, job, b, checker) for b in batches))
        outcome = _Outcome()
        for result in results:
            outcome.predictions += result.predictions
            outcome.refused += result.refused
            outcome.failed.update(result.failed)
            outcome.reasons.update(result.reasons)
            outcome.model_version = result.model_version or outcome.model_version
        outcome.failed.update(refused)
        outcome.reasons.update(dict.fromkeys(refused, "unreadable"))
        await self._commit(unit, job, outcome, len(batches),
                           len(unit["item_ids"]) - len(items) - len(refused))

    async def _content(self, data: dict[str, Any], job: JobSpec) -> tuple[Content, ...]:
        found = []
        for c in content_of(data, job.content):
            if c.kind in MEDIA_KINDS and c.uri:
                try:
                    url = await self.media.url(c.uri, workspace=job.workspace)
                except ForeignObject:
                    raise
                except Exception:  # a URL is a convenience; the model still gets the URI
                    url = ""
                c = Content(c.field, c.kind, uri=c.uri, url=url)
            found.append(c)
        return tuple(found)

    async def _batch(self, caller: Any, job: JobSpec, batch: list[ModelItem],
                     checker: AnswerChecker) -> _Outcome:
        labels = [label.name for label in job.labels]
        try:
            reply = await caller.call(request_json(job.job_id, job.topics, labels, batch))
        except CallFailed as exc:
            return _Outcome(failed={i.id: str(exc) for i in batch},
                            reasons={i.id: exc.reason for i in batch})
        judged = judge(reply, batch, checker)
        predictions = [Prediction(item_id=item_id, topic=p.topic, answer=p.answer,
                                  confidence=p.confidence)
                       for item_id, found in judged.predictions.items() for p in found]
        reasons = {i: ("item_error" if r.startswith("the model answered with an error")
                       else "no_result") for i, r in judged.failed.items()}
        return _Outcome(predictions, judged.refused, judged.failed, reasons,
                        judged.model_version)

    async def _commit(self, unit: dict[str, Any], job: JobSpec, outcome: _Outcome,
                      batches: int, skipped: int) -> None:
        uow = UnitOfWork(source=self.source)
        pairs = zip_longest(_chunks(outcome.predictions), _chunks(outcome.refused),
                            fillvalue=[])
        for predictions, refused in pairs:
            add_predictions(uow, job.job_id, SOURCE, predictions, refused,
                            model_version=outcome.model_version)
        add_failures(uow, job.job_id, SOURCE, outcome.failed)
        uow.set(UNITS, unit["_id"], {
            "state": "done", "predictions": len(outcome.predictions),
            "invalid": len(outcome.refused), "failed": len(outcome.failed),
            "skipped": skipped, "batches": batches, "model_version": outcome.model_version,
            "finished_at": datetime.now(UTC)})
        if await self.outbox.commit(uow, key=f"prelabel-online:{unit['_id']}"):
            metrics.PREDICTIONS.labels(source=SOURCE).inc(len(outcome.predictions))
            metrics.INVALID_VALUES.labels(source=SOURCE).inc(len(outcome.refused))
            for reason in outcome.reasons.values():
                metrics.FAILED_ITEMS.labels(source=SOURCE, reason=reason).inc()


def _chunks(values: list[Any]) -> list[list[Any]]:
    return [values[s:s + CHUNK] for s in range(0, len(values), CHUNK)]
