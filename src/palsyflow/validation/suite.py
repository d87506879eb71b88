"""Great Expectations suite over the cohort feature table.

The feature table (one row per recording, :data:`palsyflow.schemas.FEATURE_ID_SCHEMA`
followed by measure columns) is checked before any model sees it. Great Expectations
1.x has no polars engine, so the table is validated as pandas through an ephemeral
context. Rows that break a row-level expectation are *quarantined*: they go to
``ValidationResult.failed`` with the reasons, never silently dropped. A table-level
failure (for example a missing column) fails every row.

Great Expectations is imported lazily inside :func:`build_expectations` and
:func:`validate_features`, so importing this module is cheap and has no side effects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from palsyflow.config import ValidationParams
from palsyflow.conventions import SIDES, TASKS
from palsyflow.speech.quality import STATUSES as SPEECH_STATUSES
from palsyflow.schemas import FEATURE_ID_SCHEMA

#: Identification columns that must never be null.
ID_COLUMNS: tuple[str, ...] = (
    "recording_key",
    "site",
    "subject",
    "session",
    "session_date",
    "task",
    "kind",
    "sha256",
)
#: Recording kinds written by ingest.
KINDS: tuple[str, ...] = ("video", "photo", "audio")
#: Kinds that carry a face (the face-found check applies to these only).
FACE_KINDS: tuple[str, ...] = ("video", "photo")
SESSION_REGEX = r"^[0-9]{8}$"
HB_GRADES: tuple[int, ...] = (1, 2, 3, 4, 5, 6)

_ROW = "_palsyflow_row_"
_SUITE_NAME = "palsyflow_features"


@dataclass
class ValidationResult:
    """Outcome of :func:`validate_features`.

    Attributes
    ----------
    valid : polars.DataFrame
        Rows that met every expectation, in input order, input columns only.
    failed : polars.DataFrame
        Quarantined rows, in input order, input columns plus ``reasons`` (str: the
        failed expectation descriptions for that row, joined by ``"; "``).
    summary : dict
        JSON-serialisable: ``n_rows``, ``n_valid``, ``n_failed``, ``success`` and
        ``expectations`` (a list of ``{expectation, column, description, success,
        unexpected_count}``; ``unexpected_count`` is null for table-level checks and
        ``error`` is set when an expectation could not be evaluated).
    """

    valid: pl.DataFrame
    failed: pl.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        """True when no row and no table-level expectation failed."""
        return bool(self.summary.get("success", False))


#: Bounded speech measures: column -> (min, max) by definition.
SPEECH_BOUNDS: dict[str, tuple[float, float]] = {
    "speech_pause_ratio": (0.0, 1.0),
    "speech_clarity": (0.0, 100.0),
    "speech_dysarthria_index": (0.0, 100.0),
    **{f"speech_ddk_{s}_cv": (0.0, 10.0) for s in ("pa", "ta", "ka", "pataka")},
}

def expected_columns(measure_columns: list[str]) -> list[str]:
    """All columns the feature table must have: id columns then ``measure_columns``."""
    cols = list(FEATURE_ID_SCHEMA)
    cols += [c for c in measure_columns if c not in FEATURE_ID_SCHEMA]
    return cols


def _fmt(x: float) -> str:
    return f"{x:g}"


def build_expectations(params: ValidationParams, measure_columns: list[str]) -> list:
    """The feature-table expectations, built in code, in evaluation order.

    Every expectation carries a human-readable ``description``; it is the text that
    appears in a failed row's ``reasons``.

    Parameters
    ----------
    params : ValidationParams
        Bounds (maximum asymmetry, minimum face-found fraction, maximum TTA spread,
        plausible f0 range).
    measure_columns : list of str
        Measure columns of the table. Columns ending in ``_asym`` get the asymmetry
        range check, ``_weaker`` columns the side check; known speech columns get
        their range checks.

    Returns
    -------
    list of great_expectations.expectations.Expectation
        Add them to a suite of a context (see :func:`validate_features`).
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    expectations: list = []
    add = expectations.append

    for col in expected_columns(measure_columns):
        add(gxe.ExpectColumnToExist(column=col, description=f"column '{col}' is missing"))

    add(gxe.ExpectColumnValuesToBeUnique(column="recording_key", description="recording_key is duplicated"))
    for col in ID_COLUMNS:
        add(gxe.ExpectColumnValuesToNotBeNull(column=col, description=f"{col} is null"))
    add(
        gxe.ExpectColumnValuesToMatchRegex(
            column="session", regex=SESSION_REGEX, description="session is not an 8-digit YYYYMMDD label"
        )
    )
    add(
        gxe.ExpectColumnValuesToBeInSet(
            column="task", value_set=list(TASKS), description="task is not a protocol task"
        )
    )
    add(
        gxe.ExpectColumnValuesToBeInSet(
            column="kind", value_set=list(KINDS), description=f"kind is not one of {'/'.join(KINDS)}"
        )
    )
    add(
        gxe.ExpectColumnValuesToBeInSet(
            column="hb_grade", value_set=list(HB_GRADES), description="hb_grade is not a House-Brackmann grade 1-6"
        )
    )
    face_rows = Column("kind").is_in(list(FACE_KINDS))
    add(
        gxe.ExpectColumnValuesToNotBeNull(
            column="face_found_fraction",
            row_condition=face_rows,
            description="face_found_fraction is null for a video/photo recording",
        )
    )
    add(
        gxe.ExpectColumnValuesToBeBetween(
            column="face_found_fraction",
            min_value=params.min_face_found_fraction,
            max_value=1.0,
            row_condition=face_rows,
            description=(
                f"face_found_fraction below {_fmt(params.min_face_found_fraction)} "
                "(or above 1) for a video/photo recording"
            ),
        )
    )
    add(
        gxe.ExpectColumnValuesToBeBetween(
            column="tta_spread_iod_pct",
            min_value=0.0,
            max_value=params.max_tta_spread_iod_pct,
            description=f"tta_spread_iod_pct outside 0-{_fmt(params.max_tta_spread_iod_pct)} % IOD",
        )
    )

    for col in measure_columns:
        if col.endswith("_asym"):
            add(
                gxe.ExpectColumnValuesToBeBetween(
                    column=col,
                    min_value=0.0,
                    max_value=params.max_asymmetry,
                    description=f"{col} outside 0-{_fmt(params.max_asymmetry)}",
                )
            )
        elif col.endswith("_weaker"):
            add(
                gxe.ExpectColumnValuesToBeInSet(
                    column=col, value_set=list(SIDES), description=f"{col} is not 'left'/'right'"
                )
            )
    lo, hi = params.f0_range_hz
    if "speech_f0_median_hz" in measure_columns:
        add(
            gxe.ExpectColumnValuesToBeBetween(
                column="speech_f0_median_hz",
                min_value=lo,
                max_value=hi,
                description=f"speech_f0_median_hz outside {_fmt(lo)}-{_fmt(hi)} Hz",
            )
        )
    for col, (lo_v, hi_v) in SPEECH_BOUNDS.items():
        if col in measure_columns:
            add(
                gxe.ExpectColumnValuesToBeBetween(
                    column=col,
                    min_value=lo_v,
                    max_value=hi_v,
                    description=f"{col} outside {_fmt(lo_v)}-{_fmt(hi_v)}",
                )
            )
    if "speech_status" in measure_columns:
        add(
            gxe.ExpectColumnValuesToBeInSet(
                column="speech_status", value_set=list(SPEECH_STATUSES), description="speech_status is not a gate status"
            )
        )
    return expectations


