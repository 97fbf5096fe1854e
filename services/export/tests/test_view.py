import json

from services.export.domain.view import manifest_line, should_replace


def test_newer_revisions_win_and_redeliveries_change_nothing() -> None:
    assert should_replace(None, 1)
    assert should_replace(1, 2)
    assert not should_replace(2, 2)
    assert not should_replace(3, 2)


def test_manifest_line_holds_data_and_one_field_per_topic() -> None:
    line = manifest_line("i1", {"source": "héllo"}, {"label": "pos"})
    assert line.endswith("\n")
    assert json.loads(line) == {"id": "i1", "data": {"source": "héllo"}, "label": "pos"}


def test_a_topic_named_like_a_record_field_does_not_shadow_it() -> None:
    record = json.loads(manifest_line("i1", {"s": 1}, {"data": "x"}))
    assert record["data"] == {"s": 1}
    assert record["answer.data"] == "x"
