"""Job settings and their rules. Pure: values in, validated settings or errors out.

A job is created from a :class:`Draft` (what the caller asked for) and the facts the
service looked up (:class:`DatasetFacts`, the workspace's teams). :func:`validate` checks
every rule and returns the normalised :class:`Settings`, or raises :class:`JobError` listing
every broken rule, each naming its field (``package_rule.size: ...``). Nothing is stored
when a rule is broken: the caller validates before it writes.

Templates, topics and label sets are the shared model of
:mod:`labelops_shared.annotations`: a job keeps the compiled template (content and topics),
which travels to the other services in ``JobSpec``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from labelops_shared.annotations import FieldError, TemplateError
from labelops_shared.annotations import build_template as build_shared_template

# A letter, digit or CJK ideograph first, then also '_' and '-'; 1-100 characters.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
_NAME = re.compile(rf"^[A-Za-z0-9{_CJK}][A-Za-z0-9{_CJK}_-]{{0,99}}$")
# scheme://authority[/path?query#fragment]; the authority is [user@]host[:port].
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)"
                  r"(?P<rest>[/?#].*)?$", re.DOTALL)
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$")
NAME_RULE = ("1-100 characters, starting with a letter, digit or CJK character, then "
             "letters, digits, CJK characters, '_' or '-'")
MAX_NAME = 100
MAX_DESCRIPTION = 256
MAX_PERSON = 256  # a person is named by their subject (an email for team members)
MAX_ENDPOINT = 2048
DEFAULT_PACKAGE_SIZE = 100
DEFAULT_CHECK_PERCENT = 100


class Workflow(StrEnum):
    LABEL = "label"
    LABEL_CHECK = "label_check"
    LABEL_CHECK_ACCEPT = "label_check_accept"

    @property
    def has_check(self) -> bool:
        return self is not Workflow.LABEL

    @property
    def has_accept(self) -> bool:
        return self is Workflow.LABEL_CHECK_ACCEPT


class PackageRuleKind(StrEnum):
    FIXED = "fixed"        # a fixed number of items per package
    GROUP = "group"        # items with the same value of a dataset field form a package
    TARGETED = "targeted"  # packages are cut by size and reserved for named labelers/teams


class PrelabelMode(StrEnum):
    NONE = "none"
    OFFLINE = "offline"  # the items carry the predictions in their own fields
    ONLINE = "online"    # a model service predicts


class PrelabelStage(StrEnum):
    PRELABEL = "prelabel"  # predictions are shown; workers confirm or correct them
    FORMAL = "formal"      # pre-labeled items skip manual labeling


class Role(StrEnum):
    """The job roles. A team named for a role contributes the members whose team role
    fits it (see :data:`TEAM_ROLES_FOR`)."""

    LABELERS = "labelers"
    CHECKERS = "checkers"
    ACCEPTERS = "accepters"
    ADMINS = "admins"


class TeamRole(StrEnum):
    LABELER = "labeler"
    REVIEWER = "reviewer"
    MANAGER = "manager"


# Which team members a team contributes to a job role.
TEAM_ROLES_FOR: dict[Role, frozenset[TeamRole]] = {
    Role.LABELERS: frozenset({TeamRole.LABELER, TeamRole.MANAGER}),
    Role.CHECKERS: frozenset({TeamRole.REVIEWER, TeamRole.MANAGER}),
    Role.ACCEPTERS: frozenset({TeamRole.MANAGER}),
    Role.ADMINS: frozenset({TeamRole.MANAGER}),
}


class JobError(ValueError):
    """Settings that break rules; ``errors`` name every field at fault."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


class Refused(JobError):
    """A rule about the current state of things (a limit reached, work in hand), not about
    the request's values: the request may succeed later."""


# -- inputs and facts ---------------------------------------------------------------------


