"""Positions measured on a rendered page (pdftoppm at 254 dpi: 10 pixels per mm): the dark runs along a
scan line, the card's border."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from documents.render import CARD_HEIGHT_MM, CARD_WIDTH_MM

from .imaging import page_png

PX_PER_MM = 10


def gray(pdf: Path, page: int, tmp_path: Path) -> Image.Image:
    return Image.open(page_png(pdf, page, tmp_path / f"p{page}.png", dpi=254)).convert("L")


def lines(values: list[int], threshold: int) -> list[float]:
    """Centres (mm) of the runs of pixels darker than `threshold` along a scan line."""
    centres, start = [], None
    for i, v in enumerate([*values, 255]):
        if v < threshold and start is None:
            start = i
        elif v >= threshold and start is not None:
            centres.append((start + i - 1) / 2 / PX_PER_MM)
            start = None
    return centres


def column_profile(img, x0_mm, x1_mm, y0_mm, y1_mm) -> list[int]:
    """Darkest value of each pixel column in the band (a dashed line shows in at least one row)."""
    box = tuple(int(v * PX_PER_MM) for v in (x0_mm, y0_mm, x1_mm, y1_mm))
    band = img.crop(box)
    w, h = band.size
    px = band.load()
    return [min(px[x, y] for y in range(h)) for x in range(w)]


def row_profile(img, x0_mm, x1_mm, y0_mm, y1_mm) -> list[int]:
    return column_profile(img.transpose(Image.Transpose.TRANSPOSE), y0_mm, y1_mm, x0_mm, x1_mm)


def card_box(img, left, top) -> tuple[float, float]:
    """The card's border (width, height in mm) measured across its top padding and down its left
    padding, the card drawn at (left, top)."""
    vertical = lines(
        column_profile(img, left - 1.5, left + CARD_WIDTH_MM + 1.5, top + 0.5, top + 2), 230
    )
    horizontal = lines(
        row_profile(img, left + 0.5, left + 2.5, top - 1.5, top + CARD_HEIGHT_MM + 1.5), 230
    )
    return vertical[-1] - vertical[0], horizontal[-1] - horizontal[0]
