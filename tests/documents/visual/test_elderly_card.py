"""The 高齢受給者証 as a 70–74 household receives it, rendered through the real elderly path (the night's
detection, a supervisor's approval, the stored PDF of the batch: elderly.services → elderly.documents
→ templates/documents/_elderly_card.html), compared with the committed reference images like the
other kinds (scripts/update_visual_references.sh rewrites them too), and read back: the card's
85.6 × 54 mm box on the rendered page, the window's address block, and each card's 一部負担金の割合,
発効期日 and 有効期限 in 和暦 inside its own box.

The household is fixed (names, numbers, dates, the society's settings, 'today' of the approval), so
the pages do not depend on the clock or on the order the tests run in.
"""

from __future__ import annotations

from datetime import date
from unittest import mock

import pytest

from certificates.services import certificate_issue
from documents.render import (
    CARD_COLUMNS,
    CARD_HEIGHT_MM,
    CARD_WIDTH_MM,
    SHEET_LEFT_MM,
    SHEET_TOP_MM,
    WINDOW_CLEAR_MM,
    WINDOW_HEIGHT_MM,
    WINDOW_LEFT_MM,
    WINDOW_TOP_MM,
    WINDOW_WIDTH_MM,
)
from elderly.models import ElderlyCard
from elderly.services import elderly_batch_approve, elderly_events_prepare
from tests.certificates.factories import dependent, member

from ..pdfprobe import compact, page_size_mm, reading_text, words
from .households import INSURER
from .imaging import check_page
from .measure import card_box, gray

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 2)  # the night the two reach 70 in November is found (effective 1 December)
ADDRESS = "東京都世田谷区北沢二丁目10-15 北斗レジデンス205"
# the letter, its blank reverse (duplex: the card sheet starts on a sheet's front), the card sheet,
# the cards' backs
PAGES = (1, 2, 3, 4)
SHEET_PAGE = 3


@pytest.fixture
def elderly_pdf(supervisor, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.INSURER_NUMBER = INSURER.number
    settings.INSURER_NAME = INSURER.name
    settings.INSURER_ADDRESS = INSURER.address
    settings.INSURER_POSTAL_CODE = INSURER.postal_code
    settings.INSURER_PHONE = INSURER.phone
    settings.ELDERLY_RATIO_ON_CERTIFICATE = False  # the separate card
    head = member(
        kigo="100",
        bango="7001",
        birth_date=date(1956, 11, 15),
        insured_type="任意継続",
        voluntary_until=date(2027, 3, 31),
        standard_remuneration=260_000,  # under 28万: 2割
        name="髙橋\u3000三郎",
        name_kana="タカハシ\u3000サブロウ",
    )
    head.postal_code, head.address = "1550031", ADDRESS
    head.save()
    wife = dependent(
        head,
        birth_date=date(1956, 11, 20),
        name="髙橋\u3000𠮷子",
        name_kana="タカハシ\u3000ヨシコ",
    )
    for person in (head, wife):
        certificate_issue(
            person=person,
            reason="未登録",
            issue_date=date(2026, 4, 1),
            valid_until=date(2028, 3, 31),
            route="自宅",
        )
    with mock.patch("django.utils.timezone.localdate", return_value=TODAY):
        batch = elderly_events_prepare(today=TODAY)
        elderly_batch_approve(batch=batch, acting_user=supervisor)
    batch.refresh_from_db()
    assert batch.skipped == [] and batch.page_count == len(PAGES)
    path = tmp_path / "elderly-card.pdf"
    path.write_bytes(batch.pdf.read())
    cards = list(ElderlyCard.objects.filter(batch=batch).order_by("person__edaban"))
    assert [c.person_id for c in cards] == [head.pk, wife.pk]
    return path, cards


@pytest.mark.parametrize("page", PAGES, ids=[f"elderly-card-p{p}" for p in PAGES])
def test_page_looks_as_committed(elderly_pdf, tmp_path, page):
    pdf, _ = elderly_pdf
    check_page(pdf, page, f"elderly-card-p{page}", tmp_path)


def _slot(n: int) -> tuple[float, float]:
    return (
        SHEET_LEFT_MM + (n % CARD_COLUMNS) * CARD_WIDTH_MM,
        SHEET_TOP_MM + (n // CARD_COLUMNS) * CARD_HEIGHT_MM,
    )


def test_card_box_ratio_and_dates_read_back(elderly_pdf, tmp_path):
    pdf, cards = elderly_pdf
    assert page_size_mm(pdf) == [pytest.approx((210, 297), abs=0.1)] * len(PAGES)
    sheet = gray(pdf, SHEET_PAGE, tmp_path)
    ws = words(pdf, SHEET_PAGE)
    expected = {
        # 本人 and 家族 reach 70 in November 2026: in force from 1 December, 2割, until the next
        # yearly redetermination (31 July)
        0: ("本人", "髙橋三郎", "昭和31年11月15日"),
        1: ("家族", "髙橋𠮷子", "昭和31年11月20日"),
    }
    for n, card in enumerate(cards):
        left, top = _slot(n)
        width, height = card_box(sheet, left, top)
        assert width == pytest.approx(CARD_WIDTH_MM, abs=0.3)
        assert height == pytest.approx(CARD_HEIGHT_MM, abs=0.3)
        touching = [w for w in ws if w.overlaps(left, top, left + width, top + height)]
        # nothing of the card crosses its edge, nothing is under 7 pt
        assert touching and all(w.inside(left, top, left + width, top + height) for w in touching)
        assert all(w.size_pt >= 7 for w in touching), [w for w in touching if w.size_pt < 7]
        text = compact(reading_text(touching))
        relationship, name, born = expected[n]
        assert text.startswith(f"健康保険高齢受給者証{relationship}"), text
        assert f"氏名{name}" in text and f"生年月日{born}" in text
        assert card.copay_ratio == "2割" and "一部負担金の割合2割" in text
        assert card.effective_from == date(2026, 12, 1) and "発効期日令和8年12月1日" in text
        assert card.valid_until == date(2027, 7, 31) and "有効期限令和9年7月31日" in text
        assert "交付年月日令和8年11月2日" in text
        assert f"保険者番号{INSURER.number}" in text and compact(INSURER.address) in text


def test_letter_lists_the_cards_and_is_addressed_in_the_window(elderly_pdf):
    pdf, cards = elderly_pdf
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
    ws = words(pdf, 1)
    in_window = [w for w in ws if w.overlaps(*window)]
    assert in_window and all(w.inside(*inner) for w in in_window)
    assert compact(reading_text(in_window)) == compact(f"〒155-0031 {ADDRESS} 髙橋\u3000三郎 様")
    letter = compact(reading_text(ws))
    assert "高齢受給者証の送付について" in letter and "令和8年11月2日" in letter
    for card in cards:
        assert card.number in letter
    assert letter.count("発効期日令和8年12月1日") == len(cards)
