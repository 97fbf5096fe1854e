"""Auto-labeling runs (active learning): StartAutoLabel checks the preconditions and takes
the job's run lock; the run then reads the items (texts from the dataset service, image
bytes from object storage), measures a model on held-out labeled items, trains it on all
of them, pre-labels the unlabeled items as "to be confirmed" with their confidence, marks
the hard examples, and records what it did.

One run per job at a time: the lock is a document keyed by the job, inserted atomically
(a second insert fails on every Mongo-API database). The running run renews it; a lock
not renewed for three heartbeats belongs to a run whose process died, and is taken over
(that run is recorded as failed).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from pymongo.errors import DuplicateKeyError

from labelops_shared.contracts import (
    AutoLabelFinished,
    AutoLabelStarted,
    HardExamplesFound,
    JobSpec,
    Prediction,
)
from labelops_shared.outbox import Outbox, UnitOfWork
from services.prelabel import metrics
from services.prelabel.adapters.dataset_client import ItemSource
from services.prelabel.adapters.media import Media, MediaUnavailable
from services.prelabel.adapters.repository import RUN_LOCKS, RUNS, Repository, spec_of
from services.prelabel.domain import autolabel as rules
from services.prelabel.domain.autolabel import Plan, Refused, RunState, Target, TrainOn
from services.prelabel.domain.learning import IMAGE, UnreadableImage, image_features, learn
from services.prelabel.publishing import CHUNK, add_failures, add_predictions
from services.prelabel.settings import PrelabelSettings

log = logging.getLogger(__name__)
SOURCE = "auto"
READ_BLOCK = 1000  # items read from the dataset service (and images read) per block


class JobNotFound(Exception):
    pass


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class AutoLabeler:
    def __init__(self, repo: Repository, outbox: Outbox, datasets: ItemSource, media: Media,
                 settings: PrelabelSettings, source: str,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.repo, self.outbox, self.datasets, self.media = repo, outbox, datasets, media
        self.settings, self.source, self.now = settings, source, now
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._reading = asyncio.Semaphore(settings.image_concurrency)

    @property
    def _stale_after(self) -> timedelta:
        return timedelta(seconds=3 * self.settings.run_heartbeat_seconds)

    async def start(self, job_id: str, *, train_on: TrainOn | None = None,
                    confidence: float = 0.0, margin: float = 0.0,
                    requested_by: str = "") -> dict[str, Any]:
        """Check the preconditions, take the job's lock, record the run and start it.
        Raises JobNotFound, Refused (a precondition, with what is missing) or ValueError (a
        threshold out of range)."""
        job_doc = await self.repo.job(job_id)
        if job_doc is None:
            raise JobNotFound(job_id)
        job = spec_of(job_doc)
        target = rules.target_of(job.topics, job.content)
        train_on = train_on or TrainOn(self.settings.train_on)
        confidence = confidence or self.settings.hard_confidence
        margin = margin or self.settings.hard_margin
        rules.check_thresholds(confidence, margin)
        running = await self._running(job_id)
        items = [doc async for doc in self.repo.job_items(job_id)]
        plan = rules.plan(items, target, train_on)
        rules.check_preconditions(plan, running)
        number = len(await self.repo.runs_of(job_id)) + 1
        run_id = uuid.uuid4().hex
        now = self.now()
        try:
            await self.repo.db[RUN_LOCKS].insert_one(
                {"_id": job_id, "run_id": run_id, "heartbeat_at": now})
        except DuplicateKeyError:
            raise Refused("another auto-labeling run of this job has just started") from None
        run = {"_id": run_id, "job_id": job_id, "workspace": job.workspace, "number": number,
               "state": RunState.RUNNING.value,
               "model_version": rules.model_version(target, number),
               "algorithm": target.kind, "topic": target.topic, "train_on": train_on.value,
               "confidence_threshold": confidence, "margin_threshold": margin,
               "requested_by": requested_by, "started_at": now, "heartbeat_at": now,
               "labeled_items": len(plan.labeled), "unlabeled_items": len(plan.unlabeled)}
        uow = UnitOfWork(source=self.source)
        uow.put(RUNS, run)
        uow.emit(AutoLabelStarted(job_id=job_id, run_id=run_id,
                                  model_version=run["model_version"], train_on=train_on.value,
                                  requested_by=requested_by), subject=f"jobs/{job_id}")
        await self.outbox.commit(uow, key=f"autolabel:{run_id}:start")
        self.tasks[run_id] = asyncio.create_task(self._run(run, job, target, plan))
        return run

    async def _running(self, job_id: str) -> str | None:
        """The run holding the job's lock; a dead run's lock is released (its run failed)."""
        lock = await self.repo.db[RUN_LOCKS].find_one({"_id": job_id})
        if lock is None:
            return None
        if self.now() - _aware(lock["heartbeat_at"]) <= self._stale_after:
            return str(lock["run_id"])
        await self._abandon(job_id, str(lock["run_id"]))
        return None

    async def _abandon(self, job_id: str, run_id: str) -> None:
        run = await self.repo.run(run_id)
        uow = UnitOfWork(source=self.source)
        if run is not None and run.get("state") == RunState.RUNNING:
            reason = "interrupted: the process running it stopped"
            uow.set(RUNS, run_id, {"state": RunState.FAILED.value, "error": reason,
                                   "finished_at": self.now()})
            uow.emit(AutoLabelFinished(job_id=job_id, run_id=run_id,
                                       model_version=run.get("model_version", ""),
                                       state=RunState.FAILED.value, reason=reason),
                     subject=f"jobs/{job_id}")
        await self.outbox.commit(uow, key=f"autolabel:{run_id}:end")
        await self.repo.db[RUN_LOCKS].delete_one({"_id": job_id, "run_id": run_id})

    async def expire_stale(self) -> int:
        """Record runs whose process died as failed (run at start-up and now and then)."""
        count = 0
        async for lock in self.repo.db[RUN_LOCKS].find({}):
            if lock["run_id"] in self.tasks:
                continue
            if self.now() - _aware(lock["heartbeat_at"]) > self._stale_after:
                await self._abandon(lock["_id"], str(lock["run_id"]))
                count += 1
        return count

    async def watch(self) -> None:
        """Background: expire dead runs' locks every few heartbeats."""
        while True:
            try:
                await self.expire_stale()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("expiring stale auto-labeling runs failed")
            await asyncio.sleep(self.settings.run_heartbeat_seconds * 3)

    async def _heartbeat(self, job_id: str, run_id: str) -> None:
        while True:
            await asyncio.sleep(self.settings.run_heartbeat_seconds)
            now = self.now()
            try:
                await self.repo.db[RUN_LOCKS].update_one({"_id": job_id},
                                                         {"$set": {"heartbeat_at": now}})
                await self.repo.db[RUNS].update_one({"_id": run_id},
                                                    {"$set": {"heartbeat_at": now}})
            except Exception:
                log.warning("auto-labeling heartbeat failed", exc_info=True)

    async def _run(self, run: dict[str, Any], job: JobSpec, target: Target, plan: Plan) -> None:
        run_id = run["_id"]
        started = time.perf_counter()
        beat = asyncio.create_task(self._heartbeat(job.job_id, run_id))
        try:
            fields = await self._execute(run, job, target, plan)
            state, reason = RunState.DONE, ""
        except asyncio.CancelledError:
            beat.cancel()
            raise
        except Exception as exc:
            log.exception("auto-labeling run failed", extra={"run": run_id})
            state, reason = RunState.FAILED, (str(exc) or repr(exc))[:1000]
            fields = {}
        finally:
            beat.cancel()
        uow = UnitOfWork(source=self.source)
        uow.set(RUNS, run_id, {"state": state.value, "error": reason,
                               "finished_at": self.now(), **fields})
        uow.emit(AutoLabelFinished(
            job_id=job.job_id, run_id=run_id, model_version=run["model_version"],
            state=state.value, accuracy=fields.get("accuracy"),
            labeled=fields.get("labeled", 0), hard_examples=fields.get("hard_examples", 0),
            reason=reason), subject=f"jobs/{job.job_id}")
        uow.delete(RUN_LOCKS, job.job_id)
        await self.outbox.commit(uow, key=f"autolabel:{run_id}:end")
        metrics.AUTO_LABEL_RUNS.labels(state=state.value).inc()
        metrics.AUTO_LABEL_SECONDS.observe(time.perf_counter() - started)
        self.tasks.pop(run_id, None)

    async def _execute(self, run: dict[str, Any], job: JobSpec, target: Target,
                       plan: Plan) -> dict[str, Any]:
        label_of = dict(plan.labeled)
        ids, labeled_x, unread = await self._inputs(job, target, list(label_of))
        labels = [label_of[i] for i in ids]
        try:
            rules.check_preconditions(Plan(list(zip(ids, labels, strict=True)),
                                           plan.unlabeled, dict(Counter(labels))))
        except Refused as exc:
            raise Refused(f"{len(unread)} labeled items could not be read: {exc}") from None
        targets, unlabeled_x, failed = await self._inputs(job, target, plan.unlabeled)
        if not targets:
            raise Refused(f"none of the {len(plan.unlabeled)} unlabeled items could be read")
        learned = await asyncio.to_thread(
            learn, target.kind, labeled_x, labels, unlabeled_x,
            holdout=self.settings.holdout_fraction, seed=run["number"],
            confidence_threshold=run["confidence_threshold"],
            margin_threshold=run["margin_threshold"])
        predictions = [Prediction(item_id=i, topic=target.topic, answer=g.label,
                                  confidence=g.confidence, hard=g.hard)
                       for i, g in zip(targets, learned.guesses, strict=True)]
        for number, start in enumerate(range(0, len(predictions), CHUNK)):
            chunk = predictions[start:start + CHUNK]
            uow = UnitOfWork(source=self.source)
            add_predictions(uow, job.job_id, SOURCE, chunk, to_confirm=True, run_id=run["_id"],
                            model_version=run["model_version"])
            hard = [p.item_id for p in chunk if p.hard]
            if hard:
                uow.emit(HardExamplesFound(job_id=job.job_id, run_id=run["_id"],
                                           item_ids=hard), subject=f"jobs/{job.job_id}")
            if number == 0:
                add_failures(uow, job.job_id, SOURCE, failed, run_id=run["_id"])
            if await self.outbox.commit(uow, key=f"autolabel:{run['_id']}:chunk-{number}"):
                metrics.PREDICTIONS.labels(source=SOURCE).inc(len(chunk))
        if failed:
            metrics.FAILED_ITEMS.labels(source=SOURCE, reason="unreadable").inc(len(failed))
        return {"accuracy": round(learned.accuracy, 6),
                "baseline_accuracy": round(learned.baseline_accuracy, 6),
                "train_items": learned.train_items, "held_out_items": learned.held_out_items,
                "labeled": len(predictions), "hard_examples": sum(p.hard for p in predictions),
                "failed": len(failed)}

    async def _inputs(self, job: JobSpec, target: Target, item_ids: Sequence[str]
                      ) -> tuple[list[str], Any, dict[str, str]]:
        """(the items read, their model inputs in that order, the others with why): texts
        from the item's content field, or feature rows computed from the image's pixels."""
        ids: list[str] = []
        unread: dict[str, str] = {}
        texts: list[str] = []
        rows: list[np.ndarray[Any, Any]] = []
        for start in range(0, len(item_ids), READ_BLOCK):
            block = list(item_ids[start:start + READ_BLOCK])
            data = await self.datasets.get_items(job.dataset_id, block)
            if target.kind == IMAGE:
                found = await asyncio.gather(*(self._features(data.get(i), target,
                                                              job.workspace) for i in block))
            else:
                found = [_text(data.get(i), target) for i in block]
            for item_id, value in zip(block, found, strict=True):
                if isinstance(value, Unread):
                    unread[item_id] = value.reason
                    continue
                ids.append(item_id)
                if isinstance(value, str):
                    texts.append(value)
                else:
                    rows.append(value)
        if target.kind == IMAGE:
            return ids, (np.vstack(rows) if rows else np.zeros((0, 1))), unread
        return ids, texts, unread

    async def _features(self, data: dict[str, Any] | None, target: Target,
                        workspace: str) -> np.ndarray[Any, Any] | Unread:
        if data is None:
            return Unread("the item is no longer in the dataset")
        uri = data.get(target.field)
        if not isinstance(uri, str) or not uri:
            return Unread(f"the item has no image in field {target.field!r}")
        async with self._reading:
            try:
                raw = await self.media.read(uri, workspace=workspace)
                return await asyncio.to_thread(image_features, raw)
            except (MediaUnavailable, UnreadableImage) as exc:
                return Unread(str(exc))


class Unread:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _text(data: dict[str, Any] | None, target: Target) -> str | Unread:
    if data is None:
        return Unread("the item is no longer in the dataset")
    value = data.get(target.field)
    if not isinstance(value, str) or not value.strip():
        return Unread(f"the item has no text in field {target.field!r}")
    return value
