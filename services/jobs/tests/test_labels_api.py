"""Label management through the real gRPC server: the template follows, events announce it."""

from __future__ import annotations

import asyncio
import json

import grpc

from labelops.jobs.v1 import jobs_pb2 as pb
from services.jobs.tests.conftest import Harness
from services.jobs.tests.test_api import refused, request

NER_LABELS = [pb.Label(name="PER", color="#ff0000", shortcut="1"), pb.Label(name="ORG"),
              pb.Label(name="works_for", kind="relation", source=["PER"], target=["ORG"])]


async def relation_job(harness: Harness) -> pb.Job:
    harness.datasets.add("d1")
    return await harness.admin().CreateJob(request(template="entity_relations",
                                                   labels=NER_LABELS))


def topics(job: pb.Job) -> list[dict[str, object]]:
    found: list[dict[str, object]] = json.loads(job.topics_json)
    return found


async def test_add_a_label(harness: Harness) -> None:
    harness.datasets.add("d1")
    admin = harness.admin()
    job = await admin.CreateJob(request())
    added = await admin.AddLabel(pb.AddLabelRequest(job_id=job.id, label=pb.Label(
        name="neutral", color="#cccccc", shortcut="3")))
    assert topics(added)[0]["options"] == ["pos", "neg", "neutral"]
    [event] = await harness.events("labelops.job.label_added.v1")
    assert event["data"]["label"]["name"] == "neutral"
    assert event["data"]["job"]["topics"][0]["options"][-1] == "neutral"
    await refused(admin.AddLabel(pb.AddLabelRequest(job_id=job.id, label=pb.Label(name="pos"))),
                  grpc.StatusCode.INVALID_ARGUMENT, "labels[3].name: 'pos' appears twice")
    await refused(admin.AddLabel(pb.AddLabelRequest(job_id=job.id, label=pb.Label(
        name="x", shortcut="3"))), grpc.StatusCode.INVALID_ARGUMENT, "labels[3].shortcut")
    await refused(admin.AddLabel(pb.AddLabelRequest(job_id=job.id, label=pb.Label(
        name="x", color="blue"))), grpc.StatusCode.INVALID_ARGUMENT, "labels[3].color")
    assert len(await harness.events("labelops.job.label_added.v1")) == 1


async def test_rename_an_entity_label_and_its_relations_follow(harness: Harness) -> None:
    job = await relation_job(harness)
    renamed = await harness.admin().UpdateLabel(pb.UpdateLabelRequest(
        job_id=job.id, name="PER", label=pb.Label(name="PERSON", color="#ff0000",
                                                   shortcut="1")))
    entities, relations = topics(renamed)
    assert entities["labels"] == ["PERSON", "ORG"]
    assert relations["relations"] == [{"name": "works_for", "source": ["PERSON"],
                                       "target": ["ORG"]}]
    [event] = await harness.events("labelops.job.label_renamed.v1")
    data = event["data"]
    assert (data["kind"], data["old_name"], data["new_name"]) == ("entity", "PER", "PERSON")
    assert data["job"]["labels"][0]["name"] == "PERSON"


async def test_rename_a_relation_label_and_change_a_look(harness: Harness) -> None:
    job = await relation_job(harness)
    admin = harness.admin()
    await admin.UpdateLabel(pb.UpdateLabelRequest(
        job_id=job.id, name="works_for", kind="relation",
        label=pb.Label(name="employed_by", source=["PER"], target=["ORG"])))
    recoloured = await admin.UpdateLabel(pb.UpdateLabelRequest(
        job_id=job.id, name="ORG", label=pb.Label(color="#0000ff")))
    assert [(lb.name, lb.color) for lb in recoloured.labels][:2] == [("PER", "#ff0000"),
                                                                     ("ORG", "#0000ff")]
    assert topics(recoloured)[1]["relations"][0]["name"] == "employed_by"
    assert [e["type"] for e in await harness.events()][1:] == [
        "labelops.job.label_renamed.v1", "labelops.job.updated.v1"]
    await refused(admin.UpdateLabel(pb.UpdateLabelRequest(job_id=job.id, name="LOC",
                                                          label=pb.Label(name="X"))),
                  grpc.StatusCode.FAILED_PRECONDITION, "no entity label 'LOC'")
    await refused(admin.UpdateLabel(pb.UpdateLabelRequest(job_id=job.id, name="ORG",
                                                          label=pb.Label(name="PER"))),
                  grpc.StatusCode.INVALID_ARGUMENT, "'PER' appears twice")


