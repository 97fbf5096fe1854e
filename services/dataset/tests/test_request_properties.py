"""Properties of the dataset API under random and hostile requests, through the real server
(auth interceptor and roles map) on the fake database and object store: every RPC answers OK
or a client error (never UNKNOWN or INTERNAL) whose details start with the field at fault, a
refused call changes no document and no object, and item data whose keys look like
operators (``$where``, ``a.b``) is stored as data, never as document keys."""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor
from hypothesis import event, given, settings
from hypothesis import strategies as st
from PIL import Image

from labelops.dataset.v1 import dataset_pb2 as pb
from labelops_shared import auth, storage
from services.dataset.adapters.repository import DATASETS, ITEMS, JOB_USES, VERSIONS, version_id
from services.dataset.tests.conftest import WORKSPACE, Harness
from tests.proto_strategies import (
    CLIENT_ERRORS,
    OPERATOR_KEYS,
    RPC_FUZZ,
    TEXT,
    Request,
    requests,
    short,
    snapshot,
    stored_operator_keys,
)

pytestmark = pytest.mark.unit

METHODS = {m.name: message_factory.GetMessageClass(m.input_type)
           for m in pb.DESCRIPTOR.services_by_name["DatasetService"].methods}
UPLOADS = f"s3://{storage.UPLOADS_BUCKET}/{WORKSPACE}"
RECORDS = [
    {"source": f"{UPLOADS}/u1/cat.png", "label": "cat", "$where": "sleep(1)",
     "a.b": {"$gt": "", "c.d": [{"$ne": None}]}, "meta": {"$set": 1}},
    {"source": f"{UPLOADS}/u1/dög 1.jpg", "label": "dog", "n": 3, "x.$y": [1]},
    {"source": "s3://pictures/cats/2.png", "label": "$gt", "_id": "x"},
    {"source": "just a text", "label": None, "n": 2.5},
    {"source": "another text", "label": "cat", "tags": ["a.b", "$ne"]},
]
MANIFEST = "".join(json.dumps({"data": r}, ensure_ascii=False) + "\n" for r in RECORDS)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (3, 2)).save(out, "PNG")
    return out.getvalue()


OBJECTS = {  # in the workspace's uploads
    "u1/items.manifest": MANIFEST.encode(),
    "u1/items.csv": b"text,label,$where,a.b\nhello,pos,1,x\nbye,neg,2,y\n",
    "u1/bad.txt": b'{"data": {"$where": 1}}\n' + b"[" * 5000 + b"\nnot json\n{}\n",
    "u1/empty.jsonl": b"",
    "pics/a.png": _png(), "pics/sub/b.png": _png(), "pics/notes.txt": b"x",
    "pics-bad/x.jpg": b"not an image",
}
SOURCE_URIS = st.sampled_from([
    *(f"{UPLOADS}/{key}" for key in OBJECTS), f"{UPLOADS}/pics/", f"{UPLOADS}/pics",
    f"{UPLOADS}/pics-bad/", f"{UPLOADS}/", f"{UPLOADS}/u1/missing.manifest",
    f"s3://{storage.UPLOADS_BUCKET}/", f"s3://{storage.UPLOADS_BUCKET}/ws2/u1/items.manifest",
    f"s3://{storage.EXPORTS_BUCKET}/ws2/j1/export.manifest",
    f"s3://{storage.DATASETS_BUCKET}/fingerprints/x/v1.bin",
    # Names the MinIO client refuses before any request (bucket rules, '.' segments, blank
    # keys), and one it lets through to the server (legacy bucket names).
    "s3://Bad_Bucket/a.manifest", "s3://ab/a.manifest", "s3://192.168.1.1/a.manifest",
    "s3://pictures/a/./b.manifest", "s3://pictures/ /", "s3://pictures/   ",
    "s3://pictures/$where.manifest", "s3://a..b/x.csv", "s3://pictures/a.b/",
])


