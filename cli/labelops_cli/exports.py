"""``labelops export``: export a job's accepted results (progress bar, download), list a job's
exports, show one, and reconcile the labeled view with the assignment service.

    labelops export JOB [--format F] [--label L] [--labeler U] [--hard-only]
                        [--accepted-from T] [--accepted-to T] [--incremental] [--download PATH]
    labelops export list JOB
    labelops export show EXPORT_ID [--download PATH]
    labelops export reconcile JOB [--by-package]
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from typer.core import TyperGroup

from labelops.export.v1 import export_pb2 as epb

FORMATS_HELP = ("manifest (JSON lines, the default), coco, yolo, voc, conll, triplets, "
                "classification_csv, audio_segments, audio_segments_csv, transcripts, "
                "label_studio")
POLL_SECONDS = 0.5
_STATES = {epb.EXPORT_STATE_RUNNING: "running", epb.EXPORT_STATE_COMPLETED: "completed",
           epb.EXPORT_STATE_FAILED: "failed"}


class _StartByDefault(TyperGroup):
    """``labelops export JOB …`` is ``labelops export start JOB …``: a first argument that
    names no subcommand starts an export."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["start", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_StartByDefault, no_args_is_help=True,
                  help="Exports of a job's accepted results: start one (the default), list, "
                       "show, download, reconcile.")
console = Console()


def _connect(workspace: str) -> Any:
    """Clients of the local stack: the token from LABELOPS_TOKEN (``labelops token``), else
    an administrator's token of the workspace issued with the stack's secret."""
    from labelops_cli.client import connect
    from labelops_cli.stack.servers import stack_env
    from labelops_shared import auth

    token = os.environ.get("LABELOPS_TOKEN")
    if not token:
        token = auth.issue_token(stack_env()["LABELOPS_JWT_SECRET"], subject="cli",
                                 workspace=workspace, roles=[auth.ANNOTATION_ADMIN])
    return connect(token)


@contextmanager
def _session(workspace: str) -> Iterator[Any]:
    """The export service's stub; a call's error ends the command with its message."""
    clients = _connect(workspace)
    try:
        yield clients.export
    except grpc.RpcError as exc:
        console.print(f"[red]error:[/red] {exc.details()}")
        raise typer.Exit(1) from None
    finally:
        clients.close()


WORKSPACE = typer.Option("default", "--workspace", "-w",
                         help="the job's workspace (ignored with LABELOPS_TOKEN set)")


def _state(export: epb.Export) -> str:
    return _STATES.get(export.state, "unknown")


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB", "GB"):
        value /= 1000
        if value < 1000 or unit == "GB":
            return f"{value:,.1f} {unit}"
    raise AssertionError("unreachable")


def _filter_text(export: epb.Export) -> str:
    where = export.filter
    parts = [f"labels={','.join(where.labels)}" if where.labels else "",
             f"labelers={','.join(where.labelers)}" if where.labelers else "",
             "hard only" if where.hard_only else "",
             f"from {where.accepted_from}" if where.accepted_from else "",
             f"to {where.accepted_to}" if where.accepted_to else "",
             f"incremental since {export.since or 'the start'}" if export.incremental else ""]
    return "; ".join(p for p in parts if p) or "all"


def _follow(stub: Any, export: epb.Export, poll: float) -> epb.Export:
    """The record polled until it is no longer running, with a progress bar of items
    written against the total."""
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
               TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"export v{export.version} {export.format}", total=None)
        while export.state == epb.EXPORT_STATE_RUNNING:
            progress.update(task, completed=export.items_written,
                            total=export.items_total or None)
            time.sleep(poll)
            export = stub.GetExport(epb.GetExportRequest(export_id=export.id), timeout=30)
        if export.state == epb.EXPORT_STATE_COMPLETED:
            progress.update(task, completed=export.items_written,
                            total=max(export.items_written, 1))
    return export


def _report(export: epb.Export) -> None:
    if export.state == epb.EXPORT_STATE_FAILED:
        console.print(f"[red]export {export.id} (v{export.version}) failed:[/red] "
                      f"{export.error}")
        raise typer.Exit(1)
    if export.state != epb.EXPORT_STATE_COMPLETED:
        console.print(f"export {export.id} (v{export.version}) is {_state(export)}: "
                      f"{export.items_written:,} of {export.items_total:,} items written")
        return
    console.print(f"[green]export {export.id}[/green] v{export.version} {export.format}: "
                  f"{export.items_written:,} items, {_size(export.size_bytes)}, "
                  f"s3://{export.bucket}/{export.object_key}")
    if export.objects_written:
        console.print(f"  objects written: {export.objects_written:,}")
    for skipped in export.skipped:
        console.print(f"  left out: {skipped.count:,} {skipped.reason}")
    console.print(f"  sha256 {export.sha256}")
    console.print(f"  download (short-lived): {export.download_url}", soft_wrap=True)


