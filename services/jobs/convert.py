"""Translations between the wire (protobuf), the domain (settings) and the stored job."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from labelops.jobs.v1 import jobs_pb2 as pb
from labelops_shared import jsontext
from labelops_shared.annotations import FieldError
from labelops_shared.contracts import (
    FieldTopic,
    JobMembers,
    JobSpec,
    LabelDef,
    PackageRuleSpec,
    PrelabelSpec,
)
from labelops_shared.mongo import Document
from services.jobs.domain import model
from services.jobs.domain.lifecycle import JobState
from services.jobs.domain.model import JobError, Role

WORKFLOW_TO_PB = {
    model.Workflow.LABEL: pb.WORKFLOW_LABEL,
    model.Workflow.LABEL_CHECK: pb.WORKFLOW_LABEL_CHECK,
    model.Workflow.LABEL_CHECK_ACCEPT: pb.WORKFLOW_LABEL_CHECK_ACCEPT,
}
PB_TO_WORKFLOW = {v: k.value for k, v in WORKFLOW_TO_PB.items()}
STATE_TO_PB = {JobState.DRAFT: pb.JOB_STATE_DRAFT, JobState.PUBLISHED: pb.JOB_STATE_PUBLISHED,
               JobState.UNPUBLISHED: pb.JOB_STATE_UNPUBLISHED,
               JobState.COMPLETED: pb.JOB_STATE_COMPLETED}
PB_TO_STATE = {v: k.value for k, v in STATE_TO_PB.items()}
RULE_TO_PB = {"fixed": pb.PACKAGE_RULE_FIXED, "group": pb.PACKAGE_RULE_GROUP,
              "targeted": pb.PACKAGE_RULE_TARGETED}
PB_TO_RULE = {pb.PACKAGE_RULE_UNSPECIFIED: "fixed", **{v: k for k, v in RULE_TO_PB.items()}}
MODE_TO_PB = {"none": pb.PRELABEL_MODE_NONE, "offline": pb.PRELABEL_MODE_OFFLINE,
              "online": pb.PRELABEL_MODE_ONLINE}
PB_TO_MODE = {pb.PRELABEL_MODE_UNSPECIFIED: "none", **{v: k for k, v in MODE_TO_PB.items()}}
STAGE_TO_PB = {"": pb.PRELABEL_STAGE_UNSPECIFIED, "prelabel": pb.PRELABEL_STAGE_PRELABEL,
               "formal": pb.PRELABEL_STAGE_FORMAL}
PB_TO_STAGE = {v: k for k, v in STAGE_TO_PB.items()}


# -- from the wire -------------------------------------------------------------------------


def label_from_pb(label: pb.Label) -> dict[str, Any]:
    out: dict[str, Any] = {"name": label.name, "color": label.color,
                           "shortcut": label.shortcut, "kind": label.kind,
                           "class": label.label_class, "description": label.description,
                           "source": list(label.source), "target": list(label.target)}
    if label.attributes:
        out["attributes"] = [
            {"name": a.name, **({"values": list(a.values)} if a.values else {}),
             **({"required": True} if a.required else {})} for a in label.attributes]
    return model.normalise_label(out)


def members_from_pb(members: pb.Members) -> model.Members:
    people = {role.value: tuple(getattr(members, role.value)) for role in Role
              if getattr(members, role.value)}
    teams = {role.value: tuple(getattr(members, f"{role.value[:-1]}_teams")) for role in Role
             if getattr(members, f"{role.value[:-1]}_teams")}
    return model.Members(people, teams)


def json_object(raw: str, path: str) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = jsontext.parse(raw)
    except jsontext.JsonTextError as exc:
        raise JobError([FieldError(path, str(exc))]) from None
    if not isinstance(value, dict):
        raise JobError([FieldError(path, "expected a JSON object")])
    return value


def check_percent_from(percent: int, ratio: float) -> float | None:
    """The check proportion, from check_percent or its shorthand check_ratio (a share)."""
    if percent and ratio and abs(percent - ratio * 100) > 1e-9:
        raise JobError([FieldError("check_ratio", f"{ratio} disagrees with check_percent "
                                                  f"{percent}")])
    if percent:
        return float(percent)
    if ratio:
        if not 0 < ratio <= 1:
            raise JobError([FieldError("check_ratio", "must be in (0, 1] (a share of the "
                                                      "items; check_percent takes 1-100)")])
        # Rounded: 0.3 * 100 is 30.000000000000004, and a share computed back from it would
        # sample one item more (ceil) than the caller asked for.
        return round(ratio * 100, 6)
    return None


def draft_from_request(request: pb.CreateJobRequest) -> model.Draft:
    errors: list[FieldError] = []
    try:
        options = json_object(request.template_options_json, "template_options_json")
    except JobError as exc:
        errors += exc.errors
        options = {}
    try:
        percent = check_percent_from(request.check_percent, request.check_ratio)
    except JobError as exc:
        errors += exc.errors
        percent = None
    rule = request.package_rule
    kind = PB_TO_RULE.get(rule.kind, f"#{rule.kind}")
    size = rule.size
    if request.package_size:
        if size and size != request.package_size:
            errors.append(FieldError("package_size", "disagrees with package_rule.size"))
        size = request.package_size
    prelabel = request.prelabel
    mode = PB_TO_MODE.get(prelabel.mode, f"#{prelabel.mode}")
    mapping = tuple((m.field, m.topic) for m in prelabel.mapping)
    if request.prelabel_field:
        if mode not in ("none", "offline") or mapping:
            errors.append(FieldError("prelabel_field", "give either prelabel_field or a "
                                                       "prelabel configuration"))
        mode = "offline"
        mapping = ((request.prelabel_field, ""),)  # "": the first topic
    if errors:
        raise JobError(errors)
    return model.Draft(
        name=request.name, description=request.description, template=request.template,
        labels=[label_from_pb(label) for label in request.labels],
        workflow=PB_TO_WORKFLOW.get(request.workflow, ""), template_options=options,
        check_percent=percent,
        package_rule=model.PackageRule(kind=kind, size=size, field=rule.field,
                                       labelers=tuple(rule.labelers), teams=tuple(rule.teams)),
        members=members_from_pb(request.members),
        prelabel=model.Prelabel(mode=mode, mapping=mapping, endpoint=prelabel.endpoint,
                                stage=PB_TO_STAGE.get(prelabel.stage, f"#{prelabel.stage}")),
        auto_sync=request.auto_sync,
    )


# -- stored job <-> domain ------------------------------------------------------------------


def settings_fields(settings: model.Settings,
                    effective: Mapping[str, list[str]]) -> dict[str, Any]:
    """The stored fields of validated settings (JSON-encoded by the repository)."""
    rule = settings.package_rule
    members = settings.members
    return {
        "name": settings.name, "description": settings.description,
        "template": settings.template, "template_options": settings.template_options,
        "content": settings.content, "topics": settings.topics, "labels": settings.labels,
        "workflow": settings.workflow, "check_percent": settings.check_percent,
        "package_rule": {"kind": rule.kind, "size": rule.size, "field": rule.field,
                         "labelers": list(rule.labelers), "teams": list(rule.teams)},
        "members": {"people": {k: list(v) for k, v in members.people.items()},
                    "teams": {k: list(v) for k, v in members.teams.items()}},
        "effective_members": dict(effective),
        "prelabel": {"mode": settings.prelabel.mode,
                     "mapping": [{"field": f, "topic": t} for f, t in settings.prelabel.mapping],
                     "endpoint": settings.prelabel.endpoint, "stage": settings.prelabel.stage},
        "auto_sync": settings.auto_sync,
        "participants": participants(effective, settings.package_rule.labelers),
        "team_refs": sorted({t for ts in members.teams.values() for t in ts}
                            | set(rule.teams)),
    }


def participants(effective: Mapping[str, Iterable[str]], targets: Iterable[str]) -> list[str]:
    found = [p for people in effective.values() for p in people] + list(targets)
    return sorted(set(found))


def upgrade(doc: Document) -> Document:
    """A job stored before settings were JSON (template of four presets, plain members),
    read in today's shape."""
    if "package_rule" in doc:
        return doc
    members = doc.get("members", {})
    people = {k: list(v) for k, v in members.items() if v}
    return {
        **doc, "template_options": {},
        "content": doc.get("layout", {}).get("content", []),
        "labels": [model.normalise_label(label) for label in doc.get("labels", [])],
        "check_percent": doc.get("check_ratio", 1.0) * 100,
        "package_rule": {"kind": "fixed", "size": doc.get("package_size", 100), "field": "",
                         "labelers": [], "teams": []},
        "members": {"people": people, "teams": {}},
        "effective_members": people,
        "prelabel": ({"mode": "offline", "mapping": [{"field": doc["prelabel_field"],
                                                       "topic": doc["topics"][0]["name"]}],
                      "endpoint": "", "stage": "prelabel"}
                     if doc.get("prelabel_field") and doc.get("topics")
                     else {"mode": "none", "mapping": [], "endpoint": "", "stage": ""}),
        "auto_sync": False, "version": doc.get("version", 0),
        "participants": participants(people, []),
    }


