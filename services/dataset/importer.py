"""Import a file from object storage into a new, invisible dataset version, then make it
visible (READY) and announce it in one unit of work — or mark it FAILED with why.

Memory stays bounded: the object is read in chunks, lines longer than the limit are dropped
as they arrive, and items are written in batches. XLSX is a zip archive and is read from a
temporary file on disk, row by row.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from minio import Minio

from labelops_shared import storage
from labelops_shared.contracts import (
    CHUNK_ITEMS,
    DatasetImported,
    DatasetImportFailed,
    ItemsAdded,
)
from labelops_shared.outbox import Outbox, UnitOfWork
from services.dataset import metrics
from services.dataset.adapters.fingerprints import FingerprintStore, SourceLog
from services.dataset.adapters.repository import DATASETS, VERSIONS, Repository, version_id
from services.dataset.domain.fingerprints import (
    KnownSources,
    fingerprint,
    new_array,
    scan_sorted,
)
from services.dataset.domain.items import Duplicates, group_values
from services.dataset.domain.lines import DEFAULT_MAX_LINE_BYTES, detect_encoding, split_lines
from services.dataset.domain.manifest import (
    FileError,
    ImportReport,
    LineError,
    Record,
    csv_records,
    parse_line,
    table_layout,
    table_record,
)
from services.dataset.domain.media import (
    HEADER_BYTES,
    check_kind,
    check_objects,
    extensions_of,
    image_size,
    media_kind,
    scanned_item,
    unsafe_key,
)
from services.dataset.domain.model import (
    ImportFormat,
    Kind,
    VersionState,
    item_document,
    item_id,
)

log = logging.getLogger(__name__)
BATCH = 1000
SCAN_THREADS = 16  # concurrent header reads: MinIO round trips, not CPU, bound a scan
SCAN_BATCH = 256
CHUNK = 256 * 1024


@dataclass(frozen=True)
class ImportRequest:
    bucket: str
    key: str
    format: ImportFormat
    encoding: str = "auto"
    text_column: str = ""
    skip_invalid: bool = False
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    duplicates: Duplicates = Duplicates.SKIP


def _chunks(client: Minio, bucket: str, key: str) -> Iterator[bytes]:
    response = client.get_object(bucket, key)
    try:
        yield from response.stream(CHUNK)
    finally:
        response.close()
        response.release_conn()


def _encoding(client: Minio, request: ImportRequest) -> str:
    if request.encoding != "auto":
        return request.encoding
    response = client.get_object(request.bucket, request.key, length=64 * 1024)
    try:
        return detect_encoding(response.read())
    finally:
        response.close()
        response.release_conn()


def _xlsx_records(client: Minio, request: ImportRequest) -> Iterator[Record | LineError]:
    from openpyxl import load_workbook  # heavy; only XLSX imports need it

    with tempfile.TemporaryDirectory(prefix="labelops-xlsx-") as folder:
        path = os.path.join(folder, "book.xlsx")
        client.fget_object(request.bucket, request.key, path)
        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a file that is not XLSX
            reason = f"not a readable XLSX file: {exc}"
            raise FileError(LineError(request.key, 0, "", reason)) from None
        try:
            rows = book.worksheets[0].iter_rows(values_only=True)
            header = next(rows, None)
            if header is None:
                raise FileError(LineError(request.key, 1, "", "the sheet is empty"))
            layout = table_layout(request.key, header, request.text_column)
            for number, row in enumerate(rows, start=2):
                record = table_record(request.key, number, layout, row)
                if record is not None:
                    yield record
        finally:
            book.close()


def _header(client: Minio, bucket: str, key: str) -> bytes:
    response = client.get_object(bucket, key, length=HEADER_BYTES)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def _folder_records(client: Minio, request: ImportRequest,
                    kind: Kind) -> Iterator[Record | LineError]:
    """One item per object under the prefix whose type fits the dataset's kind, in listing
    (name) order; images get their width and height from the header bytes alone."""
    where = f"s3://{request.bucket}/{request.key}"
    if not client.bucket_exists(request.bucket):
        raise FileError(LineError(where, 0, "", f"no bucket {request.bucket!r}"))
    listing = client.list_objects(request.bucket, prefix=request.key, recursive=True)
    fitting = (o for o in listing if o.object_name and not o.is_dir
               and media_kind(o.object_name) == kind and not unsafe_key(o.object_name))
    number = 0
    with ThreadPoolExecutor(max_workers=SCAN_THREADS) as pool:
        while batch := list(islice(fitting, SCAN_BATCH)):
            heads: Iterator[bytes | None] = (
                pool.map(lambda o: _header(client, request.bucket, o.object_name), batch)
                if kind == Kind.IMAGE else iter([None] * len(batch)))
            for found, head in zip(batch, heads, strict=True):
                number += 1
                uri = f"s3://{request.bucket}/{found.object_name}"
                size = image_size(head) if head is not None else None
                if head is not None and size is None:
                    yield LineError(uri, number, "", "not a readable image (no size in its "
                                    "header)")
                    continue
                yield Record(number, scanned_item(uri, found.size or 0, size))
    if number == 0:
        raise FileError(LineError(where, 0, "", f"no {kind} files under this prefix "
                                  f"(accepted: {', '.join(extensions_of(kind))})"))


def read_records(client: Minio, request: ImportRequest,
                 kind: Kind = Kind.TEXT) -> Iterator[Record | LineError]:
    """Every record of the file (or folder), or the error of each record that is not one."""
    if request.format == ImportFormat.FOLDER:
        yield from _folder_records(client, request, kind)
        return
    if request.format == ImportFormat.XLSX:
        yield from _xlsx_records(client, request)
        return
    encoding = _encoding(client, request)
    lines = split_lines(_chunks(client, request.bucket, request.key), request.max_line_bytes)
    if request.format == ImportFormat.CSV:
        yield from csv_records(request.key, lines, request.text_column, encoding,
                               request.max_line_bytes)
        return
    for line in lines:
        parsed = parse_line(request.key, line, encoding, request.max_line_bytes)
        if parsed is not None:
            yield parsed


def _scan(sources: _Sources, keep: bool) -> list[tuple[int, int]]:
    """The repeats within the file; the fingerprints the version keeps go to sources.kept
    (skip mode: one occurrence of each source; keep mode: all)."""
    buffer = new_array()

    def emit(value: int) -> None:
        buffer.append(value)
        if len(buffer) >= 1 << 14:
            sources.kept.write(buffer.tobytes())
            del buffer[:]

    found = scan_sorted(sources.mine.sorted_pairs(), keep, emit)
    sources.kept.write(buffer.tobytes())
    return found


def _duplicate(file: str, line: int, keep: bool, where: str) -> LineError:
    return LineError(file, line, "source", f"duplicate source: the same as {where} "
                     + ("(kept)" if keep else "(skipped)"))


async def _spooled(file: Any, skipped: set[str]) -> AsyncIterator[list[Any]]:
    """The spooled (id, data) lines as (id, groupable values), less the skipped ids."""
    for line in file:
        doc_id, _, data = line.decode().rstrip("\n").partition("\t")
        if doc_id not in skipped:
            yield [doc_id, group_values(json.loads(data))]


async def _take(entries: AsyncIterator[list[Any]], count: int) -> AsyncIterator[list[Any]]:
    for _ in range(count):
        try:
            yield await anext(entries)
        except StopAsyncIteration:
            return


def chunk_count(items: int) -> int:
    return -(-items // CHUNK_ITEMS)


Prepared = tuple[Record | LineError, dict[str, Any] | None, int | None]


def _prepare(records: Iterator[Record | LineError], dataset: dict[str, Any], version: int,
             file: str) -> list[Prepared]:
    """The next batch of records, checked against the dataset's kind and workspace, with
    their documents and source fingerprints."""
    prepared: list[Prepared] = []
    kind, dataset_id = Kind(dataset["kind"]), dataset["_id"]
    for found in islice(records, BATCH):
        checked = check_kind(kind, found, file) if isinstance(found, Record) else found
        if isinstance(checked, Record):
            checked = check_objects(checked, file, dataset["workspace"])
        if isinstance(checked, Record):
            prepared.append((checked, item_document(dataset_id, version, checked.line,
                                                    checked.data), fingerprint(checked.data)))
        else:
            prepared.append((checked, None, None))
    return prepared


@dataclass
class _Sources:
    """What an import knows of sources: the dataset's (earlier versions, less deletions)
    and its own (spilled to disk in sorted runs)."""

    known: KnownSources
    mine: SourceLog = field(default_factory=SourceLog)
    kept: Any = field(default_factory=tempfile.TemporaryFile)  # the version's, sorted


class Importer:
    def __init__(self, repo: Repository, outbox: Outbox, storage: Minio, source: str) -> None:
        self.repo = repo
        self.outbox = outbox
        self.storage = storage
        self.source = source
        self.fingerprints = FingerprintStore(storage)

    async def run(self, dataset: dict[str, Any], version: int, request: ImportRequest) -> None:
        started = time.monotonic()
        metrics.IMPORTS_RUNNING.inc()
        try:
            outcome, report = await self._run(dataset, version, request)
        finally:
            metrics.IMPORTS_RUNNING.dec()
        kind = str(dataset.get("kind", "unknown"))
        metrics.IMPORTS.labels(kind=kind, outcome=outcome).inc()
        metrics.IMPORT_SECONDS.labels(kind=kind).observe(time.monotonic() - started)
        metrics.RECORDS_REJECTED.labels(kind=kind).inc(report.error_count)
        metrics.DUPLICATE_RECORDS.labels(kind=kind).inc(report.duplicate_count)
        if outcome == "completed":
            metrics.ITEMS_IMPORTED.labels(kind=kind).inc(report.items)

    async def _run(self, dataset: dict[str, Any], version: int,
                   request: ImportRequest) -> tuple[str, ImportReport]:
        """The import; returns its outcome (completed, failed, unrecorded) and report."""
        outcome = "unrecorded"
        dataset_id = dataset["_id"]
        report = ImportReport(file=request.key)
        rejected = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # the downloadable report
        generated = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # a folder scan's manifest
        added = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # ids for the items-added events
        skipped: set[str] = set()  # repeated sources within this file, left out (skip mode)
        sources = _Sources(KnownSources([], []))
        try:
            try:
                ready = {v["version"] for v in await self.repo.versions_of(
                    dataset_id, VersionState.READY)}
                sources.known = await asyncio.to_thread(self.fingerprints.known, dataset_id,
                                                        ready)
                await self._load(dataset, version, request, report, rejected, generated, added,
                                 sources)
                skipped = await self._resolve_repeats(dataset_id, version, request, report,
                                                      sources)
                failure = report.failure(skip_invalid=request.skip_invalid)
            except FileError as exc:
                report.add_error(exc.error)
                failure = str(exc)
            except Exception as exc:  # storage or database failure: the import fails, visibly
                log.exception("import failed", extra={"dataset": dataset_id, "version": version})
                failure = f"{request.key}: import failed: {exc}"
            try:
                if failure:
                    await self._fail(dataset, version, failure, report)
                    outcome = "failed"
                else:
                    report_uri = await self._store_rejected(dataset_id, version, report, rejected)
                    await asyncio.to_thread(self.fingerprints.store, dataset_id, version,
                                            sources.kept, sources.kept.tell())
                    if request.format == ImportFormat.FOLDER:
                        await self._store_manifest(dataset, version, request, generated)
                    await self._complete(dataset, version, report, report_uri)
                    outcome = "completed"
                    added.seek(0)
                    await self._announce(dataset, version, report.items,
                                         _spooled(added, skipped), start=0)
            except Exception:
                # The version stays IMPORTING; the start-up sweep of the next run fails it.
                log.exception("could not record the import's outcome",
                              extra={"dataset": dataset_id, "version": version})
        finally:
            for spool in (rejected, generated, added, sources.kept):
                spool.close()
            sources.mine.close()
        return outcome, report

    async def _load(self, dataset: dict[str, Any], version: int, request: ImportRequest,
                    report: ImportReport, rejected: Any, generated: Any, added: Any,
                    sources: _Sources) -> None:
        """Parse the next batch (in a thread) while the previous one is being inserted: the
        database works on the other core while Python parses."""
        kind = Kind(dataset["kind"])
        records = read_records(self.storage, request, kind)
        inserting: asyncio.Task[None] | None = None
        try:
            while True:
                chunk = await asyncio.to_thread(_prepare, records, dataset, version,
                                                request.key)
                if not chunk:
                    break
                batch: list[tuple[Record, dict[str, Any]]] = []
                for checked, doc, print_ in chunk:
                    if isinstance(checked, LineError):
                        report.add_error(checked)
                        if request.skip_invalid:
                            rejected.write(json.dumps(checked.as_dict(), ensure_ascii=False)
                                           .encode() + b"\n")
                        continue
                    problem = report.add_record(checked)
                    if problem:
                        raise FileError(problem)
                    if doc is None or (report.error_count and not request.skip_invalid):
                        continue  # once one is invalid, the rest are only validated
                    if print_ is not None:
                        if print_ in sources.known:
                            keep = request.duplicates == Duplicates.KEEP
                            report.add_duplicate(_duplicate(request.key, checked.line, keep,
                                                            "an earlier version"),
                                                 skipped=not keep)
                            if not keep:
                                continue
                        sources.mine.add(print_, checked.line)
                    batch.append((checked, doc))
                if inserting is not None:
                    await inserting
                inserting = asyncio.create_task(self._insert(batch, request, generated, added))
        finally:
            if inserting is not None:
                await inserting

    async def _insert(self, batch: list[tuple[Record, dict[str, Any]]], request: ImportRequest,
                      generated: Any, added: Any) -> None:
        await self.repo.insert_items([doc for _, doc in batch])  # a re-sent batch is a no-op
        for record, doc in batch:
            added.write(f"{doc['_id']}\t{doc['data']}\n".encode())
            if request.format == ImportFormat.FOLDER:
                generated.write(json.dumps({"data": record.data}).encode() + b"\n")

    async def _resolve_repeats(self, dataset_id: str, version: int, request: ImportRequest,
                               report: ImportReport, sources: _Sources) -> set[str]:
        """Report the lines repeating a source of an earlier line of this file; in skip
        mode delete their items (still invisible) and return their ids."""
        keep = request.duplicates == Duplicates.KEEP
        found = await asyncio.to_thread(_scan, sources, keep)
        for line, first in found:
            report.add_duplicate(_duplicate(request.key, line, keep, f"line {first}"),
                                 skipped=not keep)
        if keep or not found:
            return set()
        ids = {item_id(dataset_id, version, line) for line, _ in found}
        await self.repo.delete_by_ids(list(ids))
        return ids

    async def _store_manifest(self, dataset: dict[str, Any], version: int,
                              request: ImportRequest, generated: Any) -> None:
        """The manifest a folder scan generated, stored beside the data it lists."""
        key = f"{request.key}labelops-{dataset['_id']}-v{version}.manifest"
        size = generated.tell()
        generated.seek(0)
        await asyncio.to_thread(self.storage.put_object, request.bucket, key, generated, size,
                                content_type="application/x-ndjson")

    async def _store_rejected(self, dataset_id: str, version: int, report: ImportReport,
                              rejected: Any) -> str:
        if not report.error_count:
            return ""
        key = f"reports/{dataset_id}/v{version}-rejected.jsonl"
        size = rejected.tell()
        rejected.seek(0)
        await asyncio.to_thread(self.storage.put_object, storage.DATASETS_BUCKET, key,
                                rejected, size, content_type="application/x-ndjson")
        return f"s3://{storage.DATASETS_BUCKET}/{key}"

    async def _complete(self, dataset: dict[str, Any], version: int, report: ImportReport,
                        report_uri: str) -> None:
        uow = UnitOfWork(source=self.source)
        uow.set(VERSIONS, version_id(dataset["_id"], version), {
            "state": VersionState.READY, "item_count": report.items,
            "fields": sorted(report.fields or ()), "finished_at": datetime.now(UTC),
            "errors": [e.as_dict() for e in report.errors or ()],
            "error_count": report.error_count, "error_report_uri": report_uri,
            "duplicate_count": report.duplicate_count,
            "duplicates": [e.as_dict() for e in report.duplicates or ()],
            "chunks": chunk_count(report.items), "announced": 0,
        })
        latest = (await self.repo.dataset(dataset["_id"]) or {}).get("latest_version", 0)
        uow.set(DATASETS, dataset["_id"], {"latest_version": max(latest, version)})
        uow.emit(DatasetImported(
            dataset_id=dataset["_id"], workspace=dataset["workspace"], version=version,
            kind=dataset["kind"], item_count=report.items, fields=sorted(report.fields or ()),
        ), subject=f"datasets/{dataset['_id']}/versions/{version}")
        await self.outbox.commit(uow, key=f"import:{version_id(dataset['_id'], version)}")
        log.info("import completed", extra={"dataset": dataset["_id"], "version": version,
                                            "items": report.items})

    async def _announce(self, dataset: dict[str, Any], version: int, item_count: int,
                        entries: AsyncIterator[list[Any]], *, start: int) -> None:
        """The items-added events of a READY version, a chunk per commit from chunk ``start``
        on; the version records how many went out, so a restart resumes where this stopped."""
        chunks = chunk_count(item_count)
        vid = version_id(dataset["_id"], version)
        for number in range(start, chunks):
            entries_of_chunk = [e async for e in _take(entries, CHUNK_ITEMS)]
            groups: dict[str, list[Any]] = {}
            for position, (_, values) in enumerate(entries_of_chunk):
                for name, value in values.items():
                    groups.setdefault(name, [None] * len(entries_of_chunk))[position] = value
            uow = UnitOfWork(source=self.source)
            uow.set(VERSIONS, vid, {"announced": number + 1})
            uow.emit(ItemsAdded(
                dataset_id=dataset["_id"], workspace=dataset["workspace"], version=version,
                chunk=number, chunks=chunks, item_ids=[e[0] for e in entries_of_chunk],
                group_values=groups,
            ), subject=f"datasets/{dataset['_id']}/versions/{version}")
            await self.outbox.commit(uow, key=f"added:{vid}:{number}")

    async def resume_announcements(self) -> None:
        """Finish the items-added events of versions a crash interrupted after READY,
        re-reading their items from the database."""
        for version in await self.repo.versions_in_state(VersionState.READY):
            done, chunks = version.get("announced", 0), version.get("chunks", 0)
            if done >= chunks:
                continue
            dataset = await self.repo.dataset(version["dataset_id"])
            if dataset is None:
                continue
            log.info("resuming items-added events", extra={
                "dataset": dataset["_id"], "version": version["version"], "from_chunk": done})
            await self._announce(dataset, version["version"], version["item_count"],
                                 self._stored_entries(dataset["_id"], version["version"],
                                                      skip=done * CHUNK_ITEMS), start=done)

    async def _stored_entries(self, dataset_id: str, version: int,
                              skip: int) -> AsyncIterator[list[Any]]:
        seen = 0
        async for doc in self.repo.stream_items(dataset_id, [version]):
            seen += 1
            if seen > skip:
                yield [doc["_id"], group_values(json.loads(doc["data"]))]

    async def fail_interrupted(self, dataset_id: str, version: int) -> None:
        dataset = await self.repo.dataset(dataset_id)
        if dataset is not None:
            reason = "import interrupted by a restart; import the file again"
            await self._fail(dataset, version, reason, ImportReport(file=""))

    async def _fail(
        self, dataset: dict[str, Any], version: int, reason: str, report: ImportReport
    ) -> None:
        await self.repo.delete_items(dataset["_id"], version)  # nothing half-imported remains
        errors = [e.as_dict() for e in report.errors or ()]
        uow = UnitOfWork(source=self.source)
        uow.set(VERSIONS, version_id(dataset["_id"], version), {
            "state": VersionState.FAILED, "error": reason, "errors": errors,
            "error_count": report.error_count, "finished_at": datetime.now(UTC),
        })
        uow.emit(DatasetImportFailed(
            dataset_id=dataset["_id"], workspace=dataset["workspace"], version=version,
            reason=reason, error_count=report.error_count,
        ), subject=f"datasets/{dataset['_id']}/versions/{version}")
        await self.outbox.commit(uow, key=f"import:{version_id(dataset['_id'], version)}")
        log.warning("import failed", extra={"dataset": dataset["_id"], "version": version,
                                            "reason": reason})
