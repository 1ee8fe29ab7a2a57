"""Records of measurements: datasets registered once, series numbered per dataset and kind, the
numbers handed out once each — also to two processes allocating at the same time — and a deleted
series' name never given again."""

from __future__ import annotations

import multiprocessing
from collections import Counter

import pytest

from backend.measurements.names import MeasurementName, MeasurementNameError
from backend.measurements.records import MeasurementRecordError, MeasurementRecords
from backend.meta import open_meta


@pytest.fixture
def records(meta_url: str) -> MeasurementRecords:
    return MeasurementRecords(open_meta(meta_url))


def test_series_are_numbered_per_dataset_and_kind(records: MeasurementRecords) -> None:
    records.register_dataset("spx", store="parquet", created_by="ana", inputs={"file": "spx.csv"})
    records.register_dataset("ndx", store="clickhouse")
    made = [records.allocate("spx", "indicators", store="parquet").name for _ in range(3)]
    assert made == ["spx_1", "spx_2", "spx_3"]
    assert records.allocate("spx", "run", store="parquet") == MeasurementName("spx", "run", 1)
    assert records.allocate("spx", "sim", store="parquet").name == "spx_sim1"
    assert records.allocate("ndx", "indicators", store="clickhouse").name == "ndx_1"
    record = records.get("spx")
    assert record is not None and record.kind == "dataset" and record.inputs == {"file": "spx.csv"}
    assert record.created_by == "ana" and record.created_at.tzinfo is not None
    assert [r.name for r in records.list("spx")] == ["spx", "spx_1", "spx_2", "spx_3", "spx_run1", "spx_sim1"]


def test_a_taken_dataset_name_and_a_series_without_its_dataset_are_refused(records: MeasurementRecords) -> None:
    records.register_dataset("spx", store="parquet")
    with pytest.raises(MeasurementRecordError, match="already"):
        records.register_dataset("spx", store="parquet")
    with pytest.raises(MeasurementRecordError, match="no dataset"):
        records.allocate("ndx", "indicators", store="parquet")
    with pytest.raises(MeasurementRecordError, match="store"):
        records.register_dataset("ndx", store="s3")
    with pytest.raises(MeasurementNameError):
        records.register_dataset("spx_2", store="parquet")
    with pytest.raises(MeasurementNameError):
        records.allocate("spx", "model", store="parquet")  # type: ignore[arg-type]
    assert [r.name for r in records.list()] == ["spx"]


def test_a_deleted_series_name_is_never_given_again(records: MeasurementRecords) -> None:
    records.register_dataset("spx", store="parquet")
    first, second = records.allocate("spx", "indicators", store="parquet"), records.allocate("spx", "indicators",
                                                                                                store="parquet")
    with pytest.raises(MeasurementRecordError, match="still has 2"):
        records.remove("spx")
    assert records.remove(second.name) is True and records.remove(second.name) is False
    assert records.get(second.name) is None
    assert records.allocate("spx", "indicators", store="parquet").name == "spx_3"
    for name in (first.name, "spx_3"):
        records.remove(name)
    assert records.remove("spx") is True and records.get("spx") is None
    records.register_dataset("spx", store="clickhouse")  # the name of a deleted dataset may be used again
    assert records.allocate("spx", "indicators", store="clickhouse").name == "spx_4"  # numbers go on


def _allocate_many(url: str, count: int, start: multiprocessing.synchronize.Event) -> list[str]:
    records = MeasurementRecords(open_meta(url))
    start.wait(30)
    return [records.allocate("spx", "run", store="parquet").name for _ in range(count)]


def test_two_processes_allocating_at_once_get_different_numbers(records: MeasurementRecords, meta_url: str) -> None:
    records.register_dataset("spx", store="parquet")
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Event()
        with context.Pool(2) as pool:
            jobs = [pool.apply_async(_allocate_many, (meta_url, 25, start)) for _ in range(2)]
            start.set()
            names = [name for job in jobs for name in job.get(timeout=120)]
    assert Counter(names).most_common(1)[0][1] == 1  # no name twice
    assert sorted(int(n.removeprefix("spx_run")) for n in names) == list(range(1, 51))
    assert len(records.list("spx")) == 51


def test_summaries_follow_every_record_added_or_deleted_even_by_another_store_handle(records: MeasurementRecords,
                                                                                      meta_url: str) -> None:
    records.register_dataset("spx", store="parquet")
    assert records.summaries("run") == []
    first = records.allocate("spx", "run", store="parquet", summary={"metric.ic": 0.1})
    listed = records.summaries("run")
    assert [(r["name"], r["metric.ic"]) for r in listed] == [(first.name, 0.1)]
    listed[0]["metric.ic"] = 99  # a caller's changes never reach the next caller
    assert records.summaries("run")[0]["metric.ic"] == 0.1
    other = MeasurementRecords(open_meta(meta_url))  # another process's handle on the same store
    second = other.allocate("spx", "run", store="parquet", summary={"metric.ic": 0.2})
    assert [r["name"] for r in records.summaries("run")] == [first.name, second.name]
    other.remove(first.name)
    assert [r["name"] for r in records.summaries("run")] == [second.name]
    assert [r["name"] for r in records.summaries("run", "spx")] == [second.name]
    assert records.summaries("sim") == []
