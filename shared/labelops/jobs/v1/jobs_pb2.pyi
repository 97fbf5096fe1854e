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
    JOB_STATE_UNPUBLISHED: _ClassVar[JobState]
    JOB_STATE_COMPLETED: _ClassVar[JobState]

class PackageRuleKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PACKAGE_RULE_UNSPECIFIED: _ClassVar[PackageRuleKind]
    PACKAGE_RULE_FIXED: _ClassVar[PackageRuleKind]
    PACKAGE_RULE_GROUP: _ClassVar[PackageRuleKind]
    PACKAGE_RULE_TARGETED: _ClassVar[PackageRuleKind]

class PrelabelMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRELABEL_MODE_UNSPECIFIED: _ClassVar[PrelabelMode]
    PRELABEL_MODE_NONE: _ClassVar[PrelabelMode]
    PRELABEL_MODE_OFFLINE: _ClassVar[PrelabelMode]
    PRELABEL_MODE_ONLINE: _ClassVar[PrelabelMode]

class PrelabelStage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRELABEL_STAGE_UNSPECIFIED: _ClassVar[PrelabelStage]
    PRELABEL_STAGE_PRELABEL: _ClassVar[PrelabelStage]
    PRELABEL_STAGE_FORMAL: _ClassVar[PrelabelStage]
WORKFLOW_UNSPECIFIED: Workflow
WORKFLOW_LABEL: Workflow
WORKFLOW_LABEL_CHECK: Workflow
WORKFLOW_LABEL_CHECK_ACCEPT: Workflow
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_DRAFT: JobState
JOB_STATE_PUBLISHED: JobState
JOB_STATE_UNPUBLISHED: JobState
JOB_STATE_COMPLETED: JobState
PACKAGE_RULE_UNSPECIFIED: PackageRuleKind
PACKAGE_RULE_FIXED: PackageRuleKind
PACKAGE_RULE_GROUP: PackageRuleKind
PACKAGE_RULE_TARGETED: PackageRuleKind
PRELABEL_MODE_UNSPECIFIED: PrelabelMode
PRELABEL_MODE_NONE: PrelabelMode
PRELABEL_MODE_OFFLINE: PrelabelMode
PRELABEL_MODE_ONLINE: PrelabelMode
PRELABEL_STAGE_UNSPECIFIED: PrelabelStage
PRELABEL_STAGE_PRELABEL: PrelabelStage
PRELABEL_STAGE_FORMAL: PrelabelStage

class LabelAttribute(_message.Message):
    __slots__ = ("name", "values", "required")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    name: str
    values: _containers.RepeatedScalarFieldContainer[str]
    required: bool
    def __init__(self, name: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ..., required: _Optional[bool] = ...) -> None: ...

