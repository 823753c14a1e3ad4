"""請求書 and 返却督促 (used by fees), and the layout facts the printed forms rely on."""

import re
import subprocess
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings

from documents import render
from documents.render import (
    CARD_COLUMNS,
    CARD_HEIGHT_MM,
    CARD_ROWS,
    CARD_WIDTH_MM,
    SHEET_LEFT_MM,
    SHEET_TOP_MM,
    InvoiceData,
    ReturnReminderData,
    UnprintableCharacters,
    render_invoice,
    render_return_reminder,
)

from .conftest import pdf_text, region_text, squash


def test_invoice_prints_number_amount_due_date_and_bank_account(tmp_path):
    pdf = render_invoice(
        InvoiceData(
            invoice_number="2025-000012",
            issue_date=date(2025, 12, 10),
            due_date=date(2026, 1, 9),
            amount_yen=1000,
            addressee_name="𠮷田 太郎",
            postal_code="1500001",
            address="東京都渋谷区神宮前一丁目2番3号",
            holder_name="髙橋 花子",
            holder_key="10・1001・01",
        )
    )
    pages = pdf_text(pdf, tmp_path)
    assert len(pages) == 1
    text = squash(pages[0])
    assert "請求書" in text and "請求書番号 2025-000012" in text
    assert "1,000円" in text
    assert "お支払期限 令和8年1月9日" in text
    assert "令和7年12月10日" in text
    assert settings.INSURER_BANK_ACCOUNT in text
    assert "髙橋 花子 様(記号・番号・枝番 10・1001・01)" in text
    (tmp_path / "inv.pdf").write_bytes(pdf)
    window = region_text(tmp_path / "inv.pdf", 1, x_mm=20, y_mm=12, w_mm=92, h_mm=47)
    assert "〒150-0001" in window and "𠮷田 太郎 様" in window


def test_return_reminder_prints_certificate_due_date_and_route(tmp_path):
    data = ReturnReminderData(
        letter_date=date(2026, 1, 15),
        addressee_name="鈴木 四郎",
        holder_name="鈴木 四郎",
        holder_key="10・2001・00",
        certificate_number="2025-0000042",
        valid_until=date(2026, 9, 30),
        lost_on=date(2025, 12, 20),
        return_due=date(2025, 12, 25),
        route="自宅",
        postal_code="1500001",
        address="東京都渋谷区神宮前一丁目2番3号",
    )
    text = squash("".join(pdf_text(render_return_reminder(data), tmp_path)))
    assert "資格確認書の返却について(督促)" in text
    assert "証明書番号 2025-0000042" in text
    assert "返却期限 令和7年12月25日" in text
    assert "資格喪失年月日 令和7年12月20日" in text
    assert "へ直接ご返送ください" in text
    via_employer = squash(
        "".join(
            pdf_text(
                render_return_reminder(
                    ReturnReminderData(
                        **{
                            **data.__dict__,
                            "route": "事業主経由",
                            "employer_name": "株式会社テスト",
                            "postal_code": "",
                            "address": "",
                        }
                    )
                ),
                tmp_path,
            )
        )
    )
    assert "(株式会社テスト)を経由してご返却ください" in via_employer
    assert "〒150-0001" not in via_employer


def test_single_documents_refuse_an_unprintable_name():
    with pytest.raises(UnprintableCharacters, match="U\\+E000"):
        render_invoice(
            InvoiceData(
                invoice_number="2025-000013",
                issue_date=date(2025, 12, 10),
                due_date=date(2026, 1, 9),
                amount_yen=1000,
                addressee_name="田中\ue000",
            )
        )


def test_cut_marks_image_matches_the_card_grid():
    svg = (Path(settings.BASE_DIR) / "static" / "documents" / "cutmarks.svg").read_text()
    lines = [
        tuple(map(float, m))
        for m in re.findall(r'x1="([\d.]+)" y1="([\d.]+)" x2="([\d.]+)" y2="([\d.]+)"', svg)
    ]
    xs = {x1 for x1, y1, x2, y2 in lines if x1 == x2}
    ys = {y1 for x1, y1, x2, y2 in lines if y1 == y2}
    assert xs == {round(SHEET_LEFT_MM + c * CARD_WIDTH_MM, 2) for c in range(CARD_COLUMNS + 1)}
    assert ys == {round(SHEET_TOP_MM + r * CARD_HEIGHT_MM, 2) for r in range(CARD_ROWS + 1)}
    # marks stay in the margins, never over a card
    grid = (
        SHEET_LEFT_MM,
        SHEET_TOP_MM,
        SHEET_LEFT_MM + 2 * CARD_WIDTH_MM,
        SHEET_TOP_MM + 5 * CARD_HEIGHT_MM,
    )
    for x1, y1, x2, y2 in lines:
        inside_x = grid[0] < min(x1, x2) and max(x1, x2) < grid[2]
        inside_y = grid[1] < min(y1, y2) and max(y1, y2) < grid[3]
        assert not (inside_x and inside_y)


def test_leaflet_is_one_sheet_front_and_back():
    chunk = render.Chunk(households=())
    for marks in [(False, False, False), (True, True, True)]:
        pages = render._layout(render.leaflet_html(chunk, marks)).pages
        assert len(pages) == 2


def test_names_are_set_in_ipamj_and_the_rest_in_ipaex(tmp_path):
    card = render.CertificateCard(
        item_id=1,
        number="2025-0000001",
        relationship="本人",
        name="𠮷田 髙子",
        name_kana="ヨシダ タカコ",
        birth_date=date(1980, 1, 2),
        sex="女",
        kigo="1",
        bango="2",
        edaban="00",
        issue_date=date(2025, 12, 1),
        valid_until=date(2030, 11, 30),
        acquired_on=date(2010, 4, 1),
        reason="未登録",
    )
    hh = render.Household(
        kigo="1",
        bango="2",
        addressee_name="𠮷田 髙子",
        addressee_kana="ヨシダ タカコ",
        route="事業主経由",
        letter_date=date(2025, 12, 1),
        cards=(card,),
    )
    result = render.render_chunk(render.Chunk(households=(hh,)))
    pdf = tmp_path / "f.pdf"
    pdf.write_bytes(result.pdf)
    fonts = subprocess.run(
        ["pdffonts", str(pdf)], check=True, capture_output=True, text=True
    ).stdout
    assert re.search(r"\+DocName\s", fonts)  # IPAmj明朝, embedded subset
    assert re.search(r"\+DocMincho\s", fonts) and re.search(r"\+DocGothic\s", fonts)
    assert result.certificate_pages == 1
