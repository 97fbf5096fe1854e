"""Teams of a workspace and their members. Pure.

A workspace has at most ``limits.teams`` teams (reference: 10) and a team at most
``limits.members`` members (reference: 100). A member is identified by their email, unique
in the team (compared case-insensitively, stored lower-case); their team role is labeler,
reviewer or manager, with at most one manager per team. A member who holds assigned work
(a claimed package of a job of the workspace) cannot be removed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from labelops_shared.annotations import FieldError
from services.jobs.domain.model import JobError, Refused, TeamRole

_EMAIL = re.compile(r"^[^@\s\x00]{1,64}@[^@\s\x00.]+(?:\.[^@\s\x00.]+)+$")
MAX_EMAIL = 254
MAX_TEAM_NAME = 64
MAX_TEAM_DESCRIPTION = 256


@dataclass(frozen=True)
class Limits:
    teams: int = 10
    members: int = 100


@dataclass(frozen=True)
class Team:
    team_id: str
    workspace: str
    name: str
    description: str = ""
    members: dict[str, str] = field(default_factory=dict)  # email -> team role

    @property
    def manager(self) -> str | None:
        return next((e for e, r in self.members.items() if r == TeamRole.MANAGER), None)


def _fail(path: str, reason: str) -> JobError:
    return JobError([FieldError(path, reason)])


def _refuse(path: str, reason: str) -> Refused:
    return Refused([FieldError(path, reason)])


def email_of(email: str) -> str:
    """The member's key: the address trimmed and lower-cased, or JobError (``email``)."""
    key = email.strip().lower()
    if len(key) > MAX_EMAIL or not _EMAIL.match(key):
        raise _fail("email", "not an email address (name@domain)")
    return key


def role_of(role: str) -> TeamRole:
    try:
        return TeamRole(role)
    except ValueError:
        raise _fail("role", "one of labeler, reviewer, manager") from None


def check_team_fields(name: str, description: str) -> None:
    errors = []
    if not 1 <= len(name.strip()) <= MAX_TEAM_NAME or name != name.strip() or "\x00" in name:
        errors.append(FieldError("name", f"1-{MAX_TEAM_NAME} characters without surrounding "
                                         "spaces"))
    if len(description) > MAX_TEAM_DESCRIPTION or "\x00" in description:
        errors.append(FieldError("description", f"at most {MAX_TEAM_DESCRIPTION} characters"))
    if errors:
        raise JobError(errors)


def create(team_id: str, workspace: str, name: str, description: str,
           existing: Mapping[str, str], limits: Limits) -> Team:
    """A new team; ``existing`` maps the workspace's team ids to their names."""
    check_team_fields(name, description)
    if len(existing) >= limits.teams:
        raise _refuse("workspace", f"a workspace has at most {limits.teams} teams")
    if name.casefold() in {n.casefold() for n in existing.values()}:
        raise _refuse("name", f"a team named {name!r} exists in this workspace")
    return Team(team_id, workspace, name, description)


def add_member(team: Team, email: str, role: str, limits: Limits) -> Team:
    key, team_role = email_of(email), role_of(role)
    if key in team.members:
        raise _refuse("email", f"{key} is already a member of this team")
    if len(team.members) >= limits.members:
        raise _refuse("email", f"a team has at most {limits.members} members")
    if team_role is TeamRole.MANAGER and team.manager is not None:
        raise _refuse("role", f"the team already has a manager ({team.manager})")
    return Team(team.team_id, team.workspace, team.name, team.description,
                {**team.members, key: team_role.value})


def change_role(team: Team, email: str, role: str) -> Team:
    key, team_role = email_of(email), role_of(role)
    if key not in team.members:
        raise _fail("email", f"{key} is not a member of this team")
    manager = team.manager
    if team_role is TeamRole.MANAGER and manager not in (None, key):
        raise _refuse("role", f"the team already has a manager ({manager})")
    return Team(team.team_id, team.workspace, team.name, team.description,
                {**team.members, key: team_role.value})


def remove_member(team: Team, email: str, held_packages: int) -> Team:
    key = email_of(email)
    if key not in team.members:
        raise _fail("email", f"{key} is not a member of this team")
    if held_packages:
        raise _refuse("email", f"{key} holds {held_packages} claimed package(s); release or "
                             "transfer them first")
    return Team(team.team_id, team.workspace, team.name, team.description,
                {e: r for e, r in team.members.items() if e != key})


def may_manage_members(team: Team, caller: str, *, is_admin: bool, role: str | None) -> None:
    """Administrators manage every team; a team's manager manages its labelers and reviewers
    (never the manager role itself)."""
    if is_admin:
        return
    if team.manager is None or team.manager != caller.strip().lower():
        raise _fail("team_id", "only an administrator or this team's manager manages its "
                               "members")
    if role == TeamRole.MANAGER:
        raise _fail("role", "only an administrator names a team's manager")
