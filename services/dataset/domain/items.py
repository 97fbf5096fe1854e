"""What the dataset service derives from an item's data: the key that finds duplicate
sources, the values a package rule may group by, and the filters of list and delete.

Filters run in Python over decoded item data, never as database operators: user-supplied
field names and values cannot become a query.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

GROUP_VALUE_MAX_CHARS = 256  # longer strings are content, not something to group by
MAX_GROUP_FIELDS = 32
MAX_FILTER_FIELDS = 16

Scalar = str | int | float | bool | None


class Duplicates(StrEnum):
    SKIP = "skip"  # a source already in the dataset is reported and not imported again
    KEEP = "keep"  # reported, and imported as a further item


def group_values(data: dict[str, Any]) -> dict[str, Scalar]:
    """The fields of an item a package rule may group by: short scalars other than the
    source itself (an image path or a text is unique, grouping by it makes no packages)."""
    found: dict[str, Scalar] = {}
    for name, value in data.items():
        if name == "source" or len(found) >= MAX_GROUP_FIELDS:
            continue
        if isinstance(value, str) and len(value) > GROUP_VALUE_MAX_CHARS:
            continue
        if value is None or isinstance(value, str | int | float | bool):
            found[name] = value
    return found


def _rendered(value: Any) -> str:
    """A field value as a filter compares it: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _object_path(uri: str) -> str:
    """``s3://bucket/a/b.jpg`` → ``a/b.jpg``; other strings unchanged."""
    for scheme in ("s3://", "oss://", "obs://", "http://", "https://"):
        if uri.startswith(scheme):
            rest = uri[len(scheme):]
            return rest.split("/", 1)[1] if "/" in rest else ""
    return uri


@dataclass(frozen=True)
class ItemFilter:
    """Items whose fields equal the given values (all of them), whose source path starts
    with ``path_prefix`` (a full URI or the object path inside the bucket), and whose file
    name contains ``name_contains`` (case-insensitive)."""

    fields: dict[str, str] = field(default_factory=dict)
    path_prefix: str = ""
    name_contains: str = ""

    @property
    def empty(self) -> bool:
        return not (self.fields or self.path_prefix or self.name_contains)

    def problem(self) -> str | None:
        if len(self.fields) > MAX_FILTER_FIELDS:
            return f"filter.fields: at most {MAX_FILTER_FIELDS} fields"
        for name in self.fields:
            if not name:
                return "filter.fields: a field name is empty"
        return None

    def matches(self, data: dict[str, Any]) -> bool:
        for name, wanted in self.fields.items():
            if name not in data or _rendered(data[name]) != wanted:
                return False
        if self.path_prefix or self.name_contains:
            source = data.get("source")
            if not isinstance(source, str):
                return False
            if self.path_prefix and not (source.startswith(self.path_prefix)
                                         or _object_path(source).startswith(self.path_prefix)):
                return False
            name = posixpath.basename(_object_path(source))
            if self.name_contains and self.name_contains.lower() not in name.lower():
                return False
        return True
