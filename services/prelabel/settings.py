"""Settings of the prelabel service beyond the shared ones, from the environment
(``LABELOPS_PRELABEL_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PrelabelSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LABELOPS_PRELABEL_", extra="ignore")

    # -- the online model service
    model_batch_size: int = Field(default=32, ge=1, le=1000, description="items per call")
    model_concurrency: int = Field(default=4, ge=1, le=64,
                                   description="calls in flight per model endpoint")
    model_timeout_seconds: float = Field(default=10.0, gt=0, description="one call's deadline")
    model_attempts: int = Field(default=3, ge=1, le=10,
                                description="tries of one call (timeouts, 5xx, unavailable)")
    model_backoff_seconds: float = Field(default=0.2, gt=0,
                                         description="first retry's wait; doubles, up to 5 s")
    breaker_failures: int = Field(default=5, ge=1,
                                  description="failed calls in a row that open the circuit")
    breaker_reset_seconds: float = Field(default=30.0, gt=0,
                                         description="how long an open circuit refuses calls")
    worker_poll_seconds: float = Field(default=1.0, gt=0,
                                       description="how often queued online work is looked for")
    # -- auto labeling
    hard_confidence: float = Field(default=0.6, ge=0, le=1,
                                   description="a prediction below this confidence is hard")
    hard_margin: float = Field(default=0.15, ge=0, le=1,
                               description="...or one whose two best labels are this close")
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1,
                                    description="labeled items held out to measure accuracy")
    train_on: str = Field(default="accepted", pattern="^(accepted|submitted)$",
                          description="what a run trains on unless the request says")
    run_heartbeat_seconds: float = Field(
        default=10.0, gt=0, description="a running run renews its lock this often; a lock "
        "not renewed for three times as long belongs to a dead run and is taken over")
    image_concurrency: int = Field(default=4, ge=1, le=64, description="images read at once")
    max_image_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
