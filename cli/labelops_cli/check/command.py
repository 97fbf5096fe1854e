"""``labelops check [--job JOB_ID ...]``: verify the platform's invariants on a deployment
and print what was checked and every violation; exits 1 on any violation, 2 when the
servers cannot be read."""

from __future__ import annotations

import asyncio
import sys

import typer
from rich.console import Console
from rich.table import Table

from labelops_cli.check.rules import CHECKS
from labelops_cli.check.runner import KEPT_PER_CHECK, Report


def _console() -> Console:
    """A terminal's own width; piped or captured output (CI logs, ``| grep``) wide enough
    that ids are never split across lines."""
    return Console(width=None if sys.stdout.isatty() else 250)


def check(
    job: list[str] = typer.Option(  # noqa: B008
        [], "--job", "-j", metavar="JOB_ID",
        help="a job to check (repeat for several); default: every job"),
    rows: int = typer.Option(200, help="violations listed at most (all are counted)"),
) -> None:
    """Check the invariants: every item in one package, one holder per package, the event
    log rebuilding the stored packages, every accepted item once in the export view at its
    latest revision, every dead letter with a reason. Reads LABELOPS_KAFKA_BOOTSTRAP,
    LABELOPS_MONGO_URL, LABELOPS_ASSIGNMENT_DB and LABELOPS_EXPORT_DB (the local stack's
    when unset)."""
    from labelops_cli.check.runner import run_checks
    from labelops_cli.check.sources import load_settings

    console = _console()
    try:
        with console.status("reading the event log and the databases"):
            report = asyncio.run(run_checks(load_settings(), job))
    except Exception as exc:  # unreachable servers, a stalled log: not a verdict
        console.print(f"[red]error:[/red] the check could not run: {exc!r}")
        raise typer.Exit(2) from exc
    print_report(console, report, rows)
    if not report.ok:
        raise typer.Exit(1)


def print_report(console: Console, report: Report, rows: int) -> None:
    looked = ", ".join(f"{count} {what}" for what, count in sorted(report.seen.items()))
    console.print(f"checked {len(report.jobs)} job(s): {looked or 'nothing found'}")
    summary = Table("check", "violations")
    for name in CHECKS:
        found = report.found[name]
        summary.add_row(name, f"[red]{found}[/red]" if found else "[green]0[/green]")
    console.print(summary)
    if report.ok:
        console.print("[green]all invariants hold[/green]")
        return
    table = Table("check", "job", "package", "item", "event id", "violation")
    for v in report.violations[:rows]:
        table.add_row(v.check, v.job_id, v.package_id, v.item_id, v.event_id, v.detail)
    console.print(table)
    total = sum(report.found.values())
    if total > min(rows, len(report.violations)):
        console.print(f"{total} violations in all; listed {min(rows, len(report.violations))} "
                      f"(at most {KEPT_PER_CHECK} per check are kept; see --rows)")
