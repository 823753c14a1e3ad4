"""Template helpers of the clerks' admin: 和暦 with the ISO date, Japan time, history rows, audit
labels. One home for each display rule (the documents use documents.wareki for paper)."""

from __future__ import annotations

from datetime import date, datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html

from documents.wareki import wareki

register = template.Library()


def wareki_iso(value) -> str:
    """令和7年12月1日(2025-12-01): the era date a letter shows and the ISO date a file holds."""
    if value is None or value == "":
        return "-"
    if isinstance(value, datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if not isinstance(value, date):
        return str(value)
    try:
        era = wareki(value)
    except ValueError:  # before 明治6年: the ISO date alone
        return value.isoformat()
    return f"{era}({value.isoformat()})"


def jst(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A moment in Japan time (TIME_ZONE), whatever zone it was stored or computed in."""
    if value is None:
        return "-"
    if isinstance(value, datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    return value.strftime(fmt)


register.filter("wareki_iso", wareki_iso)
register.filter("jst", jst)


@register.filter
def wareki_html(value):
    """The same as wareki_iso with the ISO part in a smaller span (lists and the person page)."""
    text = wareki_iso(value)
    if "(" not in text:
        return text
    era, iso = text.split("(", 1)
    return format_html('{}<span class="iso">({}</span>', era, iso)


@register.simple_tag
def history_rows(record):
    """(項目, 変更前, 変更後) of one django-simple-history record (core.admin.history_changes)."""
    from core.admin import history_changes

    return displayed_changes(record, history_changes(record))


def displayed_changes(record, changes):
    """The changes as shown: a JSON field's value with its keys in Japanese."""
    import json

    from django.db.models import JSONField

    from core.admin import _field_label
    from core.audit_labels import json_text

    model = record.instance_type
    json_labels = {
        _field_label(model, f.name) for f in model._meta.fields if isinstance(f, JSONField)
    }
    rows = []
    for label, old, new in changes:
        if label in json_labels:
            old, new = (json_text(json.loads(v)) if v else v for v in (old, new))
        rows.append((label, old, new))
    return rows


@register.filter
def history_type_label(record) -> str:
    from core.admin import _HISTORY_TYPES

    return _HISTORY_TYPES.get(record.history_type, record.history_type)


@register.filter
def audit_label(action: str) -> str:
    from core.audit_labels import action_label

    return action_label(action)


@register.filter
def minutes(value) -> int:
    """A timedelta (django-axes' cool-off) in whole minutes, rounded up."""
    seconds = value.total_seconds() if hasattr(value, "total_seconds") else float(value) * 3600
    return int(-(-seconds // 60))


@register.simple_tag(takes_context=True)
def todays_work(context):
    """本日の業務 of the logged-in user (core.dashboard.today_items)."""
    from core.dashboard import today_items

    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return []
    return today_items(request.user)


# How a page follows something that moves (a run, an export, a background import): htmx asks for
# the element's fragment again every POLL_EVERY and swaps it in place; a fragment rendered once the
# thing has ended carries no trigger, so polling stops by itself. The one definition of that pattern.
POLL_EVERY = "2s"


@register.simple_tag
def live_poll(url: str, live: bool):
    """The htmx attributes of a polled fragment's root element, or nothing once it has ended."""
    if not live:
        return ""
    return format_html(' hx-get="{}" hx-trigger="every {}" hx-swap="outerHTML"', url, POLL_EVERY)
