"""Versioned commits: the outbox record's key is the aggregate's next version.

FerretDB v1 does not re-check a filter when it writes, so compare-and-set updates can both
win. What is atomic everywhere is inserting a document whose ``_id`` exists: the outbox
commit. Keying a change of a job (or team, or workspace registry) by
``<aggregate>:v<next version>`` makes two concurrent changes from the same version collide:
one commits, the other gets ``Conflict``, reloads and tries again on the new version.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from labelops_shared.outbox import Outbox, UnitOfWork

T = TypeVar("T")
ATTEMPTS = 8


class Conflict(Exception):
    """Someone else committed this version first."""


# A record committed this long ago and still not applied lost its writer (a crash between
# commit and apply): a conflicting writer applies it, instead of waiting for a restart.
STALE = timedelta(seconds=10)


async def commit(outbox: Outbox, uow: UnitOfWork, aggregate: str, version: int) -> None:
    if not await outbox.commit(uow, key=f"{aggregate}:v{version}"):
        await outbox.recover(older_than=STALE)
        raise Conflict(f"{aggregate} changed concurrently (version {version} taken)")


async def retrying(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run ``attempt`` (load, decide, commit) again while it conflicts; the last conflict
    propagates (the caller answers ABORTED: try again)."""
    for n in range(ATTEMPTS):
        try:
            return await attempt()
        except Conflict:
            if n == ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.02 * 2**n)
    raise AssertionError("unreachable")
