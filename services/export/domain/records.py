"""Export records left running by a writer that is gone. Pure.

Every export service process (a *writer*, named by its instance id) records that it is
alive every few seconds; each export record names the writer that runs it. A running
export is abandoned, and gets failed with the reason, when its writer

- is this very instance restarted (a container restarted under the same name: the record
  is older than this process, which does not run it),
- is a process of this host that no longer exists (the local stack's ``host:pid`` names),
- or has not said it is alive for ``stale_after`` (a pod that went away).

The file of an abandoned export was never published: the record names its object only when
the upload finished, so failing it is all that is left to do."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Abandoned:
    export_id: str
    reason: str
    local: bool  # its writer ran on this host (its temporary files can be removed)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def abandoned(record: Mapping[str, Any], *, now: datetime, me: str, started_at: datetime,
              alive_at: Mapping[str, datetime], stale_after: timedelta,
              dead_here: Callable[[str], bool]) -> Abandoned | None:
    """Why nobody writes this running export any more, or None while its writer may.

    ``alive_at``: the last sign of life of each writer; ``dead_here(owner)``: the owner
    names a process of this host that has exited."""
    owner = str(record.get("owner") or "")
    progress = f"{record.get('items_written', 0):,} of {record.get('items_total', 0):,} items"
    created = _aware(record["created_at"])

    def gone(why: str, local: bool) -> Abandoned:
        return Abandoned(str(record["_id"]), (
            f"interrupted: {why} before the file was complete ({progress} written); no "
            "file was published, start a new export"), local)

    if owner and owner == me and created < started_at:
        return gone(f"the export service process writing it ({owner}) restarted", True)
    if owner and dead_here(owner):
        return gone(f"the export service process writing it ({owner}) exited", True)
    seen = alive_at.get(owner) if owner else None
    last = _aware(seen) if seen is not None else created
    if now - last > stale_after:
        who = f"({owner})" if owner else "(an earlier version, unnamed)"
        return gone(f"the export service process writing it {who} gave no sign of life "
                    f"since {last.isoformat(timespec='seconds')}", False)
    return None
