"""Horizontal scaling, shown: two replicas of every service on a three-node Kafka cluster
(``labelops_cli.stack.cluster``, KRaft, every topic with three copies and two in sync), a job
of 2,000 items worked through label → check → accept by a crowd (tests/e2e/flow.py) whose
workers are dealt out over both replicas, while the test SIGKILLs an assignment replica (the
workers' calls fail over to the other) and then the broker leading the job's partition
together with an export replica (the consumer group hands the partitions to the survivor).
Both come back, and then:

- the workers saw no error other than outages they rode out by retrying;
- both assignment replicas served the crowd, and the flow went on while the broker was down;
- the export holds every item exactly once, with the answer its labeler saved last;
- both progress views count every item once; ``labelops check`` finds every invariant held.

The replicas use databases of their own (``labelops_scale_<service>``) on the stack's
FerretDB and the stack's MinIO buckets; the stack's broker and services are not touched.
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client.parser import text_string_to_metric_families

from labelops_cli.replicas import ReplicaSet, cluster_env
from labelops_cli.stack import cluster, servers
from labelops_shared import topics
from tests.e2e.flow import (
    Crowd,
    publish_job,
    verify_flow,
    wait_packaged,
    write_manifest,
)

pytestmark = [pytest.mark.e2e, pytest.mark.fault]

# LABELOPS_SCALE_OUT_ITEMS makes a shorter run (for trying changes); 40 packages either way
ITEMS = int(os.environ.get("LABELOPS_SCALE_OUT_ITEMS", 2_000))
PACKAGE_SIZE = max(1, ITEMS // 40)
DB_PREFIX = "labelops_scale"
DOWN_SECONDS = 15.0  # how long a killed replica or broker stays down
# A labeler's pause after each answer: the flow (at most 4 / 0.2 = 20 answers/s) then lasts
# longer than the two faults' windows however fast the platform is (at full speed the
# crowd accepted all 40 packages before the broker went down).
THINK_SECONDS = 0.2 if ITEMS >= 1_000 else 0.0


@pytest.fixture(scope="module")
def replicas() -> Iterator[ReplicaSet]:
    """A fresh three-node cluster and two replicas of each service on it; all stopped, the
    cluster's data and the replicas' databases deleted afterwards. (Not the session's
    ``platform``: that one starts and stops the stack's own services.)"""
    env = cluster_env()
    if not servers.mongo_ready(env["LABELOPS_MONGO_URL"]) or not servers.minio_ready(
            env["LABELOPS_MINIO_ENDPOINT"]):
        pytest.fail("the stack's database and MinIO must run (labelops up)")
    cluster.down(wipe=True)  # the checker reads the whole event log: only this run's
    cluster.up()
    scale = ReplicaSet(2, env, db_prefix=DB_PREFIX)
    scale.stop()
    scale.drop_databases()
    try:
        scale.start()
        yield scale
    finally:
        scale.stop()
        scale.drop_databases()
        cluster.down(wipe=True)


def calls_served(replicas: ReplicaSet, name: str, method: str) -> float:
    """Calls of ``method`` the replica answered since it started (its metrics)."""
    url = f"http://127.0.0.1:{replicas.specs[name].metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        text = response.read().decode()
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == "labelops_grpc_server_handled_total"
               and sample.labels.get("grpc_method") == method)


async def _leader_of_job(bootstrap: str, job_id: str) -> int:
    """The node leading the partition that holds the job's assignment events."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topics.ASSIGNMENT_EVENTS])
    finally:
        await admin.close()
    parts = sorted(described[0]["partitions"], key=lambda p: p["partition"])
    ids = [p["partition"] for p in parts]
    chosen = DefaultPartitioner()(job_id.encode(), ids, ids)
    return int(next(p["leader"] for p in parts if p["partition"] == chosen))


def test_a_replica_and_a_broker_killed_mid_flow(replicas: ReplicaSet, tmp_path: Path) -> None:
    env = replicas.infra_env
    manifest = write_manifest(tmp_path / "reviews.manifest", ITEMS)
    job = publish_job(env, manifest, ITEMS, PACKAGE_SIZE, replicas.targets())
    wait_packaged(env, job, replicas.targets())
    # half the workers prefer replica 1 and half replica 2; each fails over to the other
    crowd = Crowd(env, job, addrs=[replicas.targets(prefer=1), replicas.targets(prefer=2)],
                  think_seconds=THINK_SECONDS)
    crowd.start()
    try:
        crowd.wait_accepted(8)
        served = {name: calls_served(replicas, name, "SaveAnnotation")
                  for name in ("assignment-1", "assignment-2")}
        assert all(served.values()), served  # the crowd is spread over both replicas

        replicas.kill("assignment-1")  # workers mid-call, its outbox relay mid-round
        accepted = crowd.accepted
        time.sleep(DOWN_SECONDS)
        assert crowd.accepted > accepted, "the crowd stopped with one replica down"
        replicas.start(["assignment-1"])

        crowd.wait_accepted(accepted + 8)
        leader = asyncio.run(_leader_of_job(env["LABELOPS_KAFKA_BOOTSTRAP"], job.job_id))
        assert cluster.kill_broker(leader) is not None
        replicas.kill("export-1")
        accepted = crowd.accepted
        assert accepted < job.packages, "the flow ended before the broker went down"
        time.sleep(DOWN_SECONDS)  # claims and decisions need only the database
        assert crowd.accepted > accepted, "the crowd stopped with a broker down"
        cluster.start_broker(leader)
        replicas.start(["export-1"])
    except BaseException:
        crowd.finish(timeout=0)
        raise
    verify_flow(env, job, crowd, replicas.targets(),
                assignment_db=replicas.database("assignment"),
                export_db=replicas.database("export"))
