"""Visual regression: a fixed household of each kind rendered to PNG (pdftoppm) and compared with the
reference images committed next to this file; and the positions a print shop relies on, measured on
the rendered page: the card's 85.6 × 54 mm box, the cut marks, the window's address block.

On a difference the actual page and a diff image (differing pixels in black) are written to
test-artifacts/visual/. To accept a deliberate change: scripts/update_visual_references.sh.
"""

from __future__ import annotations

import pytest

from documents.render import (
    CARD_COLUMNS,
    CARD_HEIGHT_MM,
    CARD_ROWS,
    CARD_WIDTH_MM,
    LETTER_CARD_TOP_MM,
    SHEET_LEFT_MM,
    SHEET_TOP_MM,
    WINDOW_CLEAR_MM,
    WINDOW_HEIGHT_MM,
    WINDOW_LEFT_MM,
    WINDOW_TOP_MM,
    WINDOW_WIDTH_MM,
    render_chunk,
)

from ..pdfprobe import compact, page_size_mm, reading_text, words
from .households import LONG_NAME, kinds
from .imaging import check_page
from .measure import card_box, column_profile, gray, lines, row_profile

KINDS = {k.name: k for k in kinds()}
CASES = [(k.name, page) for k in KINDS.values() for page in k.pages]


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory):
    out = {}
    folder = tmp_path_factory.mktemp("visual")
    for kind in KINDS.values():
        result = render_chunk(kind.chunk)
        assert not result.skipped, result.skipped
        path = folder / f"{kind.name}.pdf"
        path.write_bytes(result.pdf)
        out[kind.name] = path
    return out


@pytest.mark.parametrize(("kind", "page"), CASES, ids=[f"{k}-p{p}" for k, p in CASES])
def test_page_looks_as_committed(pdfs, tmp_path, kind, page):
    check_page(pdfs[kind], page, f"{kind}-p{page}", tmp_path)


def test_pages_are_a4_at_72_points_per_inch(pdfs):
    """A 96 vs 72 dpi mix-up would scale every page by a third."""
    for path in pdfs.values():
        for width, height in page_size_mm(path):
            assert width == pytest.approx(210, abs=0.1) and height == pytest.approx(297, abs=0.1)


# --- positions measured on the rendered page (10 pixels per mm) ---------------------------------


def test_cut_marks_frame_the_card_grid(pdfs, tmp_path):
    img = gray(pdfs["general"], 7, tmp_path)  # the card sheet
    xs = [SHEET_LEFT_MM + c * CARD_WIDTH_MM for c in range(CARD_COLUMNS + 1)]
    ys = [SHEET_TOP_MM + r * CARD_HEIGHT_MM for r in range(CARD_ROWS + 1)]
    top_marks = lines(column_profile(img, 0, 210, 4, 11), 128)  # the top margin
    left_marks = lines(row_profile(img, 9, 16, 0, 297), 128)  # the left margin
    assert top_marks == pytest.approx(xs, abs=0.2)
    assert left_marks == pytest.approx(ys, abs=0.2)
    # the grid's pitch is the card: 85.6 × 54 mm
    assert top_marks[1] - top_marks[0] == pytest.approx(CARD_WIDTH_MM, abs=0.2)
    assert left_marks[1] - left_marks[0] == pytest.approx(CARD_HEIGHT_MM, abs=0.2)


def test_card_box_is_85_6_by_54_mm_on_the_sheet_and_on_the_letter(pdfs, tmp_path):
    sheet = gray(pdfs["general"], 7, tmp_path)
    for slot in range(3):
        left = SHEET_LEFT_MM + (slot % CARD_COLUMNS) * CARD_WIDTH_MM
        top = SHEET_TOP_MM + (slot // CARD_COLUMNS) * CARD_HEIGHT_MM
        width, height = card_box(sheet, left, top)
        assert width == pytest.approx(CARD_WIDTH_MM, abs=0.3)
        assert height == pytest.approx(CARD_HEIGHT_MM, abs=0.3)
    letter = gray(pdfs["voluntary"], 1, tmp_path)  # the perforated area at the letter's foot
    for slot in range(2):
        width, height = card_box(letter, SHEET_LEFT_MM + slot * CARD_WIDTH_MM, LETTER_CARD_TOP_MM)
        assert width == pytest.approx(CARD_WIDTH_MM, abs=0.4)
        assert height == pytest.approx(CARD_HEIGHT_MM, abs=0.4)


@pytest.mark.parametrize("kind", ["voluntary", "elderly", "long-name", "variants", "general"])
def test_window_address_block_is_inside_the_window_with_3mm_clear(pdfs, kind):
    page = 3 if kind == "general" else 1  # after the employer's 対象者一覧表
    window = (
        WINDOW_LEFT_MM,
        WINDOW_TOP_MM,
        WINDOW_LEFT_MM + WINDOW_WIDTH_MM,
        WINDOW_TOP_MM + WINDOW_HEIGHT_MM,
    )
    inner = (
        window[0] + WINDOW_CLEAR_MM,
        window[1] + WINDOW_CLEAR_MM,
        window[2] - WINDOW_CLEAR_MM,
        window[3] - WINDOW_CLEAR_MM,
    )
    ws = [w for w in words(pdfs[kind], page) if w.overlaps(*window)]
    assert ws and all(w.inside(*inner) for w in ws), [w for w in ws if not w.inside(*inner)]
    text = compact(reading_text(ws))
    hh = KINDS[kind].chunk.households[0]
    assert compact(f"{hh.addressee_name} 様") in text
    if hh.route == "自宅":
        assert compact(hh.address) in text


def test_long_and_variant_names_read_back_whole(pdfs):
    letter = compact(reading_text(words(pdfs["long-name"], 1)))
    assert letter.count(compact(LONG_NAME)) >= 2  # window and the list of enclosed certificates
    variants = compact(reading_text(words(pdfs["variants"], 1)))
    assert "𠮷田太郎様" in variants and "𠮷田髙子" in variants and "﨑山ハイツ101" in variants
