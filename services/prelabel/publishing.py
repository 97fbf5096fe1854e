"""Putting pre-labels out: one PredictionsReady event per chunk of at most CHUNK predictions,
committed with the service's own record of them (what labor-saved compares with) and the
refused values of the chunk (what ListInvalidPrelabels pages through)."""

from __future__ import annotations

from collections.abc import Sequence

from labelops_shared.contracts import (
    InvalidValue,
    ItemFailure,
    Prediction,
    PredictionsReady,
    PrelabelFailed,
)
from labelops_shared.mongo import encode_key
from labelops_shared.outbox import UnitOfWork
from services.prelabel.adapters.repository import (
    INVALID,
    PREDICTIONS,
    dump,
    invalid_key,
    item_key,
)
from services.prelabel.domain.mapping import Refusal

CHUNK = 1000  # predictions (or failures) per event: every message stays well under 1 MB


def add_predictions(uow: UnitOfWork, job_id: str, source: str,
                    predictions: Sequence[Prediction], refused: Sequence[Refusal] = (), *,
                    to_confirm: bool = False, run_id: str = "", model_version: str = "") -> None:
    """One event (at most CHUNK predictions) and the stored pre-labels and refusals."""
    if len(predictions) > CHUNK:
        raise ValueError(f"{len(predictions)} predictions in one event; at most {CHUNK}")
    uow.emit(PredictionsReady(
        job_id=job_id, source=source, predictions=list(predictions),
        invalid_count=len(refused),
        invalid=[InvalidValue(item_id=r.item_id, field=r.field, topic=r.topic,
                              reason=r.reason) for r in refused],
        to_confirm=to_confirm, run_id=run_id, model_version=model_version),
        subject=f"jobs/{job_id}")
    by_item: dict[str, list[Prediction]] = {}
    for p in predictions:
        by_item.setdefault(p.item_id, []).append(p)
    for item_id, found in by_item.items():
        uow.put(PREDICTIONS, {
            "_id": item_key(job_id, item_id), "job_id": job_id, "item_id": item_id,
            "source": source, "run_id": run_id, "to_confirm": to_confirm,
            "hard": any(p.hard for p in found),
            "answers": {encode_key(p.topic): dump(p.answer) for p in found}})
    for r in refused:
        uow.put(INVALID, {"_id": invalid_key(job_id, r.item_id, r.field, r.topic),
                          "job_id": job_id, "source": source, **r.as_dict()})


def add_failures(uow: UnitOfWork, job_id: str, source: str, failed: dict[str, str],
                 run_id: str = "") -> None:
    """PrelabelFailed events (at most CHUNK items each) for items left unlabeled."""
    rows = [ItemFailure(item_id=i, reason=r) for i, r in failed.items()]
    for start in range(0, len(rows), CHUNK):
        uow.emit(PrelabelFailed(job_id=job_id, source=source, run_id=run_id,
                                failures=rows[start:start + CHUNK]), subject=f"jobs/{job_id}")
