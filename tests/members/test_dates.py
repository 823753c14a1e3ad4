"""members/dates.py: the age rules of 年齢計算ニ関スル法律 and 民法§143, as tables (no database)."""

from datetime import date

import pytest

from members.dates import (
    add_months,
    age_on,
    attain_date,
    elderly_start,
    first_of_next_month,
    fiscal_year,
    is_late_elderly_on,
    late_elderly_start,
    month_end,
)


@pytest.mark.parametrize(
    ("birth", "age", "expected"),
    [
        (date(1960, 1, 10), 70, date(2030, 1, 9)),  # the day before the birthday
        (date(1960, 1, 1), 70, date(2029, 12, 31)),  # born on the 1st: previous month's last day
        (date(1960, 1, 2), 70, date(2030, 1, 1)),
        (date(1960, 3, 1), 75, date(2035, 2, 28)),  # common year: day before 1 March
        (date(1964, 3, 1), 75, date(2039, 2, 28)),
        (date(1961, 3, 1), 75, date(2036, 2, 29)),  # leap target year: 29 February
        (date(1952, 2, 29), 75, date(2027, 2, 28)),  # 29 Feb birth, common year (民法§143②)
        (date(1952, 2, 29), 72, date(2024, 2, 28)),  # leap target year: the day before 29 Feb
        (date(1956, 2, 29), 70, date(2026, 2, 28)),
    ],
)
def test_attain_date_is_the_day_before_the_birthday(birth, age, expected):
    assert attain_date(birth, age) == expected


@pytest.mark.parametrize(
    ("birth", "expected"),
    [
        (date(1960, 1, 10), date(2030, 2, 1)),  # rules.md example
        (date(1960, 1, 1), date(2030, 1, 1)),  # rules.md example: born on the 1st → same month
        (date(1960, 1, 2), date(2030, 2, 1)),  # born on the 2nd → following month
        (date(1960, 12, 1), date(2030, 12, 1)),
        (date(1960, 12, 2), date(2031, 1, 1)),  # year boundary
        (date(1960, 12, 31), date(2031, 1, 1)),
        (date(1956, 2, 29), date(2026, 3, 1)),  # 70歳に達する日 2026-02-28
        (date(1956, 3, 1), date(2026, 3, 1)),  # reaches 70 on 28 Feb (month end) → 1 March
        (date(1960, 3, 1), date(2030, 3, 1)),
        (date(1960, 5, 31), date(2030, 6, 1)),
    ],
)
def test_elderly_start_is_first_of_month_after_reaching_70(birth, expected):
    assert elderly_start(birth) == expected


@pytest.mark.parametrize(
    ("birth", "expected"),
    [
        (date(1950, 7, 1), date(2025, 7, 1)),  # born on the 1st: the birthday itself
        (date(1950, 7, 2), date(2025, 7, 2)),
        (date(1950, 12, 31), date(2025, 12, 31)),
        (date(1952, 2, 29), date(2027, 3, 1)),  # 29 Feb birth, common year: 1 March
        (date(1948, 2, 29), date(2023, 3, 1)),
        (date(1949, 3, 1), date(2024, 3, 1)),
    ],
)
def test_late_elderly_start_is_the_75th_birthday(birth, expected):
    assert late_elderly_start(birth) == expected


@pytest.mark.parametrize(
    ("birth", "on", "expected"),
    [
        (date(1950, 7, 1), date(2025, 6, 30), False),
        (date(1950, 7, 1), date(2025, 7, 1), True),  # not qualified on the 75th birthday itself
        (date(1950, 7, 2), date(2025, 7, 1), False),
        (date(1952, 2, 29), date(2027, 2, 28), False),
        (date(1952, 2, 29), date(2027, 3, 1), True),
    ],
)
def test_is_late_elderly_on(birth, on, expected):
    assert is_late_elderly_on(birth, on) is expected


@pytest.mark.parametrize(
    ("birth", "on", "expected"),
    [
        (date(1960, 1, 10), date(2030, 1, 9), 69),
        (date(1960, 1, 10), date(2030, 1, 10), 70),
        (date(1950, 7, 1), date(2025, 6, 30), 74),
        (date(1950, 7, 1), date(2025, 7, 1), 75),
        (date(1952, 2, 29), date(2027, 2, 28), 74),
        (date(1952, 2, 29), date(2027, 3, 1), 75),
        (date(1952, 2, 29), date(2028, 2, 29), 76),
        (date(2000, 1, 1), date(2000, 1, 1), 0),
    ],
)
def test_age_on(birth, on, expected):
    assert age_on(birth, on) == expected


@pytest.mark.parametrize(
    ("d", "end", "next_first"),
    [
        (date(2025, 1, 15), date(2025, 1, 31), date(2025, 2, 1)),
        (date(2025, 2, 1), date(2025, 2, 28), date(2025, 3, 1)),
        (date(2024, 2, 10), date(2024, 2, 29), date(2024, 3, 1)),
        (date(2025, 4, 30), date(2025, 4, 30), date(2025, 5, 1)),
        (date(2025, 12, 31), date(2025, 12, 31), date(2026, 1, 1)),
    ],
)
def test_month_end_and_first_of_next_month(d, end, next_first):
    assert month_end(d) == end
    assert first_of_next_month(d) == next_first


@pytest.mark.parametrize(
    ("d", "months", "expected"),
    [
        (date(2025, 1, 31), 1, date(2025, 2, 28)),  # clamped to the month's last day
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2025, 8, 31), 3, date(2025, 11, 30)),
        (date(2025, 11, 15), 3, date(2026, 2, 15)),
        (date(2025, 3, 31), -1, date(2025, 2, 28)),
        (date(2025, 12, 1), 60, date(2030, 12, 1)),
    ],
)
def test_add_months(d, months, expected):
    assert add_months(d, months) == expected


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2025, 3, 31), 2024),
        (date(2025, 4, 1), 2025),
        (date(2025, 12, 31), 2025),
        (date(2026, 1, 1), 2025),
    ],
)
def test_fiscal_year_runs_april_to_march(d, expected):
    assert fiscal_year(d) == expected
