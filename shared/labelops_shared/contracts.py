"""Every event LabelOps publishes, by service. The class is the contract: its fields are
the CloudEvents ``data``; TYPE is the versioned CloudEvents type; TOPIC where it travels.

Adding a field with a default is compatible; anything else is a new ``.v2`` type.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from labelops_shared import topics
from labelops_shared.events import EventData, Value

# --- dataset ----------------------------------------------------------------------------


class DatasetImported(EventData):
    TYPE = "labelops.dataset.imported.v1"
    TOPIC = topics.DATASET_EVENTS
    dataset_id: str
    workspace: str
    version: int
    kind: str
    item_count: int
    fields: list[str] = Field(description="the data fields found in the items")


class DatasetImportFailed(EventData):
    TYPE = "labelops.dataset.import_failed.v1"
    TOPIC = topics.DATASET_EVENTS
    dataset_id: str
    workspace: str
    version: int
    reason: str
    error_count: int


CHUNK_ITEMS = 1000  # item ids per event: every message stays well under Kafka's 1 MB default


class ItemsAdded(EventData):
    """New items became visible (an import completed). One event per chunk of at most
    CHUNK_ITEMS ids, in item order; ``chunk`` counts from 0 and ``chunks`` is the total."""

    TYPE = "labelops.dataset.items_added.v1"
    TOPIC = topics.DATASET_EVENTS
    dataset_id: str
    workspace: str
    version: int
    chunk: int
    chunks: int
    item_ids: list[str]
    group_values: dict[str, list[str | int | float | bool | None]] = Field(
        default_factory=dict,
        description="per groupable field (short scalar values), its value for each item id, "
        "aligned with item_ids: what a package rule grouping by a field needs",
    )


class ItemsDeleted(EventData):
    """Items were deleted (by id or filter). One event per chunk of at most CHUNK_ITEMS ids."""

    TYPE = "labelops.dataset.items_deleted.v1"
    TOPIC = topics.DATASET_EVENTS
    dataset_id: str
    workspace: str
    deletion_id: str
    chunk: int
    chunks: int
    item_ids: list[str]
    sources_deleted: bool = False


class DatasetDeleted(EventData):
    TYPE = "labelops.dataset.deleted.v1"
    TOPIC = topics.DATASET_EVENTS
    dataset_id: str
    workspace: str


# --- jobs -------------------------------------------------------------------------------


class LabelDef(Value):
    """A label of the job's label set (the shared label-set model, see
    ``annotations.validate_label_set``)."""

    name: str
    color: str = ""
    shortcut: str = ""
    kind: str = Field(default="entity", description="entity | relation")
    label_class: str = Field(default="", description="label class (audio segments)")
    source: list[str] = Field(default=[], description="relation: allowed source entities")
    target: list[str] = Field(default=[], description="relation: allowed target entities")
    attributes: list[dict[str, Any]] = Field(
        default=[], description="[{name, values: [..], required}]")
    description: str = ""


class JobMembers(Value):
    """Who works in each stage. The people lists include the members contributed by the
    teams named for the role (resolved by the jobs service), so a consumer checks only
    them; the team lists say where they came from."""

    labelers: list[str] = []
    checkers: list[str] = []
    accepters: list[str] = []
    admins: list[str] = []
    labeler_teams: list[str] = []
    checker_teams: list[str] = []
    accepter_teams: list[str] = []
    admin_teams: list[str] = []


class PackageRuleSpec(Value):
    kind: str = Field(default="fixed", description="fixed | group | targeted")
    size: int = Field(default=0, description="items per package (group: the largest package)")
    group_field: str = Field(default="", description="group: the dataset field")
    labelers: list[str] = Field(default=[], description="targeted: people")
    teams: list[str] = Field(default=[], description="targeted: team ids")


class FieldTopic(Value):
    field: str
    topic: str


class PrelabelSpec(Value):
    mode: str = Field(default="none", description="none | offline | online")
    mapping: list[FieldTopic] = Field(default=[], description="offline: field -> topic")
    endpoint: str = Field(default="", description="online: the model service URL")
    stage: str = Field(default="", description="prelabel | formal ('' with mode none)")


class JobSpec(Value):
    """The settings of a job that other services act on."""

    job_id: str
    workspace: str
    name: str
    dataset_id: str
    dataset_version: int
    template: str
    topics: list[dict[str, Any]]
    labels: list[LabelDef]
    workflow: str = Field(description="label | label_check | label_check_accept")
    package_size: int
    check_ratio: float
    prelabel_field: str = ""
    members: JobMembers
    description: str = ""
    content: list[dict[str, Any]] = Field(
        default=[], description="the template's content components [{kind, field}]")
    check_percent: float = Field(default=100.0, description="check_ratio in percent, 1-100")
    package_rule: PackageRuleSpec = PackageRuleSpec()
    prelabel: PrelabelSpec = PrelabelSpec()
    auto_sync: bool = Field(default=False, description="new dataset items join the job")
    created_by: str = ""


class JobCreated(EventData):
    TYPE = "labelops.job.created.v1"
    TOPIC = topics.JOBS_EVENTS
    job_id: str
    job: JobSpec
    copied_from: str = Field(default="", description="the job this one is a copy of")


class JobPublished(EventData):
    TYPE = "labelops.job.published.v1"
    TOPIC = topics.JOBS_EVENTS
    job_id: str
    job: JobSpec
    item_count: int
    republished: bool = Field(
        default=False, description="an unpublished job published again: its packages exist "
        "already, claims resume")


class JobUnpublished(EventData):
    TYPE = "labelops.job.unpublished.v1"
    TOPIC = topics.JOBS_EVENTS
    job_id: str
    dataset_id: str
    workspace: str = ""


class JobFinished(EventData):
    """An administrator completed a job early; no more claims, accepted results stay."""

    TYPE = "labelops.job.finished.v1"
    TOPIC = topics.JOBS_EVENTS
    job_id: str
    dataset_id: str
    workspace: str = ""
    by: str = ""


class JobDeleted(EventData):
    TYPE = "labelops.job.deleted.v1"
    TOPIC = topics.JOBS_EVENTS
    job_id: str
    dataset_id: str
    workspace: str = ""
    forced: bool = Field(default=False, description="deleted while packages were claimed")


class JobUpdated(EventData):
    """Settings of a job changed (members, description, items synchronised...)."""

    TYPE = "labelops.job.updated.v1"
    TOPIC = topics.JOBS_EVENTS
    job_id: str
    job: JobSpec
    item_count: int = 0
    changed: list[str] = Field(default=[], description="the settings that changed")


class JobLabelAdded(EventData):
    TYPE = "labelops.job.label_added.v1"
    TOPIC = topics.JOBS_EVENTS
    job_id: str
    label: LabelDef
    job: JobSpec


class JobLabelRenamed(EventData):
    """Rewrite every stored answer of the job: ``old_name`` becomes ``new_name`` (for an
    entity label also where relation labels and attributes name it)."""

    TYPE = "labelops.job.label_renamed.v1"
    TOPIC = topics.JOBS_EVENTS
    job_id: str
    kind: str = Field(description="entity | relation")
    label_class: str = ""
    old_name: str
    new_name: str
    job: JobSpec


class JobLabelDeleted(EventData):
    """Remove the label from every stored answer of the job; with ``delete_items`` also
    drop the items whose only label it was."""

    TYPE = "labelops.job.label_deleted.v1"
    TOPIC = topics.JOBS_EVENTS
    job_id: str
    kind: str = Field(description="entity | relation")
    label_class: str = ""
    name: str
    delete_items: bool = False
    job: JobSpec


class TeamMember(Value):
    email: str
    role: str = Field(description="labeler | reviewer | manager")


class TeamChanged(EventData):
    """A team's whole state after a change (created, renamed, members changed, deleted)."""

    TYPE = "labelops.team.changed.v1"
    TOPIC = topics.JOBS_EVENTS
    team_id: str
    workspace: str
    name: str
    members: list[TeamMember] = []
    deleted: bool = False

    def partition_key(self) -> str:
        return self.team_id


