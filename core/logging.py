"""Logging that never carries a My Number (個人番号 must never be stored or printed, rules.md).

The formatter masks, in the whole formatted line including tracebacks, any 12-digit number (ASCII or
full-width, optionally grouped 4-4-4 by spaces or hyphens) that passes the My Number check digit.
Other 12-digit numbers (one in ten passes the check by chance) are masked too: a false mask in a log
costs little, a leaked My Number costs a lot."""

import logging
import re
import unicodedata

from stdnum.jp import in_ as my_number

MASK = "[個人番号マスク]"
_CANDIDATE = re.compile(
    r"(?<![0-9０-９])[0-9０-９]{4}[ \-－]?[0-9０-９]{4}[ \-－]?[0-9０-９]{4}(?![0-9０-９])"
)


def mask_my_numbers(text: str) -> str:
    def replace(match: re.Match) -> str:
        digits = re.sub(r"[^0-9]", "", unicodedata.normalize("NFKC", match.group(0)))
        return MASK if my_number.is_valid(digits) else match.group(0)

    return _CANDIDATE.sub(replace, text)


class MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_my_numbers(super().format(record))
