"""Run every invariant check against a deployment: fold the event log once, then compare
each job's stored packages and export view with what the events say.

The log is read before the databases. On a deployment with work in flight a package may
have moved between the two readings (its event not yet relayed from the outbox, or not yet
taken into the view); such a violation names the package and goes away on a re-run, a
lasting one does not."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord

from labelops_cli.check.rules import (
    REBUILD,
    JobLog,
    Violation,
    dead_letter_violation,
    holder_violations,
    package_coverage,
    rebuild_mismatches,
    view_mismatches,
)
from labelops_cli.check.sources import CheckSettings, decode, read_log
from labelops_shared import mongo, topics
from labelops_shared.replay import Replay

# Collections as the services name them (services/assignment/adapters/repository.py and
# services/export/adapters/repository.py); the CLI may not import a service.
ASSIGNMENT_JOBS, PACKAGES, LABELED = "jobs", "packages", "labeled_items"
PACKAGE_FIELDS = {"item_ids": 1, "item_count": 1, "state": 1, "holder": 1}
VIEW_FIELDS = {"item_id": 1, "revision": 1, "event_id": 1, "package_id": 1, "_id": 0}
KEPT_PER_CHECK = 1000  # violations listed per check; all are counted


@dataclass
class Report:
    jobs: list[str]
    violations: list[Violation] = field(default_factory=list)
    found: Counter[str] = field(default_factory=Counter)  # violations per check, all counted
    seen: Counter[str] = field(default_factory=Counter)  # what was looked at

    @property
    def ok(self) -> bool:
        return not self.found

    def add(self, violations: Iterable[Violation | None]) -> None:
        for v in violations:
            if v is None:
                continue
            self.found[v.check] += 1
            if self.found[v.check] <= KEPT_PER_CHECK:  # memory stays bounded when all fails
                self.violations.append(v)


async def run_checks(settings: CheckSettings, job_ids: Sequence[str] = ()) -> Report:
    """Check the named jobs (every job the assignment service knows when none is named)."""
    client = mongo.connect(settings.mongo_url.get_secret_value(), app_name="labelops-check")
    try:
        assignment, export = client[settings.assignment_db], client[settings.export_db]
        query: dict[str, Any] = {"_id": {"$in": list(job_ids)}} if job_ids else {}
        jobs = {doc["_id"]: doc async for doc in assignment[ASSIGNMENT_JOBS].find(
            query, {"workflow": 1, "package_count": 1})}
        report = Report(sorted(jobs))
        report.add(Violation(REBUILD, "no such job in the assignment service's database",
                             job_id) for job_id in job_ids if job_id not in jobs)
        logs = {job_id: JobLog(Replay(str(doc.get("workflow", ""))))
                for job_id, doc in jobs.items()}
        await _fold_log(settings, report, logs)
        await _check_dead_letters(settings, report)
        for job_id, doc in jobs.items():
            packages = await assignment[PACKAGES].find(
                {"job_id": job_id}, PACKAGE_FIELDS).to_list(None)
            report.seen["packages"] += len(packages)
            report.seen["package items"] += sum(len(p.get("item_ids") or ()) for p in packages)
            report.add(package_coverage(job_id, doc.get("package_count"), packages))
            log = logs.pop(job_id)
            report.add(holder_violations(job_id, log.replay))
            report.add(rebuild_mismatches(job_id, log.replay.packages, packages))
            del packages  # one job's documents in memory at a time
            latest = log.accepted.latest
            report.seen["accepted items"] += len(latest)
            view = await export[LABELED].find({"job_id": job_id}, VIEW_FIELDS).to_list(None)
            report.add(view_mismatches(job_id, latest, view))
        return report
    finally:
        await client.close()


async def _fold_log(settings: CheckSettings, report: Report, logs: dict[str, JobLog]) -> None:
    """One pass over the assignment events: each checked job's package states and latest
    accepted revisions (the events themselves are not kept)."""

    def fold(record: ConsumerRecord[Any, Any]) -> None:
        event = decode(record)
        data = event.get("data") if event else None
        job_id = data.get("job_id") if isinstance(data, dict) else None
        if event is None or job_id not in logs:
            return
        report.seen["events"] += 1
        try:
            logs[job_id].apply(event)
        except (KeyError, TypeError, ValueError) as exc:  # a malformed event of this job
            report.add([Violation(REBUILD, f"the event cannot be folded: {exc!r}", job_id,
                                  str(data.get("package_id", "")) if data else "",
                                  event_id=str(event.get("id", "")))])

    await read_log(settings.kafka_bootstrap, topics.ASSIGNMENT_EVENTS, fold,
                   stall_seconds=settings.log_stall_seconds)


async def _check_dead_letters(settings: CheckSettings, report: Report) -> None:
    """Every dead letter of the deployment, whatever jobs were named: a dead letter need
    not belong to a job (a message that was no event at all)."""

    def check(record: ConsumerRecord[Any, Any]) -> None:
        report.seen["dead letters"] += 1
        headers = {k: bytes(v or b"").decode(errors="replace") for k, v in record.headers or ()}
        where = f"{record.topic}/{record.partition}@{record.offset}"
        report.add([dead_letter_violation(where, headers)])

    await read_log(settings.kafka_bootstrap, topics.DEAD_LETTER, check,
                   stall_seconds=settings.log_stall_seconds)
