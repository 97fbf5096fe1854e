"""Hypothesis strategies for hostile gRPC requests, built from the message descriptors: any
field of any request gets random and adversarial values (operator-looking strings, JSON text
with ``$`` and ``.`` keys, huge strings, negative and extreme numbers, unknown enum values),
and a service's tests steer some fields toward real ids with ``hints``."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Enough to find a crash in every RPC and fast enough for the unit suite.
RPC_FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])

# What a client may be answered: OK, or an error that is its own doing.
CLIENT_ERRORS = frozenset({
    grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.OUT_OF_RANGE,
})

OPERATOR_KEYS = ["$where", "$gt", "$set", "$ne", "a.b", "$", ".", "x.$y", "_id"]
HOSTILE_TEXT = st.sampled_from([
    "", " ", "$where", '{"$gt": ""}', '{"$where": "1"}', "a.b", "$set.x", "../../etc/passwd",
    "s3://b/../x", "\x00", "\u202e", "ü", "😀", "-1", "0", "null", "[]", "{}", "true",
    "x" * 5000, "y" * 300_000,
])
TEXT = HOSTILE_TEXT | st.text(max_size=12)
JSON_LEAVES = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
               | TEXT | st.sampled_from([10**400, -1, 2**63]))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.sampled_from(OPERATOR_KEYS) | TEXT, inner,
                                             max_size=3), max_leaves=12)
JSON_TEXT = st.one_of(
    JSON_VALUES.map(lambda v: json.dumps(v, ensure_ascii=False)),
    st.sampled_from(['{"$gt": ""}', '{"a.b": 1, "$where": "sleep(1)"}', "[", "{", "NaN",
                     '{"x": Infinity}', "[" * 5000, '{"a": ' * 3000, "null",
                     '{"__proto__": {}}', '"\\ud800"']),
    TEXT)

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    edges = [v for v in (low, high, -1, 0, 1, 2, 100, 10_001, 2**31 - 1) if low <= v <= high]
    return st.sampled_from(edges) | st.integers(max(low, -1000), min(high, 1000)) \
        | st.integers(low, high)


def _scalar(field: FieldDescriptor, hints: Mapping[str, st.SearchStrategy[Any]]
            ) -> st.SearchStrategy[Any]:
    if field.name in hints:
        return hints[field.name]
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return JSON_TEXT if field.name.endswith("_json") else TEXT
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64) | JSON_TEXT.map(lambda t: t.encode("utf-8", "replace"))
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(width=64 if kind == FieldDescriptor.TYPE_DOUBLE else 32) \
            | st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0, 0.5, 1.0, 1e300])
    if kind == FieldDescriptor.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        return st.sampled_from(known) | st.sampled_from([-1, 99, 2**31 - 1])
    if kind in _INT_RANGES:
        return _integers(*_INT_RANGES[kind])
    raise AssertionError(f"no strategy for field {field.full_name} of type {kind}")


def _is_map(field: FieldDescriptor) -> bool:
    return bool(field.message_type is not None and field.message_type.GetOptions().map_entry)


@st.composite
def _fields(draw: st.DrawFn, descriptor: Descriptor, hints: Mapping[str, st.SearchStrategy[Any]],
            depth: int) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in descriptor.fields:
        if not draw(st.integers(0, 3)):  # a quarter of the fields are left unset
            continue
        if _is_map(field):
            key_field, value_field = field.message_type.fields_by_name["key"], \
                field.message_type.fields_by_name["value"]
            if value_field.message_type is not None:
                continue  # no map of messages in the requests fuzzed here
            values[field.name] = draw(st.dictionaries(
                _scalar(key_field, {}), _scalar(value_field, hints), max_size=3))
        elif field.message_type is not None:
            if depth >= 3:
                continue
            inner = _fields(field.message_type, hints, depth + 1)
            if field.is_repeated:
                values[field.name] = draw(st.lists(inner, max_size=3))
            else:
                values[field.name] = draw(inner)
        elif field.is_repeated:
            values[field.name] = draw(st.lists(_scalar(field, hints), max_size=4))
        else:
            values[field.name] = draw(_scalar(field, hints))
    return values


def _build(cls: type[Message], descriptor: Descriptor, values: dict[str, Any]) -> Any:
    fields: dict[str, Any] = {}
    for name, value in values.items():
        field = descriptor.fields_by_name[name]
        if field.message_type is not None and not _is_map(field):
            if field.is_repeated:
                fields[name] = [_sub(field, v) for v in value]
            else:
                fields[name] = _sub(field, value)
        else:
            fields[name] = value
    return cls(**fields)


def _sub(field: FieldDescriptor, values: dict[str, Any]) -> Any:
    return _build(message_factory.GetMessageClass(field.message_type), field.message_type,
                  values)


def short(value: Any, limit: int = 300) -> str:
    """A value's text cut to ``limit`` characters: failures quote requests of megabytes."""
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


@dataclass(frozen=True)
class Request:
    """A drawn request; shown shortened when a test fails."""

    message: Any

    def __repr__(self) -> str:
        return short(str(self.message).replace("\n", " "))


def requests(cls: type[Message], **hints: st.SearchStrategy[Any]) -> st.SearchStrategy[Request]:
    """Requests of this type with random and hostile values in any field; a field named in
    ``hints`` (at any depth) draws from its strategy instead."""
    descriptor = cls.DESCRIPTOR
    return _fields(descriptor, hints, 0).map(
        lambda values: Request(_build(cls, descriptor, values)))


def operator_keys(value: Any, path: str = "") -> list[str]:
    """Where a stored document has a key the database would read as an operator or a path
    (``$...`` or containing ``.``): user JSON must be stored as text or escaped."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, inner in value.items():
            at = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and (key.startswith("$") or "." in key):
                found.append(at)
            found += operator_keys(inner, at)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found += operator_keys(inner, f"{path}[{i}]")
    return found


def snapshot(db: Any) -> dict[str, dict[Any, Any]]:
    """Every document of a fake database, copied."""
    return {name: copy.deepcopy(collection.docs) for name, collection in db.collections.items()
            if collection.docs}


def stored_operator_keys(db: Any) -> list[str]:
    """Every operator-looking key stored anywhere in a fake database (there must be none)."""
    return [f"{name}/{doc_id}: {key}" for name, docs in snapshot(db).items()
            for doc_id, doc in docs.items() for key in operator_keys(doc)]


def judge_refusal(method: str, exc: grpc.aio.AioRpcError, db: Any,
                  before: dict[str, dict[Any, Any]]) -> str:
    """A refused call's checks: a client error with details, and nothing written (``before``
    is the database's ``snapshot`` from before the call). Returns the details, shortened."""
    details = short(exc.details())
    assert exc.code() in CLIENT_ERRORS, f"{method}: {exc.code()} {details}"
    assert exc.details(), f"{method}: {exc.code()} without details"
    assert snapshot(db) == before, f"{method} refused ({details}) but wrote"
    return details