def draft_of(doc: Document) -> model.Draft:
    """The settings of a stored job as a draft, to validate again (copies, changes)."""
    rule, prelabel, members = doc["package_rule"], doc["prelabel"], doc["members"]
    return model.Draft(
        name=doc["name"], description=doc["description"], template=doc["template"],
        labels=doc["labels"], workflow=doc["workflow"],
        template_options=doc["template_options"], check_percent=doc["check_percent"],
        package_rule=model.PackageRule(rule["kind"], rule["size"], rule["field"],
                                       tuple(rule["labelers"]), tuple(rule["teams"])),
        members=model.Members({k: tuple(v) for k, v in members["people"].items()},
                              {k: tuple(v) for k, v in members["teams"].items()}),
        prelabel=model.Prelabel(prelabel["mode"],
                                tuple((m["field"], m["topic"]) for m in prelabel["mapping"]),
                                prelabel["endpoint"], prelabel["stage"]),
        auto_sync=doc["auto_sync"],
    )


def prelabel_field(doc: Document) -> str:
    prelabel = doc["prelabel"]
    if prelabel["mode"] != "offline" or not prelabel["mapping"]:
        return ""
    first = doc["topics"][0]["name"] if doc["topics"] else ""
    for m in prelabel["mapping"]:
        if m["topic"] == first:
            return str(m["field"])
    return str(prelabel["mapping"][0]["field"])