async def test_delete_labels(harness: Harness) -> None:
    job = await relation_job(harness)
    admin = harness.admin()
    await refused(admin.DeleteLabel(pb.DeleteLabelRequest(job_id=job.id, name="ORG")),
                  grpc.StatusCode.FAILED_PRECONDITION,
                  "entity label 'ORG' is used by relation label(s) 'works_for'")
    await refused(admin.DeleteLabel(pb.DeleteLabelRequest(job_id=job.id, name="works_for",
                                                          kind="relation")),
                  grpc.StatusCode.INVALID_ARGUMENT, "at least one relation label")
    await admin.AddLabel(pb.AddLabelRequest(job_id=job.id, label=pb.Label(name="LOC")))
    after = await admin.DeleteLabel(pb.DeleteLabelRequest(job_id=job.id, name="LOC",
                                                          delete_items=True))
    assert topics(after)[0]["labels"] == ["PER", "ORG"]
    [event] = await harness.events("labelops.job.label_deleted.v1")
    assert (event["data"]["name"], event["data"]["delete_items"]) == ("LOC", True)


async def test_custom_templates_rename_inside_their_topics(harness: Harness) -> None:
    harness.datasets.add("d1")
    options = {"content": [{"kind": "text", "field": "source"}],
               "topics": [{"name": "mood", "kind": "single_choice", "options": ["up", "down"]},
                          {"name": "note", "kind": "free_text", "required": False}]}
    admin = harness.admin()
    job = await admin.CreateJob(request(template="custom", labels=[],
                                        template_options_json=json.dumps(options)))
    assert [t["name"] for t in topics(job)] == ["mood", "note"]
    await refused(admin.AddLabel(pb.AddLabelRequest(job_id=job.id, label=pb.Label(name="x"))),
                  grpc.StatusCode.FAILED_PRECONDITION, "set in its topics")
    renamed = await admin.UpdateLabel(pb.UpdateLabelRequest(job_id=job.id, name="up",
                                                            label=pb.Label(name="happy")))
    assert topics(renamed)[0]["options"] == ["happy", "down"]
    assert json.loads(renamed.template_options_json)["topics"][0]["options"] == ["happy",
                                                                                "down"]


async def test_labels_of_a_completed_job_are_final(harness: Harness) -> None:
    harness.datasets.add("d1")
    admin = harness.admin()
    job = await admin.CreateJob(request())
    await admin.PublishJob(pb.PublishJobRequest(job_id=job.id))
    await admin.CompleteJob(pb.CompleteJobRequest(job_id=job.id))
    await refused(admin.AddLabel(pb.AddLabelRequest(job_id=job.id, label=pb.Label(name="z"))),
                  grpc.StatusCode.FAILED_PRECONDITION, "labels are final")


async def test_concurrent_label_changes_are_never_lost(harness: Harness) -> None:
    """Each change commits the job's next version: colliding writers retry, none wins over
    another (FerretDB does not re-check update filters, so this is how it stays safe)."""
    harness.datasets.add("d1")
    admin = harness.admin()
    job = await admin.CreateJob(request())
    names = [f"extra{i}" for i in range(6)]
    await asyncio.gather(*(admin.AddLabel(pb.AddLabelRequest(job_id=job.id,
                                                             label=pb.Label(name=n)))
                           for n in names))
    final = await admin.GetJob(pb.GetJobRequest(job_id=job.id))
    assert sorted(lb.name for lb in final.labels) == sorted(["pos", "neg", *names])
    assert final.version == 1 + len(names)
    assert len(await harness.events("labelops.job.label_added.v1")) == len(names)


async def test_custom_templates_delete_inside_their_topics(harness: Harness) -> None:
    harness.datasets.add("d1")
    options = {"content": [{"kind": "text", "field": "source"}],
               "topics": [{"name": "e", "kind": "span", "field": "source",
                           "labels": ["PER", "ORG", "LOC"]},
                          {"name": "r", "kind": "relation", "spans_topic": "e",
                           "relations": [{"name": "in", "source": ["PER"], "target": ["LOC"]}]}]}
    admin = harness.admin()
    job = await admin.CreateJob(request(template="custom", labels=[],
                                        template_options_json=json.dumps(options)))
    await refused(admin.DeleteLabel(pb.DeleteLabelRequest(job_id=job.id, name="LOC")),
                  grpc.StatusCode.FAILED_PRECONDITION, "used by relation label(s) 'in'")
    await refused(admin.DeleteLabel(pb.DeleteLabelRequest(job_id=job.id, name="GPE")),
                  grpc.StatusCode.FAILED_PRECONDITION, "no entity label 'GPE'")
    after = await admin.DeleteLabel(pb.DeleteLabelRequest(job_id=job.id, name="ORG"))
    assert topics(after)[0]["labels"] == ["PER", "LOC"]
