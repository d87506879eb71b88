"""Saved tables from earlier versions, brought to today's schema."""

from __future__ import annotations

import polars as pl

from palsyflow.features.table import FEATURE_TABLE_SCHEMA


def with_current_feature_schema(features: pl.DataFrame) -> pl.DataFrame:
    """A saved feature table with today's columns: new ones null, dropped ones gone.

    Columns added since the table was saved (the speech engine of issue 9) read as a
    table without those measures would.
    """
    return features.with_columns(
        pl.lit(None, dtype).alias(c) for c, dtype in FEATURE_TABLE_SCHEMA.items() if c not in features.columns
    ).select(list(FEATURE_TABLE_SCHEMA))


def with_named_basis(df: pl.DataFrame) -> pl.DataFrame:
    """A score table with ``side_basis`` "healthy-range" wherever a row names a side and gives no basis."""
    given = pl.col("side_basis") if "side_basis" in df.columns else pl.lit(None, dtype=pl.Utf8)
    named = pl.when(pl.col("weaker_side").is_not_null()).then(pl.lit("healthy-range"))
    return df.with_columns(pl.coalesce(given.cast(pl.Utf8), named).alias("side_basis"))
