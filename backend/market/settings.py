"""Settings of the live market feed (environment prefix ``DESKBOARD_MARKET_``).

SSI credentials come only from ``DESKBOARD_SSI_CONSUMER_ID`` and
``DESKBOARD_SSI_CONSUMER_SECRET``; they have no defaults and are never printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class MarketSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DESKBOARD_MARKET_", extra="ignore", frozen=True)

    source: Literal["simulator", "replay", "ssi"] = "simulator"
    # Messages per wall-clock second the simulator emits (and replay's cap when speed is 0).
    rate: float = Field(500.0, gt=0, le=200_000)
    # Simulated (or replayed) seconds per wall-clock second: 60 shows a trading day in ~5 minutes.
    speed: float = Field(1.0, gt=0, le=10_000)
    seed: int = 7
    # "vn30" simulates the basket; "hose" adds ~370 more HOSE symbols to VNINDEX.
    universe: Literal["vn30", "hose"] = "vn30"
    # Where the simulated day goes live, on the VN clock; the session before it is replayed fast
    # first. "auto": now when the market is trading (09:00–11:30, 13:00–14:45), else 10:00;
    # "now": the wall clock's time of day; "HH:MM": that time.
    start_time: str = Field("auto", pattern=r"^(auto|now|([01]\d|2[0-3]):[0-5]\d)$")
    # Jump over the lunch break and the time before the open instead of waiting through them.
    skip_breaks: bool = True
    replay_file: Path | None = None
    # Write every message the feed produces to this JSON-lines file.
    record_file: Path | None = None

    ssi_consumer_id: SecretStr | None = Field(
        None, validation_alias=AliasChoices("DESKBOARD_SSI_CONSUMER_ID", "ssi_consumer_id")
    )
    ssi_consumer_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("DESKBOARD_SSI_CONSUMER_SECRET", "ssi_consumer_secret")
    )
    ssi_api_url: str = Field("https://fc-data.ssi.com.vn/", pattern=r"^https?://")
    ssi_hub_url: str = Field("https://fc-datahub.ssi.com.vn/", pattern=r"^https?://")
    # Channels to subscribe, e.g. "X:ALL" or "X-TRADE:VN30F2401"; "-" joins several.
    ssi_channels: tuple[str, ...] = ("X:ALL", "R:ALL", "MI:VN30", "MI:VNINDEX", "F:ALL")

    @field_validator("ssi_channels")
    @classmethod
    def _known_channels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = {"F", "X-QUOTE", "X-TRADE", "X", "R", "MI", "B", "OL"}
        for item in value:
            channel, _, symbols = item.partition(":")
            if channel not in known or not symbols:
                raise ValueError(f"unknown channel subscription {item!r}")
        return value

    @model_validator(mode="after")
    def _source_needs(self) -> MarketSettings:
        if self.source == "replay" and self.replay_file is None:
            raise ValueError("source=replay needs DESKBOARD_MARKET_REPLAY_FILE")
        if self.source == "ssi" and not (self.ssi_consumer_id and self.ssi_consumer_secret):
            raise ValueError("source=ssi needs DESKBOARD_SSI_CONSUMER_ID and DESKBOARD_SSI_CONSUMER_SECRET")
        return self
