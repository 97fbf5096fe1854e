"""The event envelope: CloudEvents 1.0 attributes around a typed pydantic ``data``.

Every event type is a subclass of :class:`EventData` that names its versioned CloudEvents
``type`` and its topic; subclasses register themselves so consumers can decode by type.
On Kafka events travel in CloudEvents' structured mode (``application/cloudevents+json``).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"


class Value(BaseModel):
    """An immutable value nested inside event data."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EventData(BaseModel):
    """Base of every event payload. Subclasses set TYPE and TOPIC."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    TYPE: ClassVar[str]
    TOPIC: ClassVar[str]
    registry: ClassVar[dict[str, type[EventData]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        event_type = cls.__dict__.get("TYPE")
        if event_type:
            if event_type in EventData.registry:
                raise TypeError(f"event type {event_type} registered twice")
            EventData.registry[event_type] = cls

    def partition_key(self) -> str:
        """The aggregate whose events must stay ordered: the job, else the dataset."""
        for attr in ("job_id", "dataset_id"):
            value = getattr(self, attr, None)
            if value:
                return str(value)
        raise ValueError(f"{type(self).__name__} has no job_id or dataset_id")


D = TypeVar("D", bound=EventData)


class Envelope(BaseModel, Generic[D]):
    """A CloudEvents 1.0 event. ``partitionkey`` is the CloudEvents partitioning extension."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    subject: str | None = None
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    partitionkey: str = Field(min_length=1)
    data: D

    @property
    def topic(self) -> str:
        return self.data.TOPIC

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


def new_event(data: D, *, source: str, subject: str | None = None) -> Envelope[D]:
    return Envelope[D](
        id=str(uuid.uuid4()),
        source=source,
        type=data.TYPE,
        subject=subject,
        time=datetime.now(UTC),
        partitionkey=data.partition_key(),
        data=data,
    )


class UndecodableEvent(ValueError):
    """The bytes are not a valid LabelOps event. The reason names the field at fault."""


class UnknownEventType(Exception):
    """A well-formed event of a type this build does not know (newer producer): skipped."""


def decode_event(raw: bytes) -> Envelope[EventData]:
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UndecodableEvent(f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise UndecodableEvent("not a JSON object")
    event_type = doc.get("type")
    if not isinstance(event_type, str):
        raise UndecodableEvent("field 'type': missing or not a string")
    data_cls = EventData.registry.get(event_type)
    if data_cls is None:
        if event_type.startswith("labelops.") and doc.get("specversion") == "1.0":
            raise UnknownEventType(event_type)
        raise UndecodableEvent(f"field 'type': unknown event type {event_type!r}")
    try:
        return Envelope[data_cls].model_validate(doc)  # type: ignore[valid-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UndecodableEvent(
            f"{event_type}: field '{where}': {first['msg']} ({exc.error_count()} error(s))"
        ) from exc
