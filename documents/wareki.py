"""和暦 (Japanese era) dates for paper: 令和7年12月2日, and 元年 for the first year of an era.

A small fixed table instead of japanera: its output needs post-processing (zero-padded years, kanji
months) and the eras a certificate can print are known. The start days are the first days of each
era under the Gregorian calendar (明治 dates before 1873-01-01 were lunisolar and are refused rather
than printed wrongly). tests/documents/test_wareki.py checks every boundary and cross-checks the era
names against japanera over a sweep of days.
"""

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Era:
    name: str
    start: date


# Newest first. 改元: 大正 1912-07-30, 昭和 1926-12-25, 平成 1989-01-08 (昭和64年1月7日 is the last day of
# 昭和), 令和 2019-05-01. 明治 begins here at the adoption of the Gregorian calendar (明治6年1月1日).
ERAS: tuple[Era, ...] = (
    Era("令和", date(2019, 5, 1)),
    Era("平成", date(1989, 1, 8)),
    Era("昭和", date(1926, 12, 25)),
    Era("大正", date(1912, 7, 30)),
    Era("明治", date(1873, 1, 1)),
)
# 明治6年 is the first Gregorian year; the era itself began in 1868 (明治元年).
_ERA_FIRST_YEAR = {"明治": 1868}


def era_of(d: date) -> tuple[str, int]:
    """(era name, year within the era) for a date; ValueError before 1873-01-01."""
    for era in ERAS:
        if d >= era.start:
            first_year = _ERA_FIRST_YEAR.get(era.name, era.start.year)
            return era.name, d.year - first_year + 1
    raise ValueError(f"和暦に変換できない日付です(明治6年より前): {d.isoformat()}")


def era_year_text(year: int) -> str:
    """The first year of an era is written 元年 on paper, not 1年."""
    return "元" if year == 1 else str(year)


def wareki(d: date | None, *, empty: str = "") -> str:
    """令和7年12月2日 (元年 for a first year). None gives `empty` (a blank field on the form)."""
    if d is None:
        return empty
    name, year = era_of(d)
    return f"{name}{era_year_text(year)}年{d.month}月{d.day}日"


def wareki_month(d: date) -> str:
    """令和7年12月 (for 発効 months and the like)."""
    name, year = era_of(d)
    return f"{name}{era_year_text(year)}年{d.month}月"