def _token(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


PAGE_TOKENS = st.sampled_from([
    _token(b'{"v": 1, "a": ""}'), _token(b'{"v": 2, "a": "zzz"}'),
    _token(b'{"v": -1, "a": "$gt"}'), _token(b'{"v": 2147483648, "a": "x"}'),
    _token(b'{"v": "1", "a": {"$gt": ""}}'), _token(b'{"v": 1e999, "a": ""}'),
    _token(b'{"v": NaN, "a": ""}'), _token(b'{"v": null}'), _token(b"[1, 2]"),
    _token(b'"v"'), _token(b"[" * 100_000), _token(b"\xff\xfe"), _token(b""), "!!!", "=",
])
FILTER_VALUES = st.sampled_from([
    "cat", "dog", "$gt", "null", "3", "2.5", "sleep(1)", "x", "[1]", '["a.b", "$ne"]',
    '{"$gt": "", "c.d": [{"$ne": null}]}', '{"$set": 1}', "",
]) | TEXT
PATH_PREFIXES = st.sampled_from(["", f"{UPLOADS}/u1/", f"{WORKSPACE}/u1/", "s3://", "$"]) | TEXT
NAME_PARTS = st.sampled_from(["", "cat", ".PNG", "ö", "$"]) | TEXT
FILTERS = st.builds(
    pb.ItemFilter,
    fields=st.dictionaries(st.sampled_from(["label", "n", "source", "tags", "meta",
                                            *OPERATOR_KEYS, ""]) | TEXT,
                           FILTER_VALUES, max_size=3)
    | st.just({f"k{n}": "v" for n in range(17)}),
    path_prefix=PATH_PREFIXES, name_contains=NAME_PARTS)
INT32_EDGES = st.sampled_from([0, 1, 2, 3, -1, 2**31 - 1, -(2**31)])


@dataclass
class Seed:
    """The datasets the requests may name, by role: ``rich`` (two READY versions of items
    whose keys look like operators), ``used`` (by a published job), ``pics`` (an image
    dataset, for folder scans) and ``busy`` (an import in progress)."""

    ids: dict[str, str]
    token: str = ""  # a real next_page_token of ``rich``
    made: int = 0


async def _import(harness: Harness, dataset_id: str, key: str, **options: Any) -> None:
    admin = harness.client("ada", auth.WORKSPACE_ADMIN)
    version = await admin.ImportDataset(pb.ImportDatasetRequest(
        dataset_id=dataset_id, source_uri=f"{UPLOADS}/{key}", **options))
    await harness.settled()
    done = await admin.GetVersion(pb.GetVersionRequest(dataset_id=dataset_id,
                                                       version=version.version))
    assert done.state == pb.VERSION_STATE_READY, done.error


async def _create(harness: Harness, seed: Seed, role: str, kind: pb.DatasetKind) -> str:
    seed.made += 1  # a request may have taken the name "rich" once the first one was deleted
    admin = harness.client("ada", auth.WORKSPACE_ADMIN)
    made = await admin.CreateDataset(pb.CreateDatasetRequest(name=f"{role}-{seed.made}",
                                                             kind=kind))
    return str(made.id)


async def seeded(harness: Harness) -> Seed:
    """The seed datasets, made again when a request deleted one or most items of ``rich``
    (so every example can reach the deeper paths); their files, put back when a request
    deleted an item's source."""
    seed: Seed = getattr(harness, "fuzz_seed", None) or Seed({})
    harness.storage.objects.update({(storage.UPLOADS_BUCKET, f"{WORKSPACE}/{k}"): v
                                    for k, v in OBJECTS.items()})
    if seed.ids.get("rich") not in harness.db[DATASETS].docs:
        seed.ids["rich"] = await _create(harness, seed, "rich", pb.DATASET_KIND_MULTI)
        await _import(harness, seed.ids["rich"], "u1/items.manifest")
        await _import(harness, seed.ids["rich"], "u1/items.csv", text_column="text")
        first = await harness.client("ada", auth.WORKSPACE_ADMIN).ListItems(
            pb.ListItemsRequest(dataset_id=seed.ids["rich"], page_size=2))
        seed.token = first.next_page_token
    elif len([i for i in harness.db[ITEMS].docs if i.startswith(seed.ids["rich"])]) < 3:
        await _import(harness, seed.ids["rich"], "u1/items.manifest", duplicates="keep")
    if seed.ids.get("used") not in harness.db[DATASETS].docs:
        seed.ids["used"] = await _create(harness, seed, "used", pb.DATASET_KIND_TEXT)
        await _import(harness, seed.ids["used"], "u1/items.csv", text_column="text")
        await harness.db[JOB_USES].insert_one({"_id": "job-1", "dataset_id": seed.ids["used"],
                                               "name": "$where job", "workspace": WORKSPACE})
    if seed.ids.get("pics") not in harness.db[DATASETS].docs:
        seed.ids["pics"] = await _create(harness, seed, "pics", pb.DATASET_KIND_IMAGE)
        await _import(harness, seed.ids["pics"], "pics/")
    if seed.ids.get("busy") not in harness.db[DATASETS].docs:
        seed.ids["busy"] = await _create(harness, seed, "busy", pb.DATASET_KIND_TEXT)
        await harness.db[VERSIONS].insert_one({  # as an import a process is still running
            "_id": version_id(seed.ids["busy"], 1), "dataset_id": seed.ids["busy"],
            "version": 1, "state": "importing", "source_uri": f"{UPLOADS}/u1/items.manifest",
            "format": "manifest", "item_count": 0})
    harness.fuzz_seed = seed  # type: ignore[attr-defined]
    return seed


def mostly(known: st.SearchStrategy[Any],
           hostile: st.SearchStrategy[Any] = TEXT) -> st.SearchStrategy[Any]:
    """Known values three times in four, hostile ones else: most requests get past the
    first check to the deeper ones (``one_of`` would flatten TEXT's own branches and
    outweigh them)."""
    return st.sampled_from((known, known, known, hostile)).flatmap(lambda chosen: chosen)


def hints(seed: Seed) -> dict[str, st.SearchStrategy[Any]]:
    rich = seed.ids["rich"]
    # Ids by position, not the stored ones: the strategy may not depend on what earlier
    # examples deleted (Hypothesis replays draws). Lines 1-5 of v1 and 2-3 of v2 exist.
    items = [f"{rich}-v{v:04d}-{line:09d}" for v in (1, 2, 3, 9) for line in range(1, 7)]
    forged = [f"{rich}-v0001-", f"{rich}-", f"{rich}-v0001-000000001.", f"{rich}-v1-1",
              f"{seed.ids['pics']}-v0001-000000001", f"{seed.ids['busy']}-v0001-000000001"]
    return {
        "dataset_id": mostly(st.sampled_from(sorted(seed.ids.values()))),
        "item_ids": mostly(st.sampled_from(items + forged)),
        "source_uri": mostly(SOURCE_URIS),
        "format": mostly(st.sampled_from(["", "manifest", "csv", "xlsx", "folder"])),
        "encoding": mostly(st.sampled_from(["", "auto", "utf-8", "gb18030"])),
        "duplicates": mostly(st.sampled_from(["", "skip", "keep"])),
        "text_column": mostly(st.sampled_from(["", "text", "label", "$where"])),
        "version": mostly(st.sampled_from([0, 1, 2]),
                          INT32_EDGES | st.integers(-(2**31), 2**31 - 1)),
        "page_size": mostly(st.sampled_from([0, 1, 2, 1000]), INT32_EDGES | st.just(1001)),
        "page_token": PAGE_TOKENS | st.just(seed.token) | TEXT,
        "path_prefix": PATH_PREFIXES, "name_contains": NAME_PARTS,
        "name": st.sampled_from(["rich-1", "new", " x", "a" * 101, "$where", "a.b"]) | TEXT,
    }


def _field_paths(descriptor: Descriptor, prefix: str = "") -> set[str]:
    paths = set()
    for field in descriptor.fields:
        paths.add(prefix + field.name)
        if field.message_type is not None and not field.message_type.GetOptions().map_entry:
            paths |= _field_paths(field.message_type, f"{prefix}{field.name}.")
    return paths


FIELDS = {name: _field_paths(cls.DESCRIPTOR) for name, cls in METHODS.items()}


def clients(harness: Harness) -> list[Any]:
    """Both administrators (one twice: most calls are an administrator's), a platform
    service, a labeler (refused by most methods) and a member of another workspace holding
    every role (sees no dataset here)."""
    return [harness.client("ada", auth.WORKSPACE_ADMIN),
            harness.client("ada", auth.WORKSPACE_ADMIN),
            harness.client("ann", auth.ANNOTATION_ADMIN),
            harness.client("svc", auth.SERVICE, workspace="*"),
            harness.client("lea", auth.LABELER),
            harness.client("eve", *sorted(auth.MEMBERS), workspace="ws2")]


async def call(harness: Harness, client: Any, method: str, request: Request
               ) -> tuple[grpc.StatusCode, Any]:
    """The call's status and answer; a refused call must leave every document and object as
    it was. An import a call started is awaited, so its writes are not the next call's."""
    await harness.settled()
    before, objects = snapshot(harness.db), harness.storage.snapshot()
    try:
        answer = await getattr(client, method)(request.message)
    except grpc.aio.AioRpcError as exc:
        details = short(exc.details())
        assert exc.code() in CLIENT_ERRORS, f"{method}: {exc.code()} {details}"
        assert exc.details(), f"{method}: {exc.code()} without details"
        if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:  # names the field at fault
            named = re.match(r"[\w.]*", details)
            assert named and named.group() in FIELDS[method], f"{method}: {details}"
        assert snapshot(harness.db) == before, f"{method} refused ({details}) but wrote"
        assert harness.storage.snapshot() == objects, f"{method} refused but changed objects"
        return exc.code(), None
    await harness.settled()
    return grpc.StatusCode.OK, answer


@settings(RPC_FUZZ, max_examples=600)
@given(data=st.data(), method=st.sampled_from(sorted(METHODS)))
async def test_any_request_is_answered_ok_or_a_client_error(harness: Harness, data: st.DataObject,
                                                            method: str) -> None:
    seed = await seeded(harness)
    request = data.draw(requests(METHODS[method], **hints(seed)), label=method)
    if method in ("ListItems", "DeleteItems") and data.draw(st.booleans()):
        # Field names of the seeded items, operator-looking ones included (a map's keys
        # draw no hints).
        request.message.filter.CopyFrom(data.draw(FILTERS, label="filter"))
    client = data.draw(st.sampled_from(clients(harness)))
    code, _ = await call(harness, client, method, request)
    event(f"{method}: {code.name}")
    assert stored_operator_keys(harness.db) == []


async def test_seeded_items_keep_their_operator_keys_as_data(harness: Harness) -> None:
    seed = await seeded(harness)
    assert stored_operator_keys(harness.db) == []
    admin = harness.client("ada", auth.WORKSPACE_ADMIN)
    found = await admin.ListItems(pb.ListItemsRequest(
        dataset_id=seed.ids["rich"], filter=pb.ItemFilter(fields={
            "a.b": '{"$gt": "", "c.d": [{"$ne": null}]}', "$where": "sleep(1)"})))
    assert [json.loads(i.data_json) for i in found.items] == RECORDS[:1]


@settings(RPC_FUZZ, max_examples=200)
@given(data=st.data())
async def test_an_import_is_refused_unchanged_or_ends_ready_or_failed(
        harness: Harness, data: st.DataObject) -> None:
    """The administrator's imports into the seeded datasets, where every check and the
    import itself run: refused with nothing written, or a version that ends READY or
    FAILED with a reason."""
    seed = await seeded(harness)
    fields = {**hints(seed),  # hostile values of these are the other test's
              "format": st.sampled_from(["", "manifest", "csv", "xlsx", "folder"]),
              "encoding": st.sampled_from(["", "auto", "utf-8", "gb18030"]),
              "duplicates": st.sampled_from(["", "skip", "keep"])}
    request = data.draw(requests(pb.ImportDatasetRequest, **fields), label="ImportDataset")
    request.message.dataset_id = data.draw(st.sampled_from(sorted(seed.ids.values())))
    request.message.source_uri = data.draw(mostly(SOURCE_URIS))
    admin = harness.client("ada", auth.WORKSPACE_ADMIN)
    code, started = await call(harness, admin, "ImportDataset", request)
    event(code.name)
    if code == grpc.StatusCode.OK:
        assert started.state == pb.VERSION_STATE_IMPORTING
        done = harness.db[VERSIONS].docs[version_id(started.dataset_id, started.version)]
        assert done["state"] == "ready" or (done["state"] == "failed" and done["error"]), done
        event(f"import {done['state']}")
    assert stored_operator_keys(harness.db) == []


ITEM_METHODS = ["DeleteItems", "GetItems", "ListItems", "StreamItems"]


@settings(RPC_FUZZ, max_examples=200)
@given(data=st.data(), method=st.sampled_from(ITEM_METHODS))
async def test_item_requests_on_a_dataset_with_items_answer_its_items_or_a_client_error(
        harness: Harness, data: st.DataObject, method: str) -> None:
    """Reads and deletions of the seeded datasets' items by who may make them, with filters
    over operator-looking field names, page tokens and ids: OK with items of that dataset
    only, or a client error that changed nothing."""
    seed = await seeded(harness)
    request = data.draw(requests(METHODS[method], **hints(seed)), label=method)
    request.message.dataset_id = data.draw(st.sampled_from(sorted(seed.ids.values())))
    if method in ("ListItems", "DeleteItems") and data.draw(st.booleans()):
        request.message.filter.CopyFrom(data.draw(FILTERS, label="filter"))
    client = data.draw(st.sampled_from([harness.client("ada", auth.WORKSPACE_ADMIN),
                                        harness.client("svc", auth.SERVICE, workspace="*")]))
    code, answer = await call(harness, client, method, request)
    event(f"{method}: {code.name}")
    if code == grpc.StatusCode.OK and method != "DeleteItems":
        items = answer if method == "StreamItems" else answer.items
        event(f"{method}: {'some' if items else 'no'} items")
        for item in items:
            assert item.dataset_id == request.message.dataset_id, item
            assert item.id.startswith(f"{item.dataset_id}-v{item.version:04d}-"), item
            assert isinstance(json.loads(item.data_json), dict)
    assert stored_operator_keys(harness.db) == []


@pytest.mark.parametrize("raw", [
    b'{"v": 1e999, "a": ""}',  # Infinity: int() raised OverflowError (answered UNKNOWN)
    b'{"v": -Infinity, "a": ""}',
    b"[" * 100_000,  # past the JSON parser's depth: RecursionError (answered UNKNOWN)
    b'{"v": NaN, "a": ""}', b'{"v": "x", "a": ""}', b"[1]", b"\xff",
])
async def test_a_page_token_of_any_content_but_ours_is_an_invalid_argument(
        harness: Harness, raw: bytes) -> None:
    seed = await seeded(harness)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await harness.client("ada", auth.WORKSPACE_ADMIN).ListItems(pb.ListItemsRequest(
            dataset_id=seed.ids["rich"], page_token=_token(raw)))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (info.value.details() or "").startswith("page_token: ")


@pytest.mark.parametrize(("uri", "fmt"), [
    # Names the MinIO client refuses with ValueError before any request: stat_object
    # raised it (answered UNKNOWN), a folder scan failed only after taking a version.
    ("s3://ab/a.manifest", ""), ("s3://192.168.1.1/a.manifest", ""),
    ("s3://a..b/a.manifest", ""), ("s3://pictures/a/./b.manifest", ""),
    ("s3://pictures/   ", "manifest"), ("s3://pictures/", "manifest"),
    ("s3://ab/", ""), ("s3://pictures/a/./", ""),
])
async def test_an_import_naming_what_the_storage_client_refuses_is_an_invalid_argument(
        harness: Harness, uri: str, fmt: str) -> None:
    seed = await seeded(harness)
    before, asked = snapshot(harness.db), len(harness.storage.asked)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await harness.client("ada", auth.WORKSPACE_ADMIN).ImportDataset(
            pb.ImportDatasetRequest(dataset_id=seed.ids["pics"], source_uri=uri, format=fmt))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    assert (info.value.details() or "").startswith(f"source_uri {uri!r}: ")
    assert snapshot(harness.db) == before and len(harness.storage.asked) == asked


async def test_a_folder_scan_of_a_whole_bucket_is_still_allowed(harness: Harness) -> None:
    seed = await seeded(harness)
    harness.storage.objects[("pictures", "c.png")] = OBJECTS["pics/a.png"]
    version = await harness.client("ada", auth.WORKSPACE_ADMIN).ImportDataset(
        pb.ImportDatasetRequest(dataset_id=seed.ids["pics"], source_uri="s3://pictures/"))
    await harness.settled()
    done = harness.db[VERSIONS].docs[version_id(seed.ids["pics"], version.version)]
    assert (done["state"], done["item_count"]) == ("ready", 1), done
