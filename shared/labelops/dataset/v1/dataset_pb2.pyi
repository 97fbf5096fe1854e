from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DatasetKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATASET_KIND_UNSPECIFIED: _ClassVar[DatasetKind]
    DATASET_KIND_TEXT: _ClassVar[DatasetKind]
    DATASET_KIND_IMAGE: _ClassVar[DatasetKind]
    DATASET_KIND_VIDEO: _ClassVar[DatasetKind]
    DATASET_KIND_AUDIO: _ClassVar[DatasetKind]
    DATASET_KIND_MULTI: _ClassVar[DatasetKind]

class VersionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERSION_STATE_UNSPECIFIED: _ClassVar[VersionState]
    VERSION_STATE_IMPORTING: _ClassVar[VersionState]
    VERSION_STATE_READY: _ClassVar[VersionState]
    VERSION_STATE_FAILED: _ClassVar[VersionState]
DATASET_KIND_UNSPECIFIED: DatasetKind
DATASET_KIND_TEXT: DatasetKind
DATASET_KIND_IMAGE: DatasetKind
DATASET_KIND_VIDEO: DatasetKind
DATASET_KIND_AUDIO: DatasetKind
DATASET_KIND_MULTI: DatasetKind
VERSION_STATE_UNSPECIFIED: VersionState
VERSION_STATE_IMPORTING: VersionState
VERSION_STATE_READY: VersionState
VERSION_STATE_FAILED: VersionState

class Dataset(_message.Message):
    __slots__ = ("id", "workspace", "name", "kind", "latest_version", "item_count", "created_at", "fields", "versions", "deleted_count")
    ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LATEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    DELETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    id: str
    workspace: str
    name: str
    kind: DatasetKind
    latest_version: int
    item_count: int
    created_at: str
    fields: _containers.RepeatedScalarFieldContainer[str]
    versions: _containers.RepeatedCompositeFieldContainer[DatasetVersion]
    deleted_count: int
    def __init__(self, id: _Optional[str] = ..., workspace: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[_Union[DatasetKind, str]] = ..., latest_version: _Optional[int] = ..., item_count: _Optional[int] = ..., created_at: _Optional[str] = ..., fields: _Optional[_Iterable[str]] = ..., versions: _Optional[_Iterable[_Union[DatasetVersion, _Mapping]]] = ..., deleted_count: _Optional[int] = ...) -> None: ...

class ImportError(_message.Message):
    __slots__ = ("file", "line", "field", "reason")
    FILE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    file: str
    line: int
    field: str
    reason: str
    def __init__(self, file: _Optional[str] = ..., line: _Optional[int] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DatasetVersion(_message.Message):
    __slots__ = ("dataset_id", "version", "state", "item_count", "source_uri", "error", "errors", "error_count", "format", "error_report_uri", "fields", "duplicate_count", "duplicates", "duplicates_mode", "started_at", "finished_at")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_URI_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ERROR_COUNT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    ERROR_REPORT_URI_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_MODE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    version: int
    state: VersionState
    item_count: int
    source_uri: str
    error: str
    errors: _containers.RepeatedCompositeFieldContainer[ImportError]
    error_count: int
    format: str
    error_report_uri: str
    fields: _containers.RepeatedScalarFieldContainer[str]
    duplicate_count: int
    duplicates: _containers.RepeatedCompositeFieldContainer[ImportError]
    duplicates_mode: str
    started_at: str
    finished_at: str
    def __init__(self, dataset_id: _Optional[str] = ..., version: _Optional[int] = ..., state: _Optional[_Union[VersionState, str]] = ..., item_count: _Optional[int] = ..., source_uri: _Optional[str] = ..., error: _Optional[str] = ..., errors: _Optional[_Iterable[_Union[ImportError, _Mapping]]] = ..., error_count: _Optional[int] = ..., format: _Optional[str] = ..., error_report_uri: _Optional[str] = ..., fields: _Optional[_Iterable[str]] = ..., duplicate_count: _Optional[int] = ..., duplicates: _Optional[_Iterable[_Union[ImportError, _Mapping]]] = ..., duplicates_mode: _Optional[str] = ..., started_at: _Optional[str] = ..., finished_at: _Optional[str] = ...) -> None: ...

class CreateDatasetRequest(_message.Message):
    __slots__ = ("name", "kind")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: DatasetKind
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[DatasetKind, str]] = ...) -> None: ...