@dataclass(frozen=True)
class PackageRule:
    kind: str = PackageRuleKind.FIXED.value
    size: int = 0                       # 0: the default size
    field: str = ""                     # GROUP: the dataset field
    labelers: tuple[str, ...] = ()      # TARGETED: people
    teams: tuple[str, ...] = ()         # TARGETED: team ids


@dataclass(frozen=True)
class Members:
    """People (subjects) and teams (ids) per job role."""

    people: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    teams: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def of(self, role: Role) -> tuple[str, ...]:
        return tuple(self.people.get(role.value, ()))

    def teams_of(self, role: Role) -> tuple[str, ...]:
        return tuple(self.teams.get(role.value, ()))


@dataclass(frozen=True)
class Prelabel:
    mode: str = PrelabelMode.NONE.value
    # OFFLINE: (dataset field, topic name); topic "" means the template's first topic.
    mapping: tuple[tuple[str, str], ...] = ()
    endpoint: str = ""                         # ONLINE: the model service's URL
    stage: str = ""                            # "" = prelabel


@dataclass(frozen=True)
class Draft:
    """What the caller asked for, as it came (unchecked)."""

    name: str
    template: str
    labels: Sequence[Mapping[str, Any]]
    workflow: str
    description: str = ""
    template_options: Mapping[str, Any] = field(default_factory=dict)
    check_percent: float | None = None  # None: the default (100)
    package_rule: PackageRule = PackageRule()
    members: Members = Members()
    prelabel: Prelabel = Prelabel()
    auto_sync: bool = False


@dataclass(frozen=True)
class DatasetFacts:
    kind: str  # text | image | video | audio | multi | unknown
    item_count: int
    fields: frozenset[str] | None = None  # None: not known (yet)


@dataclass(frozen=True)
class TeamFacts:
    """A team of the workspace as the rules need it: its members' emails by team role."""

    team_id: str
    members: Mapping[str, str]  # email -> team role

    def people_for(self, role: Role) -> list[str]:
        wanted = TEAM_ROLES_FOR[role]
        return sorted(email for email, team_role in self.members.items() if team_role in wanted)


# -- the result ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Validated, normalised job settings: what a job stores and publishes."""

    name: str
    description: str
    template: str
    template_options: dict[str, Any]
    content: list[dict[str, Any]]
    topics: list[dict[str, Any]]
    labels: list[dict[str, Any]]
    workflow: str
    check_percent: float
    package_rule: PackageRule
    members: Members
    prelabel: Prelabel
    auto_sync: bool

    @property
    def check_ratio(self) -> float:
        return self.check_percent / 100

    @property
    def package_size(self) -> int:
        """Items per package for the services that cut by size (every rule has one: grouped
        packages larger than it are split; targeted packages are cut by it)."""
        return self.package_rule.size or DEFAULT_PACKAGE_SIZE

    @property
    def prelabel_field(self) -> str:
        """The field holding offline predictions for the first topic (the single-field
        contract of JobSpec.prelabel_field); "" without offline pre-labeling."""
        if self.prelabel.mode != PrelabelMode.OFFLINE or not self.prelabel.mapping:
            return ""
        first = self.topics[0]["name"] if self.topics else ""
        for source, topic in self.prelabel.mapping:
            if topic == first:
                return source
        return self.prelabel.mapping[0][0]


# -- single rules -------------------------------------------------------------------------


def name_errors(name: str, path: str = "name") -> list[FieldError]:
    if not isinstance(name, str) or not _NAME.match(name):
        return [FieldError(path, NAME_RULE)]
    return []


def description_errors(description: str) -> list[FieldError]:
    if len(description) > MAX_DESCRIPTION:
        return [FieldError("description", f"at most {MAX_DESCRIPTION} characters, got "
                                          f"{len(description)}")]
    if "\x00" in description:
        return [FieldError("description", "must not contain NUL characters")]
    return []


