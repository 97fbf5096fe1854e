"""``labelops dataset``: create a dataset from a local file or an object already in MinIO."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import grpc
import typer
from minio import Minio
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from labelops.dataset.v1 import dataset_pb2 as dpb
from labelops_cli.client import connect
from labelops_shared import auth, storage

app = typer.Typer(help="Datasets: create from a file (upload, then import).",
                  no_args_is_help=True)
console = Console()
KINDS = {"text": dpb.DATASET_KIND_TEXT, "image": dpb.DATASET_KIND_IMAGE,
         "video": dpb.DATASET_KIND_VIDEO, "audio": dpb.DATASET_KIND_AUDIO,
         "multi": dpb.DATASET_KIND_MULTI}


class _Counting:
    """A file object that advances a progress bar as MinIO reads it."""

    def __init__(self, raw: BinaryIO, advance: Any) -> None:
        self.raw, self.advance = raw, advance

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(size)
        self.advance(len(chunk))
        return chunk


UPLOAD_THREADS = 8
WORKSPACE = "default"  # the CLI's: uploads go under its folder, the only ones it may import


def _minio(env: dict[str, str]) -> Minio:
    return Minio(env["LABELOPS_MINIO_ENDPOINT"], access_key=env["LABELOPS_MINIO_ACCESS_KEY"],
                 secret_key=env["LABELOPS_MINIO_SECRET_KEY"], secure=False)


def _progress() -> Progress:
    return Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), console=console)


def _upload(minio: Minio, path: Path) -> str:
    key = storage.upload_key(WORKSPACE, uuid.uuid4().hex, path.name)
    size = path.stat().st_size
    with _progress() as progress, path.open("rb") as raw:
        task = progress.add_task(f"uploading {path.name}", total=size)
        minio.put_object(storage.UPLOADS_BUCKET, key,
                         _Counting(raw, lambda n: progress.advance(task, n)), size)
    return f"s3://{storage.UPLOADS_BUCKET}/{key}"


def _upload_folder(minio: Minio, folder: Path) -> str:
    """Every file under the folder (hidden ones aside), keeping the relative paths; the
    prefix, for a folder scan."""
    prefix = storage.upload_key(WORKSPACE, uuid.uuid4().hex, folder.name) + "/"
    files = sorted(p for p in folder.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise typer.BadParameter(f"{folder}: the folder has no files", param_hint="--from")
    total = sum(p.stat().st_size for p in files)
    with _progress() as progress:
        task = progress.add_task(f"uploading {len(files):,} files", total=total)

        def put(path: Path) -> None:
            with path.open("rb") as raw:
                minio.put_object(storage.UPLOADS_BUCKET,
                                 prefix + path.relative_to(folder).as_posix(),
                                 _Counting(raw, lambda n: progress.advance(task, n)),
                                 path.stat().st_size)

        with ThreadPoolExecutor(max_workers=UPLOAD_THREADS) as pool:
            list(pool.map(put, files))
    return f"s3://{storage.UPLOADS_BUCKET}/{prefix}"


def _source_uri(env: dict[str, str], source: str, kind: str) -> str:
    if source.startswith("s3://"):
        return source
    path = Path(source)
    if path.is_dir():
        if kind in ("text", "multi"):
            raise typer.BadParameter(f"{source}: a folder makes items of its image, video or "
                                     f"audio files; this dataset is {kind}", param_hint="--from")
        return _upload_folder(_minio(env), path)
    if not path.is_file():
        raise typer.BadParameter(f"{source}: no such file or folder", param_hint="--from")
    return _upload(_minio(env), path)


def _client(env: dict[str, str]) -> Any:
    return connect(auth.issue_token(env["LABELOPS_JWT_SECRET"], subject="cli",
                                    workspace=WORKSPACE, roles=[auth.ANNOTATION_ADMIN]))


def _wait_and_report(client: Any, dataset_id: str, started: Any, source: str) -> None:
    with console.status(f"importing {source}"):
        while True:
            version = client.dataset.GetVersion(dpb.GetVersionRequest(
                dataset_id=dataset_id, version=started.version))
            if version.state != dpb.VERSION_STATE_IMPORTING:
                break
            time.sleep(0.5)
    for error in version.errors:
        console.print(f"  {error.file}:{error.line} {error.field or '-'}: {error.reason}")
    for duplicate in version.duplicates:
        console.print(f"  {duplicate.file}:{duplicate.line} {duplicate.reason}")
    if version.state == dpb.VERSION_STATE_FAILED:
        console.print(f"[red]import failed:[/red] {version.error}")
        raise typer.Exit(1)
    console.print(f"[green]dataset {dataset_id}[/green] v{version.version}: "
                  f"{version.item_count:,} items"
                  + (f", {version.error_count:,} rejected (report: "
                     f"{version.error_report_uri})" if version.error_count else "")
                  + (f", {version.duplicate_count:,} duplicate sources "
                     f"({version.duplicates_mode})" if version.duplicate_count else ""))


FROM_HELP = ("a local .manifest/.jsonl/.txt/.csv/.xlsx file, a local folder of media files, "
             "or s3://bucket/key of a file or s3://bucket/prefix/ of a folder")


@contextmanager
def _session(env: dict[str, str]) -> Iterator[Any]:
    """A client whose call errors end the command with the service's message."""
    client = _client(env)
    try:
        yield client
    except grpc.RpcError as exc:
        console.print(f"[red]error:[/red] {exc.details()}")
        raise typer.Exit(1) from None
    finally:
        client.close()


