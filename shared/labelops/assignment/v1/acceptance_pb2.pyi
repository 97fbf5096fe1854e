from labelops.assignment.v1 import assignment_pb2 as _assignment_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AcceptanceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCEPTANCE_STATE_UNSPECIFIED: _ClassVar[AcceptanceState]
    ACCEPTANCE_STATE_STARTING: _ClassVar[AcceptanceState]
    ACCEPTANCE_STATE_ONGOING: _ClassVar[AcceptanceState]
    ACCEPTANCE_STATE_FINISHING: _ClassVar[AcceptanceState]
    ACCEPTANCE_STATE_FINISHED: _ClassVar[AcceptanceState]

class AcceptanceScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCEPTANCE_SCOPE_UNSPECIFIED: _ClassVar[AcceptanceScope]
    ACCEPTANCE_SCOPE_ALL_PASS: _ClassVar[AcceptanceScope]
    ACCEPTANCE_SCOPE_ALL_REJECT: _ClassVar[AcceptanceScope]
    ACCEPTANCE_SCOPE_REMAINING_PASS: _ClassVar[AcceptanceScope]
    ACCEPTANCE_SCOPE_REMAINING_REJECT: _ClassVar[AcceptanceScope]

class OverwritePolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OVERWRITE_POLICY_UNSPECIFIED: _ClassVar[OverwritePolicy]
    OVERWRITE_POLICY_KEEP: _ClassVar[OverwritePolicy]
    OVERWRITE_POLICY_OVERWRITE: _ClassVar[OverwritePolicy]

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_PASS: _ClassVar[Verdict]
    VERDICT_REJECT: _ClassVar[Verdict]
ACCEPTANCE_STATE_UNSPECIFIED: AcceptanceState
ACCEPTANCE_STATE_STARTING: AcceptanceState
ACCEPTANCE_STATE_ONGOING: AcceptanceState
ACCEPTANCE_STATE_FINISHING: AcceptanceState
ACCEPTANCE_STATE_FINISHED: AcceptanceState
ACCEPTANCE_SCOPE_UNSPECIFIED: AcceptanceScope
ACCEPTANCE_SCOPE_ALL_PASS: AcceptanceScope
ACCEPTANCE_SCOPE_ALL_REJECT: AcceptanceScope
ACCEPTANCE_SCOPE_REMAINING_PASS: AcceptanceScope
ACCEPTANCE_SCOPE_REMAINING_REJECT: AcceptanceScope
OVERWRITE_POLICY_UNSPECIFIED: OverwritePolicy
OVERWRITE_POLICY_KEEP: OverwritePolicy
OVERWRITE_POLICY_OVERWRITE: OverwritePolicy
VERDICT_UNSPECIFIED: Verdict
VERDICT_PASS: Verdict
VERDICT_REJECT: Verdict

class AcceptanceReport(_message.Message):
    __slots__ = ("pass_rate", "sampled", "pending", "accepted", "passed", "rejected")
    PASS_RATE_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    pass_rate: float
    sampled: int
    pending: int
    accepted: int
    passed: int
    rejected: int
    def __init__(self, pass_rate: _Optional[float] = ..., sampled: _Optional[int] = ..., pending: _Optional[int] = ..., accepted: _Optional[int] = ..., passed: _Optional[int] = ..., rejected: _Optional[int] = ...) -> None: ...

class AcceptanceOutcome(_message.Message):
    __slots__ = ("packages_accepted", "packages_returned", "packages_left_out", "items_passed", "items_rejected", "items_kept")
    PACKAGES_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    PACKAGES_RETURNED_FIELD_NUMBER: _ClassVar[int]
    PACKAGES_LEFT_OUT_FIELD_NUMBER: _ClassVar[int]
    ITEMS_PASSED_FIELD_NUMBER: _ClassVar[int]
    ITEMS_REJECTED_FIELD_NUMBER: _ClassVar[int]
    ITEMS_KEPT_FIELD_NUMBER: _ClassVar[int]
    packages_accepted: int
    packages_returned: int
    packages_left_out: int
    items_passed: int
    items_rejected: int
    items_kept: int
    def __init__(self, packages_accepted: _Optional[int] = ..., packages_returned: _Optional[int] = ..., packages_left_out: _Optional[int] = ..., items_passed: _Optional[int] = ..., items_rejected: _Optional[int] = ..., items_kept: _Optional[int] = ...) -> None: ...

class AcceptanceItem(_message.Message):
    __slots__ = ("item_id", "package_id", "verdict", "rating", "reason", "decided_by", "data_json", "answer_json")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    ANSWER_JSON_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    package_id: str
    verdict: Verdict
    rating: _assignment_pb2.Rating
    reason: str
    decided_by: str
    data_json: str
    answer_json: str
    def __init__(self, item_id: _Optional[str] = ..., package_id: _Optional[str] = ..., verdict: _Optional[_Union[Verdict, str]] = ..., rating: _Optional[_Union[_assignment_pb2.Rating, str]] = ..., reason: _Optional[str] = ..., decided_by: _Optional[str] = ..., data_json: _Optional[str] = ..., answer_json: _Optional[str] = ...) -> None: ...

