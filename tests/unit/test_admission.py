"""Admission of calls: no more than the limit run at once, waiting claims go ahead of
waiting saves, and a caller that gives up while waiting loses its place without losing
anyone else's."""

from __future__ import annotations

import asyncio

import pytest

from labelops_shared.admission import Admission

pytestmark = pytest.mark.unit


async def _hold(admission: Admission, name: str, log: list[str], release: asyncio.Event,
                *, first: bool = False) -> None:
    async with admission.slot(first=first):
        log.append(name)
        await release.wait()


async def test_no_more_than_the_limit_run_and_first_calls_pass_the_queue() -> None:
    admission = Admission(2)
    release = asyncio.Event()
    started: list[str] = []
    tasks = [asyncio.create_task(_hold(admission, f"save{n}", started, release))
             for n in range(4)]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(_hold(admission, "claim", started, release, first=True)))
    await asyncio.sleep(0.01)
    assert started == ["save0", "save1"]
    assert (admission.running, admission.waiting) == (2, 3)

    release.set()
    await asyncio.gather(*tasks)
    assert started == ["save0", "save1", "claim", "save2", "save3"]
    assert (admission.running, admission.waiting) == (0, 0)


async def test_a_caller_that_gives_up_while_waiting_leaves_the_line() -> None:
    admission = Admission(1)
    release = asyncio.Event()
    started: list[str] = []
    holder = asyncio.create_task(_hold(admission, "holder", started, release))
    quitter = asyncio.create_task(_hold(admission, "quitter", started, release))
    patient = asyncio.create_task(_hold(admission, "patient", started, release))
    await asyncio.sleep(0.01)
    quitter.cancel()
    await asyncio.sleep(0.01)
    assert admission.waiting == 1
    release.set()
    await asyncio.gather(holder, patient)
    assert quitter.cancelled()
    assert started == ["holder", "patient"]
    assert (admission.running, admission.waiting) == (0, 0)


async def test_a_slot_handed_to_a_caller_that_gives_up_passes_to_the_next() -> None:
    admission = Admission(1)
    release = asyncio.Event()
    started: list[str] = []
    async with admission.slot():
        quitter = asyncio.create_task(_hold(admission, "quitter", started, release))
        patient = asyncio.create_task(_hold(admission, "patient", started, release))
        await asyncio.sleep(0.01)
    # the slot went to the quitter's turn; it is cancelled before it could run
    quitter.cancel()
    release.set()
    await asyncio.wait_for(patient, timeout=2)  # not stuck behind a slot nobody holds
    assert started == ["patient"]
    assert (admission.running, admission.waiting) == (0, 0)


async def test_a_limit_of_zero_admits_everything() -> None:
    admission = Admission(0)
    release = asyncio.Event()
    started: list[str] = []
    tasks = [asyncio.create_task(_hold(admission, str(n), started, release)) for n in range(50)]
    await asyncio.sleep(0.01)
    assert len(started) == 50
    release.set()
    await asyncio.gather(*tasks)


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="admission limit"):
        Admission(-1)
