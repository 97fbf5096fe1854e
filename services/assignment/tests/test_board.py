"""The claim board and the package cutter, pure: which package a claim gets and when a
lease runs out; how a job's items are cut by the fixed, group and targeted rules."""

from __future__ import annotations

import gc

import pytest

from services.assignment.domain.board import Board, Slot
from services.assignment.domain.packaging import Cut, Cutter, group_key

pytestmark = pytest.mark.unit

WAITING = frozenset({"open", "to_check", "to_accept"})


def board(*slots: Slot) -> Board:
    found = Board(WAITING)
    for slot in slots:
        found.update(slot)
    return found


def open_slot(index: int, job: str = "j", **fields: object) -> Slot:
    return Slot(**{"package_id": f"{job}-p{index}", "job_id": job, "index": index,
                   "state": "open", "version": 0, **fields})  # type: ignore[arg-type]


def held(index: int, until: float, version: int = 1, holder: str = "lee") -> Slot:
    return open_slot(index, state="labeling", version=version, holder=holder,
                     labeler=holder, lease_until=until)


def anyone(slot: Slot) -> bool:
    return True


def ids(*slots: Slot | None) -> list[str | None]:
    return [s.package_id if s else None for s in slots]


# --- claims -----------------------------------------------------------------------------------


def test_claims_get_packages_in_package_order_each_once() -> None:
    b = board(open_slot(2), open_slot(0), open_slot(3), open_slot(1))
    taken = [b.take("j", "open", anyone) for _ in range(5)]
    assert ids(*taken) == ["j-p0", "j-p1", "j-p2", "j-p3", None]
    assert b.waiting("j", "open") == 0


def test_each_stage_and_job_has_its_own_queue() -> None:
    b = board(open_slot(0), open_slot(1, state="to_check", labeler="lee"),
              open_slot(0, job="k"), open_slot(2, state="labeling", holder="eve"))
    assert ids(b.take("j", "to_check", anyone)) == ["j-p1"]
    assert ids(b.take("j", "to_accept", anyone), b.take("j", "labeling", anyone)) == [
        None, None]  # nothing waits for acceptance; a held package is never offered
    assert ids(b.take("k", "open", anyone), b.take("j", "open", anyone)) == ["k-p0", "j-p0"]


def test_packages_passed_over_stay_for_the_next_claim() -> None:
    b = board(open_slot(0, targets=("ann",)), open_slot(1), open_slot(2, targets=("ann",)))
    not_targeted = [b.take("j", "open", lambda s: not s.targets) for _ in range(2)]
    assert ids(*not_targeted) == ["j-p1", None]
    # ann still finds both packages reserved for her, in order
    assert ids(b.take("j", "open", anyone), b.take("j", "open", anyone)) == ["j-p0", "j-p2"]


def test_a_taken_package_comes_back_when_given_back_or_updated() -> None:
    b = board(open_slot(0), open_slot(1))
    first = b.take("j", "open", anyone)
    assert first is not None and b.waiting("j", "open") == 1
    b.give_back(first)  # the claim gave up: the package waits again, in its place
    assert ids(b.take("j", "open", anyone)) == ["j-p0"]
    # the claim lost the race: what it read back goes on the board instead
    b.update(first._replace(state="labeling", version=1, holder="eve"))
    assert ids(b.take("j", "open", anyone), b.take("j", "open", anyone)) == ["j-p1", None]


def test_stale_entries_are_skipped() -> None:
    b = board(open_slot(0), open_slot(1), open_slot(2))
    b.update(held(0, until=10.0))  # claimed elsewhere: its old queue entry is stale
    b.forget("j-p1")  # accepted or closed
    assert ids(b.take("j", "open", anyone), b.take("j", "open", anyone)) == ["j-p2", None]
    # released: it waits again, once, however many stale entries it left behind
    b.update(open_slot(0, version=2))
    b.update(open_slot(0, version=2))
    assert ids(b.take("j", "open", anyone), b.take("j", "open", anyone)) == ["j-p0", None]