class ImportDatasetRequest(_message.Message):
    __slots__ = ("dataset_id", "source_uri", "format", "encoding", "text_column", "skip_invalid", "duplicates")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_URI_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    TEXT_COLUMN_FIELD_NUMBER: _ClassVar[int]
    SKIP_INVALID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    source_uri: str
    format: str
    encoding: str
    text_column: str
    skip_invalid: bool
    duplicates: str
    def __init__(self, dataset_id: _Optional[str] = ..., source_uri: _Optional[str] = ..., format: _Optional[str] = ..., encoding: _Optional[str] = ..., text_column: _Optional[str] = ..., skip_invalid: _Optional[bool] = ..., duplicates: _Optional[str] = ...) -> None: ...

class GetDatasetRequest(_message.Message):
    __slots__ = ("dataset_id",)
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    def __init__(self, dataset_id: _Optional[str] = ...) -> None: ...

class GetVersionRequest(_message.Message):
    __slots__ = ("dataset_id", "version")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    version: int
    def __init__(self, dataset_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class StreamItemsRequest(_message.Message):
    __slots__ = ("dataset_id", "version")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    version: int
    def __init__(self, dataset_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class Item(_message.Message):
    __slots__ = ("id", "dataset_id", "version", "line", "data_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    id: str
    dataset_id: str
    version: int
    line: int
    data_json: str
    def __init__(self, id: _Optional[str] = ..., dataset_id: _Optional[str] = ..., version: _Optional[int] = ..., line: _Optional[int] = ..., data_json: _Optional[str] = ...) -> None: ...

class GetItemsRequest(_message.Message):
    __slots__ = ("dataset_id", "item_ids")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_IDS_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    item_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dataset_id: _Optional[str] = ..., item_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetItemsResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Item]
    def __init__(self, items: _Optional[_Iterable[_Union[Item, _Mapping]]] = ...) -> None: ...

class ItemFilter(_message.Message):
    __slots__ = ("fields", "path_prefix", "name_contains")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    PATH_PREFIX_FIELD_NUMBER: _ClassVar[int]
    NAME_CONTAINS_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.ScalarMap[str, str]
    path_prefix: str
    name_contains: str
    def __init__(self, fields: _Optional[_Mapping[str, str]] = ..., path_prefix: _Optional[str] = ..., name_contains: _Optional[str] = ...) -> None: ...

class ListItemsRequest(_message.Message):
    __slots__ = ("dataset_id", "version", "filter", "page_size", "page_token")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    version: int
    filter: ItemFilter
    page_size: int
    page_token: str
    def __init__(self, dataset_id: _Optional[str] = ..., version: _Optional[int] = ..., filter: _Optional[_Union[ItemFilter, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListItemsResponse(_message.Message):
    __slots__ = ("items", "next_page_token")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Item]
    next_page_token: str
    def __init__(self, items: _Optional[_Iterable[_Union[Item, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteItemsRequest(_message.Message):
    __slots__ = ("dataset_id", "item_ids", "filter", "delete_sources")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_IDS_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    DELETE_SOURCES_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    item_ids: _containers.RepeatedScalarFieldContainer[str]
    filter: ItemFilter
    delete_sources: bool
    def __init__(self, dataset_id: _Optional[str] = ..., item_ids: _Optional[_Iterable[str]] = ..., filter: _Optional[_Union[ItemFilter, _Mapping]] = ..., delete_sources: _Optional[bool] = ...) -> None: ...

class DeleteItemsResponse(_message.Message):
    __slots__ = ("deletion_id", "deleted_count", "chunks", "sources_deleted")
    DELETION_ID_FIELD_NUMBER: _ClassVar[int]
    DELETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    SOURCES_DELETED_FIELD_NUMBER: _ClassVar[int]
    deletion_id: str
    deleted_count: int
    chunks: int
    sources_deleted: int
    def __init__(self, deletion_id: _Optional[str] = ..., deleted_count: _Optional[int] = ..., chunks: _Optional[int] = ..., sources_deleted: _Optional[int] = ...) -> None: ...

class DeleteDatasetRequest(_message.Message):
    __slots__ = ("dataset_id",)
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    def __init__(self, dataset_id: _Optional[str] = ...) -> None: ...

class DeleteDatasetResponse(_message.Message):
    __slots__ = ("deleted_count",)
    DELETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    deleted_count: int
    def __init__(self, deleted_count: _Optional[int] = ...) -> None: ...
