"""Events the prelabel service consumes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from labelops_shared.contracts import JobPublished, JobSpec, Prediction, PredictionsReady
from labelops_shared.events import Envelope
from labelops_shared.kafka import EventConsumer, HandlerContext
from services.prelabel.adapters.dataset_client import ItemSource, ItemsUnavailable
from services.prelabel.domain.mapping import InvalidPrelabel, Tally, supports, to_answer

STATUS = "status"
CHUNK = 500
MAX_REASONS = 20


def register(consumer: EventConsumer, source: ItemSource) -> None:
    @consumer.on(JobPublished)
    async def offline_prelabels(event: Envelope[Any], ctx: HandlerContext) -> None:
        await run_offline(event.data.job, source, ctx)


def _status(job: JobSpec, state: str, tally: Tally, error: str = "") -> dict[str, Any]:
    return {"_id": job.job_id, "workspace": job.workspace, "state": state, "error": error,
            **tally.as_fields(), "updated_at": datetime.now(UTC)}


async def run_offline(job: JobSpec, source: ItemSource, ctx: HandlerContext) -> None:
    """Map the job's pre-label field to its first topic, item by item; invalid values are
    counted (the first ones with their reasons) and never stop the others. Predictions go
    out in chunks of CHUNK, each committed on its own under a deterministic part name: a
    redelivery after a crash streams the same items in the same order, so the chunks
    already committed are refused by their key and nothing is sent twice."""
    tally = Tally(job.prelabel_field, MAX_REASONS)
    topic = job.topics[0] if job.topics else None
    error = ""
    if not job.prelabel_field:
        state = "none"
    elif topic is None or not supports(topic):
        state = "failed"
        error = (f"prelabel_field: the first topic ({topic and topic.get('kind')!r}) "
                 "cannot take offline pre-labels")
    else:
        start = ctx.unit_of_work()
        start.put(STATUS, _status(job, "running", tally))
        await ctx.commit(start, part="start")
        try:
            await _map_items(job, topic, source, ctx, tally)
            state = "done"
        except ItemsUnavailable as exc:
            state, error = "failed", str(exc)
    uow = ctx.unit_of_work()
    uow.put(STATUS, _status(job, state, tally, error))
    await ctx.commit(uow)


async def _map_items(job: JobSpec, topic: dict[str, Any], source: ItemSource,
                     ctx: HandlerContext, tally: Tally) -> None:
    batch: list[Prediction] = []
    invalid_in_batch = 0
    chunk = 0

    async def flush() -> None:
        nonlocal batch, invalid_in_batch, chunk
        uow = ctx.unit_of_work()
        uow.emit(PredictionsReady(job_id=job.job_id, source="offline", predictions=batch,
                                  invalid_count=invalid_in_batch),
                 subject=f"jobs/{job.job_id}")
        await ctx.commit(uow, part=f"chunk-{chunk}")
        chunk, batch, invalid_in_batch = chunk + 1, [], 0

    field = job.prelabel_field
    async for item_id, data in source.items(job.dataset_id, job.dataset_version):
        tally.items_seen += 1
        if data.get(field) is None:
            tally.missing += 1  # nothing to pre-label: not an error
            continue
        try:
            answer = to_answer(topic, data[field])
        except InvalidPrelabel as exc:
            tally.refuse(item_id, str(exc))
            invalid_in_batch += 1
            continue
        batch.append(Prediction(item_id=item_id, topic=topic["name"], answer=answer))
        tally.predictions += 1
        if len(batch) >= CHUNK:
            await flush()
    if batch:
        await flush()
