"""The jobs service's domain metrics (the shared ones are in labelops_shared.metrics)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import Gauge

from services.jobs.domain.lifecycle import JobState

log = logging.getLogger(__name__)

JOBS = Gauge(
    "labelops_jobs",
    "Jobs by state (draft, published, unpublished, completed), read from the database; "
    "every replica reports the same value",
    ["state"],
)


async def refresh_job_counts(count_by_state: Callable[[], Awaitable[dict[str, int]]],
                             *, interval: float = 30.0) -> None:
    """Keep ``labelops_jobs`` current until cancelled; every state is always exported."""
    while True:
        try:
            counts = await count_by_state()
            for state in {*(s.value for s in JobState), *counts}:
                JOBS.labels(state=state).set(counts.get(state, 0))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("job counts not refreshed", exc_info=True)
        await asyncio.sleep(interval)
