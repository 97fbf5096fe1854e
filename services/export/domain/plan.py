"""An export request made into a plan: the format (checked against the job's template), the
filter, the incremental bound, and the part of the filter the database can apply. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.export.domain.formats import FORMATS, ExportFilter, check_format

DEFAULT_FORMAT = "manifest"


class PlanError(ValueError):
    """A request that cannot be planned, with the reason a caller can act on."""


@dataclass(frozen=True)
class ExportPlan:
    fmt: str
    where: ExportFilter
    incremental: bool

    @property
    def extension(self) -> str:
        return FORMATS[self.fmt].extension

    @property
    def content_type(self) -> str:
        return FORMATS[self.fmt].content_type


def parse_time(name: str, text: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise PlanError(f"filter.{name}: {text!r} is not an RFC 3339 time") from None
    if value.tzinfo is None:
        raise PlanError(f"filter.{name}: {text!r} needs a time zone (Z or an offset)")
    return value


def plan_export(fmt: str, *, topics: Sequence[Mapping[str, Any]],
                content: Sequence[Mapping[str, Any]] = (), labels: Sequence[str] = (),
                labelers: Sequence[str] = (), hard_only: bool = False,
                accepted_from: str = "", accepted_to: str = "",
                incremental: bool = False) -> ExportPlan:
    fmt = fmt or DEFAULT_FORMAT
    problem = check_format(fmt, topics, content)
    if problem:
        raise PlanError(problem)
    where = ExportFilter(labels=frozenset(labels), labelers=frozenset(labelers),
                         hard_only=hard_only,
                         accepted_from=parse_time("accepted_from", accepted_from),
                         accepted_to=parse_time("accepted_to", accepted_to))
    problems = where.problems()
    if problems:
        raise PlanError("; ".join(f"filter.{p}" for p in problems))
    return ExportPlan(fmt, where, incremental)


def view_query(where: ExportFilter, since: datetime | None) -> dict[str, Any]:
    """The database's share of the selection (labelers, acceptance times, the incremental
    bound on when the view stored the item); labels and hard examples are checked on each
    item by the filter itself."""
    query: dict[str, Any] = {}
    if where.labelers:
        query["labeler"] = {"$in": sorted(where.labelers)}
    accepted: dict[str, datetime] = {}
    if where.accepted_from is not None:
        accepted["$gte"] = where.accepted_from
    if where.accepted_to is not None:
        accepted["$lt"] = where.accepted_to
    if accepted:
        query["accepted_at"] = accepted
    if since is not None:
        query["stored_at"] = {"$gt": since}
    return query


def filter_document(where: ExportFilter) -> dict[str, Any]:
    """The filter as stored on the export record."""
    return {"labels": sorted(where.labels), "labelers": sorted(where.labelers),
            "hard_only": where.hard_only, "accepted_from": where.accepted_from,
            "accepted_to": where.accepted_to}


def filter_from_document(doc: Mapping[str, Any] | None) -> ExportFilter:
    doc = doc or {}
    return ExportFilter(labels=frozenset(doc.get("labels", ())),
                        labelers=frozenset(doc.get("labelers", ())),
                        hard_only=bool(doc.get("hard_only", False)),
                        accepted_from=doc.get("accepted_from"),
                        accepted_to=doc.get("accepted_to"))