# -- to the wire and to events --------------------------------------------------------------


def _label_def(label: Mapping[str, Any]) -> LabelDef:
    return LabelDef(name=label["name"], color=label.get("color", ""),
                    shortcut=label.get("shortcut", ""), kind=label.get("kind", "entity"),
                    label_class=label.get("class", ""), source=label.get("source", []),
                    target=label.get("target", []), attributes=label.get("attributes", []),
                    description=label.get("description", ""))


def label_def(label: Mapping[str, Any]) -> LabelDef:
    return _label_def(label)


def job_spec(doc: Document) -> JobSpec:
    effective, teams = doc["effective_members"], doc["members"]["teams"]
    rule, prelabel = doc["package_rule"], doc["prelabel"]
    return JobSpec(
        job_id=doc["_id"], workspace=doc["workspace"], name=doc["name"],
        dataset_id=doc["dataset_id"], dataset_version=doc["dataset_version"],
        template=doc["template"], topics=doc["topics"],
        labels=[_label_def(label) for label in doc["labels"]], workflow=doc["workflow"],
        package_size=rule["size"] or model.DEFAULT_PACKAGE_SIZE,
        check_ratio=doc["check_percent"] / 100, prelabel_field=prelabel_field(doc),
        members=JobMembers(**{role.value: effective.get(role.value, []) for role in Role},
                           **{f"{role.value[:-1]}_teams": teams.get(role.value, [])
                              for role in Role}),
        description=doc["description"], content=doc["content"],
        check_percent=doc["check_percent"],
        package_rule=PackageRuleSpec(kind=rule["kind"], size=rule["size"],
                                     group_field=rule["field"], labelers=rule["labelers"],
                                     teams=rule["teams"]),
        prelabel=PrelabelSpec(mode=prelabel["mode"],
                              mapping=[FieldTopic(**m) for m in prelabel["mapping"]],
                              endpoint=prelabel["endpoint"], stage=prelabel["stage"]),
        auto_sync=doc["auto_sync"], created_by=doc.get("created_by", ""),
    )