def _import(client: Any, dataset_id: str, source_uri: str, **options: Any) -> None:
    started = client.dataset.ImportDataset(dpb.ImportDatasetRequest(
        dataset_id=dataset_id, source_uri=source_uri, **options))
    _wait_and_report(client, dataset_id, started, source_uri)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="dataset name"),
    source: str = typer.Option(..., "--from", help=FROM_HELP),
    kind: str = typer.Option("text", help="text | image | video | audio | multi"),
    text_column: str = typer.Option("", help="CSV/XLSX: the column holding the text"),
    encoding: str = typer.Option("auto", help="auto | utf-8 | gb18030"),
    skip_invalid: bool = typer.Option(False, help="import the valid records, report the rest"),
    duplicates: str = typer.Option("skip", help="a source already in the dataset: skip | keep"),
) -> None:
    """Create a dataset and import its first version, with progress."""
    from labelops_cli.stack.servers import stack_env

    env = stack_env()
    if kind not in KINDS:
        raise typer.BadParameter(f"one of {', '.join(KINDS)}", param_hint="--kind")
    source = _source_uri(env, source, kind)  # uploaded before the dataset exists
    with _session(env) as client:
        dataset = client.dataset.CreateDataset(dpb.CreateDatasetRequest(name=name,
                                                                        kind=KINDS[kind]))
        _import(client, dataset.id, source, encoding=encoding, text_column=text_column,
                skip_invalid=skip_invalid, duplicates=duplicates)


@app.command("add")
def add(
    dataset_id: str = typer.Argument(..., help="the dataset to add data to"),
    source: str = typer.Option(..., "--from", help=FROM_HELP),
    text_column: str = typer.Option("", help="CSV/XLSX: the column holding the text"),
    encoding: str = typer.Option("auto", help="auto | utf-8 | gb18030"),
    skip_invalid: bool = typer.Option(False, help="import the valid records, report the rest"),
    duplicates: str = typer.Option("skip", help="a source already in the dataset: skip | keep"),
) -> None:
    """Add data to a dataset as a new version (items-added events announce it)."""
    from labelops_cli.stack.servers import stack_env

    env = stack_env()
    with _session(env) as client:
        dataset = client.dataset.GetDataset(dpb.GetDatasetRequest(dataset_id=dataset_id))
        kind = {v: k for k, v in KINDS.items()}[dataset.kind]
        _import(client, dataset_id, _source_uri(env, source, kind), encoding=encoding,
                text_column=text_column, skip_invalid=skip_invalid, duplicates=duplicates)


@app.command("show")
def show(dataset_id: str = typer.Argument(..., help="dataset id")) -> None:
    """A dataset's counts, fields and import history."""
    from rich.table import Table

    from labelops_cli.stack.servers import stack_env

    with _session(stack_env()) as client:
        dataset = client.dataset.GetDataset(dpb.GetDatasetRequest(dataset_id=dataset_id))
    console.print(f"{dataset.name} ({dataset.id}): {dataset.item_count:,} items, "
                  f"{dataset.deleted_count:,} deleted; fields: {', '.join(dataset.fields)}")
    table = Table("version", "state", "items", "rejected", "duplicates", "source", "error")
    for v in dataset.versions:
        table.add_row(str(v.version), dpb.VersionState.Name(v.state).removeprefix(
            "VERSION_STATE_").lower(), f"{v.item_count:,}", f"{v.error_count:,}",
            f"{v.duplicate_count:,}", v.source_uri, v.error)
    console.print(table)