# --- assignment -------------------------------------------------------------------------


class PackageCreated(EventData):
    TYPE = "labelops.package.created.v1"
    TOPIC = topics.ASSIGNMENT_EVENTS
    job_id: str
    package_id: str
    index: int
    item_ids: list[str]


class PackageClaimed(EventData):
    TYPE = "labelops.package.claimed.v1"
    TOPIC = topics.ASSIGNMENT_EVENTS
    job_id: str
    package_id: str
    stage: str
    holder: str


class SubmittedItem(Value):
    item_id: str
    answer: dict[str, Any] = Field(description="the labeler's answer, by topic")
    hard: bool = Field(default=False, description="marked as a hard example")
    invalid: bool = Field(default=False, description="marked invalid (no answer expected)")


class PackageSubmitted(EventData):
    TYPE = "labelops.package.submitted.v1"
    TOPIC = topics.ASSIGNMENT_EVENTS
    job_id: str
    package_id: str
    labeler: str
    item_count: int
    items: list[SubmittedItem] = Field(
        default=[], description="the submitted answers (what training on submitted work reads)")
    skipped_labeling: bool = Field(
        default=False, description="formal pre-labels: submitted by the system, not a labeler")


class PackageReleased(EventData):
    """A package went back to the pool of its stage: released by its holder or an
    administrator, or its claim's lease expired. Drafts are kept."""

    TYPE = "labelops.package.released.v1"
    TOPIC = topics.ASSIGNMENT_EVENTS
    job_id: str
    package_id: str
    stage: str
    holder: str = Field(description="who held it")
    by: str = Field(description="who released it ('' when the lease expired)")
    reason: str = Field(description="why: 'lease expired', or the releaser's words")


