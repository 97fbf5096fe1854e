"""MongoDB access through PyMongo's async API (the successor of motor), index bootstrap,
and encoding of user-supplied keys.

Only what MongoDB and FerretDB v1 both support is used: no multi-document transactions,
no change streams, no $lookup. Races are settled by unique keys (inserts are atomic on both).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, OperationFailure

Document = dict[str, Any]
T = TypeVar("T")
DUPLICATE_KEY = 11000


def is_busy(exc: BaseException) -> bool:
    """FerretDB on SQLite answers SQLITE_BUSY when concurrent writers collide on the file."""
    return isinstance(exc, OperationFailure) and "SQLITE_BUSY" in str(exc)


async def retry_busy(call: Callable[[], Awaitable[T]], attempts: int = 8) -> T:
    """Run a write, retrying with backoff while the backend reports a busy lock."""
    delay = 0.02
    for attempt in range(attempts):
        try:
            return await call()
        except OperationFailure as exc:
            if not is_busy(exc) or attempt == attempts - 1:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")


def connect(url: str, *, app_name: str) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(
        url,
        appname=app_name,
        tz_aware=True,
        serverSelectionTimeoutMS=10_000,
        retryWrites=False,  # FerretDB v1 has no retryable writes; our writes are idempotent
    )


async def ensure_indexes(
    db: AsyncDatabase[Document], indexes: Mapping[str, Sequence[IndexModel]]
) -> None:
    """Create every declared index (idempotent: existing ones are kept).

    One index per command: FerretDB v1.24 drops the connection when a multi-index
    createIndexes names indexes that already exist."""
    for collection, models in indexes.items():
        for model in models:
            await db[collection].create_indexes([model])


async def insert_absent(collection: AsyncCollection[Document],
                        docs: list[Document]) -> list[Any]:
    """Insert the documents whose ``_id`` is not taken yet (one round trip); the others
    keep what is stored. Returns the ``_id`` of those already there."""
    if not docs:
        return []
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors) or not errors:
            raise
        return [docs[e["index"]]["_id"] for e in errors]
    return []


# FerretDB as the stack builds it answers ``_id: {$in: [...]}`` of at most this many strings
# from its primary index (FERRETDB_PATCH, 3); a longer list would be a scan of the table.
IDS_PER_QUERY = 1000


def _chunks(ids: Iterable[Any]) -> list[list[Any]]:
    unique = list(dict.fromkeys(ids))
    return [unique[i:i + IDS_PER_QUERY] for i in range(0, len(unique), IDS_PER_QUERY)]


async def find_by_ids(collection: AsyncCollection[Document], ids: Iterable[Any],
                      projection: Document | None = None) -> list[Document]:
    """The documents with these ids, in the order asked (duplicates once, missing ones left
    out): one ``$in`` query per thousand ids, which every Mongo-API database the platform
    runs on answers from its primary index. (Point reads, one round trip per id, cost 50
    round trips for one package's items.)"""
    found: dict[Any, Document] = {}
    chunks = _chunks(ids)
    for chunk in chunks:
        async for doc in collection.find({"_id": {"$in": chunk}}, projection):
            found[doc["_id"]] = doc
    return [found[i] for chunk in chunks for i in chunk if i in found]


async def delete_by_ids(collection: AsyncCollection[Document], ids: Iterable[Any]) -> None:
    """Deletes by id, a thousand ids per ``delete_many`` (see :func:`find_by_ids`)."""
    for chunk in _chunks(ids):
        await collection.delete_many({"_id": {"$in": chunk}})


# User-supplied keys (item fields, answers, filters) may contain '$' or '.', which neither
# FerretDB nor a safe query may see as-is. They are escaped reversibly before storage.
_ESCAPES = (("%", "%25"), ("$", "%24"), (".", "%2E"), ("\x00", "%00"))


def encode_key(key: str) -> str:
    for raw, escaped in _ESCAPES:
        key = key.replace(raw, escaped)
    return key


def decode_key(key: str) -> str:
    for raw, escaped in reversed(_ESCAPES):
        key = key.replace(escaped, raw)
    return key


def encode_keys(value: Any) -> Any:
    """Escape every mapping key, recursively, so user JSON can never act as an operator."""
    if isinstance(value, Mapping):
        return {encode_key(str(k)): encode_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode_keys(v) for v in value]
    return value


def decode_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {decode_key(str(k)): decode_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_keys(v) for v in value]
    return value
