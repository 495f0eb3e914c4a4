"""The console summary line and the --json output."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.base.constants import RunStatus
from services.base.redact import register_secret
from services.base.results import RunCounts, RunResult
from services.reporting.report import (
    format_batch,
    format_position,
    json_bytes,
    results_json,
    summary_line,
)

PASSWORD = "r3port-Pa55word"
# As the engine stores it: {"value", "id"}; the result names the columns.
POSITION = {
    "value": dt.datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=dt.UTC),
    "id": "se-000019999",
}


def succeeded() -> RunResult:
    return RunResult(
        job="export-to-pg",
        definition="StatEvent",
        status=RunStatus.SUCCEEDED,
        counts=RunCounts(read=20_000, created=17_950, updated=0, skipped=2_050),
        position_after=POSITION,
        started_at=100.0,
        finished_at=100.5,
        cursor_field="updatedAt",
        id_field="id",
    )


def test_summary_line_of_a_success() -> None:
    assert summary_line(succeeded()) == (
        "StatEvent: succeeded — read 20,000, created 17,950, updated 0, skipped 2,050, errors 0"
        " · 40,000 rows/s · 0.50 s"
        " · position updatedAt=2026-11-23T10:00:00.123456+00:00 id=se-000019999"
    )


def test_summary_line_of_a_failure_names_the_error_without_the_password() -> None:
    register_secret(PASSWORD)
    result = RunResult(
        job="export-to-pg",
        definition="ImportJob",
        status=RunStatus.FAILED,
        counts=RunCounts(read=3, created=2, errors=1),
        position_before={"value": "2026-11-01T00:00:00+00:00", "id": 9},
        cursor_field="finishedAt",
        id_field="id",
        started_at=10.0,
        finished_at=12.0,
        error=f"cannot connect to postgresql://etl:{PASSWORD}@db/core\nDETAIL: more",
    )

    assert summary_line(result) == (
        "ImportJob: failed — read 3, created 2, updated 0, skipped 0, errors 1"
        " · 2 rows/s · 2.00 s · position finishedAt=2026-11-01T00:00:00+00:00 id=9"
        " · error: cannot connect to postgresql://etl:***@db/core"
    )


def test_summary_line_mentions_null_cursor_rows_and_held_back() -> None:
    result = succeeded()
    result.counts.null_cursor = 12
    result.held_back = "an in-flight core transaction started at 10:00:01"

    line = summary_line(result)

    assert ", errors 0, null cursor 12 (not exported) · " in line
    assert line.endswith(" · held back: an in-flight core transaction started at 10:00:01")


def test_summary_line_counts_deleted_rows_only_when_there_are_some() -> None:
    result = succeeded()
    result.counts = RunCounts(read=10, created=2, updated=3, deleted=4, skipped=1)

    assert summary_line(result).startswith(
        "StatEvent: succeeded — read 10, created 2, updated 3, deleted 4, skipped 1, errors 0 · "
    )
    assert "deleted" not in summary_line(succeeded())


def test_summary_line_of_an_empty_first_run() -> None:
    result = RunResult(job="export-to-pg", definition="StatEvent", status=RunStatus.SUCCEEDED)

    assert summary_line(result) == (
        "StatEvent: succeeded — read 0, created 0, updated 0, skipped 0, errors 0"
        " · 0 rows/s · 0.00 s · position (start)"
    )


def test_format_position_and_batch() -> None:
    assert format_position(None) == "(start)"
    assert format_position({"n": Decimal("1.50"), "id": None}) == "n=1.50 id=null"
    assert format_batch({"after": None, "through": {"id": 5}, "rows": 10}) == (
        "after: null, through: id=5, rows: 10"
    )


def test_results_json_round_trip_with_unusual_cursor_types() -> None:
    register_secret(PASSWORD)
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    result = succeeded()
    result.position_after = {"value": POSITION["value"], "amount": Decimal("10.25")}
    result.position_before = {"id": key, "day": dt.date(2026, 11, 23)}
    failed = RunResult(
        job="export-to-pg",
        definition="ImportJob",
        status=RunStatus.FAILED,
        error=f"password={PASSWORD} rejected",
    )

    data = orjson.loads(results_json([result, failed]))

    assert [run["definition"] for run in data] == ["StatEvent", "ImportJob"]
    assert data[0]["status"] == "succeeded"
    assert data[0]["counts"] == {
        "read": 20_000,
        "created": 17_950,
        "updated": 0,
        "deleted": 0,
        "skipped": 2_050,
        "errors": 0,
        "null_cursor": 0,
    }
    assert data[0]["position_after"] == {
        "value": "2026-11-23T10:00:00.123456Z",  # RFC 3339 UTC, as every time in JSON
        "amount": "10.25",
    }
    assert data[0]["position_before"] == {"id": str(key), "day": "2026-11-23"}
    assert data[0]["duration_s"] == 0.5 and data[0]["rows_per_s"] == 40_000.0
    assert data[1]["error"] == "password=*** rejected"
    assert PASSWORD.encode() not in results_json([failed])


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=10),
        st.one_of(
            st.none(),
            st.integers(),  # beyond 64 bits too: numeric(30) cursors exist
            st.text(max_size=20),
            st.decimals(allow_nan=False, allow_infinity=False),
            st.datetimes(timezones=st.just(dt.UTC)),
            st.uuids(),
        ),
        max_size=4,
    )
)
def test_results_json_never_fails_on_a_position(position: dict[str, object]) -> None:
    result = succeeded()
    result.position_after = position

    data = orjson.loads(results_json([result]))

    assert set(data[0]["position_after"] or {}) == set(position)


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        (dt.datetime(2026, 12, 6, 5, 5, 38, 548412, tzinfo=dt.UTC), "2026-12-06T05:05:38.548412Z"),
        (
            dt.datetime(2026, 12, 6, 7, 5, 38, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2026-12-06T05:05:38Z",
        ),
        ("2026-12-06 05:05:37.315234+00", "2026-12-06T05:05:37.315234Z"),  # PostgreSQL's text
        ("2026-12-06 10:35:37+05:30", "2026-12-06T05:05:37Z"),
        ("2026-12-06 05:05:37", "2026-12-06 05:05:37"),  # no zone: not an instant, kept
        ("said 2026-12-06 05:05:37+00 once", "said 2026-12-06 05:05:37+00 once"),  # not whole
        (dt.date(2026, 12, 6), "2026-12-06"),
    ],
)
def test_every_time_in_json_is_rfc3339_utc_with_z(given: object, shown: str) -> None:
    assert orjson.loads(json_bytes({"at": given})) == {"at": shown}
