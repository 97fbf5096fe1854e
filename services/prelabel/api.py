"""gRPC servicer of the prelabel service."""

from __future__ import annotations

from typing import Any

import grpc
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
        doc = await self.db[STATUS].find_one({"_id": request.job_id})
        if doc is None or auth.principal().workspace not in ("*", doc["workspace"]):
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"job {request.job_id!r}: no pre-label run known")
        assert doc is not None
        return pb.PrelabelStatus(job_id=doc["_id"], state=doc["state"],
                                 items_seen=doc["items_seen"], predictions=doc["predictions"],
                                 invalid=doc["invalid"])