class Label(_message.Message):
    __slots__ = ("name", "color", "shortcut", "attributes", "kind", "source", "target", "label_class", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COLOR_FIELD_NUMBER: _ClassVar[int]
    SHORTCUT_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    LABEL_CLASS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    color: str
    shortcut: str
    attributes: _containers.RepeatedCompositeFieldContainer[LabelAttribute]
    kind: str
    source: _containers.RepeatedScalarFieldContainer[str]
    target: _containers.RepeatedScalarFieldContainer[str]
    label_class: str
    description: str
    def __init__(self, name: _Optional[str] = ..., color: _Optional[str] = ..., shortcut: _Optional[str] = ..., attributes: _Optional[_Iterable[_Union[LabelAttribute, _Mapping]]] = ..., kind: _Optional[str] = ..., source: _Optional[_Iterable[str]] = ..., target: _Optional[_Iterable[str]] = ..., label_class: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class Members(_message.Message):
    __slots__ = ("labelers", "checkers", "accepters", "admins", "labeler_teams", "checker_teams", "accepter_teams", "admin_teams")
    LABELERS_FIELD_NUMBER: _ClassVar[int]
    CHECKERS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTERS_FIELD_NUMBER: _ClassVar[int]
    ADMINS_FIELD_NUMBER: _ClassVar[int]
    LABELER_TEAMS_FIELD_NUMBER: _ClassVar[int]
    CHECKER_TEAMS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTER_TEAMS_FIELD_NUMBER: _ClassVar[int]
    ADMIN_TEAMS_FIELD_NUMBER: _ClassVar[int]
    labelers: _containers.RepeatedScalarFieldContainer[str]
    checkers: _containers.RepeatedScalarFieldContainer[str]
    accepters: _containers.RepeatedScalarFieldContainer[str]
    admins: _containers.RepeatedScalarFieldContainer[str]
    labeler_teams: _containers.RepeatedScalarFieldContainer[str]
    checker_teams: _containers.RepeatedScalarFieldContainer[str]
    accepter_teams: _containers.RepeatedScalarFieldContainer[str]
    admin_teams: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, labelers: _Optional[_Iterable[str]] = ..., checkers: _Optional[_Iterable[str]] = ..., accepters: _Optional[_Iterable[str]] = ..., admins: _Optional[_Iterable[str]] = ..., labeler_teams: _Optional[_Iterable[str]] = ..., checker_teams: _Optional[_Iterable[str]] = ..., accepter_teams: _Optional[_Iterable[str]] = ..., admin_teams: _Optional[_Iterable[str]] = ...) -> None: ...

class PackageRule(_message.Message):
    __slots__ = ("kind", "size", "field", "labelers", "teams")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    LABELERS_FIELD_NUMBER: _ClassVar[int]
    TEAMS_FIELD_NUMBER: _ClassVar[int]
    kind: PackageRuleKind
    size: int
    field: str
    labelers: _containers.RepeatedScalarFieldContainer[str]
    teams: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, kind: _Optional[_Union[PackageRuleKind, str]] = ..., size: _Optional[int] = ..., field: _Optional[str] = ..., labelers: _Optional[_Iterable[str]] = ..., teams: _Optional[_Iterable[str]] = ...) -> None: ...

class FieldTopic(_message.Message):
    __slots__ = ("field", "topic")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    field: str
    topic: str
    def __init__(self, field: _Optional[str] = ..., topic: _Optional[str] = ...) -> None: ...

class Prelabel(_message.Message):
    __slots__ = ("mode", "mapping", "endpoint", "stage")
    MODE_FIELD_NUMBER: _ClassVar[int]
    MAPPING_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    mode: PrelabelMode
    mapping: _containers.RepeatedCompositeFieldContainer[FieldTopic]
    endpoint: str
    stage: PrelabelStage
    def __init__(self, mode: _Optional[_Union[PrelabelMode, str]] = ..., mapping: _Optional[_Iterable[_Union[FieldTopic, _Mapping]]] = ..., endpoint: _Optional[str] = ..., stage: _Optional[_Union[PrelabelStage, str]] = ...) -> None: ...

