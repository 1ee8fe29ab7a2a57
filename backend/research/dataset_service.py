"""Datasets as the research pages and the API see them: imported once, described, listed.

A dataset is a measurement (its bars, in the configured store) and a record (where it came
from, the zone its times are shown in). The description — rows, time range, bar frequency,
symbols, columns, gaps and missing values — is computed from the bars themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import pyarrow as pa

from backend.measurements.frames import Measurements
from backend.measurements.names import Kind, clean_base, parse_name
from backend.measurements.records import MeasurementRecordError, MeasurementRecords
from backend.research.datasets import Bars
from backend.research.description import DatasetInfo, describe


class DatasetError(ValueError):
    """A dataset request that cannot be done; the message can be shown."""


class Datasets:
    """Import, describe and list datasets kept by one measurements store."""

    def __init__(self, measurements: Measurements, records: MeasurementRecords, store: str) -> None:
        self.measurements = measurements
        self.records = records
        self.store = store

    def add(self, name: str, bars: Bars, *, created_by: str = "", source: str = "") -> DatasetInfo:
        """Keep ``bars`` as dataset ``name``: recorded first (which refuses a taken name), then written;
        a write that fails takes the record back, so nothing half-made stays."""
        name = clean_base(name)
        info = describe(name, bars.table, bars.time_zone, source[:200])
        try:
            # The description is kept with the record: the bars never change, and describing millions
            # of them again at every look would cost more than drawing them.
            self.records.register_dataset(name, store=self.store, created_by=created_by,
                                          inputs={"source": source[:200], "time_zone": bars.time_zone,
                                                  "symbols": len(bars.symbols), "info": info.public()})
        except MeasurementRecordError as exc:
            raise DatasetError(str(exc)) from None
        try:
            self.measurements.write(name, bars.table)
        except BaseException:
            self.records.remove(name)
            self.measurements.delete(name)
            raise
        return info

    def keep_series(self, base: str, kind: Kind, frame: pa.Table | pd.DataFrame, *, created_by: str = "",
                    inputs: Mapping[str, Any] | None = None, summary: Mapping[str, Any] | None = None) -> str:
        """Keep ``frame`` as the next series of ``kind`` computed from ``base`` (``spx_sim4``,
        ``spx_run2``): recorded first, then written; a write that fails takes the record back."""
        name = self.records.allocate(base, kind, store=self.store, created_by=created_by, inputs=inputs,
                                     summary=summary).name
        try:
            self.measurements.write(name, frame)
        except BaseException:
            self.records.remove(name)
            self.measurements.delete(name)
            raise
        return name

    def info(self, name: str) -> DatasetInfo:
        """A dataset or one of its indicator versions (``spx_3``), described from its bars."""
        parsed = parse_name(name)
        record = self.records.get(parsed.name)
        if record is None or record.kind not in ("dataset", "indicators"):
            raise DatasetError(f"there is no dataset {name!r}")
        kept = record.inputs.get("info")
        if isinstance(kept, dict):
            return DatasetInfo.from_public(kept)
        table = self.measurements.read(record.name)
        source = record.inputs.get("source") or (f"indicators on {record.base}" if record.kind == "indicators" else "")
        return describe(record.name, table, str(record.inputs.get("time_zone", "UTC")), str(source))

    def names(self) -> list[str]:
        return [r.name for r in self.records.list() if r.kind == "dataset"]

    def list(self) -> list[DatasetInfo]:
        return [self.info(name) for name in self.names()]
