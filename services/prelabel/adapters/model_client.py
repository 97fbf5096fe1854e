"""Calling an online model service (docs/prelabel-model-contract.md) over HTTP/JSON (httpx)
or gRPC (labelops.prelabel.v1.ModelService): one call per batch, a deadline per call,
retries with exponential backoff for what may pass (timeouts, unreachable, 5xx, 429,
UNAVAILABLE), a bound on the calls in flight per endpoint, and a circuit breaker per
endpoint so a dead model is not waited on again and again.

The endpoint selects the transport: ``grpc://host:port`` or an http(s) URL ending in
``#grpc`` (the jobs service takes http(s) URLs only) speak gRPC to host:port; any other
http(s) URL receives the JSON request by POST.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import grpc
import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from labelops.prelabel.v1 import model_pb2 as mpb
from labelops.prelabel.v1 import model_pb2_grpc
from services.prelabel import metrics
from services.prelabel.domain.breaker import BreakerState, CircuitBreaker
from services.prelabel.domain.contract import (
    MalformedReply,
    RawAnswer,
    RawItem,
    RawReply,
    reply_from_json,
)
from services.prelabel.settings import PrelabelSettings

MAX_REPLY_BYTES = 64 * 1024 * 1024


class ModelError(Exception):
    """One failed call; ``reason`` is a metric-friendly category."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Transient(ModelError):
    """Worth another try (timeouts, an unreachable or overloaded server)."""


class Permanent(ModelError):
    """Another try would get the same answer (a refusal, a malformed reply)."""


