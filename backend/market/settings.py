"""Settings of the live market: the ``market`` section of the one ``Settings`` (``settings.market``).

Variables ``DESKBOARD_MARKET_*`` (source, rate, speed, seed, universe, start time, replay
and record files, SSI URLs and channels, and the service's enabled / stale / tick / flush /
retention / alert settings); SSI credentials come only from ``DESKBOARD_SSI_CONSUMER_ID``
and ``DESKBOARD_SSI_CONSUMER_SECRET``, have no defaults and are never printed.

The section is defined in ``backend.config`` with the others, so one check at start covers
every variable. Code takes it from the settings it was given (``settings.market``);
``MarketSettings()`` built directly holds the defaults, never the environment.
"""

from __future__ import annotations

from backend.config import MarketSettings

# The service's settings are the same section: one name per variable, one place to check it.
ServiceSettings = MarketSettings

__all__ = ["MarketSettings", "ServiceSettings"]
