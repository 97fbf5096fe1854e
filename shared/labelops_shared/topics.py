"""The topic catalogue: one topic per publishing service, keyed by the aggregate that needs
ordering (usually the job id), plus the dead-letter topic."""

from __future__ import annotations

DATASET_EVENTS = "labelops.dataset.events.v1"
JOBS_EVENTS = "labelops.jobs.events.v1"
ASSIGNMENT_EVENTS = "labelops.assignment.events.v1"
PRELABEL_EVENTS = "labelops.prelabel.events.v1"
EXPORT_EVENTS = "labelops.export.events.v1"
DEAD_LETTER = "labelops.deadletter.v1"

ALL_TOPICS = (
    DATASET_EVENTS,
    JOBS_EVENTS,
    ASSIGNMENT_EVENTS,
    PRELABEL_EVENTS,
    EXPORT_EVENTS,
    DEAD_LETTER,
)
PARTITIONS = 3
