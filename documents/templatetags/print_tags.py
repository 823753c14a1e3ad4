"""Filters for printed documents: 和暦 dates, postal codes, yen amounts, text fitted to its box."""

from datetime import date

from django import template
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

from documents.fitting import addressee_text, fit, refusal, via_text
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


@register.filter
def sama(name: str) -> str:
    """山田 太郎 → 山田 太郎 様 (the window's name line)."""
    return addressee_text(name)


@register.filter
def via(employer_name: str) -> str:
    """株式会社テスト → (株式会社テスト 経由)."""
    return via_text(employer_name)


@register.simple_tag
def fitted(text: str, box: str):
    """{% fitted c.name "card_name" %}: the text whole, at the size and with the line breaks of
    documents.fitting.fit. The renderer refuses unfittable text before layout, so reaching the
    error here is a bug (a box checked by nobody), never a silently cut name."""
    result = fit(text or "", box)
    if result is None:
        raise ValueError(refusal(text, box))
    lines = mark_safe("<br>".join(str(conditional_escape(line)) for line in result.lines))  # noqa: S308 (each line escaped)
    return format_html('<span class="fit" style="{}">{}</span>', result.style, lines)
