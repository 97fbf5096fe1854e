"""A circuit breaker for one model endpoint. Pure: the clock is passed in.

Closed: calls go through; ``failure_threshold`` failed calls in a row open it. Open: calls
are refused at once (the items stay unlabeled, nothing waits on a dead model) until
``reset_seconds`` have passed; then it is half open: one trial call goes through while the
others are still refused. The trial's success closes it; its failure opens it again for
another ``reset_seconds``.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, clock: Callable[[], float], *, failure_threshold: int = 5,
                 reset_seconds: float = 30.0) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold: at least 1")
        if reset_seconds <= 0:
            raise ValueError("reset_seconds: must be positive")
        self._clock = clock
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._state = BreakerState.CLOSED
        self.failures = 0  # failed calls in a row
        self._opened_at = 0.0
        self._trial = False  # the half-open trial call is in flight
        self.opened = 0  # times it opened (for tests and metrics)

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._elapsed() >= self.reset_seconds:
            return BreakerState.HALF_OPEN
        return self._state

    def _elapsed(self) -> float:
        return self._clock() - self._opened_at

    def allow(self) -> bool:
        """Whether a call may go out now (a half-open breaker lets one trial through)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN or self._trial:
            return False
        self._state = BreakerState.HALF_OPEN
        self._trial = True
        return True

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a trial call through (0 when it would now)."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self.reset_seconds - self._elapsed())

    def success(self) -> None:
        self._state = BreakerState.CLOSED
        self.failures = 0
        self._trial = False

    def failure(self) -> None:
        self._trial = False
        if self._state is BreakerState.HALF_OPEN:
            self._open()
            return
        self.failures += 1
        if self._state is BreakerState.CLOSED and self.failures >= self.failure_threshold:
            self._open()

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self.opened += 1
