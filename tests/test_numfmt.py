"""The one number format: thousands separators, fixed or magnitude decimals, "—" when undefined."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fxconsole import numfmt


@pytest.mark.parametrize("value", [None, math.nan, math.inf, -math.inf, np.float64("nan")])
def test_undefined_values_are_a_dash(value: object) -> None:
    assert numfmt.num(value) == "—"
    assert numfmt.signed(value) == "—"
    assert numfmt.pct(value) == "—"
    assert numfmt.count(value) == "—"
    assert numfmt.rate(value) == "—"
    assert numfmt.finite_or_none(value) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "text"), [
    (1_510_000.0, "1,510,000"),
    (4030, "4,030"),
    (np.int64(18342), "18,342"),
    (-7921.3, "-7,921"),
    (12.345, "12.35"),
    (0.000312, "0.000312"),
    (0.0, "0"),
    (3.1e-06, "3.1e-06"),
])
def test_num_uses_one_format(value: object, text: str) -> None:
    assert numfmt.num(value) == text


def test_fixed_decimals_sign_and_no_negative_zero() -> None:
    assert numfmt.signed(-7921.3, 1) == "-7,921.3"
    assert numfmt.signed(2.5) == "+2.50"
    assert numfmt.signed(-0.001) == "0.00"
    assert numfmt.num(1234, 2) == "1,234.00"


def test_pct_count_rate() -> None:
    assert numfmt.pct(0.523) == "52.3%"
    assert numfmt.count(18342.0) == "18,342"
    assert numfmt.rate(1204.4) == "1,204/s"
    assert numfmt.rate(0) == "0/s"


def test_bool_is_not_a_number() -> None:
    assert not numfmt.defined(True)
    assert numfmt.finite_or_none(2) == 2.0