def _members_pb(people: Mapping[str, list[str]], teams: Mapping[str, list[str]]) -> pb.Members:
    return pb.Members(**{role.value: people.get(role.value, []) for role in Role},
                      **{f"{role.value[:-1]}_teams": teams.get(role.value, [])
                         for role in Role})


def label_pb(label: Mapping[str, Any]) -> pb.Label:
    return pb.Label(
        name=label["name"], color=label.get("color", ""), shortcut=label.get("shortcut", ""),
        kind=label.get("kind", "entity"), label_class=label.get("class", ""),
        source=label.get("source", []), target=label.get("target", []),
        description=label.get("description", ""),
        attributes=[pb.LabelAttribute(name=a["name"], values=a.get("values", []),
                                      required=a.get("required", False))
                    for a in label.get("attributes", [])])


def progress_pb(doc: Document, progress: Document | None) -> pb.Progress:
    counters = progress or {}
    return pb.Progress(total=doc.get("item_count", 0), labeled=counters.get("labeled", 0),
                       checked=counters.get("checked", 0), accepted=counters.get("accepted", 0),
                       rejected=counters.get("rejected", 0),
                       packages=counters.get("packages", 0), claimed=counters.get("held", 0))


def job_pb(doc: Document, progress: Document | None = None) -> pb.Job:
    rule, prelabel = doc["package_rule"], doc["prelabel"]
    return pb.Job(
        id=doc["_id"], workspace=doc["workspace"], name=doc["name"],
        description=doc["description"], dataset_id=doc["dataset_id"],
        dataset_version=doc["dataset_version"], template=doc["template"],
        topics_json=json.dumps(doc["topics"], ensure_ascii=False),
        layout_json=json.dumps({"content": doc["content"]}, ensure_ascii=False),
        template_options_json=json.dumps(doc["template_options"], ensure_ascii=False),
        labels=[label_pb(label) for label in doc["labels"]],
        workflow=WORKFLOW_TO_PB[model.Workflow(doc["workflow"])],
        package_size=rule["size"] or model.DEFAULT_PACKAGE_SIZE,
        check_ratio=doc["check_percent"] / 100, check_percent=round(doc["check_percent"]),
        prelabel_field=prelabel_field(doc),
        members=_members_pb(doc["members"]["people"], doc["members"]["teams"]),
        effective_members=_members_pb(doc["effective_members"], {}),
        package_rule=pb.PackageRule(kind=RULE_TO_PB[rule["kind"]], size=rule["size"],
                                    field=rule["field"], labelers=rule["labelers"],
                                    teams=rule["teams"]),
        prelabel=pb.Prelabel(mode=MODE_TO_PB[prelabel["mode"]],
                             mapping=[pb.FieldTopic(**m) for m in prelabel["mapping"]],
                             endpoint=prelabel["endpoint"],
                             stage=STAGE_TO_PB.get(prelabel["stage"], 0)),
        auto_sync=doc["auto_sync"], state=STATE_TO_PB[JobState(doc["state"])],
        item_count=doc["item_count"], created_at=doc["created_at"].isoformat(),
        created_by=doc.get("created_by", ""), version=doc.get("version", 0),
        copied_from=doc.get("copied_from", ""), progress=progress_pb(doc, progress),
    )
