from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetPrelabelStatusRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class PrelabelStatus(_message.Message):
    __slots__ = ("job_id", "state", "items_seen", "predictions", "invalid", "error", "invalid_values", "missing", "field")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_SEEN_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    INVALID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    INVALID_VALUES_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: str
    items_seen: int
    predictions: int
    invalid: int
    error: str
    invalid_values: _containers.RepeatedCompositeFieldContainer[InvalidValue]
    missing: int
    field: str
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[str] = ..., items_seen: _Optional[int] = ..., predictions: _Optional[int] = ..., invalid: _Optional[int] = ..., error: _Optional[str] = ..., invalid_values: _Optional[_Iterable[_Union[InvalidValue, _Mapping]]] = ..., missing: _Optional[int] = ..., field: _Optional[str] = ...) -> None: ...

class InvalidValue(_message.Message):
    __slots__ = ("item_id", "field", "reason")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    field: str
    reason: str
    def __init__(self, item_id: _Optional[str] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...
