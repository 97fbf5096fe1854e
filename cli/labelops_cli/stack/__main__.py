"""``python -m labelops_cli.stack up|down|status|env|restart NAME|kill NAME [SIGNAL]``: the
local servers alone, without the services (``labelops infra`` is the same ``up``)."""

from __future__ import annotations

import signal
import sys

from rich.console import Console
from rich.table import Table

from labelops_cli.stack import paths, servers
from labelops_cli.stack.errors import StackError

USAGE = "usage: python -m labelops_cli.stack up|down|status|env|restart NAME|kill NAME [SIGNAL]"


def main(argv: list[str]) -> int:
    console = Console()
    if not argv:
        console.print(USAGE)
        return 2
    command, args = argv[0], argv[1:]
    try:
        if command == "up":
            env = servers.up_infra()
            console.print(f"servers ready in {env.timings.get('total_s', 0):.1f}s "
                          f"({env.mode}); environment in {paths.credentials_file()}")
        elif command == "down":
            servers.down_infra()
        elif command == "status":
            table = Table("server", "endpoint", "pid", "state")
            for name in servers.SERVERS:
                s = servers.server_status(name)
                table.add_row(name, s.endpoint, str(s.pid or "-"),
                              "[green]ready[/green]" if s.ready else "[red]down[/red]")
            console.print(table)
        elif command == "env":
            for key, value in servers.stack_env().items():
                print(f"{key}={value}")
        elif command == "restart" and len(args) == 1:
            console.print(f"{args[0]} pid {servers.restart_server(args[0])}")
        elif command == "kill" and len(args) in (1, 2):
            sig = signal.Signals[args[1].upper()] if len(args) == 2 else signal.SIGKILL
            console.print(f"{args[0]}: {sig.name} sent to pid {servers.kill_server(args[0], sig)}")
        else:
            console.print(USAGE)
            return 2
    except (StackError, ValueError, KeyError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
