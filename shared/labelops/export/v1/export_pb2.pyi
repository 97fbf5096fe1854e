from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExportState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPORT_STATE_UNSPECIFIED: _ClassVar[ExportState]
    EXPORT_STATE_RUNNING: _ClassVar[ExportState]
    EXPORT_STATE_COMPLETED: _ClassVar[ExportState]
    EXPORT_STATE_FAILED: _ClassVar[ExportState]
EXPORT_STATE_UNSPECIFIED: ExportState
EXPORT_STATE_RUNNING: ExportState
EXPORT_STATE_COMPLETED: ExportState
EXPORT_STATE_FAILED: ExportState

class ExportFilter(_message.Message):
    __slots__ = ("labels", "labelers", "hard_only", "accepted_from", "accepted_to")
    LABELS_FIELD_NUMBER: _ClassVar[int]
    LABELERS_FIELD_NUMBER: _ClassVar[int]
    HARD_ONLY_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FROM_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_TO_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.RepeatedScalarFieldContainer[str]
    labelers: _containers.RepeatedScalarFieldContainer[str]
    hard_only: bool
    accepted_from: str
    accepted_to: str
    def __init__(self, labels: _Optional[_Iterable[str]] = ..., labelers: _Optional[_Iterable[str]] = ..., hard_only: _Optional[bool] = ..., accepted_from: _Optional[str] = ..., accepted_to: _Optional[str] = ...) -> None: ...

class StartExportRequest(_message.Message):
    __slots__ = ("job_id", "format", "filter", "incremental")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    INCREMENTAL_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    format: str
    filter: ExportFilter
    incremental: bool
    def __init__(self, job_id: _Optional[str] = ..., format: _Optional[str] = ..., filter: _Optional[_Union[ExportFilter, _Mapping]] = ..., incremental: _Optional[bool] = ...) -> None: ...

class SkippedObjects(_message.Message):
    __slots__ = ("reason", "count")
    REASON_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    count: int
    def __init__(self, reason: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class Export(_message.Message):
    __slots__ = ("id", "job_id", "format", "version", "state", "items_written", "items_total", "bucket", "object_key", "size_bytes", "sha256", "download_url", "error", "created_at", "filter", "incremental", "since", "objects_written", "skipped", "content_type")
    ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    ITEMS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    OBJECT_KEY_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    DOWNLOAD_URL_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    INCREMENTAL_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    OBJECTS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    id: str
    job_id: str
    format: str
    version: int
    state: ExportState
    items_written: int
    items_total: int
    bucket: str
    object_key: str
    size_bytes: int
    sha256: str
    download_url: str
    error: str
    created_at: str
    filter: ExportFilter
    incremental: bool
    since: str
    objects_written: int
    skipped: _containers.RepeatedCompositeFieldContainer[SkippedObjects]
    content_type: str
    def __init__(self, id: _Optional[str] = ..., job_id: _Optional[str] = ..., format: _Optional[str] = ..., version: _Optional[int] = ..., state: _Optional[_Union[ExportState, str]] = ..., items_written: _Optional[int] = ..., items_total: _Optional[int] = ..., bucket: _Optional[str] = ..., object_key: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., download_url: _Optional[str] = ..., error: _Optional[str] = ..., created_at: _Optional[str] = ..., filter: _Optional[_Union[ExportFilter, _Mapping]] = ..., incremental: _Optional[bool] = ..., since: _Optional[str] = ..., objects_written: _Optional[int] = ..., skipped: _Optional[_Iterable[_Union[SkippedObjects, _Mapping]]] = ..., content_type: _Optional[str] = ...) -> None: ...

class GetExportRequest(_message.Message):
    __slots__ = ("export_id",)
    EXPORT_ID_FIELD_NUMBER: _ClassVar[int]
    export_id: str
    def __init__(self, export_id: _Optional[str] = ...) -> None: ...

class ListExportsRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListExportsResponse(_message.Message):
    __slots__ = ("exports",)
    EXPORTS_FIELD_NUMBER: _ClassVar[int]
    exports: _containers.RepeatedCompositeFieldContainer[Export]
    def __init__(self, exports: _Optional[_Iterable[_Union[Export, _Mapping]]] = ...) -> None: ...

class GetLabeledViewRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class LabeledView(_message.Message):
    __slots__ = ("job_id", "item_count")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    item_count: int
    def __init__(self, job_id: _Optional[str] = ..., item_count: _Optional[int] = ...) -> None: ...

class ReconcileJobRequest(_message.Message):
    __slots__ = ("job_id", "by_package")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    BY_PACKAGE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    by_package: bool
    def __init__(self, job_id: _Optional[str] = ..., by_package: _Optional[bool] = ...) -> None: ...

class PackageDifference(_message.Message):
    __slots__ = ("package_id", "view_items", "assignment_items", "accepted")
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    VIEW_ITEMS_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_ITEMS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    package_id: str
    view_items: int
    assignment_items: int
    accepted: bool
    def __init__(self, package_id: _Optional[str] = ..., view_items: _Optional[int] = ..., assignment_items: _Optional[int] = ..., accepted: _Optional[bool] = ...) -> None: ...

class Reconciliation(_message.Message):
    __slots__ = ("job_id", "view_items", "assignment_items", "difference", "matches", "checked_at", "view_packages", "accepted_packages", "differing_packages", "packages")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    VIEW_ITEMS_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_ITEMS_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    CHECKED_AT_FIELD_NUMBER: _ClassVar[int]
    VIEW_PACKAGES_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_PACKAGES_FIELD_NUMBER: _ClassVar[int]
    DIFFERING_PACKAGES_FIELD_NUMBER: _ClassVar[int]
    PACKAGES_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    view_items: int
    assignment_items: int
    difference: int
    matches: bool
    checked_at: str
    view_packages: int
    accepted_packages: int
    differing_packages: int
    packages: _containers.RepeatedCompositeFieldContainer[PackageDifference]
    def __init__(self, job_id: _Optional[str] = ..., view_items: _Optional[int] = ..., assignment_items: _Optional[int] = ..., difference: _Optional[int] = ..., matches: _Optional[bool] = ..., checked_at: _Optional[str] = ..., view_packages: _Optional[int] = ..., accepted_packages: _Optional[int] = ..., differing_packages: _Optional[int] = ..., packages: _Optional[_Iterable[_Union[PackageDifference, _Mapping]]] = ...) -> None: ...
