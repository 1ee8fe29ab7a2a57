"""Arrow schema of trades_1d from the warehouse contract, and Parquet writing.

Writer options are fixed so the same data gives byte-identical files: Parquet
metadata then holds only the schema, the writer version and statistics.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from backend.datagen.lookups import lookups
from backend.warehouse.schema import TRADES_COLUMNS

_ARROW_TYPES: dict[str, pa.DataType] = {
    "UInt64": pa.uint64(),
    "UInt8": pa.uint8(),
    "Float64": pa.float64(),
    "Date": pa.date32(),
    "DateTime": pa.timestamp("s"),
    "LowCardinality(String)": pa.dictionary(pa.int32(), pa.string()),
}

TRADES_SCHEMA: pa.Schema = pa.schema([(name, _ARROW_TYPES[ctype]) for name, ctype in TRADES_COLUMNS])

_STRING_COLUMNS = [name for name, ctype in TRADES_COLUMNS if ctype == "LowCardinality(String)"]
# Columns with few distinct values compress to almost nothing with Parquet dictionaries;
# dictionary-encoding the continuous money columns would only cost time.
_DICTIONARY_COLUMNS = [*_STRING_COLUMNS, "trade_date", "settlement_date", "constituent_weight", "is_hedge",
                       "beta", "volatility"]  # fmt: skip

WRITE_OPTIONS: dict[str, object] = {
    "compression": "lz4",
    "use_dictionary": _DICTIONARY_COLUMNS,
    # Date statistics let readers skip row groups by date; the rest would only cost time.
    "write_statistics": ["trade_date", "settlement_date", "trade_time"],
    "store_schema": True,
}


def _dictionary_values() -> dict[str, pa.Array]:
    return {name: pa.array(values, pa.string()) for name, values in lookups().dictionaries.items()}


def trades_table(columns: dict[str, np.ndarray]) -> pa.Table:
    """Arrow table in TRADES_COLUMNS order from generated columns (string columns as codes)."""
    dictionaries = _dictionary_values()
    arrays = []
    for field in TRADES_SCHEMA:
        values = columns[field.name]
        if pa.types.is_dictionary(field.type):
            arrays.append(pa.DictionaryArray.from_arrays(pa.array(values, pa.int32()), dictionaries[field.name]))
        elif pa.types.is_timestamp(field.type):
            arrays.append(pa.array(values.astype("datetime64[s]"), field.type))
        elif pa.types.is_date32(field.type):
            arrays.append(pa.array(values.astype(np.int32), pa.int32()).cast(pa.date32()))
        else:
            arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=TRADES_SCHEMA)


def write_trades(blocks: Iterable[dict[str, np.ndarray]], path: Path) -> None:
    """One Parquet file, one row group per block; renamed into place only when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    with pq.ParquetWriter(tmp, TRADES_SCHEMA, **WRITE_OPTIONS) as writer:  # type: ignore[arg-type]
        for columns in blocks:
            table = trades_table(columns)
            writer.write_table(table, row_group_size=table.num_rows)
    tmp.replace(path)


def write_reference(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, compression="zstd", write_statistics=True, store_schema=True)
    tmp.replace(path)
