"""The local stack and the one database guarantee LabelOps builds its races on.

- `up_infra()` is idempotent: a second call reuses the running servers.
- Of concurrent inserts with the same unique key, exactly one succeeds — on MongoDB and on
  FerretDB (its SQL backend enforces unique indexes). Claims and leases are built on this.
- Concurrent conditional updates (`update_one({"holder": None}, …)`) are only measured: FerretDB
  v1 applies them without re-checking the filter at write time, so several writers can all
  "win". Nothing in LabelOps relies on them.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from minio import Minio
from minio.error import S3Error
from pymongo import MongoClient, ReplaceOne, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError, OperationFailure

from labelops_cli.stack import (
    BUCKETS,
    ENV_KEYS,
    SERVERS,
    InfraEnv,
    server_pid,
    servers,
    stack_env,
    up_infra,
)
from labelops_cli.stack import paths as stack_paths

pytestmark = pytest.mark.integration
WRITERS = 50


# -- the stack ---------------------------------------------------------------------------


def test_second_up_reuses_the_running_servers(infra: InfraEnv) -> None:
    again = up_infra()
    assert dict(again) == dict(infra)
    assert again.mode == infra.mode
    if infra.mode == "native":
        assert all(infra.pids[name] for name in SERVERS if name != "ferretdb")
        assert again.pids == infra.pids
        assert {name: server_pid(name) for name in SERVERS} == infra.pids


def test_environment_is_complete_and_private(infra: InfraEnv) -> None:
    assert set(infra) == set(ENV_KEYS)
    assert stack_env() == dict(infra)
    assert all(host_port.startswith("127.0.0.1:") for host_port in (
        infra["LABELOPS_KAFKA_BOOTSTRAP"], infra["LABELOPS_MINIO_ENDPOINT"])) or (
        infra.mode == "testcontainers")
    credentials = stack_paths.credentials_file()
    assert credentials.stat().st_mode & 0o077 == 0
    assert infra["LABELOPS_MINIO_SECRET_KEY"] in credentials.read_text()


def test_buckets_exist_and_are_private(infra: InfraEnv) -> None:
    client = Minio(infra["LABELOPS_MINIO_ENDPOINT"], access_key=infra["LABELOPS_MINIO_ACCESS_KEY"],
                   secret_key=infra["LABELOPS_MINIO_SECRET_KEY"], secure=False)
    for bucket in BUCKETS:
        assert client.bucket_exists(bucket)
        with pytest.raises(S3Error) as no_policy:
            client.get_bucket_policy(bucket)
        assert no_policy.value.code == "NoSuchBucketPolicy"


def test_a_stale_pid_file_is_cleared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pid file naming a process that is not this stack's server (here: the test itself)
    counts as not running, and is removed."""
    monkeypatch.setenv("LABELOPS_HOME", str(tmp_path))
    pid_file = stack_paths.run_dir() / "kafka.pid"
    pid_file.write_text(str(os.getpid()))
    assert server_pid("kafka") is None
    assert not pid_file.exists()
    pid_file.write_text("999999999")
    assert server_pid("kafka") is None


# -- the database guarantee ----------------------------------------------------------------


