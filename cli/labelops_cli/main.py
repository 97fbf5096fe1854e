"""The ``labelops`` command: run the local platform and talk to it."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from labelops_cli import datasets, exports
from labelops_cli.check.command import check
from labelops_cli.services import SERVICES, ServiceProcesses, healthy, wait_healthy

app = typer.Typer(help="LabelOps: an event-driven data-labeling platform.", no_args_is_help=True)
app.add_typer(datasets.app, name="dataset")
app.add_typer(exports.app, name="export")
app.command()(check)
console = Console()


def _processes() -> ServiceProcesses:
    from labelops_cli.stack.paths import labelops_home

    return ServiceProcesses(Path(labelops_home()))


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


@app.command()
def up() -> None:
    """Install what is missing, start Kafka, the database, MinIO and the five services."""
    from labelops_cli.stack.install import StackError
    from labelops_cli.stack.servers import up_infra

    started = time.monotonic()
    try:
        env = up_infra()
    except StackError as exc:
        _fail(str(exc))
    processes = _processes()
    processes.start_all(env)
    try:
        wait_healthy(processes)
    except RuntimeError as exc:
        _fail(str(exc))
    _print_status(env)
    console.print(f"[green]LabelOps is up[/green] in {time.monotonic() - started:.1f}s. "
                  "Try: labelops demo")


@app.command()
def infra() -> None:
    """Install what is missing and start only Kafka, the database and MinIO."""
    from labelops_cli.stack.install import StackError
    from labelops_cli.stack.servers import up_infra

    started = time.monotonic()
    try:
        up_infra()
    except StackError as exc:
        _fail(str(exc))
    console.print(f"servers ready in {time.monotonic() - started:.1f}s")


@app.command()
def down() -> None:
    """Stop the five services, then Kafka, the database and MinIO (data is kept)."""
    from labelops_cli.stack.servers import down_infra

    _processes().stop_all()
    down_infra()
    console.print("LabelOps stopped.")


@app.command()
def status() -> None:
    """Show each component's health and endpoint."""
    from labelops_cli.stack.servers import stack_env

    _print_status(stack_env())


def _print_status(env: dict[str, str]) -> None:
    from labelops_cli.stack.servers import infra_status

    table = Table("component", "endpoint", "state")
    for name, endpoint, ok in infra_status():
        table.add_row(name, endpoint, "[green]up[/green]" if ok else "[red]down[/red]")
    for spec in SERVICES.values():
        ok = healthy(spec)
        table.add_row(f"service {spec.name}",
                      f"grpc {spec.addr} · metrics http://127.0.0.1:{spec.metrics_port}/metrics",
                      "[green]serving[/green]" if ok else "[red]down[/red]")
    console.print(table)


@app.command()
def demo() -> None:
    """Run one text-classification job end to end across all five services."""
    from labelops_cli.demo import run_demo
    from labelops_cli.stack.servers import stack_env

    result = run_demo(stack_env(), say=lambda line: console.print(f"• {line}"))
    console.print(f"\nFirst lines of the export ({len(result.lines)} items):")
    for line in result.lines[:3]:
        console.print_json(data=line)
    console.print(f"timings (s since start): {result.timings}")


@app.command()
def token(
    subject: str = typer.Argument(..., help="user name"),
    role: list[str] = typer.Option(["annotation_admin"], "--role", "-r"),  # noqa: B008
    workspace: str = typer.Option("default", "--workspace", "-w"),
    ttl: int = typer.Option(8 * 3600, help="seconds"),
) -> None:
    """Issue a bearer token for the local stack (an administrator's command)."""
    from labelops_cli.stack.servers import stack_env
    from labelops_shared.auth import issue_token

    try:
        print(issue_token(stack_env()["LABELOPS_JWT_SECRET"], subject=subject,
                          workspace=workspace, roles=role, ttl_seconds=ttl))
    except ValueError as exc:
        _fail(str(exc))


if __name__ == "__main__":
    app()