class Acceptance(_message.Message):
    __slots__ = ("id", "job_id", "state", "started_by", "started_at", "percent", "quantity", "package_ids", "item_count", "report", "scope", "overwrite", "finished_by", "finished_at", "outcome", "items", "next_page_token")
    ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STARTED_BY_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_IDS_FIELD_NUMBER: _ClassVar[int]
    ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    FINISHED_BY_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    id: str
    job_id: str
    state: AcceptanceState
    started_by: str
    started_at: str
    percent: float
    quantity: int
    package_ids: _containers.RepeatedScalarFieldContainer[str]
    item_count: int
    report: AcceptanceReport
    scope: AcceptanceScope
    overwrite: OverwritePolicy
    finished_by: str
    finished_at: str
    outcome: AcceptanceOutcome
    items: _containers.RepeatedCompositeFieldContainer[AcceptanceItem]
    next_page_token: str
    def __init__(self, id: _Optional[str] = ..., job_id: _Optional[str] = ..., state: _Optional[_Union[AcceptanceState, str]] = ..., started_by: _Optional[str] = ..., started_at: _Optional[str] = ..., percent: _Optional[float] = ..., quantity: _Optional[int] = ..., package_ids: _Optional[_Iterable[str]] = ..., item_count: _Optional[int] = ..., report: _Optional[_Union[AcceptanceReport, _Mapping]] = ..., scope: _Optional[_Union[AcceptanceScope, str]] = ..., overwrite: _Optional[_Union[OverwritePolicy, str]] = ..., finished_by: _Optional[str] = ..., finished_at: _Optional[str] = ..., outcome: _Optional[_Union[AcceptanceOutcome, _Mapping]] = ..., items: _Optional[_Iterable[_Union[AcceptanceItem, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class StartAcceptanceRequest(_message.Message):
    __slots__ = ("job_id", "percent", "quantity")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    percent: float
    quantity: int
    def __init__(self, job_id: _Optional[str] = ..., percent: _Optional[float] = ..., quantity: _Optional[int] = ...) -> None: ...

class GetAcceptanceRequest(_message.Message):
    __slots__ = ("acceptance_id", "job_id", "page_size", "page_token", "pending_only")
    ACCEPTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PENDING_ONLY_FIELD_NUMBER: _ClassVar[int]
    acceptance_id: str
    job_id: str
    page_size: int
    page_token: str
    pending_only: bool
    def __init__(self, acceptance_id: _Optional[str] = ..., job_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., pending_only: _Optional[bool] = ...) -> None: ...

class ItemDecision(_message.Message):
    __slots__ = ("item_id", "verdict", "rating", "reason")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    verdict: Verdict
    rating: _assignment_pb2.Rating
    reason: str
    def __init__(self, item_id: _Optional[str] = ..., verdict: _Optional[_Union[Verdict, str]] = ..., rating: _Optional[_Union[_assignment_pb2.Rating, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class DecideItemsRequest(_message.Message):
    __slots__ = ("acceptance_id", "decisions")
    ACCEPTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    acceptance_id: str
    decisions: _containers.RepeatedCompositeFieldContainer[ItemDecision]
    def __init__(self, acceptance_id: _Optional[str] = ..., decisions: _Optional[_Iterable[_Union[ItemDecision, _Mapping]]] = ...) -> None: ...

class FinishAcceptanceRequest(_message.Message):
    __slots__ = ("acceptance_id", "scope", "overwrite")
    ACCEPTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    acceptance_id: str
    scope: AcceptanceScope
    overwrite: OverwritePolicy
    def __init__(self, acceptance_id: _Optional[str] = ..., scope: _Optional[_Union[AcceptanceScope, str]] = ..., overwrite: _Optional[_Union[OverwritePolicy, str]] = ...) -> None: ...

class ListAcceptancesRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListAcceptancesResponse(_message.Message):
    __slots__ = ("acceptances",)
    ACCEPTANCES_FIELD_NUMBER: _ClassVar[int]
    acceptances: _containers.RepeatedCompositeFieldContainer[Acceptance]
    def __init__(self, acceptances: _Optional[_Iterable[_Union[Acceptance, _Mapping]]] = ...) -> None: ...

class ReviseAcceptedItemRequest(_message.Message):
    __slots__ = ("package_id", "item_id", "answer_json", "reason")
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    ANSWER_JSON_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    package_id: str
    item_id: str
    answer_json: str
    reason: str
    def __init__(self, package_id: _Optional[str] = ..., item_id: _Optional[str] = ..., answer_json: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ItemRevision(_message.Message):
    __slots__ = ("package_id", "item_id", "answer_json", "revision", "by", "reason", "revised_at")
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    ANSWER_JSON_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REVISED_AT_FIELD_NUMBER: _ClassVar[int]
    package_id: str
    item_id: str
    answer_json: str
    revision: int
    by: str
    reason: str
    revised_at: str
    def __init__(self, package_id: _Optional[str] = ..., item_id: _Optional[str] = ..., answer_json: _Optional[str] = ..., revision: _Optional[int] = ..., by: _Optional[str] = ..., reason: _Optional[str] = ..., revised_at: _Optional[str] = ...) -> None: ...
