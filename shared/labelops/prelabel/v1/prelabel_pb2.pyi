from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TrainOn(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRAIN_ON_UNSPECIFIED: _ClassVar[TrainOn]
    TRAIN_ON_ACCEPTED: _ClassVar[TrainOn]
    TRAIN_ON_SUBMITTED: _ClassVar[TrainOn]
TRAIN_ON_UNSPECIFIED: TrainOn
TRAIN_ON_ACCEPTED: TrainOn
TRAIN_ON_SUBMITTED: TrainOn

class GetPrelabelStatusRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class PrelabelStatus(_message.Message):
    __slots__ = ("job_id", "state", "items_seen", "predictions", "invalid", "error", "invalid_values", "missing", "field", "mode", "fields", "failed", "endpoint", "model_version", "breaker", "batches", "units_total", "units_done")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_SEEN_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    INVALID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    INVALID_VALUES_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    BREAKER_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    UNITS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    UNITS_DONE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: str
    items_seen: int
    predictions: int
    invalid: int
    error: str
    invalid_values: _containers.RepeatedCompositeFieldContainer[InvalidValue]
    missing: int
    field: str
    mode: str
    fields: _containers.RepeatedScalarFieldContainer[str]
    failed: int
    endpoint: str
    model_version: str
    breaker: str
    batches: int
    units_total: int
    units_done: int
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[str] = ..., items_seen: _Optional[int] = ..., predictions: _Optional[int] = ..., invalid: _Optional[int] = ..., error: _Optional[str] = ..., invalid_values: _Optional[_Iterable[_Union[InvalidValue, _Mapping]]] = ..., missing: _Optional[int] = ..., field: _Optional[str] = ..., mode: _Optional[str] = ..., fields: _Optional[_Iterable[str]] = ..., failed: _Optional[int] = ..., endpoint: _Optional[str] = ..., model_version: _Optional[str] = ..., breaker: _Optional[str] = ..., batches: _Optional[int] = ..., units_total: _Optional[int] = ..., units_done: _Optional[int] = ...) -> None: ...

class InvalidValue(_message.Message):
    __slots__ = ("item_id", "field", "reason", "topic")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    field: str
    reason: str
    topic: str
    def __init__(self, item_id: _Optional[str] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ..., topic: _Optional[str] = ...) -> None: ...

class ListInvalidPrelabelsRequest(_message.Message):
    __slots__ = ("job_id", "page_size", "page_token")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    page_size: int
    page_token: str
    def __init__(self, job_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListInvalidPrelabelsResponse(_message.Message):
    __slots__ = ("invalid_values", "next_page_token", "total")
    INVALID_VALUES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    invalid_values: _containers.RepeatedCompositeFieldContainer[InvalidValue]
    next_page_token: str
    total: int
    def __init__(self, invalid_values: _Optional[_Iterable[_Union[InvalidValue, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class StartAutoLabelRequest(_message.Message):
    __slots__ = ("job_id", "train_on", "confidence_threshold", "margin_threshold")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TRAIN_ON_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MARGIN_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    train_on: TrainOn
    confidence_threshold: float
    margin_threshold: float
    def __init__(self, job_id: _Optional[str] = ..., train_on: _Optional[_Union[TrainOn, str]] = ..., confidence_threshold: _Optional[float] = ..., margin_threshold: _Optional[float] = ...) -> None: ...

class GetAutoLabelRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class ListAutoLabelRunsRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListAutoLabelRunsResponse(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[AutoLabelRun]
    def __init__(self, runs: _Optional[_Iterable[_Union[AutoLabelRun, _Mapping]]] = ...) -> None: ...

class AutoLabelRun(_message.Message):
    __slots__ = ("run_id", "job_id", "state", "model_version", "algorithm", "train_on", "topic", "accuracy", "baseline_accuracy", "train_items", "held_out_items", "labeled", "hard_examples", "confidence_threshold", "margin_threshold", "error", "requested_by", "started_at", "finished_at", "failed")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    TRAIN_ON_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    BASELINE_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    TRAIN_ITEMS_FIELD_NUMBER: _ClassVar[int]
    HELD_OUT_ITEMS_FIELD_NUMBER: _ClassVar[int]
    LABELED_FIELD_NUMBER: _ClassVar[int]
    HARD_EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MARGIN_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    job_id: str
    state: str
    model_version: str
    algorithm: str
    train_on: TrainOn
    topic: str
    accuracy: float
    baseline_accuracy: float
    train_items: int
    held_out_items: int
    labeled: int
    hard_examples: int
    confidence_threshold: float
    margin_threshold: float
    error: str
    requested_by: str
    started_at: str
    finished_at: str
    failed: int
    def __init__(self, run_id: _Optional[str] = ..., job_id: _Optional[str] = ..., state: _Optional[str] = ..., model_version: _Optional[str] = ..., algorithm: _Optional[str] = ..., train_on: _Optional[_Union[TrainOn, str]] = ..., topic: _Optional[str] = ..., accuracy: _Optional[float] = ..., baseline_accuracy: _Optional[float] = ..., train_items: _Optional[int] = ..., held_out_items: _Optional[int] = ..., labeled: _Optional[int] = ..., hard_examples: _Optional[int] = ..., confidence_threshold: _Optional[float] = ..., margin_threshold: _Optional[float] = ..., error: _Optional[str] = ..., requested_by: _Optional[str] = ..., started_at: _Optional[str] = ..., finished_at: _Optional[str] = ..., failed: _Optional[int] = ...) -> None: ...

class GetLaborSavedRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class LaborSaved(_message.Message):
    __slots__ = ("job_id", "prelabeled", "accepted", "accepted_unchanged", "accepted_changed", "rejected", "unchanged_ratio")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PRELABELED_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_CHANGED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_RATIO_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    prelabeled: int
    accepted: int
    accepted_unchanged: int
    accepted_changed: int
    rejected: int
    unchanged_ratio: float
    def __init__(self, job_id: _Optional[str] = ..., prelabeled: _Optional[int] = ..., accepted: _Optional[int] = ..., accepted_unchanged: _Optional[int] = ..., accepted_changed: _Optional[int] = ..., rejected: _Optional[int] = ..., unchanged_ratio: _Optional[float] = ...) -> None: ...
