"""Mongo access for job-level acceptances: the sessions, their sampled items with the
decisions, what finishing did to each package, and the finish choice.

Two writes do not go through the outbox because their unique key settles a race: creating
a session (numbered per job, so of two acceptances started at once only one is created)
and recording the finish choice (of two finishes with different scopes only one counts).
Everything else is written through the outbox, with the package moves it belongs to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from labelops_shared.mongo import Document, find_by_ids, retry_busy
from services.assignment.adapters.repository import PACKAGES

ACCEPTANCES, SAMPLED, OUTCOMES, FINISHES = (
    "acceptances", "acceptance_items", "acceptance_outcomes", "acceptance_finishes")

INDEXES = {
    # the job's acceptances, newest first
    ACCEPTANCES: [IndexModel([("job_id", ASCENDING), ("number", ASCENDING)])],
    # a session's sampled items, paged by _id
    SAMPLED: [IndexModel([("session_id", ASCENDING), ("_id", ASCENDING)])],
    OUTCOMES: [IndexModel([("session_id", ASCENDING)])],
    # finishes are read by _id only
}


def sampled_id(session_id: str, item_id: str) -> str:
    return f"{session_id}:{item_id}"


def outcome_id(session_id: str, pkg_id: str) -> str:
    return f"{session_id}:{pkg_id}"


class Acceptances:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def create(self, session: Document) -> bool:
        """Insert a new session; False if one with its id (its job's number) exists."""
        try:
            await retry_busy(lambda: self.db[ACCEPTANCES].insert_one(session))
            return True
        except DuplicateKeyError:
            return False

    async def session(self, session_id: str) -> Document | None:
        return await self.db[ACCEPTANCES].find_one({"_id": session_id})

    async def latest(self, job_id: str) -> Document | None:
        cursor = self.db[ACCEPTANCES].find({"job_id": job_id}).sort(
            "number", DESCENDING).limit(1)
        found = await cursor.to_list(None)
        return found[0] if found else None

    async def sessions(self, job_id: str) -> list[Document]:
        """The job's sessions, newest first."""
        cursor = self.db[ACCEPTANCES].find({"job_id": job_id}).sort("number", DESCENDING)
        return await cursor.to_list(None)

    async def waiting_packages(self, job_id: str, state: str) -> list[Document]:
        """The job's packages in this state, with their items, in package order."""
        cursor = self.db[PACKAGES].find({"job_id": job_id, "state": state}).sort(
            "index", ASCENDING)
        return await cursor.to_list(None)

    async def sampled(self, session_id: str, item_ids: Sequence[str]) -> dict[str, Document]:
        """These items' sample documents (items not sampled are left out)."""
        docs = await find_by_ids(self.db[SAMPLED], [sampled_id(session_id, i) for i in item_ids])
        return {d["item_id"]: d for d in docs}

    async def sampled_page(self, session_id: str, after: str, limit: int,
                           pending_only: bool = False) -> list[Document]:
        """Sampled items in _id order after ``after`` (an _id, or "" for the first page)."""
        query: Document = {"session_id": session_id}
        if after:
            query["_id"] = {"$gt": after}
        if pending_only:
            query["verdict"] = ""
        cursor = self.db[SAMPLED].find(query).sort("_id", ASCENDING).limit(limit)
        return await cursor.to_list(None)

    async def all_sampled(self, session_id: str) -> AsyncIterator[Document]:
        cursor = self.db[SAMPLED].find({"session_id": session_id})
        async for doc in cursor:
            yield doc

    async def outcomes(self, session_id: str) -> list[Document]:
        return await self.db[OUTCOMES].find({"session_id": session_id}).to_list(None)

    async def choose_finish(self, session_id: str, scope: str, overwrite: str,
                            by: str) -> Document:
        """Record how the session is finished, unless a choice was recorded first: the
        recorded choice is returned either way."""
        doc = {"_id": session_id, "scope": scope, "overwrite": overwrite, "by": by,
               "at": datetime.now(UTC)}
        try:
            await retry_busy(lambda: self.db[FINISHES].insert_one(doc))
            return doc
        except DuplicateKeyError:
            found: Any = await self.db[FINISHES].find_one({"_id": session_id})
            return dict(found)

    async def finish_choice(self, session_id: str) -> Document | None:
        return await self.db[FINISHES].find_one({"_id": session_id})
