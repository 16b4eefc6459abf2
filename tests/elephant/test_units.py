"""The one number and units formatter: the same figure prints the same way in every answer and page."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elephant.kinds.units import (
    MINUS,
    format_change,
    format_number,
    format_points,
    format_quantity,
    format_signed_percent,
    index_number,
)


@pytest.mark.parametrize(("value", "shown"), [
    (18.25, "18.25"),
    (31302.7, "31,302.7"),
    (20000.5, "20,000.5"),
    (1200, "1,200"),
    (1200.0, "1,200"),
    (0, "0"),
    (7, "7"),
    (-3.5, f"{MINUS}3.5"),
    (-12000, f"{MINUS}12,000"),
    (0.412, "0.412"),
    (0.0004, "0.0004"),
    (0.00001234, "1.23e" + MINUS + "05"),
    (2.5e18, "2.5e+18"),
    (126269.2, "126,269.2"),
    (1.23456, "1.235"),
    (None, "n/a"),
    (float("nan"), "n/a"),
    (float("inf"), "n/a"),
    ("fast", "fast"),
])
def test_format_number(value: object, shown: str) -> None:
    assert format_number(value) == shown


def test_quantities_and_percentages() -> None:
    assert format_quantity(18.25, "ms") == "18.25 ms"
    assert format_quantity(31302.7, "qps") == "31,302.7 qps"
    assert format_quantity(3) == "3"
    assert format_signed_percent(-60) == f"{MINUS}60 %"
    assert format_signed_percent(4.0) == "+4.0 %"
    assert format_signed_percent(0.0) == "±0 %"
    assert format_signed_percent(0.04) == "±0 %"  # rounds to nothing: no sign
    assert format_signed_percent(-0.04) == "±0 %"
    assert format_signed_percent(12345.6) == "+12,346 %"


def test_the_fact_that_used_to_print_two_ways() -> None:
    # A context pack printed this "3.13e+04 → 2e+04 qps"; ask printed "31,302.7 → 20,000.5 qps".
    assert format_change("throughput", 31302.7, 20000.5, "qps") == f"throughput 31,302.7 → 20,000.5 qps ({MINUS}36 %)"
    assert format_change("p99", 45, 45, "ms") == "p99 45 → 45 ms (±0 %)"
    assert format_points("accuracy", 0.5, 0.5) == "accuracy 0.5 → 0.5 (±0 pt)"


def test_index_numbers_stay_plain() -> None:
    assert index_number(31302.7) == "3.13e+04"
    assert index_number(45.0) == "45"
    assert index_number(0.4120000001) == "0.412"
    assert index_number(True) == "True"


@given(st.one_of(st.integers(min_value=-10**18, max_value=10**18), st.floats(allow_nan=True, allow_infinity=True)))
def test_every_number_prints_without_ascii_minus_or_float_noise(value: float) -> None:
    text = format_number(value)
    assert text
    assert "-" not in text
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        assert text == "n/a"
    elif value < 0:
        assert text.startswith(MINUS)
