"""String to float conversion shared by the readers: fast Arrow cast, lenient fallback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fxconsole.market.bars import F64


def to_float64(values: pa.Array | pa.ChunkedArray) -> F64:
    """Convert strings to float64; a value that is not a number becomes NaN.

    The strict Arrow cast handles clean columns at C speed; a column with a bad value
    (or padding spaces) falls back to ``pandas.to_numeric(errors="coerce")``.
    """
    try:
        cast = pc.cast(values, pa.float64())
        return np.asarray(cast.to_numpy(zero_copy_only=False), dtype=np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    trimmed = pc.utf8_trim_whitespace(values).to_numpy(zero_copy_only=False)
    return np.asarray(pd.to_numeric(trimmed, errors="coerce"), dtype=np.float64)