def workflow_of(value: str) -> Workflow:
    try:
        return Workflow(value)
    except ValueError:
        raise JobError([FieldError("workflow", "one of label, label_check, "
                                               "label_check_accept")]) from None


# Fixed package sizes allowed by dataset size: (largest dataset size, smallest, largest).
# The first four rows are the reference platform's; beyond a million items the minimum
# doubles again (100) and the maximum stays 200, so a package stays a reviewable unit
# and the number of packages stays below one per hundred items.
PACKAGE_SIZE_BOUNDS: tuple[tuple[float, int, int], ...] = (
    (20_000, 1, 200),
    (100_000, 5, 200),
    (500_000, 25, 200),
    (1_000_000, 50, 200),
    (math.inf, 100, 200),
)


def package_size_bounds(item_count: int) -> tuple[int, int]:
    for largest, low, high in PACKAGE_SIZE_BOUNDS:
        if item_count <= largest:
            return low, high
    raise AssertionError("the last row is unbounded")


def package_size_errors(size: int, item_count: int, path: str) -> list[FieldError]:
    low, high = package_size_bounds(item_count)
    if not low <= size <= high:
        return [FieldError(path, f"must be {low}-{high} for a dataset of {item_count:,} "
                                 f"items")]
    return []


def check_percent_of(percent: float | None, workflow: Workflow) -> tuple[float,
                                                                         list[FieldError]]:
    """The check proportion in percent: 1-100, default 100; only a workflow with a check
    step samples (a label-only job accepts only the default)."""
    if percent is None:
        return DEFAULT_CHECK_PERCENT, []
    if not (isinstance(percent, int | float) and math.isfinite(percent) and 1 <= percent <= 100):
        return DEFAULT_CHECK_PERCENT, [FieldError("check_percent", "must be 1-100 (percent of "
                                                                   "a package's items checked)")]
    if not workflow.has_check and percent != DEFAULT_CHECK_PERCENT:
        return DEFAULT_CHECK_PERCENT, [FieldError("check_percent", "the label workflow has no "
                                                                   "check step to sample")]
    return float(percent), []


def _person_errors(people: Sequence[str], path: str) -> list[FieldError]:
    errors = []
    seen: set[str] = set()
    for i, person in enumerate(people):
        if not isinstance(person, str) or not 1 <= len(person.strip()) <= MAX_PERSON \
                or person != person.strip() or "\x00" in person:
            errors.append(FieldError(f"{path}[{i}]", f"a person is 1-{MAX_PERSON} characters "
                                                     "without surrounding spaces"))
        elif person in seen:
            errors.append(FieldError(f"{path}[{i}]", f"{person!r} appears twice"))
        seen.add(person)
    return errors


def _team_ref_errors(team_ids: Sequence[str], teams: Mapping[str, TeamFacts],
                     path: str) -> list[FieldError]:
    errors = []
    seen: set[str] = set()
    for i, team_id in enumerate(team_ids):
        if team_id in seen:
            errors.append(FieldError(f"{path}[{i}]", f"{team_id!r} appears twice"))
        elif team_id not in teams:
            errors.append(FieldError(f"{path}[{i}]", f"no team {team_id!r} in this workspace"))
        seen.add(team_id)
    return errors


def members_errors(members: Members, workflow: Workflow,
                   teams: Mapping[str, TeamFacts]) -> list[FieldError]:
    errors = []
    for key in set(members.people) | set(members.teams):
        if key not in Role.__members__.values():
            errors.append(FieldError(f"members.{key}", "not a job role (labelers, checkers, "
                                                       "accepters, admins)"))
    for role in Role:
        errors += _person_errors(members.of(role), f"members.{role.value}")
        errors += _team_ref_errors(members.teams_of(role), teams,
                                   f"members.{role.value[:-1]}_teams")  # labeler_teams...
    for role, needs, step in ((Role.CHECKERS, workflow.has_check, "check"),
                              (Role.ACCEPTERS, workflow.has_accept, "acceptance")):
        if not needs and (members.of(role) or members.teams_of(role)):
            errors.append(FieldError(f"members.{role.value}", f"the {workflow.value} workflow "
                                                              f"has no {step} step"))
    return errors


