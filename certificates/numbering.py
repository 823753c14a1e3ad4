"""証明書番号: "YYYY-NNNNNNN" — the 年度 of issue and a gap-free sequence within it, allocated in blocks
under a row lock (core.NumberSequence), so concurrent runs never collide."""

from datetime import date

from core.models import NumberSequence
from members.dates import fiscal_year


def allocate_certificate_numbers(count: int, *, on: date) -> list[str]:
    year = fiscal_year(on)
    return [f"{year}-{n:07d}" for n in NumberSequence.allocate("certificate", year, count)]