class PackageTransferred(EventData):
    TYPE = "labelops.package.transferred.v1"
    TOPIC = topics.ASSIGNMENT_EVENTS
    job_id: str
    package_id: str
    stage: str
    from_holder: str
    to_holder: str
    by: str
    reason: str


class PackageItemsRemoved(EventData):
    """Items left the package (deleted from the dataset, or deleted with their only label).
    A package left empty is closed."""

    TYPE = "labelops.package.items_removed.v1"
    TOPIC = topics.ASSIGNMENT_EVENTS
    job_id: str
    package_id: str
    item_ids: list[str]
    reason: str
    closed: bool = False


class ItemRejection(Value):
    item_id: str
    reason: str


class PackageChecked(EventData):
    TYPE = "labelops.package.checked.v1"
    TOPIC = topics.ASSIGNMENT_EVENTS
    job_id: str
    package_id: str
    checker: str
    passed: bool
    rating: str = ""
    rejections: list[ItemRejection] = []
    approved: list[str] = Field(default=[], description="items inspected and approved as "
                                "labeled")
    modified: list[str] = Field(default=[], description="items the checker saved a version "
                                "of in this check (kept beside the labeler's answer)")


class AcceptedItem(Value):
    item_id: str
    data: dict[str, Any]
    answer: dict[str, Any]
    labeler: str
    revision: int
    hard: bool = Field(default=False, description="marked as a hard example")


class PackageAccepted(EventData):
    TYPE = "labelops.package.accepted.v1"
    TOPIC = topics.ASSIGNMENT_EVENTS
    job_id: str
    package_id: str
    accepter: str
    items: list[AcceptedItem]


class PackageRejected(EventData):
    TYPE = "labelops.package.rejected.v1"
    TOPIC = topics.ASSIGNMENT_EVENTS
    job_id: str
    package_id: str
    stage: str
    by: str
    rejections: list[ItemRejection]


class ItemRevised(EventData):
    """An administrator changed an accepted item's answer. ``revision`` is greater than
    every earlier revision of the item (its acceptance's included), so the latest revision
    wins wherever accepted results are kept; ``data`` is the item's dataset record, so a
    consumer never has to ask for it."""

    TYPE = "labelops.package.item_revised.v1"
    TOPIC = topics.ASSIGNMENT_EVENTS
    job_id: str
    package_id: str
    item_id: str
    answer: dict[str, Any]
    revision: int
    by: str
    reason: str
    data: dict[str, Any]
    labeler: str = Field(default="", description="who labeled the accepted answer")
    hard: bool = Field(default=False, description="marked as a hard example")


