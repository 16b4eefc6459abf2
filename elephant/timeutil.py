"""Timestamps as fixed-width UTC strings: sortable as text, identical on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH_ONLY = re.compile(r"^\d{4}-\d{2}$")


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_ts(moment: datetime) -> str:
    """Microsecond, UTC, 'Z'-suffixed: the text form every stored timestamp uses."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = _to_utc(moment)
    # Not strftime: glibc writes year 1 as "1", which would sort after "0999".
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
            f"{moment.second:02d}.{moment.microsecond:06d}Z")


_OUTSIDE = " is outside the years 0001-9999 once converted to UTC"


def _to_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a clear ValueError when that falls outside the years 1-9999 (an offset can
    push 9999-12-31T23:00-05:00 past the last day Python's datetime holds)."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{moment.isoformat()}{_OUTSIDE}") from None


def time_problem(exc: ValueError, value: str, what: str) -> str:
    """Why ``value`` is not a usable time, for an error message: a well-formed time that leaves the
    years 1-9999 in UTC says so (``_to_utc``'s reason); anything else is not ISO-8601."""
    if str(exc).endswith(_OUTSIDE):
        return str(exc)
    return f"not an ISO-8601 {what}: {value!r}"


def parse_ts(value: str | datetime | date) -> datetime:
    """Parse an ISO-8601 date or datetime (naive means UTC) into an aware UTC datetime."""
    if isinstance(value, datetime):
        return _to_utc(value) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = str(value).strip()
    if "T" not in text:  # the stored form always has one: it skips both patterns (hot in matrix loads)
        if _MONTH_ONLY.match(text):
            text += "-01"
        if _DATE_ONLY.match(text):
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    return _to_utc(parsed) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def normalise_occurred_at(value: str | datetime | date) -> str:
    """World time as given, normalised: a date stays a date, a datetime becomes UTC ``...Z``."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    text = value if isinstance(value, str) else None
    if text is not None and (_DATE_ONLY.match(text.strip()) or _MONTH_ONLY.match(text.strip())):
        return parse_ts(text).date().isoformat()
    stamp = format_ts(parse_ts(value))
    return stamp if not stamp.endswith(".000000Z") else stamp[:-8] + "Z"


def sortable_ts(value: str | datetime | date | None) -> str | None:
    """The stored, sortable form of any accepted timestamp (None stays None)."""
    return None if value is None else format_ts(parse_ts(value))


def next_after(previous: str | None, moment: datetime) -> str:
    """``moment`` formatted, but strictly later than ``previous`` so as-of reads never tie."""
    text = format_ts(moment)
    if previous is not None and text <= previous:
        text = format_ts(parse_ts(previous) + timedelta(microseconds=1))
    return text


def timestamp_or_none(value: str | datetime | date) -> int | None:
    """Seconds since the epoch, or None for a time the platform cannot express as one."""
    try:
        return int(parse_ts(value).timestamp())
    except (ValueError, OverflowError, OSError):
        return None
