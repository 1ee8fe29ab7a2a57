"""Synthetic trading-desk data: reference data, daily trades with ETF/ETC look-through, demo loading."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backend.datagen.demo import ensure_demo_data
    from backend.datagen.generate import GenerateReport, generate_to_folder

__all__ = ["GenerateReport", "ensure_demo_data", "generate_to_folder"]

_HOMES = {
    "GenerateReport": "backend.datagen.generate",
    "generate_to_folder": "backend.datagen.generate",
    "ensure_demo_data": "backend.datagen.demo",
}


def __getattr__(name: str) -> Any:
    # Imported on first use so `python -m backend.datagen --help` and argument errors
    # answer without loading NumPy, Arrow and the warehouse client.
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'backend.datagen' has no attribute {name!r}")