def test_give_back_after_the_package_moved_on_keeps_what_the_board_learned() -> None:
    b = board(open_slot(0))
    slot = b.take("j", "open", anyone)
    assert slot is not None
    b.update(held(0, until=10.0))  # the claim won
    b.give_back(slot)  # a finally-block giving back the stale candidate changes nothing
    assert b.take("j", "open", anyone) is None
    assert b.get("j-p0") == held(0, until=10.0)


# --- leases -----------------------------------------------------------------------------------


def test_due_leases_are_reported_once_in_lease_order() -> None:
    b = board(held(0, until=30.0), held(1, until=10.0), held(2, until=50.0), open_slot(3))
    assert b.due(5.0) == []
    assert ids(*b.due(30.0)) == ["j-p1", "j-p0"]
    assert b.due(30.0) == []  # each lease once
    assert ids(*b.due(60.0)) == ["j-p2"]


def test_a_renewed_lease_is_due_at_its_new_end_only() -> None:
    b = board(held(0, until=10.0, version=3))
    b.renew("j-p0", 3, 40.0)
    assert b.due(20.0) == []
    [slot] = b.due(40.0)
    assert (slot.package_id, slot.lease_until) == ("j-p0", 40.0)


def test_a_renewal_of_an_older_version_is_ignored() -> None:
    b = board(held(0, until=10.0, version=3))
    b.renew("j-p0", 2, 40.0)  # the package moved on since the renewer read it
    b.renew("j-p9", 3, 40.0)  # unknown package
    assert ids(*b.due(10.0)) == ["j-p0"]


def test_a_package_that_moved_on_is_never_due() -> None:
    b = board(held(0, until=10.0), held(1, until=10.0), held(2, until=10.0))
    b.update(open_slot(0, version=2))  # submitted or released
    b.update(held(1, until=10.0, version=2, holder="eve"))  # transferred: a new version
    b.forget("j-p2")
    [slot] = b.due(20.0)  # only the transferred package's own lease
    assert (slot.package_id, slot.version, slot.holder) == ("j-p1", 2, "eve")


# --- rebuild ----------------------------------------------------------------------------------


def test_a_rebuild_keeps_taken_slots_taken_and_drops_what_left() -> None:
    b = board(open_slot(0), open_slot(1), open_slot(2))
    in_flight = b.take("j", "open", anyone)
    assert in_flight is not None and in_flight.package_id == "j-p0"
    # the database still shows p0 open (the claim has not committed); p2 was accepted
    b.replace_all([open_slot(0), open_slot(1), open_slot(3)])
    assert b.get("j-p2") is None and len(b) == 3
    assert ids(b.take("j", "open", anyone)) == ["j-p1"]  # not p0: a claim is trying it
    b.give_back(in_flight)
    assert ids(b.take("j", "open", anyone), b.take("j", "open", anyone),
               b.take("j", "open", anyone)) == ["j-p0", "j-p3", None]


def test_a_rebuild_brings_in_leases_seen_by_other_replicas() -> None:
    b = board(open_slot(0))
    b.replace_all([held(0, until=10.0, holder="eve")])
    assert ids(*b.due(10.0)) == ["j-p0"]
    assert b.take("j", "open", anyone) is None


# --- the cutter -------------------------------------------------------------------------------


def cut(cutter: Cutter, items: list[tuple[str, object]]) -> list[Cut]:
    found = [c for item_id, value in items for c in cutter.add(item_id, value)]
    return found + list(cutter.finish())


def test_fixed_packages_hold_consecutive_items_of_the_size() -> None:
    items = [(f"i{n}", None) for n in range(23)]
    cuts = cut(Cutter("fixed", 5), items)
    assert [len(c.item_ids) for c in cuts] == [5, 5, 5, 5, 3]
    assert [i for c in cuts for i in c.item_ids] == [i for i, _ in items]
    assert {(c.group, str(c.targets)) for c in cuts} == {("", "{}")}
    assert [len(c.item_ids) for c in cut(Cutter("fixed", 5), items[:10])] == [5, 5]


def test_a_full_package_comes_out_at_once() -> None:
    """Streaming: memory never holds more than the packages being filled."""
    cutter = Cutter("fixed", 2)
    assert list(cutter.add("a")) == []
    assert [c.item_ids for c in cutter.add("b")] == [["a", "b"]]
    assert list(cutter.finish()) == []


