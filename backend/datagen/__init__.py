"""Synthetic trading-desk data: reference data, daily trades with ETF/ETC look-through, demo loading."""

from backend.datagen.demo import ensure_demo_data
from backend.datagen.generate import GenerateReport, generate_to_folder

__all__ = ["GenerateReport", "ensure_demo_data", "generate_to_folder"]
