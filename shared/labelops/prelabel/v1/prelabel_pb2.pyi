from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class GetPrelabelStatusRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class PrelabelStatus(_message.Message):
    __slots__ = ("job_id", "state", "items_seen", "predictions", "invalid", "error")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_SEEN_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    INVALID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: str
    items_seen: int
    predictions: int
    invalid: int
    error: str
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[str] = ..., items_seen: _Optional[int] = ..., predictions: _Optional[int] = ..., invalid: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...