def works_on(effective: Mapping[str, Sequence[str]], teams: Mapping[str, Sequence[str]],
             workflow: Workflow, roles: Iterable[Role], subject: str) -> bool:
    """Whether the subject may work on the job in one of ``roles`` its workflow has: named
    for it (directly or through a team: ``effective``, see ``expand_members``), or the role
    is open, with neither people nor teams named, to everyone holding the workspace role."""
    for role in roles:
        if ((role is Role.CHECKERS and not workflow.has_check)
                or (role is Role.ACCEPTERS and not workflow.has_accept)):
            continue
        people = effective.get(role.value) or ()
        if subject in people or not (people or teams.get(role.value)):
            return True
    return False


def expand_members(members: Members, teams: Mapping[str, TeamFacts]) -> dict[str, list[str]]:
    """Per job role, the people named directly and those their teams contribute, in order
    and without repeats: who may work in each stage."""
    resolved: dict[str, list[str]] = {}
    for role in Role:
        people = list(members.of(role))
        for team_id in members.teams_of(role):
            team = teams.get(team_id)
            if team is not None:
                people += team.people_for(role)
        resolved[role.value] = list(dict.fromkeys(people))
    return resolved


def package_rule_errors(rule: PackageRule, dataset: DatasetFacts, members: Members,
                        teams: Mapping[str, TeamFacts]) -> list[FieldError]:
    try:
        kind = PackageRuleKind(rule.kind)
    except ValueError:
        return [FieldError("package_rule.kind", "one of fixed, group, targeted")]
    errors = []
    if rule.size:
        errors += package_size_errors(rule.size, dataset.item_count, "package_rule.size")
    if kind is PackageRuleKind.GROUP:
        if not rule.field:
            errors.append(FieldError("package_rule.field", "grouping needs a dataset field"))
        elif dataset.fields is not None and rule.field not in dataset.fields:
            errors.append(FieldError("package_rule.field", f"{rule.field!r} is not a field of "
                                                           f"the dataset's items ("
                                                           f"{_listing(dataset.fields)})"))
    elif rule.field:
        errors.append(FieldError("package_rule.field", "only the group rule takes a field"))
    if kind is PackageRuleKind.TARGETED:
        if not rule.labelers and not rule.teams:
            errors.append(FieldError("package_rule.labelers", "targeted assignment needs at "
                                                              "least one labeler or team"))
        errors += _person_errors(rule.labelers, "package_rule.labelers")
        errors += _team_ref_errors(rule.teams, teams, "package_rule.teams")
        open_to = set(members.of(Role.LABELERS))
        restricted = bool(open_to or members.teams_of(Role.LABELERS))
        team_people = set(expand_members(members, teams)[Role.LABELERS.value])
        if restricted:
            for i, person in enumerate(rule.labelers):
                if person not in open_to and person not in team_people:
                    errors.append(FieldError(f"package_rule.labelers[{i}]",
                                             f"{person!r} is not a labeler of this job"))
    elif rule.labelers or rule.teams:
        errors.append(FieldError("package_rule.labelers", "only the targeted rule names "
                                                          "labelers or teams"))
    return errors


