"""Generate docs/asyncapi.json, the AsyncAPI 3.0 catalogue of every LabelOps event, with
FastStream's own AsyncAPI generator.

Nothing in it is written by hand:

- each service is wired by its real ``bootstrap.build`` (on connections that are never
  opened), so its consumer group, the topics it reads and the event types it handles are
  the ones the service registers at start-up;
- every event type registered in ``labelops_shared.events.EventData`` (the pydantic contracts)
  becomes a publisher on its topic, its payload the CloudEvents envelope around its data;
- these go onto a FastStream ``KafkaBroker`` and ``faststream.specification.AsyncAPI``
  renders the document.

Run after changing an event or a handler: ``python scripts/gen_asyncapi.py`` (a test
regenerates it and fails when the committed file differs; another parses it with the
AsyncAPI parser).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import sys
from pathlib import Path
from typing import Any, Literal, Union

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pydantic import Field, create_model

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "asyncapi.json"
SERVICES = ("dataset", "jobs", "assignment", "prelabel", "export")
LOCAL_BOOTSTRAP = "127.0.0.1:19092"

for _path in (ROOT, ROOT / "shared", ROOT / "cli"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from labelops_shared import contracts, topics  # noqa: E402,F401  (registers every event type)
from labelops_shared.events import CONTENT_TYPE, Envelope, EventData  # noqa: E402
from labelops_shared.kafka import EventConsumer  # noqa: E402
from labelops_shared.outbox import Outbox  # noqa: E402
from labelops_shared.runtime import Runtime  # noqa: E402
from labelops_shared.settings import ServiceSettings  # noqa: E402

PUBLISHED_BY = {
    topics.DATASET_EVENTS: "dataset",
    topics.JOBS_EVENTS: "jobs",
    topics.ASSIGNMENT_EVENTS: "assignment",
    topics.PRELABEL_EVENTS: "prelabel",
    topics.EXPORT_EVENTS: "export",
}

DEAD_LETTER_HEADERS = (
    "x-labelops-reason", "x-labelops-original-topic", "x-labelops-original-partition",
    "x-labelops-original-offset", "x-labelops-consumer-group", "x-labelops-event-id",
    "x-labelops-failed-at",
)


def _wired_consumer(service: str) -> EventConsumer:
    """The service's consumer as its bootstrap wires it (no connection is opened)."""
    from pymongo import AsyncMongoClient

    settings = ServiceSettings(
        service_name=service, kafka_bootstrap=LOCAL_BOOTSTRAP,
        mongo_url="mongodb://127.0.0.1:1", minio_endpoint="127.0.0.1:1",
        minio_access_key="asyncapi", minio_secret_key="asyncapi", jwt_secret="asyncapi")
    client: AsyncMongoClient[Any] = AsyncMongoClient(settings.mongo_url.get_secret_value(),
                                                     connect=False)
    db = client[settings.database_name]
    outbox = Outbox(db, owner="asyncapi")
    consumer = EventConsumer(service, outbox)
    runtime = Runtime(settings, db, outbox, consumer, f"/labelops/{service}")
    runtime.__dict__["storage"] = None  # the object store is never touched while wiring
    importlib.import_module(f"services.{service}.bootstrap").build(runtime)
    return consumer


async def _wire_all() -> dict[str, EventConsumer]:
    return {service: _wired_consumer(service) for service in SERVICES}


def envelope_model(data_cls: type[EventData]) -> Any:
    """The CloudEvents envelope of one event type, its ``type`` fixed to that type."""
    summary = (data_cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    return create_model(
        f"{data_cls.__name__}Event",
        __base__=Envelope[data_cls],  # type: ignore[valid-type]
        __doc__=f"CloudEvents 1.0 envelope of {data_cls.TYPE}. {summary}".strip(),
        type=(Literal[data_cls.TYPE], Field(default=data_cls.TYPE)),  # type: ignore[valid-type]
    )


def _handler_taking(payload: Any, name: str) -> Any:
    """A function whose one parameter is annotated with ``payload``: FastStream documents a
    subscriber's message from its handler's signature."""
    def handler(event: Any) -> None:
        return None

    parameter = inspect.Parameter("event", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                  annotation=payload)
    handler.__signature__ = inspect.Signature([parameter])  # type: ignore[attr-defined]
    handler.__annotations__ = {"event": payload, "return": None}
    handler.__name__ = handler.__qualname__ = name
    return handler


def build_broker(consumers: dict[str, EventConsumer]) -> KafkaBroker:
    broker = KafkaBroker(
        LOCAL_BOOTSTRAP,
        description="The local stack's broker (`labelops up`); on a cluster, the Kafka "
                    "bootstrap servers given in LABELOPS_KAFKA_BOOTSTRAP.",
    )
    models: dict[str, Any] = {}
    for event_type in sorted(EventData.registry, key=lambda t: (EventData.registry[t].TOPIC, t)):
        data_cls = EventData.registry[event_type]
        models[event_type] = model = envelope_model(data_cls)
        service = PUBLISHED_BY.get(data_cls.TOPIC, "?")
        broker.publisher(
            data_cls.TOPIC,
            title=event_type,
            description=(f"`{event_type}`, published by services/{service} through its outbox "
                         f"on `{data_cls.TOPIC}` (Kafka key: the `partitionkey` attribute; "
                         f"content-type `{CONTENT_TYPE}`)."),
            schema=model,
        )
    broker.publisher(
        topics.DEAD_LETTER,
        title=topics.DEAD_LETTER,
        description=("A message a consumer could not handle: the original bytes, the original "
                     "key, and the headers " + ", ".join(f"`{h}`" for h in DEAD_LETTER_HEADERS)
                     + ". Published by every consuming service."),
        schema=bytes,
    )
    for service, consumer in consumers.items():
        for topic in consumer.topics:
            handled = sorted(t for t in consumer.handlers if EventData.registry[t].TOPIC == topic)
            payloads = tuple(models[t] for t in handled)
            payload = payloads[0] if len(payloads) == 1 else Union[payloads]  # noqa: UP007
            broker.subscriber(
                topic,
                group_id=consumer.group_id,
                title=f"{consumer.group_id}:{topic}",
                description=(f"services/{service} (consumer group `{consumer.group_id}`) "
                             f"handles {', '.join(f'`{t}`' for t in handled)}; other types on "
                             "the topic are skipped."),
            )(_handler_taking(payload, f"{service}_{topic.replace('.', '_')}"))
    return broker


def document() -> dict[str, Any]:
    consumers = asyncio.run(_wire_all())
    spec = AsyncAPI(
        build_broker(consumers),
        title="LabelOps events",
        version=_project_version(),
        description=("Every event of the LabelOps platform: CloudEvents 1.0 envelopes in "
                     "structured mode with typed data, one topic per publishing service, keyed "
                     "by job (else dataset) id. Generated by scripts/gen_asyncapi.py from the "
                     "event contracts and the services' consumers; do not edit."),
        schema_version="3.0.0",
    )
    doc: dict[str, Any] = json.loads(spec.to_specification().to_json())
    # FastStream keeps its subscribers and publishers unordered: sort every named map so the
    # same code always gives the same bytes.
    for key in ("channels", "operations"):
        doc[key] = dict(sorted(doc.get(key, {}).items()))
    for key in ("messages", "schemas"):
        doc["components"][key] = dict(sorted(doc["components"].get(key, {}).items()))
    return doc


def _project_version() -> str:
    import tomllib

    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT
    target.write_text(render())
    print(target)
