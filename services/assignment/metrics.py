"""The assignment service's domain metrics (the shared ones, including the claim, submit
and review latency as gRPC handling time, are in labelops_shared.metrics). Labels: stage,
state, outcome, and ``job_id`` only on the per-job gauge of live packages."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from labelops_shared.metrics import LATENCY_BUCKETS

ITEMS = Counter(
    "labelops_assignment_items_processed_total",
    "Items through a stage, by outcome: label/labeled, check/passed, check/rejected, "
    "accept/accepted, accept/rejected",
    ["stage", "outcome"],
)
ITEMS_WAITING = Gauge(
    "labelops_assignment_items_waiting",
    "Items in packages waiting to be claimed, per stage, all jobs (as this replica's claim "
    "board sees them; aggregate with max)",
    ["stage"],
)
PACKAGES = Gauge(
    "labelops_assignment_packages",
    "Packages of each live job waiting for or held in a stage (as this replica's claim "
    "board sees them; aggregate with max)",
    ["job_id", "state"],
)
WAIT_SECONDS = Histogram(
    "labelops_assignment_stage_wait_seconds",
    "How long a package waited in a stage's pool before it was claimed",
    ["stage"],
    buckets=(1, 10, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 7 * 24 * 3600),
)
CLAIM_CONFLICTS = Counter(
    "labelops_assignment_claim_conflicts_total",
    "Claims that lost a package's ticket to another change (another replica, a stale board)",
)
LEASES_EXPIRED = Counter(
    "labelops_assignment_leases_expired_total",
    "Claims whose lease ran out: the package went back to its stage's pool",
    ["stage"],
)
BOARD_REBUILD_SECONDS = Histogram(
    "labelops_assignment_board_rebuild_seconds",
    "Time to rebuild the claim board from the database",
    buckets=LATENCY_BUCKETS,
)