def prelabel_errors(prelabel: Prelabel, topics: Sequence[Mapping[str, Any]],
                    dataset: DatasetFacts, workflow: Workflow) -> list[FieldError]:
    try:
        mode = PrelabelMode(prelabel.mode)
    except ValueError:
        return [FieldError("prelabel.mode", "one of none, offline, online")]
    errors: list[FieldError] = []
    if mode is PrelabelMode.NONE:
        if prelabel.mapping or prelabel.endpoint or prelabel.stage:
            errors.append(FieldError("prelabel.mode", "none takes no mapping, endpoint or "
                                                      "stage"))
        return errors
    if prelabel.stage and prelabel.stage not in PrelabelStage.__members__.values():
        errors.append(FieldError("prelabel.stage", "one of prelabel, formal"))
    if prelabel.stage == PrelabelStage.FORMAL and not workflow.has_check:
        errors.append(FieldError("prelabel.stage", "formal pre-labels skip labeling, so the "
                                                   "workflow needs a check step after it"))
    if mode is PrelabelMode.OFFLINE:
        errors += _mapping_errors(prelabel, topics, dataset)
        if prelabel.endpoint:
            errors.append(FieldError("prelabel.endpoint", "only online pre-labeling calls a "
                                                          "model service"))
    else:
        errors += _endpoint_errors(prelabel.endpoint)
        if prelabel.mapping:
            errors.append(FieldError("prelabel.mapping", "only offline pre-labeling maps "
                                                         "dataset fields to topics"))
    return errors


def _mapping_errors(prelabel: Prelabel, topics: Sequence[Mapping[str, Any]],
                    dataset: DatasetFacts) -> list[FieldError]:
    if not prelabel.mapping:
        return [FieldError("prelabel.mapping", "offline pre-labeling maps at least one dataset "
                                               "field to a topic")]
    names = [t["name"] for t in topics]
    errors = []
    mapped: set[str] = set()
    for i, (source, given) in enumerate(prelabel.mapping):
        path = f"prelabel.mapping[{i}]"
        topic = given or (names[0] if names else "")
        if not source:
            errors.append(FieldError(f"{path}.field", "required"))
        elif dataset.fields is not None and source not in dataset.fields:
            errors.append(FieldError(f"{path}.field", f"{source!r} is not a field of the "
                                                      f"dataset's items "
                                                      f"({_listing(dataset.fields)})"))
        if topic not in names:
            errors.append(FieldError(f"{path}.topic", f"{topic!r} is not a topic of the "
                                                      f"template ({_listing(names)})"))
        elif topic in mapped:
            errors.append(FieldError(f"{path}.topic", f"{topic!r} is mapped twice"))
        mapped.add(topic)
    return errors


def _endpoint_errors(endpoint: str) -> list[FieldError]:
    path = "prelabel.endpoint"
    if not endpoint:
        return [FieldError(path, "online pre-labeling needs the model service's URL")]
    if len(endpoint) > MAX_ENDPOINT:
        return [FieldError(path, f"at most {MAX_ENDPOINT} characters")]
    if any(c.isspace() or c == "\x00" for c in endpoint):
        return [FieldError(path, "must not contain spaces")]
    found = _URL.match(endpoint)
    if not found or found["scheme"].lower() not in ("http", "https"):
        return [FieldError(path, "an http:// or https:// URL with a host")]
    authority = found["authority"]
    if "@" in authority:
        return [FieldError(path, "must not carry credentials")]
    host, port = authority, ""
    if ":" in authority and not authority.endswith("]"):
        host, port = authority.rsplit(":", 1)
    if not _HOST.match(host):
        return [FieldError(path, f"not a URL: {host!r} is not a host name")]
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        return [FieldError(path, f"not a URL: port {port!r} is not 1-65535")]
    return []


def _listing(values: Iterable[str]) -> str:
    shown = sorted(values)
    return ", ".join(shown) if shown else "none"


def build_template(template: str, labels: Sequence[Mapping[str, Any]],
                   options: Mapping[str, Any], dataset: DatasetFacts
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[FieldError]]:
    """The compiled template (content, topics) for this label set and dataset, or errors.
    Content fields must be fields of the dataset's items when those are known."""
    try:
        built = build_shared_template(template, labels, options,
                                      dataset.kind or None).to_dict()
    except TemplateError as exc:
        return [], [], [_renamed(e) for e in exc.errors]
    content: list[dict[str, Any]] = built["content"]
    errors = []
    if dataset.fields:  # empty or unknown: nothing to check against
        for i, component in enumerate(content):
            if component["field"] not in dataset.fields:
                errors.append(FieldError(f"template_options.content[{i}].field",
                                         f"{component['field']!r} is not a field of the "
                                         f"dataset's items ({_listing(dataset.fields)})"))
    return content, built["topics"], errors


