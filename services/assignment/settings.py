"""Settings of the assignment service beyond the shared ones (``LABELOPS_ASSIGNMENT_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AssignmentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LABELOPS_ASSIGNMENT_", extra="ignore")

    lease_seconds: float = Field(
        default=1800.0, gt=0,
        description="a claim's lease; saving an answer or RenewClaim extends it, and a "
        "package whose lease runs out goes back to its stage's pool with its drafts")
    answers_database: str = Field(
        default="",
        description="the database of the labelers' and checkers' saved answers (default: "
        "the service's database name + '_answers'). On FerretDB's SQLite every database "
        "has one writer, so saving answers (the busiest writes) in a database of their own "
        "keeps claims and submits from queueing behind them; name the service's own "
        "database to keep everything in one")
    sweep_seconds: float = Field(default=1.0, gt=0, description="how often leases are checked")
    rescan_seconds: float = Field(
        default=10.0, gt=0,
        description="how often the claim board is rebuilt from the database in the "
        "background (what other replicas changed reaches this replica's claims that much "
        "later); never more often than ten times a rebuild's duration")
