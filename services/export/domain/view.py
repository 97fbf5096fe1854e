"""The labeled view and the manifest format. Pure."""

from __future__ import annotations

import json
from typing import Any


def should_replace(current_revision: int | None, incoming_revision: int) -> bool:
    """A newer revision replaces the item's accepted result; the same or an older one (a
    redelivery, or an event overtaken by a later acceptance) changes nothing."""
    return current_revision is None or incoming_revision > current_revision


def stored_json(value: Any) -> str:
    """Accepted data and answers are stored as JSON text: the database never sees their
    structure (polygon points are nested arrays, which FerretDB refuses; keys may hold
    ``$`` or ``.``), and they come back exactly as accepted."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def accepted_values(doc: dict[str, Any],
                    decode_legacy: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(data, answer) of a view document; documents stored before JSON text was used are
    decoded with ``decode_legacy``."""
    if "answer_json" in doc:
        return json.loads(doc["data_json"]), json.loads(doc["answer_json"])
    decode = decode_legacy or (lambda v: v)
    return decode(doc.get("data") or {}), decode(doc.get("answer") or {})


def manifest_line(item_id: str, data: dict[str, Any], answer: dict[str, Any]) -> str:
    """One JSON line as the reference platforms export it: the item's ``data`` plus one field
    per topic with the accepted answer (and the item id, for joining back)."""
    record: dict[str, Any] = {"id": item_id, "data": data}
    for topic, value in answer.items():
        if topic in ("id", "data"):
            topic = f"answer.{topic}"  # never shadow the record's own fields
        record[topic] = value
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
