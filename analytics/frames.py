"""Selector output -> pandas DataFrames, the shape charts (``analytics.charts``) take.

Amounts become floats here: a frame feeds a chart, never a sum a person reads (tables and exports keep the
selectors' Decimals). A ratio with no denominator is NaN, which Plotly draws as a gap.
"""

from __future__ import annotations

import math

import pandas as pd

from analytics.metrics import METRICS
from analytics.selectors.performance import Table, Trend

TREND_METRICS = ("spend", "ad_sales", "total_sales")


def _float(value) -> float:
    return math.nan if value is None else float(value)


def trend_frame(trend: Trend, currency: str) -> pd.DataFrame:
    """One row per day of the view: spend, ad sales and total sales in ``currency``, the same day of the
    comparison period (``previous_*``, NaN without one), whether the day is provisional and whether some of
    its amounts had no FX rate."""
    records = []
    for day in trend.days:
        now = day.current.total(currency)
        before = day.previous.total(currency) if day.previous is not None else None
        record = {"day": pd.Timestamp(day.day), "provisional": day.provisional, "no_rate": bool(day.current.missing)}
        for key in TREND_METRICS:
            record[key] = _float(METRICS[key].of(now))
            record[f"previous_{key}"] = _float(METRICS[key].of(before)) if before is not None else math.nan
        records.append(record)
    columns = ["day", *TREND_METRICS, *(f"previous_{key}" for key in TREND_METRICS), "provisional", "no_rate"]
    return pd.DataFrame.from_records(records, columns=columns)


def table_frame(table: Table, currency: str, keys: tuple[str, ...]) -> pd.DataFrame:
    """One row per table row (not its children): ``label``, each metric in ``keys`` now and ``previous_<key>``."""
    records = []
    for row in table.rows:
        now = row.current.total(currency)
        before = row.previous.total(currency) if row.previous is not None else None
        record = {"label": row.label, "provisional": row.provisional_from is not None}
        for key in keys:
            record[key] = _float(METRICS[key].of(now))
            record[f"previous_{key}"] = _float(METRICS[key].of(before)) if before is not None else math.nan
        records.append(record)
    columns = ["label", "provisional", *keys, *(f"previous_{key}" for key in keys)]
    return pd.DataFrame.from_records(records, columns=columns)
