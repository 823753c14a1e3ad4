"""The fonts printed documents use, and the check that every character of member data has a glyph.

WeasyPrint draws a .notdef box ("tofu") for a character no font covers and only logs a warning, so a
rare kanji in a name would print as an empty box on a legal document. Before rendering we check each
character against the cmaps of the fonts the stylesheet names (issue 4, "No blank boxes"): IPAmj明朝
(≈60,000 glyphs of the 文字情報基盤, including variation sequences) first, IPAex as fallback.

The cmaps are loaded once per process (a lazy module-level cache): reading the cmap table of the 46 MB
IPAmj font takes ~0.1 s, so it must not happen per document.
"""

import functools
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

IPAMJ_MINCHO = Path(
    getattr(settings, "DOCUMENT_FONT_NAMES", "/usr/share/fonts/truetype/ipamj/ipamjm.ttf")
)
IPAEX_MINCHO = Path(
    getattr(settings, "DOCUMENT_FONT_BODY", "/usr/share/fonts/opentype/ipaexfont-mincho/ipaexm.ttf")
)
IPAEX_GOTHIC = Path(
    getattr(
        settings, "DOCUMENT_FONT_GOTHIC", "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"
    )
)

# CSS family names of the @font-face rules (documents/render.py builds them from these paths).
FONT_FACES: dict[str, Path] = {
    "DocName": IPAMJ_MINCHO,
    "DocMincho": IPAEX_MINCHO,
    "DocGothic": IPAEX_GOTHIC,
}
# Member data (names, kana, addresses) is printed with these families, in this order of fallback;
# the coverage check below uses the same fonts.
MEMBER_TEXT_FONTS: tuple[Path, ...] = (IPAMJ_MINCHO, IPAEX_MINCHO)


def font_paths() -> tuple[Path, ...]:
    """Every font file the renderer may read (the URL fetcher's allow-list)."""
    return tuple(FONT_FACES.values())


@dataclass(frozen=True)
class _Cmap:
    chars: frozenset[int]
    # (base, selector) pairs of the format-14 subtable: 異体字 written with an IVS (葛󠄀 = U+845B U+E0100).
    variations: frozenset[tuple[int, int]]


@functools.cache
def _cmap(path: Path) -> _Cmap:
    from fontTools.ttLib import TTFont

    # lazy=True reads only the tables we touch: the cmap, not the 46 MB of glyph outlines.
    with TTFont(str(path), lazy=True) as font:
        chars = frozenset(font.getBestCmap())
        variations: set[tuple[int, int]] = set()
        for table in font["cmap"].tables:
            if table.format == 14:
                for selector, pairs in table.uvsDict.items():
                    variations.update((base, selector) for base, _glyph in pairs)
    return _Cmap(chars=chars, variations=frozenset(variations))


def load_cmaps() -> None:
    """Warm the cache (called in each Celery worker process after fork)."""
    for path in MEMBER_TEXT_FONTS:
        _cmap(path)


def _is_variation_selector(cp: int) -> bool:
    return 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF


def uncovered_characters(text: str) -> list[str]:
    """The characters of `text` that no member-text font can draw, as "U+XXXX" (in order, once each).

    Whitespace needs no glyph. A variation selector counts as covered only when some font maps that
    exact (base, selector) sequence; otherwise the printed glyph would silently be the base form.
    """
    cmaps = [_cmap(p) for p in MEMBER_TEXT_FONTS]
    missing: list[str] = []
    previous: int | None = None
    for ch in text:
        cp = ord(ch)
        if ch.isspace():
            ok = True
        elif _is_variation_selector(cp):
            ok = previous is not None and any((previous, cp) in c.variations for c in cmaps)
        else:
            ok = any(cp in c.chars for c in cmaps)
        if not ok:
            code = f"U+{cp:04X}"
            if code not in missing:
                missing.append(code)
        previous = cp
    return missing


def describe_character(code: str) -> str:
    """ "U+E000 (PRIVATE USE)" style label for messages (the character itself may not display)."""
    ch = chr(int(code[2:], 16))
    return f"{code} ({unicodedata.name(ch, unicodedata.category(ch))})"


# ---------------------------------------------------------------------------------------------
# Text width (names and addresses are fitted to their boxes before rendering, documents/render.py)
# ---------------------------------------------------------------------------------------------


@functools.cache
def _advances(path: Path) -> tuple[dict[int, float], float]:
    """{code point: advance width in em} of a font, and its width for the .notdef glyph."""
    from fontTools.ttLib import TTFont

    with TTFont(str(path), lazy=True) as font:
        units = font["head"].unitsPerEm
        hmtx = font["hmtx"]
        widths = {cp: hmtx[glyph][0] / units for cp, glyph in font.getBestCmap().items()}
        notdef = hmtx[font.getGlyphOrder()[0]][0] / units
    return widths, notdef


def load_advances(paths) -> None:
    """Warm the advance widths of these fonts (each Celery worker process, after fork: ~0.7 s)."""
    for path in paths:
        _advances(path)


def text_width_em(text: str, fonts: tuple[Path, ...] = MEMBER_TEXT_FONTS) -> float:
    """The advance width of `text` in em, each character taken from the first of `fonts` that has
    it (the fallback order of the stylesheet's font-family). Variation selectors have no width."""
    tables = [_advances(p) for p in fonts]
    width = 0.0
    for ch in text:
        cp = ord(ch)
        if _is_variation_selector(cp):
            continue
        for widths, _notdef in tables:
            if cp in widths:
                width += widths[cp]
                break
        else:
            width += 1.0  # not drawable: the glyph check refuses such text before layout anyway
    return width
