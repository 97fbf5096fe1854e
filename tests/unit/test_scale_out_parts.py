"""The pure parts of the scale-out test and benchmark: the Kafka nodes' configuration, the
replicas' ports, databases and peers, the benchmark's ceiling and its summary rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.scale_out import ceiling
from bench.summary import summarise
from labelops_cli.replicas import ReplicaSet
from labelops_cli.services import SERVICES, service_env
from labelops_cli.stack import cluster
from labelops_cli.stack.servers import kafka_properties
from labelops_shared.kafka import make_broker

pytestmark = pytest.mark.unit


def props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines()
                if line and not line.startswith("#"))


def test_a_single_broker_keeps_one_copy_and_a_cluster_node_three() -> None:
    single = props(kafka_properties(node_id=1, port=19092, controller_port=19093,
                                    voters="1@127.0.0.1:19093", log_dir=Path("/d")))
    assert {k: single[k] for k in ("default.replication.factor", "min.insync.replicas",
                                   "offsets.topic.replication.factor")} == {
        "default.replication.factor": "1", "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1"}
    voters = ",".join(f"{one.n}@127.0.0.1:{one.controller_port}" for one in cluster.nodes())
    node = props(kafka_properties(node_id=2, port=29093, controller_port=29193, voters=voters,
                                  log_dir=Path("/d/2"), replicas=3))
    assert node["node.id"] == "2" and node["controller.quorum.voters"] == (
        "1@127.0.0.1:29192,2@127.0.0.1:29193,3@127.0.0.1:29194")
    # a broker may be lost: writes need two copies of three, the offsets have three too
    assert (node["default.replication.factor"], node["min.insync.replicas"],
            node["offsets.topic.replication.factor"],
            node["transaction.state.log.min.isr"]) == ("3", "2", "3", "2")
    assert node["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29093"
    assert cluster.bootstrap() == "127.0.0.1:29092,127.0.0.1:29093,127.0.0.1:29094"


def test_replicas_have_ports_databases_and_peers_of_their_own(tmp_path: Path) -> None:
    scale = ReplicaSet(2, {"LABELOPS_MONGO_URL": "mongodb://x/"}, home=tmp_path)
    assert scale.names == [f"{s}-{n}" for n in (1, 2) for s in SERVICES]
    ports = {p for spec in scale.specs.values() for p in (spec.grpc_port, spec.metrics_port)}
    stack = {p for spec in SERVICES.values() for p in (spec.grpc_port, spec.metrics_port)}
    assert len(ports) == 20 and not ports & stack
    assert scale.specs["assignment-2"].kind == "assignment"
    assert scale.database("export") == "labelops_scale_export"
    assert scale.target("assignment", prefer=2) == "ipv4:127.0.0.1:29063,127.0.0.1:29053"
    # a replica's peers are this set's, its sibling first; the process runs its service
    env = service_env(scale.specs["jobs-2"], {}, scale.targets(prefer=2))
    assert env["LABELOPS_SERVICE_NAME"] == "jobs" and env["LABELOPS_GRPC_PORT"] == "29062"
    assert env["LABELOPS_DATASET_ADDR"] == "ipv4:127.0.0.1:29061,127.0.0.1:29051"
    assert ReplicaSet(1, {}, home=tmp_path).target("dataset") == "127.0.0.1:29051"
    with pytest.raises(ValueError, match="databases of their own"):
        ReplicaSet(2, {}, db_prefix="labelops", home=tmp_path)


def test_the_stack_services_keep_their_addresses() -> None:
    env = service_env(SERVICES["export"], {})
    assert env["LABELOPS_SERVICE_NAME"] == "export"
    assert env["LABELOPS_ASSIGNMENT_ADDR"] == "127.0.0.1:17053"


def step(replicas: int, label: float, busy: float, ferretdb: float) -> dict[str, Any]:
    cores = {f"assignment-{n}": 0.2 for n in range(1, replicas + 1)}
    cores.update({"kafka-cluster-1": 0.1, "ferretdb": ferretdb, "bench client": 0.05,
                  "stack jobs": 0.1})
    return {"replicas": replicas, "machine_busy_cores": busy,
            "measured_cores": round(sum(cores.values()), 2), "cpu_cores": cores,
            "other_cores": round(max(0.0, busy - sum(cores.values())), 2),
            "label": {"items_per_s": label, "claim": {"p99_ms": 100.0 * replicas},
                      "save": {"p99_ms": 40.0}},
            "check": {"items_per_s": label / 2}, "accept": {"items_per_s": label / 2}}


def test_the_ceiling_names_what_was_busy() -> None:
    saturated = ceiling([step(1, 100.0, 1.9, 0.9), step(2, 110.0, 1.95, 1.0)], cpus=2)
    assert saturated["label_speedup"] == 1.1
    assert saturated["services_cores"] == 0.4 and saturated["stack_cores"] == 0.1
    assert saturated["other_cores"] == pytest.approx(1.95 - 1.65)
    assert "(saturated)" in saturated["explanation"]
    assert "FerretDB 1.00 (51%)" in saturated["explanation"]
    assert "Caution: processes outside the bench used up to 0.65 cores" in (
        saturated["explanation"])  # step 1: 0.55 unmeasured and the stack's 0.1
    idle = ceiling([step(1, 100.0, 0.8, 0.3), step(2, 105.0, 0.9, 0.3)], cpus=2)
    assert "(saturated)" not in idle["explanation"]
    assert "single SQLite writer" in idle["explanation"]
    quiet = ceiling([step(1, 100.0, 1.35, 0.9)], cpus=2)  # all but the stack's 0.1 measured
    assert quiet["noise_cores"] == 0.1 and "Caution" not in quiet["explanation"]


def test_the_summary_compares_the_last_step_with_the_first() -> None:
    run = {"when": "t", "settings": {"items": 20_000},
           "steps": [step(1, 100.0, 1.9, 0.9), step(2, 120.0, 1.95, 1.0)],
           "ceiling": {"cpus": 2, "machine_busy_cores": 1.95, "ferretdb_cores": 1.0}}
    found = summarise("scale_out", [run])
    assert found.runs == ["t 20,000 items"]
    rows = {row.figure: row.cells() for row in found.rows}
    assert rows["label: items/s, 2 replicas (reference: 1)"][1:4] == (
        "120 items/s", "100 items/s", "120%")
    assert rows["claim p99, 2 replicas (reference: 1)"][1:4] == ("200 ms", "100 ms", "200%")
    assert rows["machine busy, 2 replicas (of 2 cores)"][1] == "1.95 cores"
    one = summarise("scale_out", [{**run, "steps": run["steps"][:1]}])
    assert {row.figure for row in one.rows} >= {"label: items/s, 1 replica"}
    assert all(row.reference is None for row in one.rows)
    assert summarise("scale_out", [{"when": "t"}]).missing


def test_the_services_broker_is_given_every_server_of_a_cluster() -> None:
    """FastStream takes a string as one server: "h1:p1,h2:p2" must reach it as a list."""
    broker = make_broker("127.0.0.1:29092, 127.0.0.1:29093,127.0.0.1:29094", client_id="t")
    assert broker._connection_kwargs["bootstrap_servers"] == [  # noqa: SLF001
        "127.0.0.1:29092", "127.0.0.1:29093", "127.0.0.1:29094"]
