"""The outbox keeps a state change and its event together, through relay crashes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from labelops_shared.contracts import JobCompleted
from labelops_shared.events import decode_event
from labelops_shared.outbox import PUT_CHUNK, Outbox, UnitOfWork
from tests.fakes import FakeDatabase


class FlakyBroker:
    """Records what was published; can be told to crash before sending."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []
        self.crash = False

    async def publish(self, topic: str, key: str, value: bytes) -> None:
        if self.crash:
            raise ConnectionError("broker connection lost")
        self.sent.append((topic, key, value))


def _uow() -> UnitOfWork:
    uow = UnitOfWork(source="/labelops/test")
    uow.put("jobs", {"_id": "j1", "state": "completed"})
    uow.emit(JobCompleted(job_id="j1", package_count=2, item_count=20))
    return uow


async def test_commit_applies_state_and_queues_the_event() -> None:
    db: Any = FakeDatabase()
    box = Outbox(db, owner="t")
    assert await box.commit(_uow(), key="k1")
    assert db["jobs"].docs["j1"]["state"] == "completed"
    assert await box.backlog() == 1


async def test_relay_crash_before_publishing_then_restart_publishes_once() -> None:
    db: Any = FakeDatabase()
    broker = FlakyBroker()
    await Outbox(db, owner="first").commit(_uow(), key="k1")

    broker.crash = True
    with pytest.raises(ConnectionError):
        await Outbox(db, owner="first").relay_once(broker.publish)
    assert broker.sent == []  # nothing went out, the state is there, the event is pending

    broker.crash = False
    restarted = Outbox(db, owner="second")  # a new process over the same database
    assert await restarted.relay_once(broker.publish) == 1
    assert await restarted.relay_once(broker.publish) == 0  # and never again

    assert len(broker.sent) == 1
    assert not await restarted.commit(_uow(), key="k1")  # the key is remembered for good
    assert await restarted.seen("k1")
    topic, key, value = broker.sent[0]
    event = decode_event(value)
    assert (topic, key, event.type) == ("labelops.assignment.events.v1", "j1",
                                        "labelops.job.completed.v1")
    assert await restarted.backlog() == 0


async def test_the_same_key_commits_once() -> None:
    db: Any = FakeDatabase()
    box = Outbox(db, owner="t")
    assert await box.commit(_uow(), key="evt-1")
    second = _uow()
    second.put("jobs", {"_id": "j1", "state": "overwritten"})
    assert not await box.commit(second, key="evt-1")
    assert db["jobs"].docs["j1"]["state"] == "completed"
    assert await box.backlog() == 1


async def test_a_record_committed_but_not_applied_is_recovered_at_start() -> None:
    db: Any = FakeDatabase()
    box = Outbox(db, owner="dead")
    uow = _uow()
    # Simulate a crash right after the commit point: the record exists, the state does not.
    await db["outbox"].insert_one({
        "_id": "k9", "state": "committed", "seq": 1, "owner": "dead",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "ops": uow.ops,
        "events": [{"topic": e.topic, "key": e.partitionkey, "value": e.model_dump_json()}
                   for e in uow.events],
    })
    assert "j1" not in db["jobs"].docs

    assert await Outbox(db, owner="new").recover() == 1

    assert db["jobs"].docs["j1"]["state"] == "completed"
    broker = FlakyBroker()
    assert await box.relay_once(broker.publish) == 1
    assert len(broker.sent) == 1


async def test_a_run_of_inserts_is_applied_in_one_go_and_keeps_what_exists() -> None:
    """Inserts are insert-if-absent even in bulk: a record re-applied after a crash (or a
    document inserted by an earlier part) keeps the stored document, the rest go in."""
    db: Any = FakeDatabase()
    await db["packages"].insert_one({"_id": "p1", "state": "labeling"})
    box = Outbox(db, owner="t")
    uow = UnitOfWork(source="/labelops/test")
    for n in range(3):
        uow.insert("packages", {"_id": f"p{n}", "state": "open"})
    uow.set("jobs", "j1", {"package_count": 3})
    uow.insert("packages", {"_id": "p3", "state": "open"})
    await db["jobs"].insert_one({"_id": "j1"})
    assert await box.commit(uow)
    assert {k: d["state"] for k, d in db["packages"].docs.items()} == {
        "p0": "open", "p1": "labeling", "p2": "open", "p3": "open"}
    assert db["jobs"].docs["j1"]["package_count"] == 3



async def test_whole_document_writes_go_in_commands_an_unpatched_ferretdb_takes() -> None:
    """A batch of events folded into 120 documents is written in bulk, but never more
    than PUT_CHUNK updates to a command (stock FerretDB v1 deadlocks at about 100)."""
    db: Any = FakeDatabase()
    uow = UnitOfWork(source="/labelops/test")
    for n in range(120):
        uow.put("views", {"_id": f"v{n}", "count": n})
    assert await Outbox(db, owner="t").commit(uow)
    assert db["views"].bulk_sizes == [PUT_CHUNK, PUT_CHUNK, 120 - 2 * PUT_CHUNK]
    assert {k: d["count"] for k, d in db["views"].docs.items()} == {
        f"v{n}": n for n in range(120)}

