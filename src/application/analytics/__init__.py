"""The analytics context: facts the other contexts record, exported to Parquet and queried with DuckDB."""
