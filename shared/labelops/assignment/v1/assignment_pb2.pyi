from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Stage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STAGE_UNSPECIFIED: _ClassVar[Stage]
    STAGE_LABEL: _ClassVar[Stage]
    STAGE_CHECK: _ClassVar[Stage]
    STAGE_ACCEPT: _ClassVar[Stage]

class PackageState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PACKAGE_STATE_UNSPECIFIED: _ClassVar[PackageState]
    PACKAGE_STATE_OPEN: _ClassVar[PackageState]
    PACKAGE_STATE_LABELING: _ClassVar[PackageState]
    PACKAGE_STATE_TO_CHECK: _ClassVar[PackageState]
    PACKAGE_STATE_CHECKING: _ClassVar[PackageState]
    PACKAGE_STATE_TO_ACCEPT: _ClassVar[PackageState]
    PACKAGE_STATE_ACCEPTING: _ClassVar[PackageState]
    PACKAGE_STATE_ACCEPTED: _ClassVar[PackageState]
    PACKAGE_STATE_CLOSED: _ClassVar[PackageState]

class Rating(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RATING_UNSPECIFIED: _ClassVar[Rating]
    RATING_A: _ClassVar[Rating]
    RATING_B: _ClassVar[Rating]
    RATING_C: _ClassVar[Rating]
    RATING_D: _ClassVar[Rating]
STAGE_UNSPECIFIED: Stage
STAGE_LABEL: Stage
STAGE_CHECK: Stage
STAGE_ACCEPT: Stage
PACKAGE_STATE_UNSPECIFIED: PackageState
PACKAGE_STATE_OPEN: PackageState
PACKAGE_STATE_LABELING: PackageState
PACKAGE_STATE_TO_CHECK: PackageState
PACKAGE_STATE_CHECKING: PackageState
PACKAGE_STATE_TO_ACCEPT: PackageState
PACKAGE_STATE_ACCEPTING: PackageState
PACKAGE_STATE_ACCEPTED: PackageState
PACKAGE_STATE_CLOSED: PackageState
RATING_UNSPECIFIED: Rating
RATING_A: Rating
RATING_B: Rating
RATING_C: Rating
RATING_D: Rating

class Package(_message.Message):
    __slots__ = ("id", "job_id", "index", "state", "holder", "labeler", "item_count", "rework_count", "rating", "version", "lease_until", "group", "targets", "target_teams", "claimed_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    LABELER_FIELD_NUMBER: _ClassVar[int]
    ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    REWORK_COUNT_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LEASE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    TARGET_TEAMS_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    job_id: str
    index: int
    state: PackageState
    holder: str
    labeler: str
    item_count: int
    rework_count: int
    rating: Rating
    version: int
    lease_until: str
    group: str
    targets: _containers.RepeatedScalarFieldContainer[str]
    target_teams: _containers.RepeatedScalarFieldContainer[str]
    claimed_at: str
    def __init__(self, id: _Optional[str] = ..., job_id: _Optional[str] = ..., index: _Optional[int] = ..., state: _Optional[_Union[PackageState, str]] = ..., holder: _Optional[str] = ..., labeler: _Optional[str] = ..., item_count: _Optional[int] = ..., rework_count: _Optional[int] = ..., rating: _Optional[_Union[Rating, str]] = ..., version: _Optional[int] = ..., lease_until: _Optional[str] = ..., group: _Optional[str] = ..., targets: _Optional[_Iterable[str]] = ..., target_teams: _Optional[_Iterable[str]] = ..., claimed_at: _Optional[str] = ...) -> None: ...

class PackageItem(_message.Message):
    __slots__ = ("item_id", "data_json", "prelabel_json", "answer_json", "to_inspect", "invalid", "hard", "needs_relabel", "relabel_reason", "rejection_reason", "prelabel_to_confirm", "prelabel_hard", "prelabel_confidence", "prelabel_source", "labeler_answer_json")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    PRELABEL_JSON_FIELD_NUMBER: _ClassVar[int]
    ANSWER_JSON_FIELD_NUMBER: _ClassVar[int]
    TO_INSPECT_FIELD_NUMBER: _ClassVar[int]
    INVALID_FIELD_NUMBER: _ClassVar[int]
    HARD_FIELD_NUMBER: _ClassVar[int]
    NEEDS_RELABEL_FIELD_NUMBER: _ClassVar[int]
    RELABEL_REASON_FIELD_NUMBER: _ClassVar[int]
    REJECTION_REASON_FIELD_NUMBER: _ClassVar[int]
    PRELABEL_TO_CONFIRM_FIELD_NUMBER: _ClassVar[int]
    PRELABEL_HARD_FIELD_NUMBER: _ClassVar[int]
    PRELABEL_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    PRELABEL_SOURCE_FIELD_NUMBER: _ClassVar[int]
    LABELER_ANSWER_JSON_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    data_json: str
    prelabel_json: str
    answer_json: str
    to_inspect: bool
    invalid: bool
    hard: bool
    needs_relabel: bool
    relabel_reason: str
    rejection_reason: str
    prelabel_to_confirm: bool
    prelabel_hard: bool
    prelabel_confidence: float
    prelabel_source: str
    labeler_answer_json: str
    def __init__(self, item_id: _Optional[str] = ..., data_json: _Optional[str] = ..., prelabel_json: _Optional[str] = ..., answer_json: _Optional[str] = ..., to_inspect: _Optional[bool] = ..., invalid: _Optional[bool] = ..., hard: _Optional[bool] = ..., needs_relabel: _Optional[bool] = ..., relabel_reason: _Optional[str] = ..., rejection_reason: _Optional[str] = ..., prelabel_to_confirm: _Optional[bool] = ..., prelabel_hard: _Optional[bool] = ..., prelabel_confidence: _Optional[float] = ..., prelabel_source: _Optional[str] = ..., labeler_answer_json: _Optional[str] = ...) -> None: ...

class PackageDetail(_message.Message):
    __slots__ = ("package", "items")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    package: Package
    items: _containers.RepeatedCompositeFieldContainer[PackageItem]
    def __init__(self, package: _Optional[_Union[Package, _Mapping]] = ..., items: _Optional[_Iterable[_Union[PackageItem, _Mapping]]] = ...) -> None: ...

class Annotation(_message.Message):
    __slots__ = ("package_id", "item_id", "answer_json", "revision")
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    ANSWER_JSON_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    package_id: str
    item_id: str
    answer_json: str
    revision: int
    def __init__(self, package_id: _Optional[str] = ..., item_id: _Optional[str] = ..., answer_json: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class ListPackagesRequest(_message.Message):
    __slots__ = ("job_id", "state", "mine", "labeler", "holder", "hard", "label")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MINE_FIELD_NUMBER: _ClassVar[int]
    LABELER_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    HARD_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: PackageState
    mine: bool
    labeler: str
    holder: str
    hard: bool
    label: str
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[_Union[PackageState, str]] = ..., mine: _Optional[bool] = ..., labeler: _Optional[str] = ..., holder: _Optional[str] = ..., hard: _Optional[bool] = ..., label: _Optional[str] = ...) -> None: ...

class GetWorkerStatsRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class PersonStats(_message.Message):
    __slots__ = ("subject", "items_labeled", "items_checked", "items_accepted", "rejections_received", "rejection_rate", "mean_rating", "mean_rating_letter", "median_seconds_per_item")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ITEMS_LABELED_FIELD_NUMBER: _ClassVar[int]
    ITEMS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    ITEMS_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    REJECTION_RATE_FIELD_NUMBER: _ClassVar[int]
    MEAN_RATING_FIELD_NUMBER: _ClassVar[int]
    MEAN_RATING_LETTER_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_SECONDS_PER_ITEM_FIELD_NUMBER: _ClassVar[int]
    subject: str
    items_labeled: int
    items_checked: int
    items_accepted: int
    rejections_received: int
    rejection_rate: float
    mean_rating: float
    mean_rating_letter: str
    median_seconds_per_item: float
    def __init__(self, subject: _Optional[str] = ..., items_labeled: _Optional[int] = ..., items_checked: _Optional[int] = ..., items_accepted: _Optional[int] = ..., rejections_received: _Optional[int] = ..., rejection_rate: _Optional[float] = ..., mean_rating: _Optional[float] = ..., mean_rating_letter: _Optional[str] = ..., median_seconds_per_item: _Optional[float] = ...) -> None: ...

class WorkerStats(_message.Message):
    __slots__ = ("job_id", "people")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PEOPLE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    people: _containers.RepeatedCompositeFieldContainer[PersonStats]
    def __init__(self, job_id: _Optional[str] = ..., people: _Optional[_Iterable[_Union[PersonStats, _Mapping]]] = ...) -> None: ...

class ListPackagesResponse(_message.Message):
    __slots__ = ("packages",)
    PACKAGES_FIELD_NUMBER: _ClassVar[int]
    packages: _containers.RepeatedCompositeFieldContainer[Package]
    def __init__(self, packages: _Optional[_Iterable[_Union[Package, _Mapping]]] = ...) -> None: ...

class ClaimPackageRequest(_message.Message):
    __slots__ = ("job_id", "stage", "request_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    stage: Stage
    request_id: str
    def __init__(self, job_id: _Optional[str] = ..., stage: _Optional[_Union[Stage, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetPackageRequest(_message.Message):
    __slots__ = ("package_id",)
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    package_id: str
    def __init__(self, package_id: _Optional[str] = ...) -> None: ...

class SaveAnnotationRequest(_message.Message):
    __slots__ = ("package_id", "item_id", "answer_json", "invalid", "hard")
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    ANSWER_JSON_FIELD_NUMBER: _ClassVar[int]
    INVALID_FIELD_NUMBER: _ClassVar[int]
    HARD_FIELD_NUMBER: _ClassVar[int]
    package_id: str
    item_id: str
    answer_json: str
    invalid: bool
    hard: bool
    def __init__(self, package_id: _Optional[str] = ..., item_id: _Optional[str] = ..., answer_json: _Optional[str] = ..., invalid: _Optional[bool] = ..., hard: _Optional[bool] = ...) -> None: ...

class RenewClaimRequest(_message.Message):
    __slots__ = ("package_id",)
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    package_id: str
    def __init__(self, package_id: _Optional[str] = ...) -> None: ...

class ReleasePackageRequest(_message.Message):
    __slots__ = ("package_id", "reason")
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    package_id: str
    reason: str
    def __init__(self, package_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class TransferPackageRequest(_message.Message):
    __slots__ = ("package_id", "to", "reason")
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    package_id: str
    to: str
    reason: str
    def __init__(self, package_id: _Optional[str] = ..., to: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SubmitPackageRequest(_message.Message):
    __slots__ = ("package_id",)
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    package_id: str
    def __init__(self, package_id: _Optional[str] = ...) -> None: ...

class ItemRejection(_message.Message):
    __slots__ = ("item_id", "reason")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    reason: str
    def __init__(self, item_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReviewPackageRequest(_message.Message):
    __slots__ = ("package_id", "passed", "rating", "rejections", "approved")
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    APPROVED_FIELD_NUMBER: _ClassVar[int]
    package_id: str
    passed: bool
    rating: Rating
    rejections: _containers.RepeatedCompositeFieldContainer[ItemRejection]
    approved: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, package_id: _Optional[str] = ..., passed: _Optional[bool] = ..., rating: _Optional[_Union[Rating, str]] = ..., rejections: _Optional[_Iterable[_Union[ItemRejection, _Mapping]]] = ..., approved: _Optional[_Iterable[str]] = ...) -> None: ...

class AcceptPackageRequest(_message.Message):
    __slots__ = ("package_id", "accepted", "rejections")
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    package_id: str
    accepted: bool
    rejections: _containers.RepeatedCompositeFieldContainer[ItemRejection]
    def __init__(self, package_id: _Optional[str] = ..., accepted: _Optional[bool] = ..., rejections: _Optional[_Iterable[_Union[ItemRejection, _Mapping]]] = ...) -> None: ...

class GetJobProgressRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class JobProgress(_message.Message):
    __slots__ = ("job_id", "package_count", "item_count", "packages_by_state", "accepted_items", "completed")
    class PackagesByStateEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    PACKAGES_BY_STATE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_ITEMS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    package_count: int
    item_count: int
    packages_by_state: _containers.ScalarMap[str, int]
    accepted_items: int
    completed: bool
    def __init__(self, job_id: _Optional[str] = ..., package_count: _Optional[int] = ..., item_count: _Optional[int] = ..., packages_by_state: _Optional[_Mapping[str, int]] = ..., accepted_items: _Optional[int] = ..., completed: _Optional[bool] = ...) -> None: ...
