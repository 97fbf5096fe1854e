"""Source fingerprints in object storage: one sorted array per dataset version and one per
chunk of deleted items, under ``fingerprints/<dataset>/`` (8 bytes an item)."""

from __future__ import annotations

import heapq
import io
import tempfile
from array import array
from collections.abc import Iterator
from typing import Any, BinaryIO

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

    def store(self, dataset_id: str, version: int, sorted_values: BinaryIO, size: int) -> None:
        """The version's fingerprints, already sorted, from a file."""
        sorted_values.seek(0)
        self.client.put_object(BUCKET, f"{_folder(dataset_id)}v{version}.bin", sorted_values,
                               size, content_type="application/octet-stream")

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


RUN_RECORDS = 1 << 18  # records sorted in memory at a time (about 20 MB while sorting)
READ_RECORDS = 1 << 14


class SourceLog:
    """An import's (fingerprint, line) pairs, sorted in runs of RUN_RECORDS spilled to
    temporary files, so memory stays bounded whatever the file's length."""

    def __init__(self, run_records: int = RUN_RECORDS) -> None:
        self.run_records = run_records
        self.values: array[int] = array("Q")
        self.lines: array[int] = array("Q")
        self.runs: list[tuple[Any, int]] = []  # (file, records)

    def add(self, value: int, line: int) -> None:
        self.values.append(value)
        self.lines.append(line)
        if len(self.values) >= self.run_records:
            self._spill()

    def _spill(self) -> None:
        order = sorted(range(len(self.values)), key=self.values.__getitem__)  # stable
        run = tempfile.TemporaryFile(prefix="labelops-prints-")
        run.write(array("Q", (self.values[i] for i in order)).tobytes())
        run.write(array("Q", (self.lines[i] for i in order)).tobytes())
        self.runs.append((run, len(order)))
        self.values, self.lines = array("Q"), array("Q")

    @staticmethod
    def _read(run: Any, records: int) -> Iterator[tuple[int, int]]:
        for start in range(0, records, READ_RECORDS):
            count = min(READ_RECORDS, records - start)
            values, lines = array("Q"), array("Q")
            run.seek(start * 8)
            values.frombytes(run.read(count * 8))
            run.seek((records + start) * 8)
            lines.frombytes(run.read(count * 8))
            yield from zip(values, lines, strict=True)

    def sorted_pairs(self) -> Iterator[tuple[int, int]]:
        """Every pair, by fingerprint then line (runs hold increasing lines, and a stable
        merge keeps the earlier run first)."""
        if self.values:
            self._spill()
        return heapq.merge(*(self._read(run, n) for run, n in self.runs))

    def close(self) -> None:
        for run, _ in self.runs:
            run.close()
        self.runs = []
