"""The reference model: a keyword classifier behind both transports of the contract.

It answers every single- and multiple-choice topic of the job. A label whose name appears
as a word in the item's text is chosen with confidence 0.95; for sentiment labels
(positive / negative / neutral) a small word list decides with 0.85; otherwise a label is
picked from a hash of the text with confidence 1/labels. An item whose text holds
``#model-error`` is answered with an error (the contract's per-item error). Behaviour
switches make it a slow, failing or malformed model for tests and demos.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc

from labelops.prelabel.v1 import model_pb2 as mpb
from labelops.prelabel.v1 import model_pb2_grpc

VERSION = "reference-keywords-1"
_NEGATIVE = ("disappoint", "terrible", "awful", "broke", "never again", "worst", "slow", "bad")
_POSITIVE = ("love", "great", "excellent", "perfect", "good", "wonderful")
ERROR_MARK = "#model-error"


@dataclass
class Behaviour:
    """What the server does; tests change it while it runs."""

    delay_seconds: float = 0.0  # wait this long before answering (a slow model)
    fail: bool = False          # answer HTTP 503 / gRPC UNAVAILABLE (a failing model)
    malformed: bool = False     # answer labels that are not the job's (a broken model)
    calls: int = 0              # requests received


def _text(item: Mapping[str, Any]) -> str:
    for content in item.get("content") or ():
        if content.get("text"):
            return str(content["text"])
    source = (item.get("data") or {}).get("source")
    return source if isinstance(source, str) else json.dumps(item.get("data"), sort_keys=True)


def classify(text: str, options: Sequence[str]) -> tuple[str, float]:
    lowered = text.lower()
    for option in options:
        if re.search(rf"\b{re.escape(option.lower())}\b", lowered):
            return option, 0.95
    names = {o.lower(): o for o in options}
    if "negative" in names and any(w in lowered for w in _NEGATIVE):
        return names["negative"], 0.85
    if "positive" in names and any(w in lowered for w in _POSITIVE):
        return names["positive"], 0.85
    if "neutral" in names:
        return names["neutral"], 0.6
    return options[zlib.crc32(text.encode()) % len(options)], round(1 / len(options), 4)


def predict(request: Mapping[str, Any], behaviour: Behaviour | None = None) -> dict[str, Any]:
    """The contract's reply to a request (both as JSON values)."""
    behaviour = behaviour or Behaviour()
    topics = [t for t in request.get("topics") or ()
              if t.get("kind") in ("single_choice", "multiple_choice") and t.get("options")]
    results = []
    for item in request.get("items") or ():
        text = _text(item)
        if ERROR_MARK in text:
            results.append({"id": item.get("id"), "error": "the model refuses this item"})
            continue
        predictions = []
        for topic in topics:
            label, confidence = classify(text, topic["options"])
            if behaviour.malformed:
                label = f"not-{label}"
            answer: Any = [label] if topic["kind"] == "multiple_choice" else label
            predictions.append({"topic": topic["name"], "answer": answer,
                                "confidence": confidence})
        results.append({"id": item.get("id"), "predictions": predictions})
    return {"model_version": VERSION, "items": results}


def _request_of(pb: mpb.PredictRequest) -> dict[str, Any]:
    return {"job_id": pb.job_id, "topics": json.loads(pb.topics_json or "[]"),
            "labels": list(pb.labels),
            "items": [{"id": i.id, "data": json.loads(i.data_json or "{}"),
                       "content": [{"field": c.field, "kind": c.kind, "text": c.text,
                                    "uri": c.uri, "url": c.url} for c in i.content]}
                      for i in pb.items]}


def _reply_pb(reply: Mapping[str, Any]) -> mpb.PredictResponse:
    items = []
    for item in reply["items"]:
        answers = [mpb.TopicAnswer(topic=p["topic"], answer_json=json.dumps(p["answer"]),
                                   confidence=p["confidence"])
                   for p in item.get("predictions", [])]
        items.append(mpb.ItemResult(id=item["id"], answers=answers, error=item.get("error", "")))
    return mpb.PredictResponse(model_version=reply["model_version"], items=items)


class _ModelServicer(model_pb2_grpc.ModelServiceServicer):  # type: ignore[misc]
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour

    async def Predict(self, request: mpb.PredictRequest, context: Any) -> mpb.PredictResponse:
        self.behaviour.calls += 1
        if self.behaviour.delay_seconds:
            await asyncio.sleep(self.behaviour.delay_seconds)
        if self.behaviour.fail:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the reference model is failing")
        return _reply_pb(predict(_request_of(request), self.behaviour))


def _http_handler(behaviour: Behaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Keep-alive answers are written in more than one segment; with Nagle's algorithm
        # each call then waits for the client's delayed ACK (~40 ms per call).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # quiet: the tests and the demo read their own output

        def _send(self, code: int, body: Any) -> None:
            raw = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:  # noqa: N802
            self._send(200, {"status": "ok", "model_version": VERSION})

        def do_POST(self) -> None:  # noqa: N802
            behaviour.calls += 1
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if behaviour.delay_seconds:
                time.sleep(behaviour.delay_seconds)
            if behaviour.fail:
                self._send(503, {"error": "the reference model is failing"})
                return
            try:
                request = json.loads(raw)
            except ValueError:
                self._send(400, {"error": "the request is not JSON"})
                return
            if not isinstance(request, dict):
                self._send(400, {"error": "the request is not a JSON object"})
                return
            self._send(200, predict(request, behaviour))

    return Handler


class ReferenceModel:
    """Both servers on loopback (port 0: any free port)."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or Behaviour()
        self._http: ThreadingHTTPServer | None = None
        self._grpc: grpc.aio.Server | None = None
        self.http_port = self.grpc_port = 0

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/predict"

    @property
    def grpc_url(self) -> str:
        """An endpoint the jobs service accepts (http) that selects gRPC (``#grpc``)."""
        return f"http://127.0.0.1:{self.grpc_port}#grpc"

    async def start(self, host: str = "127.0.0.1", http_port: int | None = 0,
                    grpc_port: int | None = 0) -> None:
        if http_port is not None:
            self._http = ThreadingHTTPServer((host, http_port), _http_handler(self.behaviour))
            self._http.daemon_threads = True
            self.http_port = self._http.server_address[1]
            threading.Thread(target=self._http.serve_forever, name="reference-model-http",
                             daemon=True).start()
        if grpc_port is not None:
            self._grpc = grpc.aio.server()
            model_pb2_grpc.add_ModelServiceServicer_to_server(_ModelServicer(self.behaviour),
                                                              self._grpc)
            self.grpc_port = self._grpc.add_insecure_port(f"{host}:{grpc_port}")
            await self._grpc.start()

    async def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._grpc is not None:
            await self._grpc.stop(None)
            self._grpc = None
