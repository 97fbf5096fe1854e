import json

import pytest

from labelops_shared.contracts import DatasetImported, PackageAccepted
from labelops_shared.events import (
    UndecodableEvent,
    UnknownEventType,
    decode_event,
    new_event,
)


def test_envelope_round_trip_keeps_every_attribute_and_the_typed_data() -> None:
    data = PackageAccepted(job_id="j1", package_id="p1", accepter="ava", items=[
        {"item_id": "i1", "data": {"source": "héllo", "n": 3}, "answer": {"label": "x"},
         "labeler": "lee", "revision": 2},
    ])
    event = new_event(data, source="/labelops/assignment", subject="jobs/j1/packages/p1")

    decoded = decode_event(event.to_bytes())

    assert decoded == event
    assert isinstance(decoded.data, PackageAccepted)
    assert decoded.data.items[0].data == {"source": "héllo", "n": 3}
    assert decoded.type == "labelops.package.accepted.v1"
    assert decoded.partitionkey == "j1"


def test_envelope_is_a_cloudevent_in_structured_mode() -> None:
    event = new_event(DatasetImported(dataset_id="d1", workspace="w", version=1, kind="text",
                                      item_count=3, fields=["source"]), source="/labelops/dataset")
    doc = json.loads(event.to_bytes())
    assert doc["specversion"] == "1.0"
    assert {"id", "source", "type", "time", "subject", "datacontenttype", "data"} <= doc.keys()
    assert doc["time"].endswith("Z") or "+00:00" in doc["time"]


@pytest.mark.parametrize(("raw", "reason"), [
    (b"\xff\xfe not json", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"specversion": "1.0"}', "field 'type'"),
    (b'{"type": "something.else"}', "unknown event type"),
])
def test_malformed_bytes_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(UndecodableEvent, match=reason):
        decode_event(raw)


def test_a_wrong_field_is_named_in_the_reason() -> None:
    event = new_event(DatasetImported(dataset_id="d1", workspace="w", version=1, kind="text",
                                      item_count=3, fields=[]), source="/labelops/dataset")
    doc = json.loads(event.to_bytes())
    doc["data"]["item_count"] = "many"
    with pytest.raises(UndecodableEvent, match="data.item_count"):
        decode_event(json.dumps(doc).encode())


def test_a_newer_labelops_type_is_skipped_not_dead_lettered() -> None:
    raw = json.dumps({"specversion": "1.0", "type": "labelops.future.thing.v9"}).encode()
    with pytest.raises(UnknownEventType):
        decode_event(raw)
