"""Member text printed whole (rules.md, Documents): shrink to fit, then wrap, else refuse.

A name or address is printed into a box of fixed size (a card's 氏名 field, the window of a 長形3号
envelope). WeasyPrint cannot shrink text to its box, and a box that hides its overflow would cut the
text silently, so the size and the line breaks are decided here, from the fonts' advance widths, before
layout: the largest size at which the text fits on one line (down to `wrap_below_pt`), else the largest
size at which it fits wrapped into the box's height (down to `min_pt`). Text that fits neither way is
refused by the glyph/fit check (documents/render.py printable_households) and reported as not printed.

Where a line may break is part of the box: names may break between any two characters, preferring
the spaces they have; addresses only after the spaces and hyphens they have (「北斗レジデンス205」 is
never split).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from .fonts import IPAEX_MINCHO, IPAMJ_MINCHO, MEMBER_TEXT_FONTS, text_width_em

PT_MM = 25.4 / 72
# WeasyPrint shapes with HarfBuzz (kerning of Latin letters): keep a little slack to the measure.
WIDTH_SLACK = 0.97
SPACES = " \u3000"
HYPHENS = "-‐‑‒–—－−"


@dataclass(frozen=True)
class TextBox:
    """A box member text is printed into (sizes in mm and pt)."""

    label: str  # what the refusal names: 資格確認書の氏名欄, 封筒の窓 ...
    width_mm: float
    height_mm: float
    max_pt: float
    min_pt: float
    wrap_below_pt: float  # below this size the text is wrapped rather than shrunk further
    line_height: float = 1.2
    breaks: str = (
        "any"  # "any": between characters (spaces preferred); "spaces": spaces/hyphens only
    )
    fonts: tuple[Path, ...] = MEMBER_TEXT_FONTS

    def fits_lines(self, count: int, size_pt: float) -> bool:
        return count * size_pt * self.line_height * PT_MM <= self.height_mm + 1e-6


@dataclass(frozen=True)
class Fitted:
    size_pt: float
    lines: tuple[str, ...]
    line_height: float

    @property
    def style(self) -> str:
        return f"font-size: {self.size_pt:g}pt; line-height: {self.line_height:g}"


def addressee_text(name: str) -> str:
    """The window's name line: 氏名 様."""
    return f"{name} 様"


def via_text(employer_name: str) -> str:
    """The window's line for a letter handed over by the employer."""
    return f"({employer_name} 経由)"


# The boxes of the documents (one home: the templates print through these, the check refuses by them).
# Card front: 85.6 mm wide less 3 mm padding on each side and the 氏名 label (7 mm).
BOXES: dict[str, TextBox] = {
    "card_name": TextBox("資格確認書の氏名欄", 72.5, 9.8, 15, 7, 10, line_height=1.15),
    "card_insured": TextBox("資格確認書の被保険者氏名欄", 63.0, 8.6, 8.5, 7, 7.5, line_height=1.15),
    # 長形3号 window block: the window less WINDOW_CLEAR_MM on each side (documents/render.py).
    "window_name": TextBox("封筒の窓(宛名)", 84.0, 13.0, 14, 8, 10, line_height=1.2),
    "window_address": TextBox(
        "封筒の窓(住所)",
        84.0,
        14.5,
        11,
        7,
        9,
        line_height=1.25,
        breaks="spaces",
        fonts=(IPAEX_MINCHO, IPAMJ_MINCHO),
    ),
    "window_via": TextBox("封筒の窓(事業所)", 84.0, 9.0, 11, 10, 10, line_height=1.2),
    # The card's back: 住所 room is written by hand; the holder's name is not repeated there.
    "insurer_address": TextBox(
        "資格確認書の保険者所在地", 58.0, 3.7, 8, 7, 7, line_height=1.2, fonts=(IPAEX_MINCHO,)
    ),
}


def _units(text: str, breaks: str) -> list[str]:
    """The pieces a line may be broken between (a variation selector stays with its base)."""
    units: list[str] = []
    for ch in text:
        if units and (0xFE00 <= ord(ch) <= 0xFE0F or 0xE0100 <= ord(ch) <= 0xE01EF):
            units[-1] += ch
        elif breaks == "spaces" and units and units[-1][-1] not in SPACES + HYPHENS:
            units[-1] += ch  # no break before this character: it joins the current word
        else:
            units.append(ch)
    return units


def _words(text: str) -> list[str]:
    """Names: words ending at a space (the preferred break)."""
    words: list[str] = []
    for ch in text:
        if words and words[-1][-1] not in SPACES:
            words[-1] += ch
        else:
            words.append(ch)
    return words


def _greedy(pieces: list[str], limit_em: float, fonts) -> list[str] | None:
    lines: list[str] = []
    line = ""
    for piece in pieces:
        candidate = line + piece
        if text_width_em(candidate.rstrip(SPACES), fonts) <= limit_em:
            line = candidate
            continue
        if not line or text_width_em(piece.rstrip(SPACES), fonts) > limit_em:
            return None  # a piece that cannot be broken is wider than the line
        lines.append(line)
        line = piece
    if line:
        lines.append(line)
    return lines


def _wrap(text: str, box: TextBox, size_pt: float) -> list[str] | None:
    limit_em = box.width_mm * WIDTH_SLACK / (size_pt * PT_MM)
    if box.breaks == "spaces":
        return _greedy(_units(text, "spaces"), limit_em, box.fonts)
    return _greedy(_words(text), limit_em, box.fonts) or _greedy(
        _units(text, "any"), limit_em, box.fonts
    )


def _sizes(high: float, low: float) -> list[float]:
    sizes = []
    size = high
    while size >= low - 1e-9:
        sizes.append(round(size, 2))
        size -= 0.25
    return sizes


@functools.lru_cache(maxsize=20_000)
def fit(text: str, box_name: str) -> Fitted | None:
    """The size and lines `text` prints at in the box, or None when it cannot be printed whole."""
    box = BOXES[box_name]
    text = text or ""
    if not text:
        return Fitted(box.max_pt, ("",), box.line_height)
    for size in _sizes(box.max_pt, box.wrap_below_pt):
        width_mm = text_width_em(text, box.fonts) * size * PT_MM
        if width_mm <= box.width_mm * WIDTH_SLACK and box.fits_lines(1, size):
            return Fitted(size, (text,), box.line_height)
    for size in _sizes(box.max_pt, box.min_pt):
        lines = _wrap(text, box, size)
        if lines and box.fits_lines(len(lines), size):
            return Fitted(size, tuple(lines), box.line_height)
    return None


def refusal(text: str, box_name: str) -> str | None:
    """Why `text` cannot be printed in the box (None when it can)."""
    if fit(text, box_name) is not None:
        return None
    box = BOXES[box_name]
    return f"{box.label}に収まりません({len(text)}文字、{box.min_pt:g}ptでも{box.width_mm:g}×{box.height_mm:g}mmを超えます)"
