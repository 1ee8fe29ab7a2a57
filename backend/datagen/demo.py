"""Demo data for a warehouse that has no trades yet (first start of the app)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np

from backend.datagen.generate import generate_to_folder
from backend.warehouse import Warehouse
from backend.warehouse.loader import load_folder

DEMO_BUSINESS_DAYS = 60


def last_business_day(today: date) -> date:
    return np.busday_offset(np.datetime64(today, "D"), 0, roll="backward").astype(date)


def demo_dates(today: date, business_days: int = DEMO_BUSINESS_DAYS) -> tuple[date, date]:
    """The ``business_days`` business days ending on the most recent one up to ``today``."""
    end = last_business_day(today)
    start = np.busday_offset(np.datetime64(end, "D"), -(business_days - 1), roll="backward").astype(date)
    return start, end


def ensure_demo_data(wh: Warehouse, *, rows: int, seed: int, folder: Path, today: date | None = None) -> bool:
    """Generate and load a small data set when trades_1d is empty; return whether it did."""
    if rows <= 0:
        return False
    count = wh.query_rows("SELECT count() FROM {db}.trades_1d")[0][0]
    if count:
        return False
    start, end = demo_dates(today or date.today())
    # Generating in this process keeps the warehouse lock in one place; demo sizes are small.
    generate_to_folder(folder, rows=rows, start=start, end=end, seed=seed, workers=1)
    load_folder(wh, folder)
    return True


__all__ = ["demo_dates", "ensure_demo_data", "last_business_day"]
