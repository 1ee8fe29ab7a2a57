"""Indicator versions: a dataset with indicator columns, kept as ``<dataset>_<n>``.

The same request on the same dataset gives the same version back (its record holds a hash
of the dataset's identity and the request), so asking twice computes once. Each version's
record says what it was made from — dataset, functions and parameters, TA-Lib's version —
and describes its columns, so every number can be traced back and made again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from backend.measurements.names import clean_base
from backend.research.dataset_service import DatasetError, Datasets
from backend.research.indicators import IndicatorSpec, compute


@dataclass(frozen=True)
class IndicatorVersion:
    name: str
    dataset: str
    reused: bool
    columns: dict[str, dict[str, Any]]


def _talib_version() -> str:
    import talib

    return str(talib.__version__)


class IndicatorVersions:
    def __init__(self, datasets: Datasets) -> None:
        self.datasets = datasets

    def make(self, dataset: str, specs: Sequence[IndicatorSpec], *, created_by: str = "") -> IndicatorVersion:
        dataset = clean_base(dataset)
        records = self.datasets.records
        record = records.get(dataset)
        if record is None or record.kind != "dataset":
            raise DatasetError(f"there is no dataset {dataset!r}")
        request = [spec.key() for spec in specs]
        digest = hashlib.sha256(json.dumps({"dataset": dataset, "made": record.created_at.isoformat(),
                                            "request": request, "talib": _talib_version()},
                                           sort_keys=True).encode()).hexdigest()
        for existing in records.list(dataset):
            if existing.kind == "indicators" and existing.inputs.get("hash") == digest:
                return IndicatorVersion(existing.name, dataset, True, dict(existing.inputs.get("columns", {})))
        table, described = compute(self.datasets.measurements.read(dataset), specs)
        zone = str(record.inputs.get("time_zone", "UTC"))
        base_info = self.datasets.info(dataset)
        name = records.allocate(dataset, "indicators", store=self.datasets.store, created_by=created_by,
                                inputs={"hash": digest, "dataset": dataset, "request": request,
                                        "talib": _talib_version(), "columns": described, "time_zone": zone})
        # the bars are the dataset's: its description holds, with the new columns and their missing values
        info = replace(base_info, name=name.name, columns=tuple(table.column_names),
                       missing={**base_info.missing, **{c: m["missing"] for c, m in described.items()
                                                        if m["missing"]}},
                       source=f"indicators on {dataset}")
        records.update_inputs(name.name, info=info.public())
        try:
            self.datasets.measurements.write(name.name, table)
        except BaseException:
            records.remove(name.name)
            self.datasets.measurements.delete(name.name)
            raise
        return IndicatorVersion(name.name, dataset, False, described)
