"""Market feeds: simulator (default), replay of recordings, SSI FastConnect Data."""

from __future__ import annotations

from backend.market.feed.base import ConnectionState, FeedStatus, MarketFeed, RecordingFeed
from backend.market.settings import MarketSettings


def open_feed(settings: MarketSettings) -> MarketFeed:
    """The feed the settings choose, wrapped in a recorder when ``record_file`` is set."""
    feed: MarketFeed
    if settings.source == "simulator":
        from backend.market.feed.simulated import SimulatorFeed

        feed = SimulatorFeed(
            rate=settings.rate, speed=settings.speed, seed=settings.seed, universe=settings.universe,
            start_time=settings.start_time, skip_breaks=settings.skip_breaks,
        )  # fmt: skip
    elif settings.source == "replay":
        from backend.market.feed.replay import ReplayFeed

        assert settings.replay_file is not None  # enforced by MarketSettings
        feed = ReplayFeed(settings.replay_file, speed=settings.speed)
    else:
        from backend.market.feed.ssi import SsiCredentials, SsiFeed

        assert settings.ssi_consumer_id is not None and settings.ssi_consumer_secret is not None
        feed = SsiFeed(
            SsiCredentials(settings.ssi_consumer_id, settings.ssi_consumer_secret),
            api_url=settings.ssi_api_url, hub_url=settings.ssi_hub_url, channels=settings.ssi_channels,
        )  # fmt: skip
    if settings.record_file is not None:
        feed = RecordingFeed(feed, settings.record_file)
    return feed


__all__ = ["ConnectionState", "FeedStatus", "MarketFeed", "RecordingFeed", "open_feed"]