async def test_field_updates_of_distinct_documents_go_in_bulk_and_in_order_per_document(
) -> None:
    """A handler that touches 120 stored items sends three commands, not 120; a second
    update of the same document waits for the first (its run ends there)."""
    db: Any = FakeDatabase()
    for n in range(120):
        await db["items"].insert_one({"_id": f"i{n}", "state": "new"})
    uow = UnitOfWork(source="/labelops/test")
    for n in range(120):
        uow.set("items", f"i{n}", {"state": "accepted", "meta.by": f"u{n}"})
    uow.set("items", "i0", {"state": "revised"})
    assert await Outbox(db, owner="t").commit(uow)
    assert db["items"].bulk_sizes == [PUT_CHUNK, PUT_CHUNK, 120 - 2 * PUT_CHUNK]
    assert db["items"].docs["i0"] == {"_id": "i0", "state": "revised", "meta": {"by": "u0"}}
    assert all(db["items"].docs[f"i{n}"]["state"] == "accepted" for n in range(1, 120))


async def test_a_relay_round_that_fails_midway_marks_what_it_sent_and_resumes_in_order(
) -> None:
    db: Any = FakeDatabase()
    box = Outbox(db, owner="t")
    for n in range(5):
        uow = UnitOfWork(source="/labelops/test")
        uow.emit(JobCompleted(job_id=f"j{n}", package_count=1, item_count=1), subject="jobs/x")
        await box.commit(uow, key=f"k{n}")
    sent: list[str] = []

    async def publish_three(topic: str, key: str, value: bytes) -> None:
        if len(sent) == 3:
            raise ConnectionError("broker connection lost")
        sent.append(key)

    with pytest.raises(ConnectionError):
        await box.relay_once(publish_three)
    assert sent == ["j0", "j1", "j2"] and await box.backlog() == 2  # the three are done
    assert all([await box.seen(f"k{n}") for n in range(3)])

    later: list[str] = []

    async def publish(topic: str, key: str, value: bytes) -> None:
        later.append(key)

    assert await box.relay_once(publish) == 2
    assert later == ["j3", "j4"] and await box.backlog() == 0


def _move(version: int, state: str) -> UnitOfWork:
    """A versioned document's move, as the assignment service commits one."""
    uow = UnitOfWork(source="/labelops/test")
    uow.set("packages", "p1", {"state": state, "version": version}, below=("version", version))
    uow.emit(JobCompleted(job_id=f"v{version}", package_count=1, item_count=1))
    return uow


def _published_versions(broker: FlakyBroker) -> list[str]:
    return [decode_event(value).data.job_id for _, _, value in broker.sent]


async def test_an_unmarked_commit_is_published_by_its_process_or_recovered_without_undoing(
) -> None:
    """A record of guarded moves is not marked applied: its own process's relay publishes
    it; if that process dies first, a restart applies it again (a newer move stays) and
    publishes it."""
    db: Any = FakeDatabase()
    db["packages"].docs["p1"] = {"_id": "p1", "version": 0, "state": "open"}
    box, broker = Outbox(db, owner="a"), FlakyBroker()
    assert await box.commit(_move(1, "claimed"), key="move:p1:v1", fresh=True, unmarked=True)
    assert db["packages"].docs["p1"]["state"] == "claimed"
    assert db["outbox"].docs["move:p1:v1"]["state"] == "committed"  # no mark written
    assert await box.relay_once(broker.publish) == 1
    assert _published_versions(broker) == ["v1"]
    assert await box.backlog() == 0 and await box.seen("move:p1:v1")

    await box.commit(_move(2, "submitted"), key="move:p1:v2", fresh=True, unmarked=True)
    # The process dies before its relay ran; meanwhile another replica moved p1 on.
    db["packages"].docs["p1"].update(version=3, state="checking")
    restarted = Outbox(db, owner="b")
    assert await restarted.relay_once(broker.publish) == 0  # not known to be applied
    assert await restarted.recover() == 1
    assert db["packages"].docs["p1"] == {"_id": "p1", "version": 3, "state": "checking"}
    assert await restarted.relay_once(broker.publish) == 1
    assert _published_versions(broker) == ["v1", "v2"]
    assert await restarted.backlog() == 0


def _claim(pkg: str, version: int) -> UnitOfWork:
    uow = UnitOfWork(source="/labelops/test")
    uow.set("packages", pkg, {"state": "claimed", "version": version}, below=("version", version))
    uow.emit(JobCompleted(job_id=f"{pkg}v{version}", package_count=1, item_count=1))
    return uow


