"""Logging that never carries a My Number (個人番号 must never be stored or printed, rules.md).

The formatter masks, in the whole formatted line including tracebacks and query strings, every My
Number that core.text_safety finds (the one detector: any separators, full-width digits, check
digit). Other twelve-digit numbers that pass the check digit by chance (one in ten) are masked too:
a false mask in a log costs little, a leaked My Number costs a lot.

MaskingFormatter is the formatter of every handler in settings.LOGGING (Django, django.server — the
runserver access log —, Celery, the commands); config/gunicorn.py masks gunicorn's access and error
logs with the same function; a query string is percent-decoded before it is searched (`%20`, `+`)."""

import logging
import re
from urllib.parse import unquote_plus

from django.utils.log import ServerFormatter

from .text_safety import my_number_spans

MASK = "[個人番号マスク]"
_ESCAPED = re.compile(r"(?:%[0-9A-Fa-f]{2}|\+)")


def _mask_plain(text: str) -> str:
    spans = my_number_spans(text)
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out.append(text[last:start])
        out.append(MASK)
        last = end
    out.append(text[last:])
    return "".join(out)


def mask_my_numbers(text: str) -> str:
    text = _mask_plain(text)
    if _ESCAPED.search(text):
        # A URL in a log line: a number written 1234%205678%209018 or with %EF%BC%91 (full-width
        # digits) is found in its decoded form; such a line is logged decoded and masked.
        decoded = unquote_plus(text)
        if decoded != text and my_number_spans(decoded):
            return _mask_plain(decoded)
    return text


class MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_my_numbers(super().format(record))


class MaskingServerFormatter(ServerFormatter):
    """Django's runserver access-log formatter (logger django.server), masked."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_my_numbers(super().format(record))
