from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Workflow(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WORKFLOW_UNSPECIFIED: _ClassVar[Workflow]
    WORKFLOW_LABEL: _ClassVar[Workflow]
    WORKFLOW_LABEL_CHECK: _ClassVar[Workflow]
    WORKFLOW_LABEL_CHECK_ACCEPT: _ClassVar[Workflow]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_DRAFT: _ClassVar[JobState]
    JOB_STATE_PUBLISHED: _ClassVar[JobState]
WORKFLOW_UNSPECIFIED: Workflow
WORKFLOW_LABEL: Workflow
WORKFLOW_LABEL_CHECK: Workflow
WORKFLOW_LABEL_CHECK_ACCEPT: Workflow
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_DRAFT: JobState
JOB_STATE_PUBLISHED: JobState

class Label(_message.Message):
    __slots__ = ("name", "color")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COLOR_FIELD_NUMBER: _ClassVar[int]
    name: str
    color: str
    def __init__(self, name: _Optional[str] = ..., color: _Optional[str] = ...) -> None: ...

class Members(_message.Message):
    __slots__ = ("labelers", "checkers", "accepters")
    LABELERS_FIELD_NUMBER: _ClassVar[int]
    CHECKERS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTERS_FIELD_NUMBER: _ClassVar[int]
    labelers: _containers.RepeatedScalarFieldContainer[str]
    checkers: _containers.RepeatedScalarFieldContainer[str]
    accepters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, labelers: _Optional[_Iterable[str]] = ..., checkers: _Optional[_Iterable[str]] = ..., accepters: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateJobRequest(_message.Message):
    __slots__ = ("name", "description", "dataset_id", "dataset_version", "template", "labels", "workflow", "package_size", "check_ratio", "prelabel_field", "members")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHECK_RATIO_FIELD_NUMBER: _ClassVar[int]
    PRELABEL_FIELD_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    dataset_id: str
    dataset_version: int
    template: str
    labels: _containers.RepeatedCompositeFieldContainer[Label]
    workflow: Workflow
    package_size: int
    check_ratio: float
    prelabel_field: str
    members: Members
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., dataset_id: _Optional[str] = ..., dataset_version: _Optional[int] = ..., template: _Optional[str] = ..., labels: _Optional[_Iterable[_Union[Label, _Mapping]]] = ..., workflow: _Optional[_Union[Workflow, str]] = ..., package_size: _Optional[int] = ..., check_ratio: _Optional[float] = ..., prelabel_field: _Optional[str] = ..., members: _Optional[_Union[Members, _Mapping]] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "workspace", "name", "description", "dataset_id", "dataset_version", "template", "topics_json", "labels", "workflow", "package_size", "check_ratio", "prelabel_field", "members", "state", "item_count", "created_at", "layout_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    TOPICS_JSON_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHECK_RATIO_FIELD_NUMBER: _ClassVar[int]
    PRELABEL_FIELD_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_JSON_FIELD_NUMBER: _ClassVar[int]
    id: str
    workspace: str
    name: str
    description: str
    dataset_id: str
    dataset_version: int
    template: str
    topics_json: str
    labels: _containers.RepeatedCompositeFieldContainer[Label]
    workflow: Workflow
    package_size: int
    check_ratio: float
    prelabel_field: str
    members: Members
    state: JobState
    item_count: int
    created_at: str
    layout_json: str
    def __init__(self, id: _Optional[str] = ..., workspace: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., dataset_id: _Optional[str] = ..., dataset_version: _Optional[int] = ..., template: _Optional[str] = ..., topics_json: _Optional[str] = ..., labels: _Optional[_Iterable[_Union[Label, _Mapping]]] = ..., workflow: _Optional[_Union[Workflow, str]] = ..., package_size: _Optional[int] = ..., check_ratio: _Optional[float] = ..., prelabel_field: _Optional[str] = ..., members: _Optional[_Union[Members, _Mapping]] = ..., state: _Optional[_Union[JobState, str]] = ..., item_count: _Optional[int] = ..., created_at: _Optional[str] = ..., layout_json: _Optional[str] = ...) -> None: ...

class PublishJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ...) -> None: ...
