"""Once a service is up, what start-up made is left out of the cycle collector's full
collections, and what the service makes afterwards is still collected."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from labelops_shared.runtime import leave_startup_to_refcounting

pytestmark = pytest.mark.unit


@pytest.fixture
def frozen_heap() -> Iterator[None]:
    try:
        yield
    finally:
        gc.unfreeze()


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_start_up_objects_leave_the_collections_and_later_cycles_are_still_collected(
        frozen_heap: None) -> None:
    at_start_up = [Node() for _ in range(1000)]
    leave_startup_to_refcounting()
    assert gc.get_freeze_count() >= len(at_start_up)
    walked = {id(o) for o in gc.get_objects()}  # what full collections walk
    assert not any(id(node) in walked for node in at_start_up)

    later = Node()
    later.other = Node()
    later.other.other = later  # a cycle only the collector frees
    del later
    assert gc.collect() >= 2
    assert not any(isinstance(o, Node) for o in gc.get_objects())
