"""Online pre-labels against the reference model server over real HTTP and real gRPC on
loopback: the contract on both transports, a job pre-labeled through the worker, per-item
errors, a slow model (deadlines), a failing model (the breaker opens, the job goes on, the
breaker closes again) and malformed answers (refused and listed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from labelops.prelabel.v1 import prelabel_pb2 as pb
from labelops_shared.contracts import ItemsAdded, JobDeleted
from services.prelabel.adapters.model_client import GrpcTransport, HttpTransport
from services.prelabel.adapters.repository import UNITS
from services.prelabel.reference_model import Behaviour, ReferenceModel, predict
from services.prelabel.settings import PrelabelSettings
from services.prelabel.tests.conftest import Harness, online_spec, spec

ROOT = str(Path(__file__).resolve().parents[3])
SENTIMENT = {"name": "label", "kind": "single_choice",
             "options": ["positive", "negative", "neutral"]}
TEXTS = ["I love this phone", "terrible battery, never again", "it is a phone",
         "#model-error please", "great value", "awful", "the box was blue", "positive vibes",
         "worst purchase", "excellent"]


@pytest.fixture
async def model() -> AsyncIterator[ReferenceModel]:
    server = ReferenceModel(Behaviour())
    await server.start()
    yield server
    await server.stop()


def sentiment_job(endpoint: str, dataset: str = "d1", **kwargs: Any) -> Any:
    return spec(dataset, prelabel_field="", topics=[SENTIMENT],
                prelabel=online_spec(endpoint), **kwargs)


def endpoint_of(model: ReferenceModel, transport: str) -> str:
    return model.http_url if transport == "http" else model.grpc_url


async def test_the_reference_model_answers_the_same_over_http_and_grpc(
    model: ReferenceModel,
) -> None:
    body = {"job_id": "j", "topics": [SENTIMENT, {"name": "tags", "kind": "multiple_choice",
                                                  "options": ["phone", "other"]},
                                      {"name": "note", "kind": "free_text"}],
            "labels": ["positive", "negative", "neutral", "phone", "other"],
            "items": [{"id": f"i{n}", "data": {"source": t},
                       "content": [{"field": "source", "kind": "text", "text": t}]}
                      for n, t in enumerate(TEXTS[:4])]}
    http, grpc_ = HttpTransport(model.http_url), GrpcTransport(f"127.0.0.1:{model.grpc_port}")
    try:
        over_http = await http.predict(body, 5.0)
        over_grpc = await grpc_.predict(body, 5.0)
    finally:
        await http.close()
        await grpc_.close()
    assert over_http == over_grpc and over_http.model_version == "reference-keywords-1"
    first = over_http.items[0]
    assert [(a.topic, a.answer, a.confidence) for a in first.answers] == [
        ("label", "positive", 0.85), ("tags", ["phone"], 0.95)]
    assert over_http.items[3].error == "the model refuses this item"
    assert predict(body)["items"][1]["predictions"][0]["answer"] == "negative"
    assert model.behaviour.calls == 2


@pytest.mark.parametrize("transport", ["http", "grpc"])
async def test_an_online_job_is_pre_labeled_and_its_status_shows_it(
    harness: Harness, model: ReferenceModel, transport: str,
) -> None:
    ids = harness.items.add_data("d1", [{"source": t} for t in TEXTS])
    job = sentiment_job(endpoint_of(model, transport))
    assert await harness.publish(job) == "handled"
    assert await harness.predictions() == []  # nothing waits on the model in the handler
    assert await harness.worker.drain() == 1

    [chunk] = await harness.predictions()
    assert chunk["source"] == "online" and chunk["model_version"] == "reference-keywords-1"
    answers = {p["item_id"]: (p["answer"], p["confidence"]) for p in chunk["predictions"]}
    assert answers[ids[0]] == ("positive", 0.85) and answers[ids[1]] == ("negative", 0.85)
    assert answers[ids[7]] == ("positive", 0.95) and ids[3] not in answers
    [failed] = await harness.events("failed")
    assert failed["failures"] == [{"item_id": ids[3], "reason": "the model answered with an "
                                   "error: the model refuses this item"}]

    status = await harness.admin().GetPrelabelStatus(
        pb.GetPrelabelStatusRequest(job_id=job.job_id))
    assert (status.mode, status.state, status.predictions, status.failed, status.invalid) == (
        "online", "done", 9, 1, 0)
    assert (status.units_total, status.units_done, status.items_seen) == (1, 1, 10)
    assert status.breaker == "closed" and status.model_version == "reference-keywords-1"
    assert status.batches == 2  # ten items in batches of eight


@pytest.mark.parametrize("transport", ["http", "grpc"])
async def test_a_slow_model_times_out_and_its_items_stay_unlabeled(
    harness: Harness, model: ReferenceModel, transport: str, settings: PrelabelSettings,
) -> None:
    settings.model_timeout_seconds = 0.2
    model.behaviour.delay_seconds = 0.5
    ids = harness.items.add_data("d1", [{"source": t} for t in TEXTS[:3]])
    job = sentiment_job(endpoint_of(model, transport))
    await harness.publish(job)
    await harness.worker.drain()
    assert await harness.predictions() == []
    [failed] = await harness.events("failed")
    assert [f["item_id"] for f in failed["failures"]] == ids
    assert all("no answer within 0.2 s" in f["reason"] for f in failed["failures"])
    assert model.behaviour.calls == settings.model_attempts  # retried, then given up
    unit = await harness.db[UNITS].find_one({"job_id": job.job_id})
    assert (unit["state"], unit["failed"]) == ("done", 3)


@pytest.fixture
def breaking(settings: PrelabelSettings) -> PrelabelSettings:
    settings.model_attempts = 1
    settings.breaker_failures = 2
    settings.breaker_reset_seconds = 0.5
    settings.model_concurrency = 1
    return settings


async def test_a_failing_model_opens_the_breaker_and_the_job_goes_on(
    harness: Harness, model: ReferenceModel, breaking: PrelabelSettings,
) -> None:
    model.behaviour.fail = True
    harness.items.add_data("d1", [{"source": f"{t} {n}"} for n in range(4) for t in TEXTS])
    job = sentiment_job(model.http_url)
    await harness.publish(job)
    await harness.worker.drain()

    # Five batches of eight: two calls fail and open the circuit; the rest are not sent.
    assert model.behaviour.calls == 2
    failures = [f for e in await harness.events("failed") for f in e["failures"]]
    assert len(failures) == 40
    assert sum("circuit is open" in f["reason"] for f in failures) == 24
    status = await harness.admin().GetPrelabelStatus(
        pb.GetPrelabelStatusRequest(job_id=job.job_id))
    assert (status.state, status.failed, status.predictions, status.breaker) == (
        "done", 40, 0, "open")

    # The model recovers: after the reset time one trial goes through and closes it.
    model.behaviour.fail = False
    await asyncio.sleep(breaking.breaker_reset_seconds)
    harness.items.add_data("d2", [{"source": t} for t in TEXTS])
    again = sentiment_job(model.http_url, "d2")
    await harness.publish(again)
    await harness.worker.drain()
    assert harness.models.breaker_state(model.http_url) == "closed"
    assert sum(len(c["predictions"]) for c in await harness.predictions()) == 9


async def test_malformed_answers_are_refused_and_listed(
    harness: Harness, model: ReferenceModel,
) -> None:
    model.behaviour.malformed = True
    ids = harness.items.add_data("d1", [{"source": t} for t in TEXTS[:3]])
    job = sentiment_job(model.grpc_url)
    await harness.publish(job)
    await harness.worker.drain()
    [chunk] = await harness.predictions()
    assert chunk["predictions"] == [] and chunk["invalid_count"] == 3
    page = await harness.admin().ListInvalidPrelabels(
        pb.ListInvalidPrelabelsRequest(job_id=job.job_id, page_size=2))
    assert page.total == 3 and len(page.invalid_values) == 2 and page.next_page_token
    rest = await harness.admin().ListInvalidPrelabels(pb.ListInvalidPrelabelsRequest(
        job_id=job.job_id, page_size=2, page_token=page.next_page_token))
    rows = [*page.invalid_values, *rest.invalid_values]
    assert rest.next_page_token == "" and sorted(r.item_id for r in rows) == ids
    assert all(r.field == "model" and r.topic == "label" for r in rows)
    assert "'not-positive' is not one of" in rows[0].reason


async def test_new_items_of_an_auto_sync_job_go_to_the_model(
    harness: Harness, model: ReferenceModel,
) -> None:
    harness.items.add_data("d1", [{"source": "great"}])
    job = sentiment_job(model.http_url, auto_sync=True)
    await harness.publish(job)
    added = harness.items.add_data("d1", [{"source": "awful"}, {"source": "love"}], version=2)
    await harness.deliver(ItemsAdded(dataset_id="d1", workspace="ws1", version=2, chunk=0,
                                     chunks=1, item_ids=added))
    assert await harness.worker.drain() == 2
    done = [p["item_id"] for c in await harness.predictions() for p in c["predictions"]]
    assert sorted(done) == sorted(["d1-i00000", *added])


async def test_units_of_a_deleted_job_are_cancelled(harness: Harness,
                                                    model: ReferenceModel) -> None:
    harness.items.add_data("d1", [{"source": "great"}])
    job = sentiment_job(model.http_url)
    await harness.publish(job)
    await harness.deliver(JobDeleted(job_id=job.job_id, dataset_id="d1"))
    await harness.worker.drain()
    assert model.behaviour.calls == 0 and await harness.predictions() == []
    assert (await harness.db[UNITS].find_one({"job_id": job.job_id}))["state"] == "cancelled"


async def test_the_worker_runs_in_the_background(harness: Harness,
                                                 model: ReferenceModel) -> None:
    harness.items.add_data("d1", [{"source": "great"}])
    task = asyncio.create_task(harness.worker.run_forever())
    try:
        await harness.publish(sentiment_job(model.http_url))
        for _ in range(200):
            if await harness.predictions():
                break
            await asyncio.sleep(0.02)
        assert len(await harness.predictions()) == 1
    finally:
        task.cancel()


async def test_the_reference_model_runs_as_a_program() -> None:
    """``python -m services.prelabel.reference_model --http 0 --grpc 0`` (what the demo and
    the end-to-end tests start) serves both transports until terminated."""
    import re
    import sys

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.prelabel.reference_model", "--http", "0", "--grpc",
        "0", cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        found = re.search(r"HTTP (\S+), gRPC http://(\S+)#grpc", line)
        assert found, line
        body = {"job_id": "j", "topics": [SENTIMENT], "labels": [], "items": [
            {"id": "i1", "data": {"source": "great"}, "content": []}]}
        for transport in (HttpTransport(found[1]), GrpcTransport(found[2])):
            reply = await transport.predict(body, 10.0)
            await transport.close()
            assert reply.items[0].answers[0].answer == "positive"
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 20) in (0, -15)
