"""``labelops dataset``: create a dataset from a local file or an object already in MinIO."""

from __future__ import annotations

import time
import uuid
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


def _upload(minio: Minio, path: Path) -> str:
    key = f"uploads/{uuid.uuid4().hex}/{path.name}"
    size = path.stat().st_size
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), console=console) as progress, path.open("rb") as raw:
        task = progress.add_task(f"uploading {path.name}", total=size)
        minio.put_object(storage.UPLOADS_BUCKET, key,
                         _Counting(raw, lambda n: progress.advance(task, n)), size)
    return f"s3://{storage.UPLOADS_BUCKET}/{key}"


@app.command("create")
def create(
    name: str = typer.Argument(..., help="dataset name"),
    source: str = typer.Option(..., "--from", help="a local .manifest/.jsonl/.txt/.csv/.xlsx "
                               "file, or s3://bucket/key of one"),
    kind: str = typer.Option("text", help="text | image | video | audio | multi"),
    text_column: str = typer.Option("", help="CSV/XLSX: the column holding the text"),
    encoding: str = typer.Option("auto", help="auto | utf-8 | gb18030"),
    skip_invalid: bool = typer.Option(False, help="import the valid records, report the rest"),
) -> None:
    """Create a dataset and import its first version, with progress."""
    from labelops_cli.stack.servers import stack_env

    env = stack_env()
    if kind not in KINDS:
        raise typer.BadParameter(f"one of {', '.join(KINDS)}", param_hint="--kind")
    if not source.startswith("s3://"):
        path = Path(source)
        if not path.is_file():
            raise typer.BadParameter(f"{source}: no such file (folders: upload them to MinIO "
                                     "and import a manifest)", param_hint="--from")
        minio = Minio(env["LABELOPS_MINIO_ENDPOINT"],
                      access_key=env["LABELOPS_MINIO_ACCESS_KEY"],
                      secret_key=env["LABELOPS_MINIO_SECRET_KEY"], secure=False)
        source = _upload(minio, path)
    client = connect(auth.issue_token(env["LABELOPS_JWT_SECRET"], subject="cli",
                                      workspace="default", roles=[auth.ANNOTATION_ADMIN]))
    try:
        dataset = client.dataset.CreateDataset(dpb.CreateDatasetRequest(name=name,
                                                                        kind=KINDS[kind]))
        started = client.dataset.ImportDataset(dpb.ImportDatasetRequest(
            dataset_id=dataset.id, source_uri=source, encoding=encoding,
            text_column=text_column, skip_invalid=skip_invalid))
        with console.status(f"importing {source}"):
            while True:
                version = client.dataset.GetVersion(dpb.GetVersionRequest(
                    dataset_id=dataset.id, version=started.version))
                if version.state != dpb.VERSION_STATE_IMPORTING:
                    break
                time.sleep(0.5)
    except grpc.RpcError as exc:
        console.print(f"[red]error:[/red] {exc.details()}")
        raise typer.Exit(1) from None
    finally:
        client.close()
    for error in version.errors:
        console.print(f"  {error.file}:{error.line} {error.field or '-'}: {error.reason}")
    if version.state == dpb.VERSION_STATE_FAILED:
        console.print(f"[red]import failed:[/red] {version.error}")
        raise typer.Exit(1)
    console.print(f"[green]dataset {dataset.id}[/green] v{version.version}: "
                  f"{version.item_count:,} items"
                  + (f", {version.error_count:,} rejected (report: "
                     f"{version.error_report_uri})" if version.error_count else ""))
