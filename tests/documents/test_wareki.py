from datetime import date, timedelta

import pytest
from japanera import EraDate

from documents.wareki import era_of, wareki, wareki_month


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        # the day the old 保険証 stops (the notice's own date)
        (date(2025, 12, 2), "令和7年12月2日"),
        # 令和: first day is 元年, the day before is 平成31年
        (date(2019, 5, 1), "令和元年5月1日"),
        (date(2019, 12, 31), "令和元年12月31日"),
        (date(2020, 1, 1), "令和2年1月1日"),
        (date(2019, 4, 30), "平成31年4月30日"),
        # 平成 began on 1989-01-08; 昭和64年 lasted seven days
        (date(1989, 1, 8), "平成元年1月8日"),
        (date(1989, 1, 7), "昭和64年1月7日"),
        (date(1990, 1, 1), "平成2年1月1日"),
        # 昭和 began on 1926-12-25: a week of 昭和元年
        (date(1926, 12, 25), "昭和元年12月25日"),
        (date(1926, 12, 24), "大正15年12月24日"),
        (date(1927, 1, 1), "昭和2年1月1日"),
        # 大正 began on 1912-07-30
        (date(1912, 7, 30), "大正元年7月30日"),
        (date(1912, 7, 29), "明治45年7月29日"),
        # birthdates of 70–74-year-olds and expiry dates far ahead
        (date(1951, 3, 15), "昭和26年3月15日"),
        (date(1960, 1, 1), "昭和35年1月1日"),
        (date(2030, 12, 31), "令和12年12月31日"),
        (date(1873, 1, 1), "明治6年1月1日"),
    ],
)
def test_wareki_formats_paper_dates(d, expected):
    assert wareki(d) == expected


def test_wareki_month_uses_gannen():
    assert wareki_month(date(2019, 5, 1)) == "令和元年5月"
    assert wareki_month(date(2030, 2, 1)) == "令和12年2月"


def test_missing_date_prints_the_given_placeholder():
    assert wareki(None) == ""
    assert wareki(None, empty="—") == "—"


def test_dates_before_the_gregorian_calendar_are_refused():
    with pytest.raises(ValueError, match="明治6年より前"):
        wareki(date(1872, 12, 31))


def test_era_names_agree_with_japanera_around_every_boundary():
    # japanera's era data (from Wikipedia) as an independent source for names and years.
    days = []
    for start in (date(1912, 7, 30), date(1926, 12, 25), date(1989, 1, 8), date(2019, 5, 1)):
        days += [start + timedelta(days=k) for k in range(-400, 400, 7)]
        days += [start - timedelta(days=1), start]
    for d in days:
        name, year = era_of(d)
        theirs = EraDate.from_date(d)
        assert (name, year) == (theirs.era.kanji, int(theirs.strftime("%-y"))), d
