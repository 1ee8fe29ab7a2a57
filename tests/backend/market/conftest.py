from __future__ import annotations

from pathlib import Path

import pytest

from backend.market.core import MarketCore
from backend.market.feed.replay import read_messages

SESSION_FILE = Path(__file__).parents[2] / "fixtures" / "market" / "session_2024-03-04.jsonl"


@pytest.fixture(scope="session")
def session_messages() -> list[str]:
    return list(read_messages(SESSION_FILE))


@pytest.fixture
def session_core(session_messages: list[str]) -> MarketCore:
    core = MarketCore()
    core.process_many(session_messages)
    return core
