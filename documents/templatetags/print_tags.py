"""Filters for printed documents: 和暦 dates, postal codes, yen amounts."""

from datetime import date

from django import template

from documents.wareki import wareki as to_wareki

register = template.Library()


@register.filter
def wareki(value: date | None) -> str:
    """{{ d|wareki }} → 令和7年12月2日 (all paper dates are 和暦)."""
    return to_wareki(value)


@register.filter
def postal(value: str) -> str:
    """1000005 → 100-0005."""
    value = (value or "").replace("-", "")
    return f"{value[:3]}-{value[3:]}" if len(value) == 7 else value


@register.filter
def yen(value: int) -> str:
    """1000 → 1,000."""
    return f"{int(value):,}"
