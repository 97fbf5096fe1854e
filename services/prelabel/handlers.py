"""Events the prelabel service consumes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from labelops_shared.contracts import JobPublished, Prediction, PredictionsReady
from labelops_shared.events import Envelope
from labelops_shared.kafka import EventConsumer, HandlerContext
from services.prelabel.domain.mapping import InvalidPrelabel, to_answer

STATUS = "status"
CHUNK = 500
MAX_REASONS = 20

ItemSource = Callable[[str, int], AsyncIterator[tuple[str, dict[str, Any]]]]


def register(consumer: EventConsumer, items: ItemSource) -> None:
    @consumer.on(JobPublished)
    async def offline_prelabels(event: Envelope[Any], ctx: HandlerContext) -> None:
        """Map the job's pre-label field to its first topic, item by item; invalid values
        are reported and never stop the others. Predictions go out in chunks, each
        committed on its own (a redelivery re-sends nothing already committed)."""
        job = event.data.job
        status: dict[str, Any] = {"_id": job.job_id, "workspace": job.workspace,
                                  "field": job.prelabel_field, "items_seen": 0,
                                  "predictions": 0, "invalid": 0, "invalid_reasons": []}
        if not job.prelabel_field or not job.topics:
            status["state"] = "none"
        else:
            topic = job.topics[0]
            batch: list[Prediction] = []
            chunk = 0

            async def flush() -> None:
                nonlocal batch, chunk
                uow = ctx.unit_of_work()
                uow.emit(PredictionsReady(job_id=job.job_id, source="offline",
                                          predictions=batch), subject=f"jobs/{job.job_id}")
                await ctx.commit(uow, part=f"chunk-{chunk}")
                chunk += 1
                batch = []

            async for item_id, data in items(job.dataset_id, job.dataset_version):
                status["items_seen"] += 1
                if job.prelabel_field not in data:
                    continue
                try:
                    answer = to_answer(topic, data[job.prelabel_field])
                except InvalidPrelabel as exc:
                    status["invalid"] += 1
                    if len(status["invalid_reasons"]) < MAX_REASONS:
                        status["invalid_reasons"].append(
                            {"item_id": item_id, "field": job.prelabel_field, "reason": str(exc)})
                    continue
                batch.append(Prediction(item_id=item_id, topic=topic["name"], answer=answer))
                status["predictions"] += 1
                if len(batch) >= CHUNK:
                    await flush()
            if batch:
                await flush()
            status["state"] = "done"
        status["finished_at"] = datetime.now(UTC)
        uow = ctx.unit_of_work()
        uow.put(STATUS, status)
        await ctx.commit(uow)
