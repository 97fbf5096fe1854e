"""gRPC servicer of the jobs service: parse, load, call the domain, commit, answer.

Every change of a job is one outbox commit keyed by the job's next version (see
``versioned``): the stored state and the event announcing it go together, and two
concurrent changes of one job cannot both win.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, NoReturn

import grpc

from labelops.jobs.v1 import jobs_pb2 as pb
from labelops_shared import annotations as shared_annotations
from labelops_shared import auth
from labelops_shared.annotations import FieldError
from labelops_shared.contracts import (
    JobCreated,
    JobDeleted,
    JobFinished,
    JobLabelAdded,
    JobLabelDeleted,
    JobLabelRenamed,
    JobPublished,
    JobUnpublished,
    JobUpdated,
)
from labelops_shared.mongo import Document
from labelops_shared.outbox import Outbox, UnitOfWork
from services.jobs import convert, versioned
from services.jobs.adapters.dataset_client import DatasetNotFound, Datasets
from services.jobs.adapters.repository import JOBS, PROGRESS, Repository, encode
from services.jobs.domain import labels as label_rules
from services.jobs.domain import lifecycle, model
from services.jobs.domain import teams as team_rules
from services.jobs.domain.lifecycle import JobState, Transition
from services.jobs.domain.model import JobError
from services.jobs.teams_api import TeamsMixin

log = logging.getLogger(__name__)
_CHANGERS = auth.ADMINS
ROLES = {
    "CreateJob": _CHANGERS, "PublishJob": _CHANGERS, "UnpublishJob": _CHANGERS,
    "CompleteJob": _CHANGERS, "DeleteJob": _CHANGERS, "CopyJob": _CHANGERS,
    "UpdateJob": _CHANGERS, "AddLabel": _CHANGERS, "UpdateLabel": _CHANGERS,
    "DeleteLabel": _CHANGERS,
    "GetJob": auth.ANYONE, "GetTemplateSchema": auth.ANYONE, "ListTemplates": auth.ANYONE,
    "ListJobs": auth.MEMBERS,
    "CreateTeam": _CHANGERS, "DeleteTeam": _CHANGERS, "GetTeam": auth.MEMBERS,
    "ListTeams": auth.MEMBERS,
    "AddTeamMember": _CHANGERS | {auth.TEAM_MANAGER},
    "UpdateTeamMember": _CHANGERS | {auth.TEAM_MANAGER},
    "RemoveTeamMember": _CHANGERS | {auth.TEAM_MANAGER},
}
DEFAULT_PAGE, MAX_PAGE = 50, 200
_UPDATABLE = ("name", "description", "members", "check_percent", "auto_sync")


async def fail(context: Any, exc: JobError,
               code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT) -> NoReturn:
    await context.abort(code, str(exc))
    raise AssertionError("abort returns only by raising")


class _DatasetProblem(Exception):
    def __init__(self, code: grpc.StatusCode, error: FieldError) -> None:
        super().__init__(str(error))
        self.code, self.error = code, error


class JobsServicer(TeamsMixin):
    def __init__(self, repo: Repository, outbox: Outbox, datasets: Datasets, source: str,
                 limits: team_rules.Limits | None = None) -> None:
        self.repo = repo
        self.outbox = outbox
        self.datasets = datasets
        self.source = source
        self.limits = limits or team_rules.Limits()

    # -- helpers -----------------------------------------------------------------------

    async def _job_for_caller(self, job_id: str, context: Any) -> Document:
        doc = await auth.visible_or_abort(await self.repo.job(job_id), context,
                                          f"job {job_id!r}")
        if not _sees(doc):  # as if it did not exist, like another workspace's job
            await context.abort(grpc.StatusCode.NOT_FOUND, f"job {job_id!r} not found")
        return convert.upgrade(doc)

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(source=self.source)

    async def _dataset_facts(self, workspace: str, dataset_id: str, number: int
                             ) -> tuple[model.DatasetFacts, int]:
        """The dataset version a job labels: it must exist in the caller's workspace and be
        READY; version 0 means the latest READY one."""
        if not dataset_id:
            raise _DatasetProblem(grpc.StatusCode.INVALID_ARGUMENT,
                                  FieldError("dataset_id", "required"))
        if number < 0:
            raise _DatasetProblem(grpc.StatusCode.INVALID_ARGUMENT,
                                  FieldError("dataset_version", "0 (latest ready) or a "
                                                                "version number"))
        missing = FieldError("dataset_id", f"dataset {dataset_id!r} not found")
        try:
            dataset = await self.datasets.dataset(dataset_id)
            if workspace not in ("*", dataset.workspace):
                raise _DatasetProblem(grpc.StatusCode.INVALID_ARGUMENT, missing)
            number = number or dataset.latest_version
            if not number:
                raise _DatasetProblem(grpc.StatusCode.FAILED_PRECONDITION,
                                      FieldError("dataset_id", f"dataset {dataset_id!r} has no "
                                                               "ready version yet"))
            version = await self.datasets.version(dataset.id, number)
        except DatasetNotFound:
            if number:
                raise _DatasetProblem(grpc.StatusCode.INVALID_ARGUMENT,
                                      FieldError("dataset_version", f"dataset {dataset_id!r} "
                                                                    f"has no version {number}")
                                      ) from None
            raise _DatasetProblem(grpc.StatusCode.INVALID_ARGUMENT, missing) from None
        if not version.ready:
            raise _DatasetProblem(grpc.StatusCode.FAILED_PRECONDITION,
                                  FieldError("dataset_version", f"version {version.version} "
                                                                "is not ready"))
        known = await self.repo.dataset(dataset.id)
        fields = None
        if known is not None and known.get("latest_version") == version.version:
            fields = frozenset(known.get("fields", []))
        return model.DatasetFacts(dataset.kind, version.item_count, fields), version.version

    async def _validate(self, draft: model.Draft, facts: model.DatasetFacts, workspace: str,
                        context: Any, dataset_problem: _DatasetProblem | None = None,
                        aliases: dict[str, str] | None = None
                        ) -> tuple[model.Settings, dict[str, list[str]]]:
        """``aliases`` names fields as the request did (a shorthand field for a rule's)."""
        teams = await self.team_facts(workspace)
        errors = [dataset_problem.error] if dataset_problem else []
        try:
            settings = model.validate(draft, facts, teams)
        except JobError as exc:
            errors += [FieldError((aliases or {}).get(e.path, e.path), e.reason)
                       for e in exc.errors]
        if errors:
            code = grpc.StatusCode.INVALID_ARGUMENT
            if dataset_problem and len(errors) == 1:
                code = dataset_problem.code
            await fail(context, JobError(errors), code)
        return settings, model.expand_members(settings.members, teams)

    async def _commit(self, context: Any, uow: UnitOfWork, doc: Document) -> None:
        """Commit a change of ``doc`` as its next version (``doc["version"]`` + 1)."""
        await versioned.commit(self.outbox, uow, f"job:{doc['_id']}", doc["version"] + 1)

    async def _answer(self, doc: Document) -> pb.Job:
        return convert.job_pb(doc, await self.repo.progress(doc["_id"]))

    async def _changing(self, context: Any, job_id: str, change: Any) -> pb.Job:
        """Load the job, let ``change(doc)`` build the unit of work and the new document,
        commit it as the next version; again on a concurrent change."""
        async def attempt() -> Document:
            doc = await self._job_for_caller(job_id, context)
            uow, new_doc = await change(doc)
            await self._commit(context, uow, doc)
            return dict(new_doc)

        try:
            return await self._answer(await versioned.retrying(attempt))
        except versioned.Conflict as exc:
            await context.abort(grpc.StatusCode.ABORTED, f"{exc}; try again")
            raise

    # -- create, copy, update ----------------------------------------------------------

    async def CreateJob(self, request: pb.CreateJobRequest, context: Any) -> pb.Job:
        caller = auth.principal()
        try:
            draft = convert.draft_from_request(request)
        except JobError as exc:
            await fail(context, exc)
        problem = None
        try:
            facts, version = await self._dataset_facts(caller.workspace, request.dataset_id,
                                                       request.dataset_version)
        except _DatasetProblem as exc:
            problem = exc
            facts, version = model.DatasetFacts("", 0), 0
        aliases = {}  # shorthand fields are named as the request named them
        if request.package_size:
            aliases["package_rule.size"] = "package_size"
        if request.prelabel_field:
            aliases["prelabel.mapping[0].field"] = "prelabel_field"
        if request.check_ratio and not request.check_percent:
            aliases["check_percent"] = "check_ratio"
        settings, effective = await self._validate(draft, facts, caller.workspace, context,
                                                   problem, aliases)
        doc = self._new_job(caller, request.dataset_id, version, facts, settings, effective)
        return await self._create(context, doc, copied_from="")

    def _new_job(self, caller: auth.Principal, dataset_id: str, version: int,
                 facts: model.DatasetFacts, settings: model.Settings,
                 effective: dict[str, list[str]]) -> Document:
        now = datetime.now(UTC)
        return {
            "_id": uuid.uuid4().hex, "workspace": caller.workspace, "dataset_id": dataset_id,
            "dataset_version": version, "dataset_kind": facts.kind,
            "item_count": facts.item_count, "state": JobState.DRAFT.value,
            "created_at": now, "created_seq": _creation_seq(), "updated_at": now,
            "created_by": caller.subject,
            "version": 0, "copied_from": "",
            **convert.settings_fields(settings, effective),
        }

    async def _create(self, context: Any, doc: Document, copied_from: str) -> pb.Job:
        doc = {**doc, "version": 1, "copied_from": copied_from}
        uow = self._uow()
        uow.put(JOBS, encode(doc))
        uow.emit(JobCreated(job_id=doc["_id"], job=convert.job_spec(doc),
                            copied_from=copied_from), subject=f"jobs/{doc['_id']}")
        await versioned.commit(self.outbox, uow, f"job:{doc['_id']}", 1)
        return convert.job_pb(doc)

    async def CopyJob(self, request: pb.CopyJobRequest, context: Any) -> pb.Job:
        """Same settings on the dataset's latest ready version, no results."""
        source = await self._job_for_caller(request.job_id, context)
        caller = auth.principal()
        name = request.name or model.copy_name(source["name"], secrets.token_hex(2))
        draft = replace(convert.draft_of(source), name=name,
                        description=request.description or source["description"])
        problem = None
        try:
            facts, version = await self._dataset_facts(source["workspace"],
                                                        source["dataset_id"], 0)
        except _DatasetProblem as exc:
            problem = exc
            facts, version = model.DatasetFacts("", 0), 0
        settings, effective = await self._validate(draft, facts, source["workspace"], context,
                                                   problem)
        owner = auth.Principal(caller.subject, source["workspace"], caller.roles)
        doc = self._new_job(owner, source["dataset_id"], version, facts, settings, effective)
        return await self._create(context, doc, copied_from=source["_id"])

    async def UpdateJob(self, request: pb.UpdateJobRequest, context: Any) -> pb.Job:
        mask = list(dict.fromkeys(request.update_mask))
        unknown = [f for f in mask if f not in _UPDATABLE]
        if not mask or unknown:
            await fail(context, JobError([FieldError(
                "update_mask", f"name the fields to change among {', '.join(_UPDATABLE)}"
                + (f"; unknown: {', '.join(unknown)}" if unknown else ""))]))

        async def change(doc: Document) -> tuple[UnitOfWork, Document]:
            if doc["state"] == JobState.COMPLETED:
                await fail(context, JobError([FieldError("state", "a completed job does not "
                                                                  "change")]),
                           grpc.StatusCode.FAILED_PRECONDITION)
            if "check_percent" in mask and doc["state"] != JobState.DRAFT:
                await fail(context, JobError([FieldError(
                    "check_percent", "the check proportion changes only while the job is a "
                                     "draft")]), grpc.StatusCode.FAILED_PRECONDITION)
            draft = convert.draft_of(doc)
            changes: dict[str, Any] = {}
            if "name" in mask:
                changes["name"] = request.name
            if "description" in mask:
                changes["description"] = request.description
            if "members" in mask:
                changes["members"] = convert.members_from_pb(request.members)
            if "check_percent" in mask:
                changes["check_percent"] = request.check_percent or None
            if "auto_sync" in mask:
                changes["auto_sync"] = request.auto_sync
            settings, effective = await self._validate(replace(draft, **changes),
                                                       self._stored_facts(doc),
                                                       doc["workspace"], context)
            return self._settings_change(doc, settings, effective, lambda new: JobUpdated(
                job_id=doc["_id"], job=convert.job_spec(new), item_count=new["item_count"],
                changed=mask))

        return await self._changing(context, request.job_id, change)

    @staticmethod
    def _stored_facts(doc: Document) -> model.DatasetFacts:
        """The dataset as the job knows it: re-validating stored settings checks what the
        change touches, not the dataset again (its fields are not re-read)."""
        return model.DatasetFacts(doc.get("dataset_kind") or "", doc["item_count"], None)

    def _settings_change(self, doc: Document, settings: model.Settings,
                         effective: dict[str, list[str]], event: Any
                         ) -> tuple[UnitOfWork, Document]:
        fields = {**convert.settings_fields(settings, effective), "version": doc["version"] + 1,
                  "updated_at": datetime.now(UTC)}
        new = {**doc, **fields}
        uow = self._uow()
        uow.set(JOBS, doc["_id"], encode(fields))
        uow.emit(event(new), subject=f"jobs/{doc['_id']}")
        return uow, new

    async def refresh_team_jobs(self, workspace: str, team_id: str) -> None:
        """After a team's members changed, every job naming the team that is not completed
        resolves its members again (JobUpdated, changed: members); a job changed meanwhile
        is refreshed on its newer version."""
        teams = await self.team_facts(workspace)
        for light in await self.repo.jobs_of(workspace):
            if team_id not in light.get("team_refs", []) \
                    or light.get("state") == JobState.COMPLETED:
                continue

            async def attempt(job_id: str = light["_id"]) -> None:
                stored = await self.repo.job(job_id)
                if stored is None:
                    return
                doc = convert.upgrade(stored)
                draft = convert.draft_of(doc)
                effective = model.expand_members(draft.members, teams)
                if effective == doc["effective_members"]:
                    return
                fields = {"effective_members": effective, "version": doc["version"] + 1,
                          "participants": convert.participants(effective,
                                                               draft.package_rule.labelers),
                          "updated_at": datetime.now(UTC)}
                new = {**doc, **fields}
                uow = self._uow()
                uow.set(JOBS, job_id, encode(fields))
                uow.emit(JobUpdated(job_id=job_id, job=convert.job_spec(new),
                                    item_count=doc["item_count"], changed=["members"]),
                         subject=f"jobs/{job_id}")
                await self._commit(None, uow, doc)

            try:
                await versioned.retrying(attempt)
            except versioned.Conflict:  # the team change stands; the job keeps its old
                # members until its next change or publication resolves them again
                log.warning("job members not refreshed after a team change",
                            extra={"job": light["_id"], "team": team_id})

    # -- lifecycle ---------------------------------------------------------------------

    async def _transition(self, context: Any, job_id: str, action: str) -> pb.Job:
        async def change(doc: Document) -> tuple[UnitOfWork, Document]:
            try:
                state, transition = lifecycle.move(doc["state"], action)
            except JobError as exc:
                await fail(context, exc, grpc.StatusCode.FAILED_PRECONDITION)
            now = datetime.now(UTC)
            fields: dict[str, Any] = {"state": state.value, "version": doc["version"] + 1,
                                      "updated_at": now, f"{state.value}_at": now}
            if transition in (Transition.PUBLISH, Transition.REPUBLISH):
                # Teams may have changed since the job was written: resolve them now.
                draft = convert.draft_of(doc)
                teams = await self.team_facts(doc["workspace"])
                effective = model.expand_members(draft.members, teams)
                fields["effective_members"] = effective
                fields["participants"] = convert.participants(
                    effective, draft.package_rule.labelers)
            new = {**doc, **fields}
            uow = self._uow()
            uow.set(JOBS, doc["_id"], encode(fields))
            subject = f"jobs/{doc['_id']}"
            if transition in (Transition.PUBLISH, Transition.REPUBLISH):
                uow.emit(JobPublished(job_id=doc["_id"], job=convert.job_spec(new),
                                      item_count=doc["item_count"],
                                      republished=transition is Transition.REPUBLISH),
                         subject=subject)
            elif transition is Transition.UNPUBLISH:
                uow.emit(JobUnpublished(job_id=doc["_id"], dataset_id=doc["dataset_id"],
                                        workspace=doc["workspace"]), subject=subject)
            else:
                uow.emit(JobFinished(job_id=doc["_id"], dataset_id=doc["dataset_id"],
                                     workspace=doc["workspace"],
                                     by=auth.principal().subject), subject=subject)
            return uow, new

        return await self._changing(context, job_id, change)

    async def PublishJob(self, request: pb.PublishJobRequest, context: Any) -> pb.Job:
        return await self._transition(context, request.job_id, "publish")

    async def UnpublishJob(self, request: pb.UnpublishJobRequest, context: Any) -> pb.Job:
        return await self._transition(context, request.job_id, "unpublish")

    async def CompleteJob(self, request: pb.CompleteJobRequest, context: Any) -> pb.Job:
        return await self._transition(context, request.job_id, "complete")

    async def DeleteJob(self, request: pb.DeleteJobRequest,
                        context: Any) -> pb.DeleteJobResponse:
        caller = auth.principal()

        async def attempt() -> bool:
            doc = await self._job_for_caller(request.job_id, context)
            counters = await self.repo.progress(doc["_id"]) or {}
            decision = lifecycle.may_delete(counters.get("held", 0), force=request.force,
                                            can_force=caller.has(auth.WORKSPACE_ADMIN))
            if not decision.allowed:
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, decision.reason)
            uow = self._uow()
            uow.delete(JOBS, doc["_id"])
            uow.delete(PROGRESS, doc["_id"])
            uow.emit(JobDeleted(job_id=doc["_id"], dataset_id=doc["dataset_id"],
                                workspace=doc["workspace"], forced=decision.forced),
                     subject=f"jobs/{doc['_id']}")
            await self._commit(context, uow, doc)
            return decision.forced

        try:
            forced = await versioned.retrying(attempt)
        except versioned.Conflict as exc:
            await context.abort(grpc.StatusCode.ABORTED, f"{exc}; try again")
        return pb.DeleteJobResponse(job_id=request.job_id, forced=forced)

    # -- labels ------------------------------------------------------------------------

    async def _relabel(self, context: Any, job_id: str, edit: Any, event: Any) -> pb.Job:
        """Apply ``edit(labels, template_options)`` -> (labels, options) and rebuild the
        template from the new label set; ``event(old doc, new doc)`` announces it."""
        async def change(doc: Document) -> tuple[UnitOfWork, Document]:
            try:
                lifecycle.editable_labels(doc["state"])
            except JobError as exc:
                await fail(context, exc, grpc.StatusCode.FAILED_PRECONDITION)
            try:
                new_labels, options = edit(doc["labels"], doc["template_options"])
            except JobError as exc:
                # An unknown label, an entity label relations use: not what the job allows.
                await fail(context, exc, grpc.StatusCode.FAILED_PRECONDITION)
            draft = replace(convert.draft_of(doc), labels=new_labels, template_options=options)
            settings, effective = await self._validate(draft, self._stored_facts(doc),
                                                       doc["workspace"], context)
            return self._settings_change(doc, settings, effective,
                                         lambda new: event(doc, new))

        return await self._changing(context, job_id, change)

    async def AddLabel(self, request: pb.AddLabelRequest, context: Any) -> pb.Job:
        label = convert.label_from_pb(request.label)

        def edit(labels: list[dict[str, Any]], options: dict[str, Any]) -> Any:
            if "topics" in options:
                raise JobError([FieldError("label", "a custom template's labels are set in "
                                                    "its topics (template_options)")])
            return label_rules.add(labels, label), options

        return await self._relabel(context, request.job_id, edit, lambda old, new: JobLabelAdded(
            job_id=new["_id"], label=convert.label_def(label), job=convert.job_spec(new)))

    async def UpdateLabel(self, request: pb.UpdateLabelRequest, context: Any) -> pb.Job:
        ref = label_rules.LabelRef(request.name, request.kind or "entity", request.label_class)
        changes = convert.label_from_pb(request.label)
        changes.setdefault("name", request.name)
        renamed: list[str] = []

        def edit(labels: list[dict[str, Any]], options: dict[str, Any]) -> Any:
            look = {**dict.fromkeys(("color", "shortcut", "attributes", "description")),
                    **changes}
            if "topics" not in options:
                new_labels, old = label_rules.update(labels, ref, look)
                renamed[:] = [old] if old else []
                return new_labels, options
            # A custom template: the label lives in its topics (and maybe the label set).
            if ref.name not in label_rules.labels_in_topics(options["topics"], ref.kind):
                raise JobError([FieldError("name", f"no {ref.kind} label {ref.name!r} in the "
                                                   "template's topics")])
            new_labels = list(labels)
            if any(ref.matches(x) for x in labels):
                new_labels, _ = label_rules.update(labels, ref, look)
            if changes["name"] != ref.name:
                renamed[:] = [ref.name]
                options = {**options, "topics": label_rules.rename_in_topics(
                    options["topics"], ref.name, changes["name"], ref.kind)}
            return new_labels, options

        def event(old: Document, new: Document) -> Any:
            if renamed:
                return JobLabelRenamed(job_id=new["_id"], kind=ref.kind,
                                       label_class=ref.label_class, old_name=request.name,
                                       new_name=changes["name"], job=convert.job_spec(new))
            return JobUpdated(job_id=new["_id"], job=convert.job_spec(new),
                              item_count=new["item_count"], changed=["labels"])

        return await self._relabel(context, request.job_id, edit, event)

    async def DeleteLabel(self, request: pb.DeleteLabelRequest, context: Any) -> pb.Job:
        ref = label_rules.LabelRef(request.name, request.kind or "entity", request.label_class)

        def edit(labels: list[dict[str, Any]], options: dict[str, Any]) -> Any:
            if "topics" in options:
                if ref.name not in label_rules.labels_in_topics(options["topics"], ref.kind):
                    raise JobError([FieldError("name", f"no {ref.kind} label {ref.name!r} in "
                                                       "the template's topics")])
                users = label_rules.relation_users(options["topics"], ref.name) \
                    if ref.kind == "entity" else []
                if users:
                    raise JobError([FieldError("name", f"entity label {ref.name!r} is used by "
                                                       f"relation label(s) "
                                                       f"{', '.join(map(repr, users))}")])
                options = {**options, "topics": label_rules.remove_from_topics(
                    options["topics"], ref.name, ref.kind)}
                return [x for x in labels if not ref.matches(x)], options
            return label_rules.delete(labels, ref), options

        return await self._relabel(context, request.job_id, edit, lambda old, new: JobLabelDeleted(
            job_id=new["_id"], kind=ref.kind, label_class=ref.label_class, name=request.name,
            delete_items=request.delete_items, job=convert.job_spec(new)))

    # -- reads -------------------------------------------------------------------------

    async def GetJob(self, request: pb.GetJobRequest, context: Any) -> pb.Job:
        return await self._answer(await self._job_for_caller(request.job_id, context))

    async def GetTemplateSchema(self, request: pb.GetTemplateSchemaRequest,
                                context: Any) -> pb.TemplateSchema:
        doc = await self._job_for_caller(request.job_id, context)
        schema = shared_annotations.answer_json_schema(doc["topics"])
        return pb.TemplateSchema(answer_schema_json=json.dumps(schema, ensure_ascii=False),
                                 topics_json=json.dumps(doc["topics"], ensure_ascii=False),
                                 content_json=json.dumps(doc["content"], ensure_ascii=False),
                                 template=doc["template"])

    async def ListTemplates(self, request: pb.ListTemplatesRequest,
                            context: Any) -> pb.ListTemplatesResponse:
        return pb.ListTemplatesResponse(templates=[
            pb.TemplateInfo(name=p.name, description=p.description,
                            dataset_kinds=sorted(p.dataset_kinds), options=sorted(p.options),
                            relations=p.relations, classes=p.classes, min_labels=p.min_labels)
            for p in shared_annotations.PRESETS.values()])

    async def ListJobs(self, request: pb.ListJobsRequest, context: Any) -> pb.ListJobsResponse:
        size = request.page_size or DEFAULT_PAGE
        if not 1 <= size <= MAX_PAGE:
            await fail(context, JobError([FieldError("page_size", f"1-{MAX_PAGE}")]))
        after = None
        if request.page_token:
            try:
                after = _decode_token(request.page_token)
            except ValueError:
                await fail(context, JobError([FieldError("page_token", "not a token of this "
                                                                       "listing")]))
        state = convert.PB_TO_STATE.get(request.state) if request.state else None
        if request.state and state is None:
            await fail(context, JobError([FieldError("state", "unknown state")]))
        wanted = []
        for doc in await self.repo.jobs_of(auth.principal().workspace):
            if (not _sees(doc) or (state and doc.get("state") != state)
                    or (request.template and doc.get("template") != request.template)
                    or (request.dataset_id and doc.get("dataset_id") != request.dataset_id)
                    or (request.creator and doc.get("created_by") != request.creator)
                    or (request.participant
                        and request.participant not in _participants(doc))):
                continue
            position = _position(doc)
            if after is not None and position <= after:
                continue
            wanted.append((position, doc["_id"]))
        wanted.sort()
        page, more = wanted[:size], len(wanted) > size
        jobs = []
        for _, job_id in page:
            doc = await self.repo.job(job_id)
            if doc is not None:
                jobs.append(await self._answer(convert.upgrade(doc)))
        token = _encode_token(page[-1][0]) if more and page else ""
        return pb.ListJobsResponse(jobs=jobs, next_page_token=token)


