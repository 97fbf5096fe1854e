"""Datasets and versions: kinds, version states, and the visibility rule."""

from __future__ import annotations

from enum import StrEnum


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


def item_id(dataset_id: str, version: int, line: int) -> str:
    """Deterministic, so a re-run of an interrupted import writes the same documents, and
    lexically ordered by line so items stream back in import order."""
    return f"{dataset_id}-v{version}-{line:09d}"


def is_visible(state: str) -> bool:
    """Items are visible only once their version's import completed."""
    return state == VersionState.READY


def validate_name(name: str) -> str | None:
    if not 1 <= len(name) <= 100:
        return "name: must be 1-100 characters"
    if name != name.strip():
        return "name: must not start or end with spaces"
    return None