@pytest.fixture()
def mongo(infra: InfraEnv) -> Iterator[MongoClient[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(
        infra["LABELOPS_MONGO_URL"], maxPoolSize=WRITERS + 5, retryWrites=False)
    yield client
    client.close()


def _backend(client: MongoClient[dict[str, Any]]) -> str:
    info = client.admin.command("buildInfo")
    if "ferretdbVersion" in info:  # "unknown" when built outside FerretDB's repository
        version = info["ferretdbVersion"]
        return "FerretDB" if version == "unknown" else f"FerretDB {version}"
    return f"MongoDB {info.get('version')}"


def _busy(exc: OperationFailure) -> bool:
    return "SQLITE_BUSY" in str(exc) or "database is locked" in str(exc)


def _race(call: Callable[[int], Any]) -> list[Any]:
    """Run call(0..WRITERS-1) in WRITERS threads released together; retry a backend's
    transient busy-lock errors as the services do; return each writer's result."""
    start = threading.Barrier(WRITERS)
    results: list[Any] = [None] * WRITERS

    def writer(i: int) -> None:
        start.wait()
        for attempt in range(10):
            try:
                results[i] = call(i)
                return
            except OperationFailure as exc:
                if not _busy(exc) or attempt == 9:
                    results[i] = exc
                    return
                time.sleep(0.02 * 2**attempt)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def _scratch(client: MongoClient[dict[str, Any]], kind: str) -> Collection[dict[str, Any]]:
    return client["labelops_infra_tests"][f"{kind}_{uuid.uuid4().hex[:8]}"]


def test_concurrent_inserts_of_one_unique_key_have_exactly_one_winner(
    mongo: MongoClient[dict[str, Any]],
) -> None:
    claims = _scratch(mongo, "claims")
    claims.create_index([("package", 1), ("epoch", 1)], unique=True)

    def claim(writer: int) -> str:
        try:
            claims.insert_one({"package": "p1", "epoch": 1, "holder": writer})
            return "won"
        except DuplicateKeyError:
            return "duplicate"

    try:
        for _round in range(3):
            claims.delete_many({})
            outcomes = Counter(map(str, _race(claim)))
            assert outcomes == {"won": 1, "duplicate": WRITERS - 1}, outcomes
            assert claims.count_documents({"package": "p1"}) == 1
    finally:
        claims.drop()


def test_concurrent_conditional_updates_are_recorded_not_relied_on(
    mongo: MongoClient[dict[str, Any]], record_property: Callable[[str, object], None],
) -> None:
    packages = _scratch(mongo, "packages")
    backend = _backend(mongo)
    try:
        counts = []
        for _round in range(3):
            packages.delete_many({})
            packages.insert_one({"_id": "p1", "holder": None})
            results = _race(lambda writer: packages.update_one(
                {"_id": "p1", "holder": None}, {"$set": {"holder": writer}}).modified_count)
            counts.append(sum(r for r in results if isinstance(r, int)))
        # Real MongoDB reports exactly one winner; FerretDB v1 may report several.
        print(f"\n{backend}: of {WRITERS} concurrent conditional updates, winners per round: "
              f"{counts}")
        record_property("conditional_update_winners", counts)
        record_property("backend", backend)
    finally:
        packages.drop()


# Filters whose answers must not change with the LabelOps FerretDB patch that pushes
# equality and $in on top-level string fields down to SQLite's indexes: the pushed-down
# condition must keep every document that may match (arrays match by element).
PUSHDOWN_DOCS = [
    {"_id": "a", "f": "x", "g": "1"}, {"_id": "b", "f": ["x", "y"], "g": "2"},
    {"_id": "c", "f": "y"}, {"_id": "d"}, {"_id": "e", "f": 1}, {"_id": "f", "f": None},
    {"_id": "g", "f": {"x": 1}}, {"_id": "i", "f": "x\"y<&>é"}, {"_id": "j", "f": "X"},
    {"_id": "k", "f": [], "g": "1"}, {"_id": "l", "f": "", "g": "3"}, {"_id": "m", "f": "[x]"},
    {"_id": "n", "f": "\\"},
]
PUSHDOWN_FILTERS: list[tuple[dict[str, Any], set[str]]] = [
    ({"f": "x"}, {"a", "b"}), ({"f": "y"}, {"b", "c"}), ({"f": "x\"y<&>é"}, {"i"}),
    ({"f": ""}, {"l"}), ({"f": "[x]"}, {"m"}), ({"f": "\\"}, {"n"}),
    ({"f": {"$in": ["x", "y"]}}, {"a", "b", "c"}), ({"f": {"$in": ["X", "nope"]}}, {"j"}),
    ({"f": {"$in": ["x", 1]}}, {"a", "b", "e"}), ({"f": "x", "g": "1"}, {"a"}),
    ({"f": "x", "g": "2"}, {"b"}), ({"_id": "a"}, {"a"}),
    ({"_id": {"$in": ["a", "c", "zz"]}}, {"a", "c"}), ({"_id": "a", "f": "y"}, set()),
    ({"f": "x", "$or": [{"g": "1"}, {"g": "2"}]}, {"a", "b"}), ({"f.x": 1}, {"g"}),
    ({"f": ["x", "y"]}, {"b"}), ({"f": None}, {"d", "f"}), ({"g": {"$in": []}}, set()),
]


@pytest.mark.parametrize("query,expected", PUSHDOWN_FILTERS, ids=repr)
def test_filtered_reads_updates_and_deletes_match_what_the_filter_says(
    mongo: MongoClient[dict[str, Any]], query: dict[str, Any], expected: set[str],
) -> None:
    docs = _scratch(mongo, "pushdown")
    docs.create_index([("f", 1), ("g", 1)])
    docs.insert_many([dict(d) for d in PUSHDOWN_DOCS])
    try:
        assert {d["_id"] for d in docs.find(query)} == expected
        assert docs.count_documents(query) == len(expected)
        assert docs.update_many(query, {"$set": {"seen": True}}).matched_count == len(expected)
        assert {d["_id"] for d in docs.find({"seen": True})} == expected
        assert docs.delete_many(query).deleted_count == len(expected)
        assert docs.count_documents({}) == len(PUSHDOWN_DOCS) - len(expected)
    finally:
        docs.drop()


def test_one_bulk_write_of_500_updates_completes_and_the_database_still_answers(
    infra: InfraEnv,
) -> None:
    """The outbox folds a batch of events into one bulk write of whole-document upserts.
    Stock FerretDB v1 held each update's query (a SQLite connection) until the command
    ended, so about 100 updates in one command exhausted the database's pool and waited for
    ever, and every later write to that database with them (FERRETDB_PATCH item 4)."""
    # A database of its own and a socket deadline: a regression fails here, not the run.
    client: MongoClient[dict[str, Any]] = MongoClient(infra["LABELOPS_MONGO_URL"],
                                                      socketTimeoutMS=30_000)
    database = client[f"labelops_infra_bulk_{uuid.uuid4().hex[:6]}"]
    try:
        views = database["views"]
        views.insert_many([{"_id": f"p{n}", "count": 0} for n in range(250)])
        result = views.bulk_write(
            [ReplaceOne({"_id": f"p{n}"}, {"_id": f"p{n}", "count": n}, upsert=True)
             for n in range(500)]
            + [UpdateOne({"_id": f"p{n}"}, {"$inc": {"count": 1}}) for n in range(500)],
            ordered=False)
        assert (result.matched_count, result.upserted_count) == (750, 250)
        assert sorted(d["count"] for d in views.find()) == [n + 1 for n in range(500)]
        database["after"].insert_one({"_id": "still answering"})  # a new collection, too
        assert database["after"].count_documents({}) == 1
    finally:
        client.drop_database(database.name)
        client.close()


def test_writes_the_database_acknowledged_survive_a_sigkill_of_it(infra: InfraEnv) -> None:
    """The stack runs SQLite with ``synchronous=normal`` (servers.ferretdb_sqlite_url): a
    commit is not synced to disk, but it is in SQLite's log once FerretDB answers, so a
    killed server loses none of the writes it acknowledged; 100 inserts, each answered,
    then 100 updates (one transaction each), then SIGKILL."""
    if not infra.pids.get("ferretdb"):
        pytest.skip("LABELOPS_MONGO_URL names a database this stack does not run")
    # Started afresh, so it runs with the URL this checkout builds.
    servers.kill_server("ferretdb")
    pid = servers.start_server("ferretdb")
    assert "synchronous(normal)" in Path(f"/proc/{pid}/cmdline").read_text()
    name = f"labelops_infra_kill_{uuid.uuid4().hex[:6]}"
    client: MongoClient[dict[str, Any]] = MongoClient(infra["LABELOPS_MONGO_URL"],
                                                      socketTimeoutMS=30_000)
    try:
        docs = client[name]["docs"]
        for n in range(100):
            docs.insert_one({"_id": f"d{n}", "n": n})
        for n in range(100):
            docs.update_one({"_id": f"d{n}"}, {"$set": {"updated": True}})
        servers.kill_server("ferretdb")
        servers.start_server("ferretdb")
        client.close()  # its sockets died with the server
        client = MongoClient(infra["LABELOPS_MONGO_URL"], socketTimeoutMS=30_000)
        after = {d["_id"]: d for d in client[name]["docs"].find()}
        assert len(after) == 100
        assert all(d.get("updated") for d in after.values())
    finally:
        client.drop_database(name)
        client.close()


def test_a_reopened_database_plans_a_jobs_packages_read_with_the_job_index(
    infra: InfraEnv,
) -> None:
    """FerretDB never runs ANALYZE; without statistics SQLite planned the claim board's
    read (a job, states by ``$in``) with the index on ``state`` alone, a scan of every job's
    packages (3.7 s per job on 229,000). FERRETDB_PATCH item 6 runs ``PRAGMA optimize``
    whenever a database is opened (and every minute): reopened, the database plans the read
    with the (job, state, index) index. ``explain`` shows the plan of the statement the
    find runs (item 3)."""
    if not infra.pids.get("ferretdb"):
        pytest.skip("LABELOPS_MONGO_URL names a database this stack does not run")
    name = f"labelops_infra_plan_{uuid.uuid4().hex[:6]}"
    client: MongoClient[dict[str, Any]] = MongoClient(infra["LABELOPS_MONGO_URL"],
                                                      socketTimeoutMS=30_000)
    try:
        packages = client[name]["packages"]
        packages.create_index([("job_id", 1), ("state", 1), ("index", 1)])
        packages.create_index([("state", 1)])
        packages.insert_many([{"_id": f"j{j}-p{n}", "job_id": f"j{j}", "state": "open",
                               "index": n} for j in range(40) for n in range(50)])
        servers.kill_server("ferretdb")
        servers.start_server("ferretdb")
        # The pool's sockets died with the server and ``command`` is not retried: reconnect.
        client.close()
        client = MongoClient(infra["LABELOPS_MONGO_URL"], socketTimeoutMS=30_000)
        packages = client[name]["packages"]
        read = {"job_id": "j7", "state": {"$in": ["open", "labeling", "submitted"]}}
        plan = client[name].command("explain", {"find": "packages", "filter": read})
        steps = " ".join(plan["queryPlanner"]["Plan"])
        assert "job_id_1_state_1_index_1" in steps, steps
        assert "state_1 " not in steps.replace("job_id_1_state_1_index_1", ""), steps
        assert len(list(packages.find(read))) == 50
    finally:
        client.drop_database(name)
        client.close()
