"""Defence in depth behind the import's check: an item naming another workspace's files or
the platform's own (stored before that check, or slipped past it) is neither read nor
shared by URL for a job of the workspace. The refusal is logged as a warning and the item
fails like an unreadable one; the job's other items go on."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator

import pytest

from labelops.prelabel.v1 import prelabel_pb2 as pb
from labelops_shared import storage
from labelops_shared.contracts import PackageCreated
from services.prelabel.adapters.media import ForeignObject
from services.prelabel.reference_model import Behaviour, ReferenceModel
from services.prelabel.tests.conftest import WORKSPACE, FakeMedia, Harness, online_spec, spec
from services.prelabel.tests.fakes import FakeDatabase
from services.prelabel.tests.test_autolabel import COLOURS, accept_items, finished
from services.prelabel.tests.test_learning import coloured_image

pytestmark = pytest.mark.unit
OTHER = "ws2"
FOREIGN = [
    f"s3://{storage.EXPORTS_BUCKET}/{OTHER}/j1/frame.png",
    f"s3://{storage.EXPORTS_BUCKET}/{WORKSPACE}/../{OTHER}/j1/frame.png",
    f"s3://{storage.DATASETS_BUCKET}/reports/d1/v1-rejected.png",
    f"s3://{storage.DATASETS_BUCKET}/fingerprints/d1/v1.png",
]
OWN = f"s3://{storage.EXPORTS_BUCKET}/{WORKSPACE}/j1/frame.png"
SENTIMENT = {"name": "label", "kind": "single_choice",
             "options": ["positive", "negative", "neutral"]}


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
async def model() -> AsyncIterator[ReferenceModel]:
    server = ReferenceModel(Behaviour())
    await server.start()
    yield server
    await server.stop()


@pytest.mark.parametrize("uri", FOREIGN)
async def test_a_foreign_object_is_neither_read_nor_shared(
        uri: str, caplog: pytest.LogCaptureFixture) -> None:
    media = FakeMedia()
    media.objects[uri] = media.objects[OWN] = b"bytes"
    with caplog.at_level(logging.WARNING, logger="services.prelabel.adapters.media"):
        with pytest.raises(ForeignObject):
            await media.read(uri, workspace=WORKSPACE)
        with pytest.raises(ForeignObject):
            await media.url(uri, workspace=WORKSPACE)
    assert media.store.asked == []
    assert [r.levelno for r in caplog.records] == [logging.WARNING] * 2
    assert await media.read(OWN, workspace=WORKSPACE) == b"bytes"
    assert (await media.url(OWN, workspace=WORKSPACE)).startswith("http://objects.test/")


async def test_an_online_job_never_hands_the_model_a_foreign_object(
        harness: Harness, model: ReferenceModel, caplog: pytest.LogCaptureFixture) -> None:
    pictures = [OWN, FOREIGN[0], OWN, FOREIGN[2]]
    ids = harness.items.add_data("d1", [{"source": "I love this phone", "picture": p}
                                        for p in pictures])
    job = spec("d1", prelabel_field="", topics=[SENTIMENT], prelabel=online_spec(
        model.http_url), content=[{"kind": "text", "field": "source"},
                                  {"kind": "image", "field": "picture"}])
    await harness.publish(job)
    with caplog.at_level(logging.WARNING, logger="services.prelabel.adapters.media"):
        assert await harness.worker.drain() == 1
    assert len([r for r in caplog.records if "workspace" in r.getMessage()]) == 2
    assert set(harness.media.store.asked) == {OWN}  # only the workspace's own was shared
    [chunk] = await harness.predictions()
    assert {p["item_id"] for p in chunk["predictions"]} == {ids[0], ids[2]}
    [failed] = await harness.events("failed")
    assert {f["item_id"] for f in failed["failures"]} == {ids[1], ids[3]}
    assert all("not an object of the job's workspace" in f["reason"]
               for f in failed["failures"])
    assert model.behaviour.calls == 1  # the two others, in one batch
    status = await harness.admin().GetPrelabelStatus(
        pb.GetPrelabelStatusRequest(job_id=job.job_id))
    assert (status.predictions, status.failed) == (2, 2)


async def test_an_image_run_reads_no_foreign_object(harness: Harness) -> None:
    rng = random.Random(5)
    colours = [rng.choice(["red", "green", "blue"]) for _ in range(60)]
    records = []
    for n, colour in enumerate(colours):
        uri = f"s3://{storage.EXPORTS_BUCKET}/{WORKSPACE}/imgs/{n}.png"
        harness.media.objects[uri] = coloured_image(colour, rng)
        records.append({"source": uri})
    harness.media.objects[FOREIGN[0]] = coloured_image("red", rng)  # there, yet not its
    records.append({"source": FOREIGN[0]})
    ids = harness.items.add_data("d1", records)
    job = spec(prelabel_field="", topics=[COLOURS], content=[{"kind": "image",
                                                              "field": "source"}])
    await harness.publish(job)
    await harness.deliver(PackageCreated(job_id=job.job_id, package_id="p1", index=0,
                                         item_ids=ids))
    await accept_items(harness, job, ids[:24], colours[:24], topic="colour")
    run = await harness.admin().StartAutoLabel(pb.StartAutoLabelRequest(job_id=job.job_id))
    done = await finished(harness, run.run_id)
    assert (done.state, done.labeled, done.failed) == ("done", 36, 1), done.error
    assert FOREIGN[0] not in harness.media.store.asked
    [failed] = await harness.events("failed")
    assert failed["failures"][0]["item_id"] == ids[-1]
    assert "not an object of the job's workspace" in failed["failures"][0]["reason"]
