"""gRPC servicer of the prelabel service."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from labelops.prelabel.v1 import prelabel_pb2 as pb
from labelops_shared import auth
from labelops_shared.mongo import Document
from services.prelabel.handlers import STATUS

ROLES = {"GetPrelabelStatus": auth.ADMINS | {auth.SERVICE}}


class PrelabelServicer:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def GetPrelabelStatus(
        self, request: pb.GetPrelabelStatusRequest, context: Any
    ) -> pb.PrelabelStatus:
        # NOT_FOUND also while the job's JobPublished event has not been handled yet.
        doc = await auth.visible_or_abort(
            await self.db[STATUS].find_one({"_id": request.job_id}), context,
            f"pre-label run of job {request.job_id!r}")
        return pb.PrelabelStatus(
            job_id=doc["_id"], state=doc["state"], items_seen=doc["items_seen"],
            predictions=doc["predictions"], invalid=doc["invalid"], error=doc.get("error", ""),
            invalid_values=[pb.InvalidValue(**v) for v in doc.get("invalid_values", [])],
            missing=doc.get("missing", 0), field=doc.get("field", ""))