# Workspace roles that see every job of their workspace. Labelers, checkers and accepters
# see only the jobs they may work on: a job's settings, members and instructions are not
# every worker's business.
_SEES_EVERY_JOB = auth.ADMINS | {auth.TEAM_MANAGER, auth.SERVICE}
_JOB_ROLE_OF = {auth.LABELER: model.Role.LABELERS, auth.CHECKER: model.Role.CHECKERS,
                auth.ACCEPTER: model.Role.ACCEPTERS}


def _sees(doc: Document) -> bool:
    """Whether the caller may see the job (it is in their workspace)."""
    caller = auth.principal()
    if caller.roles & _SEES_EVERY_JOB or caller.subject in _participants(doc):
        return True
    members = doc.get("members") or {}
    effective = doc.get("effective_members")
    if effective is None:  # stored before settings were JSON: people per role, no teams
        effective, teams = members, {}
    else:
        teams = members.get("teams") or {}
    roles = [_JOB_ROLE_OF[r] for r in sorted(caller.roles) if r in _JOB_ROLE_OF]
    workflow = model.Workflow(doc.get("workflow") or model.Workflow.LABEL_CHECK_ACCEPT)
    return model.works_on(effective, teams, workflow, roles, caller.subject)


def _participants(doc: Document) -> list[str]:
    found = doc.get("participants")
    if found is None:  # stored before participants were kept
        return [p for people in doc.get("members", {}).values() for p in people]
    return list(found)


_last_seq = 0


def _creation_seq() -> int:
    """Nanoseconds since the epoch, strictly increasing in this process: orders jobs created
    within one millisecond (the database keeps dates to the millisecond)."""
    global _last_seq
    _last_seq = max(_last_seq + 1, time.time_ns())
    return _last_seq


def _position(doc: Document) -> tuple[int, str]:
    """Newest first: the sort key ascends as jobs get older (ties by id)."""
    seq = doc.get("created_seq")
    if seq is None:  # stored before jobs had one
        created = doc["created_at"]
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        seq = int(created.timestamp() * 1e9)
    return (-int(seq), doc["_id"])


def _encode_token(position: tuple[int, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode()


def _decode_token(token: str) -> tuple[int, str]:
    try:
        moment, job_id = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
        raise ValueError("bad token") from exc
    if type(moment) is not int or not isinstance(job_id, str):
        raise ValueError("bad token")
    return (moment, job_id)