class CallFailed(Exception):
    """The batch got no answer, retries included (or the circuit was open)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Transport(Protocol):
    name: str

    async def predict(self, body: dict[str, Any], deadline: float) -> RawReply: ...

    async def close(self) -> None: ...


class HttpTransport:
    name = "http"

    def __init__(self, url: str, client: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self._client = client or httpx.AsyncClient(
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))

    async def predict(self, body: dict[str, Any], deadline: float) -> RawReply:
        try:
            response = await self._client.post(self.url, json=body, timeout=deadline)
        except httpx.TimeoutException:
            raise Transient("timeout", f"no answer within {deadline:g} s") from None
        except httpx.TransportError as exc:
            raise Transient("unavailable", f"cannot reach the model: {exc!r}") from None
        code = response.status_code
        if code == 429 or code >= 500:
            raise Transient("unavailable", f"HTTP {code}: {response.text[:200]}")
        if code != 200:
            raise Permanent("refused", f"HTTP {code}: {response.text[:200]}")
        if len(response.content) > MAX_REPLY_BYTES:
            raise Permanent("malformed", f"a reply of {len(response.content)} bytes")
        try:
            decoded = response.json()
        except ValueError:
            raise Permanent("malformed", "the reply is not JSON") from None
        try:
            return reply_from_json(decoded)
        except MalformedReply as exc:
            raise Permanent("malformed", f"malformed reply: {exc}") from None

    async def close(self) -> None:
        await self._client.aclose()


_TRANSIENT_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED,
                    grpc.StatusCode.ABORTED, grpc.StatusCode.INTERNAL,
                    grpc.StatusCode.UNKNOWN)


class GrpcTransport:
    name = "grpc"

    def __init__(self, target: str) -> None:
        self.target = target
        self._channel = grpc.aio.insecure_channel(
            target, options=[("grpc.max_receive_message_length", MAX_REPLY_BYTES)])
        self._stub = model_pb2_grpc.ModelServiceStub(self._channel)

    async def predict(self, body: dict[str, Any], deadline: float) -> RawReply:
        request = to_pb(body)
        try:
            reply = await self._stub.Predict(request, timeout=deadline)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise Transient("timeout", f"no answer within {deadline:g} s") from None
            if code in _TRANSIENT_CODES:
                raise Transient("unavailable", f"{code.name}: {exc.details()}") from None
            raise Permanent("refused", f"{code.name}: {exc.details()}") from None
        return from_pb(reply)

    async def close(self) -> None:
        await self._channel.close()


def to_pb(body: dict[str, Any]) -> mpb.PredictRequest:
    return mpb.PredictRequest(
        job_id=body["job_id"], topics_json=json.dumps(body["topics"]), labels=body["labels"],
        items=[mpb.ModelItem(id=i["id"], data_json=json.dumps(i["data"]),
                             content=[mpb.Content(**c) for c in i["content"]])
               for i in body["items"]])


def from_pb(reply: mpb.PredictResponse) -> RawReply:
    items = []
    for item in reply.items:
        answers = []
        for a in item.answers:
            confidence = a.confidence if a.HasField("confidence") else None
            try:
                answers.append(RawAnswer(a.topic, json.loads(a.answer_json), confidence))
            except ValueError:
                answers.append(RawAnswer(a.topic, None, confidence,
                                         problem="answer_json: not JSON"))
        items.append(RawItem(item.id, tuple(answers), item.error))
    return RawReply(reply.model_version, tuple(items))


def transport_for(endpoint: str) -> Transport:
    if endpoint.startswith("grpc://"):
        return GrpcTransport(endpoint[len("grpc://"):].rstrip("/"))
    parts = urlsplit(endpoint)
    if parts.fragment == "grpc":
        return GrpcTransport(parts.netloc)
    return HttpTransport(urlunsplit(parts._replace(fragment="")))


class ModelCaller:
    """Every call to one endpoint goes through here (one per endpoint and process)."""

    def __init__(self, endpoint: str, settings: PrelabelSettings, *,
                 transport: Transport | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 on_breaker_change: Callable[[], None] = lambda: None) -> None:
        self.endpoint = endpoint
        self.transport = transport or transport_for(endpoint)
        self.settings = settings
        self.breaker = CircuitBreaker(clock, failure_threshold=settings.breaker_failures,
                                      reset_seconds=settings.breaker_reset_seconds)
        self._limit = asyncio.Semaphore(settings.model_concurrency)
        self._changed = on_breaker_change
        self.calls = 0  # batches sent (retries not counted)

    async def call(self, body: dict[str, Any]) -> RawReply:
        """The model's reply to one batch; CallFailed when there is none."""
        async with self._limit:
            if not self.breaker.allow():
                metrics.MODEL_REQUESTS.labels(transport=self.transport.name,
                                              outcome="circuit_open").inc()
                raise CallFailed("circuit_open", f"the model's circuit is open after "
                                 f"{self.breaker.failures} failed calls; the next try in "
                                 f"{self.breaker.retry_in():.0f} s")
            self.calls += 1
            try:
                reply = await self._with_retries(body)
            except ModelError as exc:
                self.breaker.failure()
                self._changed()
                raise CallFailed(exc.reason, str(exc)) from None
            except BaseException:
                self.breaker.failure()  # cancelled: do not leave a half-open trial pending
                self._changed()
                raise
            self.breaker.success()
            self._changed()
            return reply

    async def _with_retries(self, body: dict[str, Any]) -> RawReply:
        s = self.settings
        retrying = AsyncRetrying(
            stop=stop_after_attempt(s.model_attempts),
            wait=wait_exponential(multiplier=s.model_backoff_seconds,
                                  min=s.model_backoff_seconds, max=5.0),
            retry=retry_if_exception_type(Transient), reraise=True)
        async for attempt in retrying:
            with attempt:
                return await self._once(body)
        raise AssertionError("unreachable")  # tenacity re-raises the last error

    async def _once(self, body: dict[str, Any]) -> RawReply:
        name = self.transport.name
        started = time.perf_counter()
        try:
            reply = await self.transport.predict(body, self.settings.model_timeout_seconds)
        except ModelError as exc:
            metrics.MODEL_REQUESTS.labels(transport=name, outcome=exc.reason).inc()
            raise
        finally:
            metrics.MODEL_SECONDS.labels(transport=name).observe(time.perf_counter() - started)
        metrics.MODEL_REQUESTS.labels(transport=name, outcome="ok").inc()
        return reply


class Models:
    """The callers of every endpoint this process talks to."""

    def __init__(self, settings: PrelabelSettings,
                 factory: Callable[[str], Transport] = transport_for,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._factory = factory
        self._clock = clock
        self._callers: dict[str, ModelCaller] = {}

    def get(self, endpoint: str) -> ModelCaller:
        caller = self._callers.get(endpoint)
        if caller is None:
            caller = ModelCaller(endpoint, self.settings, transport=self._factory(endpoint),
                                 clock=self._clock, on_breaker_change=self._measure)
            self._callers[endpoint] = caller
        return caller

    def breaker_state(self, endpoint: str) -> str:
        caller = self._callers.get(endpoint)
        return caller.breaker.state.value if caller else BreakerState.CLOSED.value

    def _measure(self) -> None:
        metrics.CIRCUITS_OPEN.set(sum(c.breaker.state is BreakerState.OPEN
                                      for c in self._callers.values()))

    async def close(self) -> None:
        for caller in self._callers.values():
            await caller.transport.close()