def test_group_packages_keep_same_values_together() -> None:
    items = [("a1", "cat"), ("d1", "dog"), ("a2", "cat"), ("n1", None), ("a3", "cat"),
             ("d2", "dog"), ("a4", "cat"), ("a5", "cat"), ("n2", None)]
    cuts = cut(Cutter("group", 2), items)
    assert [(c.group, c.item_ids) for c in cuts] == [
        ("cat", ["a1", "a2"]),  # full packages come out as they fill
        ("dog", ["d1", "d2"]),
        ("cat", ["a3", "a4"]),  # a group larger than the size fills several packages
        ("", ["n1", "n2"]),  # items without the field share a package
        ("cat", ["a5"]),  # the partial ones last, in the order their groups first appeared
    ]


def test_partial_group_packages_come_in_the_order_their_groups_appeared() -> None:
    items = [("x1", "x"), ("n1", None), ("y1", 2), ("x2", "x"), ("z1", True)]
    cuts = cut(Cutter("group", 5), items)
    assert [(c.group, c.item_ids) for c in cuts] == [
        ("x", ["x1", "x2"]), ("", ["n1"]), ("2", ["y1"]), ("true", ["z1"])]


def test_group_values_become_text() -> None:
    assert [group_key(v) for v in (None, True, False, 3, 2.5, "a b")] == [
        "", "true", "false", "3", "2.5", "a b"]


def test_targeted_packages_go_round_robin_to_people_then_teams() -> None:
    cutter = Cutter("targeted", 2, people=["ann", "bob"], teams=["t1"])
    cuts = cut(cutter, [(f"i{n}", None) for n in range(9)])
    assert [c.targets for c in cuts] == [
        {"people": ["ann"]}, {"people": ["bob"]}, {"teams": ["t1"]}, {"people": ["ann"]},
        {"people": ["bob"]}]  # the partial last package takes its turn too
    assert [len(c.item_ids) for c in cuts] == [2, 2, 2, 2, 1]
    only_teams = cut(Cutter("targeted", 1, teams=["t1", "t2"]), [("a", None), ("b", None)])
    assert [c.targets for c in only_teams] == [{"teams": ["t1"]}, {"teams": ["t2"]}]


def test_a_targeted_cut_can_continue_a_rotation() -> None:
    """New items of a job with three packages so far: the fourth package's turn."""
    cutter = Cutter("targeted", 1, people=["ann", "bob", "cy"], turn=3)
    cuts = cut(cutter, [("a", None), ("b", None)])
    assert [c.targets for c in cuts] == [{"people": ["ann"]}, {"people": ["bob"]}]


