"""Mongo access of the jobs service: jobs, teams, workspaces (team registry), the dataset
projection and the progress projection (package views and per-job counters).

Every collection is read by ``_id`` except the workspace scans of the task center (few
documents per workspace, read with a small projection). Template, labels and settings are
stored as JSON text: label names may hold '.' or start with '$' and topics hold
user-supplied keys, which a document key may not (FerretDB), and JSON keeps nested lists
out of the documents.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from labelops_shared.mongo import Document

JOBS, DATASETS, TEAMS, WORKSPACES = "jobs", "datasets", "teams", "workspaces"
PACKAGES, PROGRESS = "package_views", "progress"
INDEXES = {JOBS: [IndexModel([("workspace", ASCENDING), ("created_at", DESCENDING)])]}

# What the task center reads of every job of a workspace to filter and page.
LIST_FIELDS = {"_id": 1, "workspace": 1, "state": 1, "template": 1, "dataset_id": 1,
               "created_by": 1, "participants": 1, "team_refs": 1, "created_at": 1,
               "created_seq": 1, "members": 1,
               # who may see the job (a worker sees only the jobs they may work on)
               "members_json": 1, "effective_members_json": 1, "workflow": 1}
JSON_FIELDS = ("template_options", "content", "topics", "labels", "package_rule", "members",
               "effective_members", "prelabel")


def encode(doc: dict[str, Any]) -> dict[str, Any]:
    """A job as stored: the structured settings as JSON text (``<name>_json``)."""
    out = {k: v for k, v in doc.items() if k not in JSON_FIELDS}
    for key in JSON_FIELDS:
        if key in doc:
            out[f"{key}_json"] = json.dumps(doc[key], ensure_ascii=False, sort_keys=True)
    return out


def decode(doc: Document) -> Document:
    """A stored job with its settings decoded; jobs stored before the settings were JSON
    (topics, labels and members as documents) are read as they are."""
    out = {k: v for k, v in doc.items() if not k.endswith("_json")}
    for key in JSON_FIELDS:
        raw = doc.get(f"{key}_json")
        if raw is not None:
            out[key] = json.loads(raw)
    return out


class Repository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def job(self, job_id: str) -> Document | None:
        doc = await self.db[JOBS].find_one({"_id": job_id})
        return decode(doc) if doc else None

    async def jobs_of(self, workspace: str) -> list[Document]:
        """The light fields of every job of a workspace (filters and paging happen in the
        caller: FerretDB scans for any filter but ``_id`` anyway)."""
        cursor = self.db[JOBS].find({"workspace": workspace}, LIST_FIELDS)
        return [decode(d) for d in await cursor.to_list(None)]

    async def count_by_state(self) -> dict[str, int]:
        """How many jobs are in each state (for the metrics; one small projection)."""
        counts: dict[str, int] = {}
        async for doc in self.db[JOBS].find({}, {"state": 1}):
            state = str(doc.get("state", "unknown"))
            counts[state] = counts.get(state, 0) + 1
        return counts

    async def jobs_of_dataset(self, dataset_id: str) -> list[Document]:
        cursor = self.db[JOBS].find({"dataset_id": dataset_id})
        return [decode(d) for d in await cursor.to_list(None)]

    async def dataset(self, dataset_id: str) -> Document | None:
        return await self.db[DATASETS].find_one({"_id": dataset_id})

    # -- progress --------------------------------------------------------------------

    async def package_view(self, package_id: str) -> Document | None:
        return await self.db[PACKAGES].find_one({"_id": package_id})

    async def progress(self, job_id: str) -> Document | None:
        return await self.db[PROGRESS].find_one({"_id": job_id})

    async def by_ids(self, collection: str, ids: Iterable[str],
                     projection: Document | None = None) -> dict[str, Document]:
        """Documents of a collection by ``_id``, 1,000 ids a query."""
        wanted = sorted(set(ids))
        found: dict[str, Document] = {}
        for start in range(0, len(wanted), 1000):
            cursor = self.db[collection].find({"_id": {"$in": wanted[start:start + 1000]}},
                                              projection)
            found.update({doc["_id"]: doc async for doc in cursor})
        return found

    # -- teams -----------------------------------------------------------------------

    async def team(self, team_id: str) -> Document | None:
        doc = await self.db[TEAMS].find_one({"_id": team_id})
        if doc is None:
            return None
        return {**{k: v for k, v in doc.items() if k != "members_json"},
                "members": json.loads(doc.get("members_json", "{}"))}

    async def workspace(self, workspace: str) -> Document:
        """The workspace's team registry: ``teams`` maps team id to name; ``version``
        orders its changes (0 when it has none yet)."""
        doc = await self.db[WORKSPACES].find_one({"_id": workspace})
        if doc is None:
            return {"_id": workspace, "teams": {}, "version": 0}
        return {"_id": workspace, "teams": json.loads(doc.get("teams_json", "{}")),
                "version": doc.get("version", 0)}


def team_doc(team: Document) -> Document:
    return {**{k: v for k, v in team.items() if k != "members"},
            "members_json": json.dumps(team["members"], ensure_ascii=False, sort_keys=True)}


def workspace_doc(workspace: str, teams: dict[str, str], version: int) -> Document:
    return {"_id": workspace, "teams_json": json.dumps(teams, ensure_ascii=False,
                                                       sort_keys=True),
            "version": version}