def download(export: epb.Export, destination: Path) -> Path:
    """The completed export's file through its presigned URL, with a progress bar; written
    beside the destination and renamed only once its size and checksum match the record,
    so a broken download never looks complete."""
    if not export.download_url:
        raise typer.BadParameter(f"export {export.id} is {_state(export)}: nothing to "
                                 "download", param_hint="--download")
    if destination.is_dir():
        destination = destination / Path(export.object_key).name
    partial = destination.with_name(destination.name + ".part")
    digest = hashlib.sha256()
    columns = ("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
               TransferSpeedColumn())
    with Progress(*columns, console=console) as progress, \
            httpx.stream("GET", export.download_url, timeout=60) as response:
        if response.status_code != 200:
            raise typer.BadParameter(f"the download answered HTTP {response.status_code}",
                                     param_hint="--download")
        task = progress.add_task(f"downloading {destination.name}", total=export.size_bytes)
        with partial.open("wb") as out:
            for chunk in response.iter_bytes(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                progress.advance(task, len(chunk))
    size = partial.stat().st_size
    if size != export.size_bytes or digest.hexdigest() != export.sha256:
        partial.unlink()
        console.print(f"[red]error:[/red] the download does not match the export ({size:,} "
                      f"bytes, sha256 {digest.hexdigest()}; expected {export.size_bytes:,}, "
                      f"{export.sha256})")
        raise typer.Exit(1)
    partial.replace(destination)
    console.print(f"saved {destination} ({_size(size)}, sha256 checked)")
    return destination


@app.command("start")
def start(
    job_id: str = typer.Argument(..., help="the job whose accepted results to export"),
    fmt: str = typer.Option("manifest", "--format", "-f", help=FORMATS_HELP),
    label: list[str] = typer.Option([], "--label", help="only items using this label "  # noqa: B008
                                    "(repeatable)"),
    labeler: list[str] = typer.Option([], "--labeler", help="only items labeled by this "  # noqa: B008
                                      "user (repeatable)"),
    hard_only: bool = typer.Option(False, "--hard-only", help="hard examples only"),
    accepted_from: str = typer.Option("", help="accepted at or after (RFC 3339)"),
    accepted_to: str = typer.Option("", help="accepted before (RFC 3339)"),
    incremental: bool = typer.Option(False, "--incremental", help="only what was accepted "
                                     "since the job's "
                                     "previous completed export"),
    download_to: Path | None = typer.Option(None, "--download", help="save the file here "  # noqa: B008
                                            "(a file name, or a folder)"),
    wait: bool = typer.Option(True, help="follow the export to its end (--no-wait: print "
                              "its id and return)"),
    poll: float = typer.Option(POLL_SECONDS, hidden=True),
    workspace: str = WORKSPACE,
) -> None:
    """Export a job's accepted results (the default command), following it with a progress
    bar; --download saves the file."""
    request = epb.StartExportRequest(
        job_id=job_id, format=fmt, incremental=incremental,
        filter=epb.ExportFilter(labels=label, labelers=labeler, hard_only=hard_only,
                                accepted_from=accepted_from, accepted_to=accepted_to))
    with _session(workspace) as stub:
        export = stub.StartExport(request, timeout=60)
        console.print(f"export {export.id}: version {export.version} of job {job_id}, "
                      f"{export.format}, {_filter_text(export)}")
        if not wait:
            return
        export = _follow(stub, export, poll)
    _report(export)
    if download_to is not None:
        download(export, download_to)


@app.command("list")
def list_exports(job_id: str = typer.Argument(..., help="job id"),
                 workspace: str = WORKSPACE) -> None:
    """A job's exports, newest version first."""
    with _session(workspace) as stub:
        found = stub.ListExports(epb.ListExportsRequest(job_id=job_id), timeout=60).exports
    table = Table("version", "id", "format", "state", "items", "size", "created", "selection",
                  "error", title=f"exports of job {job_id}")
    for e in found:
        items = (f"{e.items_written:,}" if e.state == epb.EXPORT_STATE_COMPLETED
                 else f"{e.items_written:,} / {e.items_total:,}")
        table.add_row(str(e.version), e.id, e.format, _state(e), items,
                      _size(e.size_bytes) if e.size_bytes else "", e.created_at[:19],
                      _filter_text(e), e.error)
    console.print(table if found else f"job {job_id} has no exports yet")


@app.command("show")
def show(export_id: str = typer.Argument(..., help="export id"),
         download_to: Path | None = typer.Option(None, "--download", help="save the file "  # noqa: B008
                                                 "here (a file name, or a folder)"),
         workspace: str = WORKSPACE) -> None:
    """One export's record (a fresh download URL when completed); --download saves it."""
    with _session(workspace) as stub:
        export = stub.GetExport(epb.GetExportRequest(export_id=export_id), timeout=60)
    console.print(f"job {export.job_id}, {export.format}, {_filter_text(export)}, created "
                  f"{export.created_at}")
    _report(export)
    if download_to is not None:
        download(export, download_to)


@app.command("reconcile")
def reconcile(job_id: str = typer.Argument(..., help="job id"),
              by_package: bool = typer.Option(False, "--by-package",
                                              help="also name the packages that differ"),
              workspace: str = WORKSPACE) -> None:
    """Compare the labeled view's accepted items with the assignment service's count."""
    with _session(workspace) as stub:
        found = stub.ReconcileJob(epb.ReconcileJobRequest(job_id=job_id,
                                                          by_package=by_package), timeout=300)
    verdict = "[green]match[/green]" if found.matches else "[yellow]differ[/yellow]"
    console.print(f"job {job_id}: labeled view {found.view_items:,} items, assignment "
                  f"service {found.assignment_items:,} accepted items, difference "
                  f"{found.difference:+,} → {verdict} (at {found.checked_at})")
    if by_package:
        console.print(f"packages: {found.view_packages:,} in the view, "
                      f"{found.accepted_packages:,} accepted, {found.differing_packages:,} "
                      "differ")
        if found.packages:
            table = Table("package", "view items", "assignment items", "accepted")
            for d in found.packages:
                table.add_row(d.package_id, f"{d.view_items:,}", f"{d.assignment_items:,}",
                              "yes" if d.accepted else "no")
            console.print(table)
    if not found.matches:
        console.print("A difference while acceptances are being relayed passes; items marked "
                      "invalid count in the assignment service's packages but have no "
                      "accepted answer.")
