"""Groupable values and item filters: pure functions over item data."""

from __future__ import annotations

from services.dataset.domain.items import (
    GROUP_VALUE_MAX_CHARS,
    ItemFilter,
    group_values,
)


def test_group_values_keep_short_scalars_but_not_the_source() -> None:
    data = {"source": "s3://b/1.jpg", "video": "v7", "n": 3, "ok": True, "none": None,
            "nested": {"a": 1}, "list": [1], "long": "x" * (GROUP_VALUE_MAX_CHARS + 1),
            "edge": "y" * GROUP_VALUE_MAX_CHARS}
    assert group_values(data) == {"video": "v7", "n": 3, "ok": True, "none": None,
                                  "edge": "y" * GROUP_VALUE_MAX_CHARS}


def test_filters_on_fields_compare_strings_as_they_are_and_others_as_json() -> None:
    item = {"source": "s3://pics/cats/tabby-01.JPG", "team": "a", "n": 7, "flag": True,
            "tags": ["x"]}
    assert ItemFilter(fields={"team": "a", "n": "7", "flag": "true"}).matches(item)
    assert ItemFilter(fields={"tags": '["x"]'}).matches(item)
    assert not ItemFilter(fields={"team": "b"}).matches(item)
    assert not ItemFilter(fields={"missing": "null"}).matches(item)
    assert not ItemFilter(fields={"n": "7.0"}).matches(item)


def test_filters_on_path_and_name() -> None:
    item = {"source": "s3://pics/cats/tabby-01.JPG"}
    assert ItemFilter(path_prefix="cats/").matches(item)
    assert ItemFilter(path_prefix="s3://pics/cats").matches(item)
    assert not ItemFilter(path_prefix="dogs/").matches(item)
    assert ItemFilter(name_contains="by-01.jp").matches(item)  # case-insensitive
    assert not ItemFilter(name_contains="cats").matches(item)  # the name, not the path
    assert not ItemFilter(path_prefix="a").matches({"text": "no source"})


def test_a_filter_field_named_like_an_operator_is_only_a_name() -> None:
    assert ItemFilter(fields={"$where": "1"}).matches({"$where": "1"})
    assert not ItemFilter(fields={"$where": "1"}).matches({"other": "1"})
    assert ItemFilter(fields={"": "x"}).problem() is not None
    assert ItemFilter(fields={str(n): "x" for n in range(17)}).problem() is not None
    assert ItemFilter().empty and not ItemFilter(name_contains="a").empty