class CreateJobRequest(_message.Message):
    __slots__ = ("name", "description", "dataset_id", "dataset_version", "template", "labels", "workflow", "package_size", "check_ratio", "prelabel_field", "members", "template_options_json", "check_percent", "package_rule", "prelabel", "auto_sync")
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
    TEMPLATE_OPTIONS_JSON_FIELD_NUMBER: _ClassVar[int]
    CHECK_PERCENT_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_RULE_FIELD_NUMBER: _ClassVar[int]
    PRELABEL_FIELD_NUMBER: _ClassVar[int]
    AUTO_SYNC_FIELD_NUMBER: _ClassVar[int]
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
    template_options_json: str
    check_percent: int
    package_rule: PackageRule
    prelabel: Prelabel
    auto_sync: bool
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., dataset_id: _Optional[str] = ..., dataset_version: _Optional[int] = ..., template: _Optional[str] = ..., labels: _Optional[_Iterable[_Union[Label, _Mapping]]] = ..., workflow: _Optional[_Union[Workflow, str]] = ..., package_size: _Optional[int] = ..., check_ratio: _Optional[float] = ..., prelabel_field: _Optional[str] = ..., members: _Optional[_Union[Members, _Mapping]] = ..., template_options_json: _Optional[str] = ..., check_percent: _Optional[int] = ..., package_rule: _Optional[_Union[PackageRule, _Mapping]] = ..., prelabel: _Optional[_Union[Prelabel, _Mapping]] = ..., auto_sync: _Optional[bool] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("total", "labeled", "checked", "accepted", "rejected", "packages", "claimed")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    LABELED_FIELD_NUMBER: _ClassVar[int]
    CHECKED_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    PACKAGES_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_FIELD_NUMBER: _ClassVar[int]
    total: int
    labeled: int
    checked: int
    accepted: int
    rejected: int
    packages: int
    claimed: int
    def __init__(self, total: _Optional[int] = ..., labeled: _Optional[int] = ..., checked: _Optional[int] = ..., accepted: _Optional[int] = ..., rejected: _Optional[int] = ..., packages: _Optional[int] = ..., claimed: _Optional[int] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "workspace", "name", "description", "dataset_id", "dataset_version", "template", "topics_json", "labels", "workflow", "package_size", "check_ratio", "prelabel_field", "members", "state", "item_count", "created_at", "layout_json", "check_percent", "package_rule", "prelabel", "auto_sync", "progress", "created_by", "template_options_json", "effective_members", "version", "copied_from")
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
    CHECK_PERCENT_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_RULE_FIELD_NUMBER: _ClassVar[int]
    PRELABEL_FIELD_NUMBER: _ClassVar[int]
    AUTO_SYNC_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_OPTIONS_JSON_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_MEMBERS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    COPIED_FROM_FIELD_NUMBER: _ClassVar[int]
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
    check_percent: int
    package_rule: PackageRule
    prelabel: Prelabel
    auto_sync: bool
    progress: Progress
    created_by: str
    template_options_json: str
    effective_members: Members
    version: int
    copied_from: str
    def __init__(self, id: _Optional[str] = ..., workspace: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., dataset_id: _Optional[str] = ..., dataset_version: _Optional[int] = ..., template: _Optional[str] = ..., topics_json: _Optional[str] = ..., labels: _Optional[_Iterable[_Union[Label, _Mapping]]] = ..., workflow: _Optional[_Union[Workflow, str]] = ..., package_size: _Optional[int] = ..., check_ratio: _Optional[float] = ..., prelabel_field: _Optional[str] = ..., members: _Optional[_Union[Members, _Mapping]] = ..., state: _Optional[_Union[JobState, str]] = ..., item_count: _Optional[int] = ..., created_at: _Optional[str] = ..., layout_json: _Optional[str] = ..., check_percent: _Optional[int] = ..., package_rule: _Optional[_Union[PackageRule, _Mapping]] = ..., prelabel: _Optional[_Union[Prelabel, _Mapping]] = ..., auto_sync: _Optional[bool] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., created_by: _Optional[str] = ..., template_options_json: _Optional[str] = ..., effective_members: _Optional[_Union[Members, _Mapping]] = ..., version: _Optional[int] = ..., copied_from: _Optional[str] = ...) -> None: ...

class PublishJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class UnpublishJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CompleteJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class DeleteJobRequest(_message.Message):
    __slots__ = ("job_id", "force")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    force: bool
    def __init__(self, job_id: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class DeleteJobResponse(_message.Message):
    __slots__ = ("job_id", "forced")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    FORCED_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    forced: bool
    def __init__(self, job_id: _Optional[str] = ..., forced: _Optional[bool] = ...) -> None: ...

class CopyJobRequest(_message.Message):
    __slots__ = ("job_id", "name", "description")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    name: str
    description: str
    def __init__(self, job_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class UpdateJobRequest(_message.Message):
    __slots__ = ("job_id", "update_mask", "name", "description", "members", "check_percent", "auto_sync")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    CHECK_PERCENT_FIELD_NUMBER: _ClassVar[int]
    AUTO_SYNC_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    update_mask: _containers.RepeatedScalarFieldContainer[str]
    name: str
    description: str
    members: Members
    check_percent: int
    auto_sync: bool
    def __init__(self, job_id: _Optional[str] = ..., update_mask: _Optional[_Iterable[str]] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., members: _Optional[_Union[Members, _Mapping]] = ..., check_percent: _Optional[int] = ..., auto_sync: _Optional[bool] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("state", "template", "dataset_id", "creator", "participant", "page_size", "page_token")
    STATE_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    state: JobState
    template: str
    dataset_id: str
    creator: str
    participant: str
    page_size: int
    page_token: str
    def __init__(self, state: _Optional[_Union[JobState, str]] = ..., template: _Optional[str] = ..., dataset_id: _Optional[str] = ..., creator: _Optional[str] = ..., participant: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetTemplateSchemaRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class TemplateSchema(_message.Message):
    __slots__ = ("answer_schema_json", "topics_json", "content_json", "template")
    ANSWER_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    TOPICS_JSON_FIELD_NUMBER: _ClassVar[int]
    CONTENT_JSON_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    answer_schema_json: str
    topics_json: str
    content_json: str
    template: str
    def __init__(self, answer_schema_json: _Optional[str] = ..., topics_json: _Optional[str] = ..., content_json: _Optional[str] = ..., template: _Optional[str] = ...) -> None: ...

class ListTemplatesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TemplateInfo(_message.Message):
    __slots__ = ("name", "description", "dataset_kinds", "options", "relations", "classes", "min_labels")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DATASET_KINDS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    RELATIONS_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    MIN_LABELS_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    dataset_kinds: _containers.RepeatedScalarFieldContainer[str]
    options: _containers.RepeatedScalarFieldContainer[str]
    relations: bool
    classes: bool
    min_labels: int
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., dataset_kinds: _Optional[_Iterable[str]] = ..., options: _Optional[_Iterable[str]] = ..., relations: _Optional[bool] = ..., classes: _Optional[bool] = ..., min_labels: _Optional[int] = ...) -> None: ...

class ListTemplatesResponse(_message.Message):
    __slots__ = ("templates",)
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    templates: _containers.RepeatedCompositeFieldContainer[TemplateInfo]
    def __init__(self, templates: _Optional[_Iterable[_Union[TemplateInfo, _Mapping]]] = ...) -> None: ...

class AddLabelRequest(_message.Message):
    __slots__ = ("job_id", "label")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    label: Label
    def __init__(self, job_id: _Optional[str] = ..., label: _Optional[_Union[Label, _Mapping]] = ...) -> None: ...

class UpdateLabelRequest(_message.Message):
    __slots__ = ("job_id", "name", "kind", "label_class", "label")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LABEL_CLASS_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    name: str
    kind: str
    label_class: str
    label: Label
    def __init__(self, job_id: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[str] = ..., label_class: _Optional[str] = ..., label: _Optional[_Union[Label, _Mapping]] = ...) -> None: ...

class DeleteLabelRequest(_message.Message):
    __slots__ = ("job_id", "name", "kind", "label_class", "delete_items")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LABEL_CLASS_FIELD_NUMBER: _ClassVar[int]
    DELETE_ITEMS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    name: str
    kind: str
    label_class: str
    delete_items: bool
    def __init__(self, job_id: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[str] = ..., label_class: _Optional[str] = ..., delete_items: _Optional[bool] = ...) -> None: ...

class TeamMember(_message.Message):
    __slots__ = ("email", "role")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    email: str
    role: str
    def __init__(self, email: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class Team(_message.Message):
    __slots__ = ("id", "workspace", "name", "description", "members", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    workspace: str
    name: str
    description: str
    members: _containers.RepeatedCompositeFieldContainer[TeamMember]
    created_at: str
    def __init__(self, id: _Optional[str] = ..., workspace: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., members: _Optional[_Iterable[_Union[TeamMember, _Mapping]]] = ..., created_at: _Optional[str] = ...) -> None: ...

class CreateTeamRequest(_message.Message):
    __slots__ = ("name", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class GetTeamRequest(_message.Message):
    __slots__ = ("team_id",)
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    team_id: str
    def __init__(self, team_id: _Optional[str] = ...) -> None: ...

class ListTeamsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTeamsResponse(_message.Message):
    __slots__ = ("teams",)
    TEAMS_FIELD_NUMBER: _ClassVar[int]
    teams: _containers.RepeatedCompositeFieldContainer[Team]
    def __init__(self, teams: _Optional[_Iterable[_Union[Team, _Mapping]]] = ...) -> None: ...

class DeleteTeamRequest(_message.Message):
    __slots__ = ("team_id",)
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    team_id: str
    def __init__(self, team_id: _Optional[str] = ...) -> None: ...

class DeleteTeamResponse(_message.Message):
    __slots__ = ("team_id",)
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    team_id: str
    def __init__(self, team_id: _Optional[str] = ...) -> None: ...

class TeamMemberRequest(_message.Message):
    __slots__ = ("team_id", "email", "role")
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    team_id: str
    email: str
    role: str
    def __init__(self, team_id: _Optional[str] = ..., email: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class RemoveTeamMemberRequest(_message.Message):
    __slots__ = ("team_id", "email")
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    team_id: str
    email: str
    def __init__(self, team_id: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...
