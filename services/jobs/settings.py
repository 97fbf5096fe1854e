"""Settings of the jobs service beyond the common ones, from the environment
(``LABELOPS_JOBS_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.jobs.domain.teams import Limits


class JobsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LABELOPS_JOBS_", extra="ignore")

    max_teams: int = Field(default=10, ge=1, description="teams per workspace")
    max_team_members: int = Field(default=100, ge=1, description="members per team")

    def limits(self) -> Limits:
        return Limits(teams=self.max_teams, members=self.max_team_members)
