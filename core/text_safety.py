"""The one detector for text that must never be stored: a My Number (個人番号) and control characters.

Every write path calls it: the three imports (members, registration status, payments), every admin
form and inline (core.admin.ProjectAdminMixin), the services that take free text, and the log
formatter (core.logging masks what `my_number_spans` finds).

My Number: twelve digits that pass the check digit (python-stdnum `stdnum.jp.in_`), written in any
way a person or a spreadsheet writes them — ASCII or full-width or other Unicode decimal digits, in
one run or split by separators: hyphens and dashes of every kind, spaces (full-width included),
dots, commas, line breaks, tabs and invisible format characters (zero-width space…), at most
three separator characters between two digits. A run of groups is checked as a whole and every
sequence of consecutive groups holding exactly twelve digits is checked too (a My Number written
next to a date or a phone number is still found). A bare run of more than twelve digits is not a My
Number. About one twelve-digit number in ten passes the check digit by chance: such a number is
refused too (no field of the register holds twelve digits).

Control characters: C0 and C1 controls (NUL, BEL, ESC, DEL…) and the bidirectional overrides,
embeddings and isolates (U+202A–U+202E, U+2066–U+2069) are refused; a multi-line field allows tab,
line feed and carriage return.

Errors name the field and never repeat the value (the value may be the very number to hide).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from functools import lru_cache

from django import forms
from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible
from stdnum.jp import in_ as _in

MY_NUMBER_LENGTH = 12
_MAX_SEPARATOR_RUN = 3

# Separators as they are after NFKC (full-width hyphen-minus, full stop and space fold to ASCII).
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\u30fc\ufe63\uff0d\u2500\u2501~\u301c"
_DOTS = ".\u00b7\u2022\u2024\u2027\u30fb\uff65\u3002,\u3001/\uff0f_"
_SEPARATORS = frozenset(_DASHES + _DOTS)

BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e"  # LRE RLE PDF LRO RLO
    "\u2066\u2067\u2068\u2069"  # LRI RLI FSI PDI
)
MULTILINE_ALLOWED = frozenset("\t\n\r")

MY_NUMBER_MESSAGE = (
    "{field}: 個人番号(マイナンバー)と思われる12桁の番号が含まれています。"
    "個人番号は登録できません(値は表示しません)"
)
CONTROL_MESSAGE = (
    "{field}: 使用できない制御文字または文字の向きを変える記号({codepoint})が含まれています"
    "(値は表示しません)"
)


@lru_cache(maxsize=8192)  # a register's alphabet is small; every cell of an import passes here
def _digit(ch: str) -> str | None:
    value = unicodedata.decimal(ch, None)
    if value is None:
        folded = unicodedata.normalize("NFKC", ch)
        if len(folded) == 1 and folded != ch:
            value = unicodedata.decimal(folded, None)
    return None if value is None else str(value)


@lru_cache(maxsize=8192)
def _is_separator(ch: str) -> bool:
    if ch.isspace() or unicodedata.category(ch) == "Cf":
        return True
    folded = unicodedata.normalize("NFKC", ch)
    return folded in _SEPARATORS or ch in _SEPARATORS or (folded.isspace() if folded else False)


def _runs(text: str) -> Iterator[tuple[int, int, list[tuple[int, int, str]]]]:
    """Each run of digit groups: (start, end, [(group start, group end, digits)…])."""
    i, n = 0, len(text)
    while i < n:
        if _digit(text[i]) is None:
            i += 1
            continue
        start = i
        groups: list[tuple[int, int, str]] = []
        while True:
            g_start, digits = i, []
            while i < n and (d := _digit(text[i])) is not None:
                digits.append(d)
                i += 1
            groups.append((g_start, i, "".join(digits)))
            j = i
            while j < n and j - i < _MAX_SEPARATOR_RUN and _is_separator(text[j]):
                j += 1
            if j > i and j < n and _digit(text[j]) is not None:
                i = j
                continue
            break
        yield start, groups[-1][1], groups


def my_number_spans(text: str) -> list[tuple[int, int]]:
    """Where My Numbers are in `text` (start, end), in order, not overlapping."""
    if not text:
        return []
    spans: list[tuple[int, int]] = []
    for start, end, groups in _runs(text):
        whole = "".join(g[2] for g in groups)
        if len(whole) == MY_NUMBER_LENGTH:
            if _in.is_valid(whole):
                spans.append((start, end))
            continue
        if len(groups) == 1:
            continue  # a bare run of more (or fewer) than twelve digits
        # consecutive groups holding exactly twelve digits
        for a in range(len(groups)):
            total = 0
            for b in range(a, len(groups)):
                total += len(groups[b][2])
                if total > MY_NUMBER_LENGTH:
                    break
                if total == MY_NUMBER_LENGTH:
                    digits = "".join(g[2] for g in groups[a : b + 1])
                    if _in.is_valid(digits):
                        span = (groups[a][0], groups[b][1])
                        if not spans or span[0] >= spans[-1][1]:
                            spans.append(span)
                    break
    return spans


def contains_my_number(text: str | None) -> bool:
    """True when `text` holds a My Number in any of the forms above."""
    if not text or len(text) < MY_NUMBER_LENGTH:
        return False  # fewer characters than a My Number has digits (most cells: dates, codes)
    if sum(1 for ch in text if _digit(ch) is not None) < MY_NUMBER_LENGTH:
        return False  # fast path: most values hold fewer than twelve digits
    return bool(my_number_spans(text))


def forbidden_control(text: str | None, *, multiline: bool = False) -> str | None:
    """The first forbidden character of `text` (see the module docstring), or None."""
    # printable text has no control (Cc) and no format character (Cf: the bidi ones)
    if not text or text.isprintable():
        return None
    for ch in text:
        if ch in BIDI_CONTROLS:
            return ch
        if unicodedata.category(ch) == "Cc" and not (multiline and ch in MULTILINE_ALLOWED):
            return ch
    return None


def has_forbidden_controls(text: str | None, *, multiline: bool = False) -> bool:
    return forbidden_control(text, multiline=multiline) is not None


def codepoint(ch: str) -> str:
    return f"U+{ord(ch):04X}"


def text_problem(text: str | None, *, field: str, multiline: bool = False) -> str | None:
    """The message for the first problem of `text` in the field named `field`, or None. The message
    names the field (and the code point of a control character), never the value."""
    if not isinstance(text, str) or not text:
        return None
    bad = forbidden_control(text, multiline=multiline)
    if bad is not None:
        return CONTROL_MESSAGE.format(field=field, codepoint=codepoint(bad))
    if contains_my_number(text):
        return MY_NUMBER_MESSAGE.format(field=field)
    return None


def check_text(text: str | None, *, field: str, multiline: bool = False) -> None:
    """Raise ValidationError (code "my_number" or "control_character") naming the field."""
    if not isinstance(text, str) or not text:
        return
    bad = forbidden_control(text, multiline=multiline)
    if bad is not None:
        raise ValidationError(
            CONTROL_MESSAGE.format(field=field, codepoint=codepoint(bad)),
            code="control_character",
        )
    if contains_my_number(text):
        raise ValidationError(MY_NUMBER_MESSAGE.format(field=field), code="my_number")


def check_texts(values: dict[str, str | None], *, multiline: frozenset[str] = frozenset()) -> None:
    """check_text for each (field label → value); one ValidationError listing every bad field. For
    the services that take free text."""
    problems = [
        p
        for field, value in values.items()
        if (p := text_problem(value, field=field, multiline=field in multiline))
    ]
    if problems:
        raise ValidationError(problems)


@deconstructible
class SafeTextValidator:
    """A field validator: refuses My Numbers and control characters (form fields, model fields)."""

    def __init__(self, field: str = "", *, multiline: bool = False):
        self.field = field
        self.multiline = multiline

    def __call__(self, value) -> None:
        check_text(value, field=self.field or "この項目", multiline=self.multiline)

    def __eq__(self, other) -> bool:
        return isinstance(other, SafeTextValidator) and (self.field, self.multiline) == (
            other.field,
            other.multiline,
        )


class SafeTextFormMixin:
    """Every text value a form cleans is checked by core.text_safety: no My Number, no control
    character or bidi override (tab and line breaks only in a multi-line field). The error is on the
    field and names it, never the value. Passwords are not checked (never stored as text)."""

    def clean(self):
        cleaned = super().clean()
        for name, value in list((cleaned or self.cleaned_data).items()):
            field = self.fields.get(name)
            if field is None or not isinstance(value, str) or not value:
                continue
            if isinstance(field.widget, forms.PasswordInput):
                continue
            label = str(field.label or name)
            multiline = isinstance(field.widget, forms.Textarea)
            try:
                check_text(value, field=label, multiline=multiline)
            except ValidationError as exc:
                self.add_error(name, exc)
        return cleaned


def safe_text_form(form_class):
    """`form_class` with SafeTextFormMixin (once)."""
    if issubclass(form_class, SafeTextFormMixin):
        return form_class
    return type(form_class.__name__, (SafeTextFormMixin, form_class), {"__module__": __name__})
