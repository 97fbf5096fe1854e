"""The circuit breaker (domain, pure, a fake clock) and the model caller around it:
retries with backoff for what may pass, none for refusals, the breaker opening, refusing at
once and closing again after a successful trial."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.prelabel.adapters.model_client import (
    CallFailed,
    GrpcTransport,
    HttpTransport,
    ModelCaller,
    Models,
    Permanent,
    Transient,
    transport_for,
)
from services.prelabel.domain.breaker import BreakerState, CircuitBreaker
from services.prelabel.domain.contract import RawReply
from services.prelabel.tests.conftest import fast_settings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_failures_in_a_row_and_closes_after_a_good_trial() -> None:
    clock = Clock()
    breaker = CircuitBreaker(clock, failure_threshold=3, reset_seconds=10)
    for _ in range(2):
        assert breaker.allow()
        breaker.failure()
    breaker.success()  # a success resets the count
    for _ in range(3):
        assert breaker.allow()
        breaker.failure()
    assert breaker.state is BreakerState.OPEN and breaker.opened == 1
    assert not breaker.allow() and breaker.retry_in() == 10
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()          # the one trial call
    assert not breaker.allow()      # the others wait for its outcome
    breaker.success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()


def test_a_failed_trial_opens_the_breaker_again() -> None:
    clock = Clock()
    breaker = CircuitBreaker(clock, failure_threshold=1, reset_seconds=5)
    breaker.failure()
    clock.now += 5
    assert breaker.allow()
    breaker.failure()
    assert breaker.state is BreakerState.OPEN and breaker.opened == 2
    assert breaker.retry_in() == 5


def test_breaker_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(Clock(), failure_threshold=0)
    with pytest.raises(ValueError, match="reset_seconds"):
        CircuitBreaker(Clock(), reset_seconds=0)


class Scripted:
    """A transport answering from a script: an exception to raise or a reply."""

    name = "fake"

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.calls = 0
        self.in_flight = 0
        self.most_in_flight = 0

    async def predict(self, body: dict[str, Any], deadline: float) -> RawReply:
        self.calls += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            step = self.script.pop(0) if self.script else RawReply("ok", ())
            if isinstance(step, Exception):
                raise step
            return step  # type: ignore[no-any-return]
        finally:
            self.in_flight -= 1

    async def close(self) -> None:
        pass


def caller(transport: Scripted, clock: Clock | None = None, **settings: Any) -> ModelCaller:
    return ModelCaller("http://model.test/predict", fast_settings(**settings),
                       transport=transport, clock=clock or Clock())


async def test_transient_failures_are_retried_and_refusals_are_not() -> None:
    flaky = Scripted(Transient("timeout", "slow"), RawReply("v2", ()))
    assert (await caller(flaky, model_attempts=3).call({})).model_version == "v2"
    assert flaky.calls == 2

    refused = Scripted(Permanent("refused", "HTTP 400: bad request"))
    with pytest.raises(CallFailed, match="HTTP 400") as info:
        await caller(refused, model_attempts=3).call({})
    assert info.value.reason == "refused" and refused.calls == 1

    dead = Scripted(*[Transient("unavailable", "HTTP 503")] * 5)
    with pytest.raises(CallFailed, match="HTTP 503"):
        await caller(dead, model_attempts=3).call({})
    assert dead.calls == 3


async def test_the_breaker_opens_refuses_at_once_and_closes_after_a_trial() -> None:
    clock = Clock()
    dead = Scripted(*[Transient("unavailable", "down")] * 3)
    model = caller(dead, clock, model_attempts=1, breaker_failures=3, breaker_reset_seconds=30)
    for _ in range(3):
        with pytest.raises(CallFailed):
            await model.call({})
    assert model.breaker.state is BreakerState.OPEN
    with pytest.raises(CallFailed, match="circuit is open after 3 failed calls") as info:
        await model.call({})
    assert info.value.reason == "circuit_open" and dead.calls == 3  # nothing sent
    clock.now += 30
    assert (await model.call({})).model_version == "ok"  # the trial succeeds
    assert model.breaker.state is BreakerState.CLOSED and dead.calls == 4


async def test_calls_in_flight_are_limited_per_endpoint() -> None:
    slow = Scripted()
    model = caller(slow, model_concurrency=2)
    await asyncio.gather(*(model.call({}) for _ in range(6)))
    assert slow.calls == 6 and slow.most_in_flight == 2


async def test_models_keep_one_caller_per_endpoint_and_report_breakers() -> None:
    made: list[str] = []

    def factory(endpoint: str) -> Scripted:
        made.append(endpoint)
        return Scripted(Transient("unavailable", "down"))

    models = Models(fast_settings(model_attempts=1, breaker_failures=1), factory=factory)
    first = models.get("http://a.test/p")
    assert models.get("http://a.test/p") is first and made == ["http://a.test/p"]
    assert models.breaker_state("http://a.test/p") == "closed"
    assert models.breaker_state("http://unknown.test/") == "closed"
    with pytest.raises(CallFailed):
        await first.call({})
    assert models.breaker_state("http://a.test/p") == "open"
    await models.close()


async def test_the_endpoint_chooses_the_transport() -> None:
    plain = transport_for("http://model.test:8080/predict?v=1")
    grpc_a = transport_for("grpc://model.test:50051")
    grpc_b = transport_for("http://model.test:50051#grpc")
    assert isinstance(plain, HttpTransport) and plain.url == "http://model.test:8080/predict?v=1"
    assert isinstance(grpc_a, GrpcTransport) and grpc_a.target == "model.test:50051"
    assert isinstance(grpc_b, GrpcTransport) and grpc_b.target == "model.test:50051"
    for transport in (plain, grpc_a, grpc_b):
        await transport.close()
