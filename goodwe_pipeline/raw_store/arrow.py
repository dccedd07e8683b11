"""The canonical reading as an Arrow table (Parquet files, spool entries, CSV reads).

Unknown fields are NaN *values*, not nulls, so converting back to pandas is
zero-copy for the float columns and needs no re-normalising. A table may hold
a subset of the fields (a projected read): ``schema_for(fields)``.
"""

from __future__ import annotations

from datetime import UTC
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa

from goodwe_pipeline import readings

TIME_TYPE = pa.timestamp("us", tz="UTC")
KEY_FIELDS = (
    pa.field(readings.TIME, TIME_TYPE, nullable=False),
    pa.field(readings.DEVICE_ID, pa.string(), nullable=False),
    pa.field(readings.SOURCE, pa.string(), nullable=False),
)


@lru_cache(maxsize=64)
def schema_for(fields: tuple[str, ...] = readings.FIELD_NAMES) -> pa.Schema:
    """Time, tags and ``fields`` (canonical order, see ``base.field_selection``)."""
    return pa.schema([*KEY_FIELDS, *(pa.field(name, pa.float64()) for name in fields)])


SCHEMA = schema_for()


def frame_to_table(frame: pd.DataFrame, schema: pa.Schema = SCHEMA) -> pa.Table:
    """A canonical frame (holding at least the columns of ``schema``) as a table of ``schema``."""
    arrays = [
        pa.array(frame[readings.TIME], TIME_TYPE),
        pa.array(frame[readings.DEVICE_ID].to_numpy(dtype=object), pa.string()),
        pa.array(frame[readings.SOURCE].to_numpy(dtype=object), pa.string()),
        *(
            pa.array(frame[name].to_numpy(dtype="float64"))
            for name in schema.names[len(KEY_FIELDS) :]
        ),
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def conform(table: pa.Table, schema: pa.Schema = SCHEMA) -> pa.Table:
    """Exactly the columns of ``schema``, without file metadata: missing fields become NaN
    (files from older versions), columns that are not asked for are dropped."""
    if table.schema.equals(schema):
        return table.replace_schema_metadata(None) if table.schema.metadata else table
    names = set(table.column_names)
    rows = table.num_rows
    columns = []
    for field in schema:
        if field.name in names:
            columns.append(table.column(field.name).cast(field.type))
        else:
            columns.append(pa.array(np.full(rows, np.nan), pa.float64()))
    return pa.Table.from_arrays(columns, schema=schema)


def _object_strings(column: pa.ChunkedArray) -> pd.Series:
    """Strings as a pandas object column, decoding each distinct value once."""
    encoded = column.dictionary_encode().combine_chunks()
    labels = np.array(encoded.dictionary.to_pylist(), dtype=object)
    values = labels[encoded.indices.to_numpy()] if len(labels) else labels
    return pd.Series(values, dtype=object, copy=False)


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """A table of ``schema_for(...)`` as a canonical frame (same order as the table),
    holding the fields the table holds."""
    data: dict[str, object] = {
        readings.TIME: pd.DatetimeIndex(
            table.column(readings.TIME).to_numpy().astype("datetime64[us]"), tz=UTC
        ),
        readings.DEVICE_ID: _object_strings(table.column(readings.DEVICE_ID)),
        readings.SOURCE: _object_strings(table.column(readings.SOURCE)),
    }
    names = table.column_names[len(KEY_FIELDS) :]
    for name in names:
        data[name] = table.column(name).to_numpy()
    return pd.DataFrame(data, columns=[readings.TIME, *readings.TAGS, *names], copy=False)
