"""Wire the prelabel service."""

from __future__ import annotations

import os
import socket

from labelops.prelabel.v1 import prelabel_pb2_grpc
from labelops_shared.grpc_server import GrpcService
from labelops_shared.runtime import Runtime, ServiceParts
from services.prelabel import handlers
from services.prelabel.adapters.dataset_client import DatasetClient
from services.prelabel.adapters.media import ObjectMedia
from services.prelabel.adapters.model_client import Models
from services.prelabel.adapters.repository import INDEXES, Repository
from services.prelabel.api import ROLES, PrelabelServicer
from services.prelabel.online import OnlineWorker
from services.prelabel.runs import AutoLabeler
from services.prelabel.settings import PrelabelSettings


def build(rt: Runtime) -> ServiceParts:
    settings = PrelabelSettings()
    repo = Repository(rt.db)
    datasets = DatasetClient(rt.settings.dataset_addr, rt.service_token)
    media = ObjectMedia(rt.storage, max_bytes=settings.max_image_bytes)
    models = Models(settings)
    owner = rt.settings.instance_id or f"{socket.gethostname()}:{os.getpid()}"
    worker = OnlineWorker(repo, rt.outbox, datasets, media, models, settings, rt.source, owner)
    runs = AutoLabeler(repo, rt.outbox, datasets, media, settings, rt.source)
    handlers.register(rt.consumer, datasets, repo, worker.wake)
    return ServiceParts(
        grpc_services=[GrpcService(
            "labelops.prelabel.v1.PrelabelService", PrelabelServicer(repo, runs, models),
            prelabel_pb2_grpc.add_PrelabelServiceServicer_to_server, ROLES)],
        indexes=INDEXES,
        background=[worker.run_forever, runs.watch],
    )
