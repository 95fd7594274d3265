"""Parquet: read whole by pyarrow, or streamed row group by row group for inspection
(each batch typed through its pandas conversion, as the full read types the file).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from intentml.ml.datasets.base import DatasetError
from intentml.ml.datasets.column_types import ColumnTypes
from intentml.ml.datasets.tables import check_names, first_batches

#: Rows per batch of the streaming scan (and the most a `max_rows` read asks for at once).
_BATCH_ROWS = 65536


class ParquetFormat:
    """Parquet files (recognised by their `PAR1` magic)."""

    label = "Parquet"

    def read(self, path: Path, size: int, max_rows: int | None) -> pa.Table:
        """The file as one table (with `max_rows`, its first batches)."""
        try:
            if max_rows is None:
                return pq.read_table(path)
            parquet_file = pq.ParquetFile(path)
            batches = parquet_file.iter_batches(batch_size=min(max_rows, _BATCH_ROWS))
            return first_batches(batches, parquet_file.schema_arrow, max_rows)
        except (pa.ArrowException, OSError) as exc:
            raise DatasetError(f"could not read the Parquet file: {exc}") from exc

    def scan(self, path: Path, size: int) -> ColumnTypes:
        """Stream the file batch by batch, typing each batch's columns."""
        types = ColumnTypes()
        try:
            parquet_file = pq.ParquetFile(path)
            check_names(parquet_file.schema_arrow.names, self.label)
            types.expected_columns = len(parquet_file.schema_arrow.names)
            for batch in parquet_file.iter_batches(batch_size=_BATCH_ROWS):
                types.rows += batch.num_rows
                types.add_frame_types(batch)
        except (pa.ArrowException, OSError) as exc:
            raise DatasetError(f"could not read the Parquet file: {exc}") from exc
        return types