@pytest.mark.parametrize(("kind", "size", "people", "why"), [
    ("fixed", 0, (), "package size must be at least 1"),
    ("group", -1, (), "package size must be at least 1"),
    ("by_moon", 5, (), "unknown package rule 'by_moon'"),
    ("targeted", 5, (), "a targeted rule needs labelers or teams"),
])
def test_bad_rules_are_refused(kind: str, size: int, people: tuple[str, ...], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        Cutter(kind, size, people=people)


def test_what_the_board_learns_during_a_rebuild_wins_over_the_older_scan() -> None:
    """A rebuild's scan is older than what claims and cuts showed the board meanwhile:
    packages cut during the scan stay, and a package claimed during it stays claimed."""
    board = Board(frozenset({"open"}))
    board.update(Slot("j-p0", "j", 0, "open", 0))
    board.begin_rebuild()
    scanned = [Slot("j-p0", "j", 0, "open", 0)]  # read before the claim and the cut
    board.update(Slot("j-p0", "j", 0, "labeling", 1, holder="lee"))
    board.update(Slot("j-p1", "j", 1, "open", 0))  # cut while the scan ran
    board.replace_all(scanned)
    taken = board.take("j", "open", lambda s: True)
    assert taken is not None and taken.package_id == "j-p1"
    assert board.take("j", "open", lambda s: True) is None


def counted(b: Board) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """What ``Board.counts`` must answer, counted the slow way."""
    packages: dict[tuple[str, str], int] = {}
    items: dict[str, int] = {}
    for package_id in list(b._slots):
        slot = b.get(package_id)
        assert slot is not None
        packages[(slot.job_id, slot.state)] = packages.get((slot.job_id, slot.state), 0) + 1
        items[slot.state] = items.get(slot.state, 0) + slot.item_count
    return packages, items


def test_the_counts_follow_every_change_of_the_board() -> None:
    b = board(open_slot(0, item_count=5), open_slot(1, item_count=3),
              open_slot(0, job="k", item_count=2))
    assert b.counts() == ({("j", "open"): 2, ("k", "open"): 1}, {"open": 10})
    b.update(open_slot(1, item_count=3)._replace(state="labeling", holder="lee", version=1))
    b.update(open_slot(1, item_count=3)._replace(state="labeling", holder="lee", version=2))
    assert b.counts() == counted(b) == (
        {("j", "open"): 1, ("j", "labeling"): 1, ("k", "open"): 1},
        {"open": 7, "labeling": 3})
    b.forget("j-p0")
    b.forget("j-p0")  # forgetting twice counts once
    b.forget("k-p0")
    assert b.counts() == ({("j", "labeling"): 1}, {"labeling": 3})
    b.replace_all([open_slot(4, job="x", item_count=9), held(5, until=3.0)])
    assert b.counts() == counted(b) == ({("x", "open"): 1, ("j", "labeling"): 1},
                                        {"open": 9, "labeling": 0})


def test_a_rebuild_in_steps_leaves_the_board_as_it_was_until_it_finishes() -> None:
    """The scan's batches go aside as they arrive; claims meanwhile use the old board,
    and what they change wins over the scan. A failed scan changes nothing."""
    b = board(open_slot(0), open_slot(1))
    b.begin_rebuild()
    b.add_scanned([open_slot(0), open_slot(1)])
    first = b.take("j", "open", anyone)  # the old board serves meanwhile
    assert ids(first) == ["j-p0"] and len(b) == 2
    b.add_scanned([open_slot(2), held(3, until=5.0)])
    assert len(b) == 2 and b.due(10.0) == []
    b.update(open_slot(0)._replace(state="labeling", holder="lee", version=1))  # claimed
    b.finish_rebuild()
    assert len(b) == 4 and ids(*b.due(10.0)) == ["j-p3"]
    assert ids(b.take("j", "open", anyone), b.take("j", "open", anyone),
               b.take("j", "open", anyone)) == ["j-p1", "j-p2", None]
    assert b.counts() == counted(b)

    b.begin_rebuild()
    b.add_scanned([open_slot(7)])
    b.abandon_rebuild()
    assert b.get("j-p7") is None and len(b) == 4
    b.update(open_slot(8))  # not remembered for a rebuild that is over
    assert b._recent is None


def test_the_board_knows_whether_a_job_still_has_packages_at_work() -> None:
    b = board(open_slot(0), open_slot(1), open_slot(0, job="k"))
    b.update(open_slot(1)._replace(state="labeling", holder="lee", version=1))  # moved, once
    assert b.holds_job("j") and b.holds_job("k") and not b.holds_job("x")
    b.forget("j-p0")
    assert b.holds_job("j")
    b.forget("j-p1")
    b.forget("j-p1")  # forgetting twice counts once
    assert not b.holds_job("j") and b.holds_job("k")
    b.replace_all([open_slot(5, job="x")])
    assert b.holds_job("x") and not b.holds_job("k")


def test_the_collector_stops_walking_the_board() -> None:
    """A full collection walks every object the collector tracks: a board of tens of
    thousands of packages must not add to that walk (it held the event loop for 20-50 ms
    a few times a minute)."""
    b = Board(WAITING)
    b.replace_all([open_slot(i) for i in range(1000)]
                  + [held(1000 + i, until=float(i)) for i in range(1000)])
    b.update(open_slot(5, targets=("ann", "bo"), target_teams=("t1",)))
    b.renew("j-p1001", 1, 99.0)
    gc.collect()
    gc.collect()
    walked = {id(o) for o in gc.get_objects()}
    assert not any(id(kept) in walked for kept in b._slots.values())
    assert b.get("j-p5") == open_slot(5, targets=("ann", "bo"), target_teams=("t1",))
    assert b.get("j-p1001") == held(1001, until=99.0)