def _renamed(error: FieldError) -> FieldError:
    """The shared model's paths, as the fields of a job request are named."""
    path = error.path
    if path.startswith("options"):
        path = "template_options" + path[len("options"):]
    elif path.startswith(("content", "topics")):
        path = f"template_options.{path}"
    return FieldError(path, error.reason)


# -- the whole ----------------------------------------------------------------------------


def validate(draft: Draft, dataset: DatasetFacts,
             teams: Mapping[str, TeamFacts] | None = None) -> Settings:
    """Every rule of a job's settings; the normalised settings, or JobError naming every
    field at fault."""
    teams = teams or {}
    errors = name_errors(draft.name) + description_errors(draft.description)
    try:
        workflow = workflow_of(draft.workflow)
    except JobError as exc:
        errors += exc.errors
        workflow = Workflow.LABEL_CHECK_ACCEPT  # to go on checking the rest
    labels = [normalise_label(label) for label in draft.labels]
    content, topics, template_errors = build_template(draft.template, labels,
                                                      draft.template_options, dataset)
    errors += template_errors
    percent, percent_errors = check_percent_of(draft.check_percent, workflow)
    errors += percent_errors
    errors += package_rule_errors(draft.package_rule, dataset, draft.members, teams)
    errors += members_errors(draft.members, workflow, teams)
    if topics or not template_errors:
        errors += prelabel_errors(draft.prelabel, topics, dataset, workflow)
    if errors:
        raise JobError(errors)
    prelabel = draft.prelabel
    if prelabel.mode != PrelabelMode.NONE and not prelabel.stage:
        prelabel = replace(prelabel, stage=PrelabelStage.PRELABEL.value)
    first = topics[0]["name"] if topics else ""
    prelabel = replace(prelabel, mapping=tuple((f, t or first) for f, t in prelabel.mapping))
    return Settings(
        name=draft.name, description=draft.description, template=draft.template,
        template_options=dict(draft.template_options), content=content, topics=topics,
        labels=labels, workflow=workflow.value, check_percent=percent,
        package_rule=replace(draft.package_rule,
                             size=draft.package_rule.size or default_package_size(
                                 dataset.item_count)),
        members=draft.members, prelabel=prelabel, auto_sync=draft.auto_sync,
    )


def default_package_size(item_count: int) -> int:
    low, high = package_size_bounds(item_count)
    return min(max(DEFAULT_PACKAGE_SIZE, low), high)


_LABEL_KEYS_IN_ORDER = ("name", "kind", "class", "color", "shortcut", "attributes", "source",
                        "target", "description")


def normalise_label(label: Mapping[str, Any]) -> dict[str, Any]:
    """A label as the shared label-set rules read it: empty optional values left out, so
    ``{"name": "cat", "color": ""}`` and ``{"name": "cat"}`` are the same label."""
    out: dict[str, Any] = {}
    for key in _LABEL_KEYS_IN_ORDER:
        value = label.get(key)
        if value in (None, "", [], ()) or (key == "kind" and value == "entity"):
            continue
        out[key] = list(value) if isinstance(value, tuple) else value
    out.update({k: v for k, v in label.items() if k not in _LABEL_KEYS_IN_ORDER})
    return out


# -- copies --------------------------------------------------------------------------------


def copy_name(name: str, suffix: str) -> str:
    """``<name>-copy-<suffix>``, the original shortened so the copy still fits the rule."""
    tail = f"-copy-{suffix}"
    return name[: MAX_NAME - len(tail)] + tail