def _py(v: Any) -> Any:
    """numpy scalars -> Python scalars (for JSON)."""
    return v.item() if isinstance(v, np.generic) else v


def _exception_message(result) -> str | None:
    """The first exception message of a GX expectation result, or None."""
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def _run_gx(pdf, expectations: list):
    """Validate a pandas frame with ``expectations`` in a fresh ephemeral context."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas("palsyflow_features")
    asset = source.add_dataframe_asset("feature_table")
    batch_definition = asset.add_batch_definition_whole_dataframe("whole_table")
    suite = context.suites.add(gx.ExpectationSuite(name=_SUITE_NAME))
    for expectation in expectations:
        suite.add_expectation(expectation)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": pdf})
    return batch.validate(
        suite,
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [_ROW]},
    )


def validate_features(
    df: pl.DataFrame, params: ValidationParams, measure_columns: list[str]
) -> ValidationResult:
    """Validate the cohort feature table and quarantine the rows that fail.

    Parameters
    ----------
    df : polars.DataFrame
        Feature table: :data:`~palsyflow.schemas.FEATURE_ID_SCHEMA` columns then
        measure columns.
    params : ValidationParams
        Suite bounds.
    measure_columns : list of str
        The measure columns expected in ``df`` (see :func:`build_expectations`).

    Returns
    -------
    ValidationResult
        ``valid`` and ``failed`` partition ``df`` (disjoint, together all rows, both
        in input order). Row-level failures quarantine only the offending rows;
        both rows of a duplicated ``recording_key`` are quarantined because neither
        can be trusted. A table-level failure (a missing column, an expectation that
        cannot be evaluated) sets ``success`` False and quarantines every row with
        that reason.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    if _ROW in df.columns:
        raise ValueError(f"column name {_ROW!r} is reserved")
    n = df.height
    expectations = build_expectations(params, measure_columns)
    pdf = df.to_pandas()
    pdf.insert(0, _ROW, np.arange(n, dtype=np.int64))
    gx_result = _run_gx(pdf, expectations)

    row_reasons: list[list[str]] = [[] for _ in range(n)]
    table_reasons: list[str] = []
    missing = {c for c in expected_columns(measure_columns) if c not in df.columns}
    expectations: list[dict[str, Any]] = []

    for res in gx_result.results:
        cfg = res.expectation_config
        column = cfg.kwargs.get("column")
        description = cfg.description or cfg.type
        info = res.result or {}
        error = _exception_message(res)
        entry: dict[str, Any] = {
            "expectation": cfg.type,
            "column": column,
            "description": description,
            "success": bool(res.success),
            "unexpected_count": _py(info["unexpected_count"]) if "unexpected_count" in info else None,
        }
        if error is not None:
            entry["error"] = error
        expectations.append(entry)
        if res.success:
            continue
        indices = info.get("unexpected_index_list")
        if error is None and indices is not None and cfg.type != "expect_column_to_exist":
            for item in indices:
                row = int(item[_ROW]) if isinstance(item, dict) else int(item)
                if description not in row_reasons[row]:
                    row_reasons[row].append(description)
        elif error is not None and column in missing:
            # Already reported by that column's existence check.
            continue
        elif error is not None:
            table_reasons.append(f"{description} (could not be evaluated: {error})")
        else:
            table_reasons.append(description)

    if table_reasons:
        reasons = ["; ".join(dict.fromkeys(table_reasons + r)) for r in row_reasons]
    else:
        reasons = ["; ".join(r) for r in row_reasons]
    failed_mask = pl.Series([bool(r) for r in reasons], dtype=pl.Boolean)

    valid = df.filter(~failed_mask)
    failed = df.filter(failed_mask).with_columns(
        pl.Series("reasons", [r for r in reasons if r], dtype=pl.Utf8)
    )
    summary = {
        "n_rows": n,
        "n_valid": valid.height,
        "n_failed": failed.height,
        "success": bool(gx_result.success) and not table_reasons and failed.height == 0,
        "table_reasons": table_reasons,
        "expectations": expectations,
    }
    return ValidationResult(valid=valid, failed=failed, summary=summary)


def measure_columns_of(df: pl.DataFrame) -> list[str]:
    """The columns of a feature table that follow the id columns (its measures)."""
    return [c for c in df.columns if c not in FEATURE_ID_SCHEMA]


__all__ = [
    "FACE_KINDS",
    "ID_COLUMNS",
    "KINDS",
    "SESSION_REGEX",
    "ValidationResult",
    "build_expectations",
    "expected_columns",
    "measure_columns_of",
    "validate_features",
]
