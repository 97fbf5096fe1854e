"""The walking skeleton on the real servers: one job through all five services."""

from __future__ import annotations

import hashlib
import json
import urllib.request

import pytest

from labelops_cli.demo import DEMO_MANIFEST, LABELS, guess_label, run_demo
from labelops_cli.services import ServiceProcesses

pytestmark = pytest.mark.e2e


def _manifest() -> list[dict[str, object]]:
    return [json.loads(line)["data"] for line in DEMO_MANIFEST.read_text().splitlines()]


def test_demo_exports_every_item_once_with_its_accepted_label(
    platform: ServiceProcesses, stack_env: dict[str, str]
) -> None:
    result = run_demo(stack_env, say=lambda _: None)
    source = _manifest()

    assert result.packages == 3  # 25 items in packages of 10
    assert len(result.lines) == len(source) == 25
    exported = {line["data"]["review_id"]: line for line in result.lines}
    assert len(exported) == 25, "an item was exported twice"
    for record in source:
        line = exported[record["review_id"]]
        assert line["data"] == record  # the dataset record, untouched
        assert line["label"] in LABELS
        # Pre-labeled items keep the offline pre-label; the rest carry the labeler's answer.
        expected = record.get("label") or guess_label(str(record["source"]))
        assert line["label"] == expected, record

    export = result.export
    with urllib.request.urlopen(export.download_url, timeout=30) as response:
        body = response.read()
    assert export.items_written == export.items_total == 25
    assert export.size_bytes == len(body)
    assert export.sha256 == hashlib.sha256(body).hexdigest()
    assert export.object_key.endswith(".jsonl")
