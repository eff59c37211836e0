"""Go's JSON bytes, durations and timestamps, as Chains' output depends on them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tektite.core.gotypes.gojson import (
    format_duration,
    format_timestamp,
    go_json_bytes,
    parse_duration,
    parse_timestamp,
)


def test_go_json_is_compact_and_html_escaped() -> None:
    assert go_json_bytes({"b": "x > y && z < w", "a": ["\u2028"]}) == (
        b'{"b":"x \\u003e y \\u0026\\u0026 z \\u003c w","a":["\\u2028"]}'
    )


def test_go_json_keeps_non_ascii_as_utf8() -> None:
    assert go_json_bytes("café\n") == '"café\\n"'.encode()


@pytest.mark.parametrize(
    ("text", "string"),
    [
        ("1h", "1h0m0s"),
        ("90m", "1h30m0s"),
        ("1h0m0s", "1h0m0s"),
        ("30s", "30s"),
        ("1.5s", "1.5s"),
        ("100ms", "100ms"),
        ("1500us", "1.5ms"),
        ("2µs", "2µs"),
        ("7ns", "7ns"),
        ("0", "0s"),
        ("-5m", "-5m0s"),
        ("2h45m30.25s", "2h45m30.25s"),
    ],
)
def test_duration_round_trip_matches_go(text: str, string: str) -> None:
    assert format_duration(parse_duration(text)) == string


@pytest.mark.parametrize("bad", ["", "1", "h", "1x", "1h-2m", "."])
def test_invalid_durations_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_timestamps_are_utc_rfc3339() -> None:
    stamp, nanos = parse_timestamp("2021-03-29T11:50:00+02:00")
    assert stamp == datetime(2021, 3, 29, 9, 50, tzinfo=UTC)
    assert format_timestamp(stamp, nanos) == "2021-03-29T09:50:00Z"
    stamp, nanos = parse_timestamp("2021-03-29T09:50:00.120Z")
    assert format_timestamp(stamp, nanos) == "2021-03-29T09:50:00.12Z"
    assert format_timestamp(stamp, nanos, proto=True) == "2021-03-29T09:50:00.120Z"
    with pytest.raises(ValueError):
        parse_timestamp("yesterday")
