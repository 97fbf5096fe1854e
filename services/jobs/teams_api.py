"""The teams part of the jobs servicer: teams of a workspace and their members.

A team's changes are committed as the team's next version; creating and deleting a team
also changes the workspace's team registry (its list of teams), committed as the
registry's next version, so the limit on teams per workspace and unique team names hold
even when two administrators create teams at once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import grpc

from labelops.jobs.v1 import jobs_pb2 as pb
from labelops_shared import auth
from labelops_shared.annotations import FieldError
from labelops_shared.contracts import TeamChanged, TeamMember
from labelops_shared.mongo import Document
from labelops_shared.outbox import Outbox, UnitOfWork
from services.jobs import versioned
from services.jobs.adapters.repository import (
    TEAMS,
    WORKSPACES,
    Repository,
    team_doc,
    workspace_doc,
)
from services.jobs.domain import model
from services.jobs.domain import teams as rules
from services.jobs.domain.lifecycle import JobState
from services.jobs.domain.model import JobError, Refused
from services.jobs.domain.progress import Counters


def team_pb(doc: Document) -> pb.Team:
    return pb.Team(id=doc["_id"], workspace=doc["workspace"], name=doc["name"],
                   description=doc.get("description", ""),
                   members=[pb.TeamMember(email=e, role=r)
                            for e, r in sorted(doc["members"].items())],
                   created_at=doc["created_at"].isoformat())


class TeamsMixin:
    repo: Repository
    outbox: Outbox
    source: str
    limits: rules.Limits

    async def refresh_team_jobs(self, workspace: str, team_id: str) -> None:
        """Jobs naming the team follow its members (implemented by the servicer)."""

    async def _team_error(self, context: Any, exc: JobError) -> None:
        code = (grpc.StatusCode.FAILED_PRECONDITION if isinstance(exc, Refused)
                else grpc.StatusCode.INVALID_ARGUMENT)
        await context.abort(code, str(exc))

    async def team_facts(self, workspace: str) -> dict[str, model.TeamFacts]:
        """The workspace's teams, as the job rules read them."""
        registry = await self.repo.workspace(workspace)
        found = {}
        for team_id in registry["teams"]:
            team = await self.repo.team(team_id)
            if team is not None:
                found[team_id] = model.TeamFacts(team_id, team["members"])
        return found

    def _changed(self, doc: Document, *, deleted: bool = False) -> TeamChanged:
        return TeamChanged(team_id=doc["_id"], workspace=doc["workspace"], name=doc["name"],
                           members=[TeamMember(email=e, role=r)
                                    for e, r in sorted(doc["members"].items())],
                           deleted=deleted)

    async def _retry(self, context: Any, attempt: Any) -> Any:
        try:
            return await versioned.retrying(attempt)
        except versioned.Conflict as exc:
            await context.abort(grpc.StatusCode.ABORTED, f"{exc}; try again")

    async def CreateTeam(self, request: pb.CreateTeamRequest, context: Any) -> pb.Team:
        caller = auth.principal()

        async def attempt() -> Document:
            registry = await self.repo.workspace(caller.workspace)
            team_id = uuid.uuid4().hex
            try:
                rules.create(team_id, caller.workspace, request.name, request.description,
                             registry["teams"], self.limits)
            except JobError as exc:
                await self._team_error(context, exc)
            doc = {"_id": team_id, "workspace": caller.workspace, "name": request.name,
                   "description": request.description, "members": {},
                   "created_at": datetime.now(UTC), "created_by": caller.subject,
                   "version": 1}
            uow = UnitOfWork(source=self.source)
            uow.put(TEAMS, team_doc(doc))
            version = registry["version"] + 1
            uow.put(WORKSPACES, workspace_doc(caller.workspace,
                                              {**registry["teams"], team_id: request.name},
                                              version))
            uow.emit(self._changed(doc), subject=f"teams/{team_id}")
            await versioned.commit(self.outbox, uow, f"workspace:{caller.workspace}", version)
            return doc

        return team_pb(await self._retry(context, attempt))

    async def _team_for_caller(self, team_id: str, context: Any) -> Document:
        return await auth.visible_or_abort(await self.repo.team(team_id), context,
                                           f"team {team_id!r}")

    async def GetTeam(self, request: pb.GetTeamRequest, context: Any) -> pb.Team:
        return team_pb(await self._team_for_caller(request.team_id, context))

    async def ListTeams(self, request: pb.ListTeamsRequest,
                        context: Any) -> pb.ListTeamsResponse:
        registry = await self.repo.workspace(auth.principal().workspace)
        teams = [await self.repo.team(team_id) for team_id in registry["teams"]]
        found = sorted((t for t in teams if t is not None), key=lambda t: t["created_at"])
        return pb.ListTeamsResponse(teams=[team_pb(t) for t in found])

    async def _active_jobs(self, workspace: str) -> list[Document]:
        return [d for d in await self.repo.jobs_of(workspace)
                if d.get("state") != JobState.COMPLETED]

    async def DeleteTeam(self, request: pb.DeleteTeamRequest,
                         context: Any) -> pb.DeleteTeamResponse:
        async def attempt() -> None:
            team = await self._team_for_caller(request.team_id, context)
            users = [d["_id"] for d in await self._active_jobs(team["workspace"])
                     if team["_id"] in d.get("team_refs", [])]
            if users:
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                    f"team_id: the team works on {len(users)} job(s) not "
                                    f"completed (first: {users[0]})")
            registry = await self.repo.workspace(team["workspace"])
            version = registry["version"] + 1
            uow = UnitOfWork(source=self.source)
            uow.delete(TEAMS, team["_id"])
            uow.put(WORKSPACES, workspace_doc(
                team["workspace"], {k: v for k, v in registry["teams"].items()
                                    if k != team["_id"]}, version))
            uow.emit(self._changed(team, deleted=True), subject=f"teams/{team['_id']}")
            await versioned.commit(self.outbox, uow, f"workspace:{team['workspace']}", version)

        await self._retry(context, attempt)
        return pb.DeleteTeamResponse(team_id=request.team_id)

    async def _held_by(self, workspace: str, email: str) -> int:
        """Packages this person holds in the workspace's jobs (the claims projection)."""
        held = 0
        for job in await self._active_jobs(workspace):
            counters = Counters.from_doc(await self.repo.progress(job["_id"]))
            held += sum(n for who, n in counters.holders.items()
                        if who.strip().lower() == email)
        return held

    async def _change_team(self, context: Any, team_id: str, edit: Any,
                           role: str | None) -> pb.Team:
        caller = auth.principal()

        async def attempt() -> Document:
            team = await self._team_for_caller(team_id, context)
            current = rules.Team(team["_id"], team["workspace"], team["name"],
                                 team.get("description", ""), dict(team["members"]))
            try:
                rules.may_manage_members(current, caller.subject, is_admin=caller.is_admin,
                                         role=role)
            except JobError as exc:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
            try:
                changed = await edit(current)
            except JobError as exc:
                await self._team_error(context, exc)
            version = team.get("version", 0) + 1
            doc = {**team, "members": changed.members, "version": version,
                   "updated_at": datetime.now(UTC)}
            uow = UnitOfWork(source=self.source)
            uow.put(TEAMS, team_doc(doc))
            uow.emit(self._changed(doc), subject=f"teams/{team_id}")
            await versioned.commit(self.outbox, uow, f"team:{team_id}", version)
            return doc

        doc = await self._retry(context, attempt)
        await self.refresh_team_jobs(doc["workspace"], team_id)
        return team_pb(doc)

    async def AddTeamMember(self, request: pb.TeamMemberRequest, context: Any) -> pb.Team:
        async def edit(team: rules.Team) -> rules.Team:
            return rules.add_member(team, request.email, request.role, self.limits)

        return await self._change_team(context, request.team_id, edit, request.role)

    async def UpdateTeamMember(self, request: pb.TeamMemberRequest, context: Any) -> pb.Team:
        async def edit(team: rules.Team) -> rules.Team:
            if team.members.get(rules.email_of(request.email)) == rules.TeamRole.MANAGER \
                    and not auth.principal().is_admin:
                raise Refused([FieldError("role", "only an administrator changes the "
                                                         "manager's role")])
            return rules.change_role(team, request.email, request.role)

        return await self._change_team(context, request.team_id, edit, request.role)

    async def RemoveTeamMember(self, request: pb.RemoveTeamMemberRequest,
                               context: Any) -> pb.Team:
        async def edit(team: rules.Team) -> rules.Team:
            email = rules.email_of(request.email)
            if team.members.get(email) == rules.TeamRole.MANAGER \
                    and not auth.principal().is_admin:
                raise Refused([FieldError("email", "only an administrator removes the "
                                                          "team's manager")])
            return rules.remove_member(team, email,
                                       await self._held_by(team.workspace, email))

        return await self._change_team(context, request.team_id, edit, None)
