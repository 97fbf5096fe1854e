"""Offline pre-labels: the job's field → topic mappings applied to its items (all of them when
the job is published; new ones as they are added to an auto-sync job's dataset)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from labelops_shared.contracts import JobSpec, Prediction
from labelops_shared.kafka import HandlerContext
from services.prelabel import metrics
from services.prelabel.adapters.dataset_client import ItemsUnavailable
from services.prelabel.adapters.repository import STATUS
from services.prelabel.domain.mapping import (
    MappingError,
    OfflineMapper,
    Refusal,
    Tally,
    resolve,
)
from services.prelabel.publishing import CHUNK, add_predictions

MAX_REASONS = 20  # refusals kept in the status (all of them: ListInvalidPrelabels)
SOURCE = "offline"


def mapping_of(job: JobSpec) -> list[tuple[str, str]]:
    """The job's (field, topic) pairs; a job naming only ``prelabel_field`` maps it to the
    first topic."""
    if job.prelabel.mode == "offline" and job.prelabel.mapping:
        return [(m.field, m.topic) for m in job.prelabel.mapping]
    if job.prelabel.mode in ("none", "offline") and job.prelabel_field:
        return [(job.prelabel_field, "")]
    return []


def status_doc(job: JobSpec, state: str, tally: Tally, fields: list[str],
               error: str = "") -> dict[str, Any]:
    return {"_id": job.job_id, "workspace": job.workspace, "mode": SOURCE, "state": state,
            "error": error, "fields": fields, **tally.as_fields(),
            "updated_at": datetime.now(UTC)}


def compile_mapper(job: JobSpec) -> tuple[OfflineMapper, list[str]]:
    """The job's mapper and its mapped fields (the first topic's first); MappingError."""
    mappings = resolve(mapping_of(job), job.topics)
    first = str(job.topics[0]["name"]) if job.topics else ""
    mappings.sort(key=lambda m: m.topic_name != first)
    return OfflineMapper(mappings, job.topics), [m.field for m in mappings]


class Chunker:
    """Collects predictions and refusals, and commits them a chunk at a time under
    deterministic part names: a redelivery after a crash reads the same items in the same
    order, so the chunks already committed are refused by their key and nothing is sent
    twice."""

    def __init__(self, job: JobSpec, ctx: HandlerContext, prefix: str,
                 status: Callable[[], dict[str, Any]] | None = None) -> None:
        self.job, self.ctx, self.prefix = job, ctx, prefix
        self.predictions: list[Prediction] = []
        self.refused: list[Refusal] = []
        self.number = 0
        self.status = status  # the status to store with each chunk (progress)

    async def add(self, predictions: list[Prediction], refused: list[Refusal]) -> None:
        if (len(self.predictions) + len(predictions) > CHUNK
                or len(self.refused) + len(refused) > CHUNK):
            await self.flush()
        self.predictions += predictions
        self.refused += refused

    async def flush(self) -> None:
        if not self.predictions and not self.refused:
            return
        uow = self.ctx.unit_of_work()
        add_predictions(uow, self.job.job_id, SOURCE, self.predictions, self.refused)
        if self.status is not None:
            uow.put(STATUS, self.status())
        if await self.ctx.commit(uow, part=f"{self.prefix}-{self.number}"):
            metrics.PREDICTIONS.labels(source=SOURCE).inc(len(self.predictions))
            metrics.INVALID_VALUES.labels(source=SOURCE).inc(len(self.refused))
        self.number += 1
        self.predictions, self.refused = [], []


async def map_items(mapper: OfflineMapper, items: AsyncIterator[tuple[str, dict[str, Any]]],
                    tally: Tally, chunker: Chunker) -> None:
    async for item_id, data in items:
        tally.items_seen += 1
        mapped = mapper.map(item_id, data)
        if not mapped.answers and not mapped.refused:
            tally.missing += 1  # nothing to pre-label: not an error
            continue
        for refusal in mapped.refused:
            tally.refuse(refusal)
        tally.predictions += len(mapped.answers)
        await chunker.add([Prediction(item_id=item_id, topic=t, answer=a)
                           for t, a in mapped.answers.items()], mapped.refused)
    await chunker.flush()


async def run_offline(job: JobSpec, source: Any, ctx: HandlerContext) -> None:
    """Map every item of the job's dataset version; invalid values are stored with their
    reasons and counted, and never stop the others."""
    tally = Tally("", MAX_REASONS)
    if not mapping_of(job):
        uow = ctx.unit_of_work()
        uow.put(STATUS, {**status_doc(job, "none", tally, []), "mode": job.prelabel.mode})
        await ctx.commit(uow)
        return
    try:
        mapper, fields = compile_mapper(job)
    except MappingError as exc:
        uow = ctx.unit_of_work()
        uow.put(STATUS, status_doc(job, "failed", tally, [], str(exc)))
        await ctx.commit(uow)
        return
    tally.field = fields[0]
    start = ctx.unit_of_work()
    start.put(STATUS, status_doc(job, "running", tally, fields))
    await ctx.commit(start, part="start")
    chunker = Chunker(job, ctx, "chunk", lambda: status_doc(job, "running", tally, fields))
    state, error = "done", ""
    try:
        await map_items(mapper, source.items(job.dataset_id, job.dataset_version), tally,
                        chunker)
    except ItemsUnavailable as exc:
        state, error = "failed", str(exc)
    uow = ctx.unit_of_work()
    uow.put(STATUS, status_doc(job, state, tally, fields, error))
    await ctx.commit(uow)


async def map_added(job: JobSpec, items: dict[str, dict[str, Any]], ctx: HandlerContext,
                    status: dict[str, Any] | None, part: str) -> None:
    """New items of an auto-sync job: mapped like the first ones; the counts add up."""
    try:
        mapper, fields = compile_mapper(job)
    except MappingError:
        return  # the status of the first run says why already
    tally = Tally.from_fields(status or {"field": fields[0]}, MAX_REASONS)
    chunker = Chunker(job, ctx, part)

    async def stream() -> AsyncIterator[tuple[str, dict[str, Any]]]:
        for item in items.items():
            yield item

    await map_items(mapper, stream(), tally, chunker)
    uow = ctx.unit_of_work()
    uow.put(STATUS, status_doc(job, (status or {}).get("state", "done"), tally, fields,
                               (status or {}).get("error", "")))
    await ctx.commit(uow, part=f"{part}-status")
