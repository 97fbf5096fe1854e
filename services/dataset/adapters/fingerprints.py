"""Source fingerprints in object storage: one sorted array per dataset version and one per
chunk of deleted items, under ``fingerprints/<dataset>/`` (8 bytes an item)."""

from __future__ import annotations

import io
from array import array

from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from labelops_shared import storage
from services.dataset.domain.fingerprints import KnownSources, from_bytes, to_bytes

BUCKET = storage.DATASETS_BUCKET


def _folder(dataset_id: str) -> str:
    return f"fingerprints/{dataset_id}/"


class FingerprintStore:
    def __init__(self, client: Minio) -> None:
        self.client = client

    def _read(self, key: str) -> array[int]:
        response = self.client.get_object(BUCKET, key)
        try:
            return from_bytes(response.read())
        finally:
            response.close()
            response.release_conn()

    def _write(self, key: str, blob: bytes) -> None:
        self.client.put_object(BUCKET, key, io.BytesIO(blob), len(blob),
                               content_type="application/octet-stream")

    def known(self, dataset_id: str, ready_versions: set[int]) -> KnownSources:
        """The sources of the dataset's READY versions, less deleted items' (a failed
        version's file, if one was written, is ignored)."""
        versions, deleted = [], []
        for found in self.client.list_objects(BUCKET, prefix=_folder(dataset_id)):
            name = (found.object_name or "").rsplit("/", 1)[-1]
            if name.startswith("deleted-"):
                deleted.append(self._read(found.object_name or ""))
            elif name.startswith("v") and int(name[1:].split(".")[0]) in ready_versions:
                versions.append(self._read(found.object_name or ""))
        return KnownSources(versions, deleted)

    def store(self, dataset_id: str, version: int, values: array[int]) -> None:
        self._write(f"{_folder(dataset_id)}v{version}.bin", to_bytes(values))

    def store_deleted(self, dataset_id: str, deletion_id: str, chunk: int,
                      values: array[int]) -> None:
        """Written once, before the chunk's items go: a retried chunk finds fewer items,
        and the first attempt's list is the whole one."""
        key = f"{_folder(dataset_id)}deleted-{deletion_id}-{chunk}.bin"
        try:
            self.client.stat_object(BUCKET, key)
            return
        except S3Error:
            pass
        self._write(key, to_bytes(values))

    def remove_all(self, dataset_id: str) -> None:
        doomed = (DeleteObject(o.object_name) for o in self.client.list_objects(
            BUCKET, prefix=_folder(dataset_id)) if o.object_name)
        for error in self.client.remove_objects(BUCKET, doomed):
            raise RuntimeError(f"fingerprints of {dataset_id} not removed: {error}")
