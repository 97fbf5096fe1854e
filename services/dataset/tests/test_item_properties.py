"""Properties of item filters and group values over any item data: filters never raise,
compare field values as data (a filter value like ``{"$gt": ""}`` is text to compare, never an
operator), and what an item's field holds is found by a filter for exactly that value."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.dataset.domain.items import ItemFilter, group_values
from services.dataset.tests.test_reader_properties import FUZZ, GOOD_KEYS, good_records

pytestmark = pytest.mark.unit

FILTER_TEXT = st.sampled_from(['{"$gt": ""}', "$where", "a.b", "", "null", "true", "1",
                               '{"$ne": null}', "[]", "s3://", "/"]) | st.text(max_size=8)


def rendered(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@FUZZ
@given(good_records(), st.dictionaries(GOOD_KEYS, FILTER_TEXT, max_size=3), FILTER_TEXT,
       FILTER_TEXT)
def test_any_filter_on_any_item_answers_without_raising(data: dict[str, Any],
                                                        fields: dict[str, str], prefix: str,
                                                        name: str) -> None:
    wanted = ItemFilter(fields=fields, path_prefix=prefix, name_contains=name)
    matched = wanted.matches(data)
    assert isinstance(matched, bool)
    if matched:  # every field named is there with exactly that value
        assert all(k in data and rendered(data[k]) == v for k, v in fields.items())
    grouped = group_values(data)
    assert "source" not in grouped and set(grouped) <= set(data)


@FUZZ
@given(good_records(), st.data())
def test_a_field_is_found_by_its_own_value_and_not_by_an_operator(data: dict[str, Any],
                                                                  draw: st.DataObject) -> None:
    name = draw.draw(st.sampled_from(sorted(data)))
    assert ItemFilter(fields={name: rendered(data[name])}).matches(data)
    for operator in ('{"$gt": ""}', '{"$ne": null}', '{"$exists": true}'):
        assert ItemFilter(fields={name: operator}).matches(data) == (
            rendered(data[name]) == operator)
