"""The canonical reading as an Arrow table (Parquet files, spool entries, CSV reads).

Unknown fields are NaN *values*, not nulls, so converting back to pandas is
zero-copy for the float columns and needs no re-normalising.
"""

from __future__ import annotations

from datetime import UTC

import numpy as np
import pandas as pd
import pyarrow as pa

from goodwe_pipeline import readings

TIME_TYPE = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        pa.field(readings.TIME, TIME_TYPE, nullable=False),
        pa.field(readings.DEVICE_ID, pa.string(), nullable=False),
        pa.field(readings.SOURCE, pa.string(), nullable=False),
        *(pa.field(name, pa.float64()) for name in readings.FIELD_NAMES),
    ]
)


def frame_to_table(frame: pd.DataFrame) -> pa.Table:
    """A canonical frame as a table of ``SCHEMA``."""
    arrays = [
        pa.array(frame[readings.TIME], TIME_TYPE),
        pa.array(frame[readings.DEVICE_ID].to_numpy(dtype=object), pa.string()),
        pa.array(frame[readings.SOURCE].to_numpy(dtype=object), pa.string()),
        *(pa.array(frame[name].to_numpy(dtype="float64")) for name in readings.FIELD_NAMES),
    ]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def conform(table: pa.Table) -> pa.Table:
    """Exactly the columns of ``SCHEMA``: missing fields become NaN (e.g. files from older versions)."""
    names = set(table.column_names)
    if table.schema.equals(SCHEMA):
        return table
    rows = table.num_rows
    columns = []
    for field in SCHEMA:
        if field.name in names:
            columns.append(table.column(field.name).cast(field.type))
        else:
            columns.append(pa.array(np.full(rows, np.nan), pa.float64()))
    return pa.Table.from_arrays(columns, schema=SCHEMA)


def _object_strings(column: pa.ChunkedArray) -> pd.Series:
    """Strings as a pandas object column, decoding each distinct value once."""
    encoded = column.dictionary_encode().combine_chunks()
    labels = np.array(encoded.dictionary.to_pylist(), dtype=object)
    values = labels[encoded.indices.to_numpy()] if len(labels) else labels
    return pd.Series(values, dtype=object, copy=False)


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """A table of ``SCHEMA`` as a canonical frame (same order as the table)."""
    data: dict[str, object] = {
        readings.TIME: pd.DatetimeIndex(
            table.column(readings.TIME).to_numpy().astype("datetime64[us]"), tz=UTC
        ),
        readings.DEVICE_ID: _object_strings(table.column(readings.DEVICE_ID)),
        readings.SOURCE: _object_strings(table.column(readings.SOURCE)),
    }
    for name in readings.FIELD_NAMES:
        data[name] = table.column(name).to_numpy()
    return pd.DataFrame(data, columns=list(readings.COLUMNS), copy=False)
