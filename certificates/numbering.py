"""証明書番号: "YYYY-NNNNNNN" — the 年度 of issue and a gap-free sequence within it, allocated in blocks
under a row lock (core.NumberSequence), so concurrent runs never collide."""

from datetime import date

from core.models import NumberSequence
from members.dates import fiscal_year

NUMBER_DIGITS = 7  # the NNNNNNN of "YYYY-NNNNNNN"; certificates.issue_sql pads to it in SQL


def allocate_certificate_numbers(count: int, *, on: date) -> list[str]:
    year = fiscal_year(on)
    return [
        f"{year}-{n:0{NUMBER_DIGITS}d}" for n in NumberSequence.allocate("certificate", year, count)
    ]
