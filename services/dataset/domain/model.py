"""Datasets, versions and items: kinds, formats, the visibility rule, and how an item is
stored so that user data can never act on the database.

A version is one import (the first, or data added later). The dataset "at version N" is every
item of READY versions up to N that has not been deleted; items are never copied between
versions, so adding a thousand items to a million-item dataset writes a thousand documents.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    MULTI = "multi"


class VersionState(StrEnum):
    IMPORTING = "importing"
    READY = "ready"
    FAILED = "failed"


class ImportFormat(StrEnum):
    MANIFEST = "manifest"  # JSON lines: .manifest, .jsonl, .txt
    CSV = "csv"
    XLSX = "xlsx"
    FOLDER = "folder"      # every object under a prefix that fits the dataset's kind


def format_for(key: str) -> ImportFormat | None:
    """The format a file name says it has (None: cannot tell)."""
    if key.endswith("/") or not key:
        return ImportFormat.FOLDER
    lowered = key.lower()
    for suffix, found in ((".manifest", ImportFormat.MANIFEST), (".jsonl", ImportFormat.MANIFEST),
                          (".txt", ImportFormat.MANIFEST), (".csv", ImportFormat.CSV),
                          (".xlsx", ImportFormat.XLSX)):
        if lowered.endswith(suffix):
            return found
    return None


def item_id(dataset_id: str, version: int, line: int) -> str:
    """Deterministic, so a re-run writes the same documents, and lexically ordered by version
    then line so a dataset streams back in import order with an ``_id`` cursor."""
    return f"{dataset_id}-v{version:04d}-{line:09d}"


def is_visible(state: str) -> bool:
    """Items are visible only once their version's import completed."""
    return state == VersionState.READY


def validate_name(name: str) -> str | None:
    if not 1 <= len(name) <= 100:
        return "name: must be 1-100 characters"
    if name != name.strip():
        return "name: must not start or end with spaces"
    if any(ord(c) < 32 for c in name):
        return "name: must not contain control characters"
    return None


def parse_item_id(item_id: str) -> tuple[str, int, int]:
    """(dataset id, version, line) of an item id; ValueError for anything else."""
    dataset_id, version, line = item_id.rsplit("-", 2)
    if not version.startswith("v"):
        raise ValueError(f"not an item id: {item_id!r}")
    return dataset_id, int(version[1:]), int(line)


def item_document(dataset_id: str, version: int, line: int,
                  data: dict[str, Any]) -> dict[str, Any]:
    """The stored item: its id and its data. ``data`` is kept as JSON text, exactly as given
    (integers, nested arrays, keys with ``$`` or ``.``): the database never sees its
    structure, so user data can never act as an operator or a path. Dataset, version and
    line are in the id; two fields a document is the fastest shape to insert."""
    return {"_id": item_id(dataset_id, version, line),
            "data": json.dumps(data, ensure_ascii=False, separators=(",", ":"))}