async def test_a_group_commit_applies_and_publishes_each_unit_and_survives_a_crash() -> None:
    """Several claims committed as one group: one record each, all applied, published in
    commit order; a group cut off after its records were written is recovered whole."""
    db: Any = FakeDatabase()
    for pkg in ("p1", "p2", "p3"):
        db["packages"].docs[pkg] = {"_id": pkg, "version": 0, "state": "open"}
    box, broker = Outbox(db, owner="a"), FlakyBroker()
    await box.commit_fresh([(_claim(p, 1), f"move:{p}:v1") for p in ("p1", "p2")])
    assert {p: d["state"] for p, d in db["packages"].docs.items()} == {
        "p1": "claimed", "p2": "claimed", "p3": "open"}
    assert await box.relay_once(broker.publish) == 2
    assert [decode_event(v).data.job_id for _, _, v in broker.sent] == ["p1v1", "p2v1"]

    async def dies(ops: list[Any]) -> None:
        raise RuntimeError("killed between the records and their apply")

    box._apply_ops = dies  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await box.commit_fresh([(_claim("p3", 1), "move:p3:v1")])
    assert db["packages"].docs["p3"]["state"] == "open"
    restarted = Outbox(db, owner="b")
    assert await restarted.recover() == 1
    assert db["packages"].docs["p3"]["state"] == "claimed"
    assert await restarted.relay_once(broker.publish) == 1
    assert decode_event(broker.sent[-1][2]).data.job_id == "p3v1"

    unguarded = UnitOfWork(source="/labelops/test")
    unguarded.set("packages", "p1", {"state": "open"})
    unguarded.emit(JobCompleted(job_id="x", package_count=1, item_count=1))
    with pytest.raises(ValueError, match="guarded"):
        await box.commit_fresh([(unguarded, "move:p1:v9")])


async def test_marked_and_unmarked_records_are_published_in_commit_order() -> None:
    db: Any = FakeDatabase()
    db["packages"].docs["p1"] = {"_id": "p1", "version": 0, "state": "open"}
    box, broker = Outbox(db, owner="a"), FlakyBroker()
    await box.commit(_move(1, "claimed"), key="move:p1:v1", fresh=True, unmarked=True)
    await box.commit(_move(2, "submitted"), key="move:p1:v2")  # marked
    await box.commit(_move(3, "checking"), key="move:p1:v3", fresh=True, unmarked=True)
    assert await box.relay_once(broker.publish) == 3
    assert _published_versions(broker) == ["v1", "v2", "v3"]
    assert db["packages"].docs["p1"]["version"] == 3
    assert await box.relay_once(broker.publish) == 0


async def test_a_staged_record_counts_only_with_its_ticket() -> None:
    """A claim's record written beside its ticket (not after it): applied and published if
    the ticket is its writer's; dropped if someone else won it, or if it never came once
    the grace has passed; left alone while its writer may still be inserting it."""
    db: Any = FakeDatabase()
    for pkg in ("p1", "p2", "p3", "p4"):
        db["packages"].docs[pkg] = {"_id": pkg, "version": 0, "state": "open"}
    box, broker = Outbox(db, owner="a"), FlakyBroker()

    def staged(pkg: str, owner: str) -> dict[str, Any]:
        return box.staged(_claim(pkg, 1), f"move:{pkg}:v1:{owner}",
                          ("tickets", f"{pkg}:v1", owner))

    won, lost = staged("p1", "me"), staged("p2", "me")
    await box.stage([won, lost])
    db["tickets"].docs.update({"p1:v1": {"_id": "p1:v1", "owner": "me"},
                               "p2:v1": {"_id": "p2:v1", "owner": "someone else"}})
    await box.apply_staged([won])
    await box.drop_staged([lost])
    assert await box.relay_once(broker.publish) == 1
    assert [decode_event(v).data.job_id for _, _, v in broker.sent] == ["p1v1"]
    assert {p: d["state"] for p, d in db["packages"].docs.items()} == {
        "p1": "claimed", "p2": "open", "p3": "open", "p4": "open"}

    # The writer dies after both inserts, before applying: whoever recovers decides by
    # the tickets.
    mine, theirs, ticketless = staged("p2", "x"), staged("p3", "x"), staged("p4", "x")
    await box.stage([mine, theirs, ticketless])
    db["tickets"].docs["p2:v1"]["owner"] = "x"
    db["tickets"].docs["p3:v1"] = {"_id": "p3:v1", "owner": "y"}
    ordinary = _claim("p1", 2)
    await box.stage([box._record(ordinary, "move:p1:v2")])  # not staged: no ticket
    restarted = Outbox(db, owner="b")
    assert await restarted.recover(staged_only=True) == 1
    assert db["packages"].docs["p2"]["state"] == "claimed"
    assert db["packages"].docs["p3"]["state"] == "open"
    assert set(db["outbox"].docs) == {mine["_id"], ticketless["_id"], "move:p1:v2"}
    db["outbox"].docs[ticketless["_id"]]["created_at"] = datetime(2020, 1, 1, tzinfo=UTC)
    assert await restarted.recover(staged_only=True) == 0
    assert set(db["outbox"].docs) == {mine["_id"], "move:p1:v2"}  # the ordinary one waits
    assert db["packages"].docs["p4"]["state"] == "open"
    assert await restarted.relay_once(broker.publish) == 1
    assert [decode_event(v).data.job_id for _, _, v in broker.sent] == ["p1v1", "p2v1"]

    with pytest.raises(ValueError, match="guarded"):
        box.staged(_uow(), "k", ("tickets", "t", "me"))
