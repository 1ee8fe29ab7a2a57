"""Research measurements: named time-series frames (datasets, indicator versions, runs,
simulations) behind one interface, kept in Parquet files, ClickHouse tables or QuestDB."""