class JobCompleted(EventData):
    TYPE = "labelops.job.completed.v1"
    TOPIC = topics.ASSIGNMENT_EVENTS
    job_id: str
    package_count: int
    item_count: int


# --- prelabel ---------------------------------------------------------------------------


class Prediction(Value):
    item_id: str
    topic: str
    answer: Any
    confidence: float | None = None
    hard: bool = Field(default=False, description="auto labeling: a hard example (low "
                       "confidence or a small margin between the two best answers)")


class InvalidValue(Value):
    """A pre-label value the topic's answer schema refused (never stops the others)."""

    item_id: str
    field: str = Field(description="the dataset field (offline) or 'model' (online)")
    topic: str = ""
    reason: str


class PredictionsReady(EventData):
    TYPE = "labelops.prelabel.predictions_ready.v1"
    TOPIC = topics.PRELABEL_EVENTS
    job_id: str
    source: str = Field(description="offline | online | auto")
    predictions: list[Prediction]
    invalid_count: int = 0
    invalid: list[InvalidValue] = Field(
        default=[], description="the values refused in this chunk, with their reasons")
    to_confirm: bool = Field(
        default=False, description="auto labeling: the predictions wait in 'to be confirmed' "
        "until a worker confirms or corrects them")
    run_id: str = Field(default="", description="the auto-labeling run or online run")
    model_version: str = Field(default="", description="online: as the model reported it; "
                               "auto: the run's model")


class ItemFailure(Value):
    item_id: str
    reason: str


class PrelabelFailed(EventData):
    """The model could not pre-label these items (unreachable, timed out, circuit open, or an
    error for the item): they stay unlabeled and people label them; the job goes on."""

    TYPE = "labelops.prelabel.failed.v1"
    TOPIC = topics.PRELABEL_EVENTS
    job_id: str
    source: str = Field(default="online", description="online | auto")
    run_id: str = ""
    failures: list[ItemFailure]


class AutoLabelStarted(EventData):
    TYPE = "labelops.prelabel.auto_label_started.v1"
    TOPIC = topics.PRELABEL_EVENTS
    job_id: str
    run_id: str
    model_version: str
    train_on: str = Field(description="accepted | submitted")
    requested_by: str = ""


class HardExamplesFound(EventData):
    """Items an auto-labeling run found hard (at most 1,000 per event)."""

    TYPE = "labelops.prelabel.hard_examples_found.v1"
    TOPIC = topics.PRELABEL_EVENTS
    job_id: str
    run_id: str
    item_ids: list[str]


class AutoLabelFinished(EventData):
    """An auto-labeling run ended: its model ("training finished") and what it labeled."""

    TYPE = "labelops.prelabel.auto_label_finished.v1"
    TOPIC = topics.PRELABEL_EVENTS
    job_id: str
    run_id: str
    model_version: str
    state: str = Field(description="done | failed")
    accuracy: float | None = Field(default=None, description="held out labeled items")
    labeled: int = Field(default=0, description="items the run pre-labeled")
    hard_examples: int = 0
    reason: str = Field(default="", description="why it failed")


# --- export -----------------------------------------------------------------------------


class ExportStarted(EventData):
    TYPE = "labelops.export.started.v1"
    TOPIC = topics.EXPORT_EVENTS
    job_id: str
    export_id: str
    format: str
    version: int


class ExportCompleted(EventData):
    TYPE = "labelops.export.completed.v1"
    TOPIC = topics.EXPORT_EVENTS
    job_id: str
    export_id: str
    bucket: str
    object_key: str
    item_count: int
    size_bytes: int
    sha256: str


class ExportFailed(EventData):
    TYPE = "labelops.export.failed.v1"
    TOPIC = topics.EXPORT_EVENTS
    job_id: str
    export_id: str
    reason: str
