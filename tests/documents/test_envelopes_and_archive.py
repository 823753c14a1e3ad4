"""The 長形3号 window (3 mm clear on every side of the address block, addresses broken only where the
data has a space or hyphen), 返却督促 bundles for the employer, and PDF/A with metadata."""

from __future__ import annotations

from datetime import date

import pytest
from pypdf import PdfReader

from documents.fitting import fit
from documents.render import (
    WINDOW_CLEAR_MM,
    WINDOW_HEIGHT_MM,
    WINDOW_LEFT_MM,
    WINDOW_TOP_MM,
    WINDOW_WIDTH_MM,
    BundleCover,
    Chunk,
    InvoiceData,
    ReturnReminderData,
    UnprintableCharacters,
    render_chunk,
    render_invoice,
    render_return_reminder,
    render_return_reminders,
)

from . import samples
from .pdfprobe import compact, fonts, info, reading_text, words

WINDOW = (
    WINDOW_LEFT_MM,
    WINDOW_TOP_MM,
    WINDOW_LEFT_MM + WINDOW_WIDTH_MM,
    WINDOW_TOP_MM + WINDOW_HEIGHT_MM,
)
CLEAR = (
    WINDOW[0] + WINDOW_CLEAR_MM,
    WINDOW[1] + WINDOW_CLEAR_MM,
    WINDOW[2] - WINDOW_CLEAR_MM,
    WINDOW[3] - WINDOW_CLEAR_MM,
)
ADDRESS = "北海道札幌市中央区北一条西1丁目2-3 北斗レジデンス205"


def _reminder(n=0, **extra):
    data = dict(
        letter_date=date(2025, 12, 10),
        addressee_name=f"山田\u3000太郎{n}",
        holder_name=f"山田\u3000花子{n}",
        holder_key=f"10・100{n}・01",
        certificate_number=f"2025-000000{n}",
        valid_until=date(2030, 11, 30),
        lost_on=date(2025, 11, 20),
        return_due=date(2025, 11, 25),
        route="事業主経由",
        employer_name="株式会社テスト",
    )
    return ReturnReminderData(**(data | extra))


def _invoice(**extra):
    data = dict(
        invoice_number="2025-000012",
        issue_date=date(2025, 12, 10),
        due_date=date(2025, 12, 31),
        amount_yen=1000,
        addressee_name="𠮷田\u3000太郎",
        postal_code="0600001",
        address=ADDRESS,
    )
    return InvoiceData(**(data | extra))


def _window_words(pdf, page=1):
    return [w for w in words(pdf, page) if w.overlaps(*WINDOW)]


def _letters(tmp_path):
    """Each kind of windowed letter: the issue letter (自宅), the invoice, the 返却督促 (direct)."""
    chunk = render_chunk(
        Chunk(households=(samples.household((samples.card(1, "𠮷田\u3000太郎"),)),))
    )
    direct = _reminder(route="自宅", employer_name="", postal_code="0600001", address=ADDRESS)
    out = {}
    for name, pdf in (
        ("letter", chunk.pdf),
        ("invoice", render_invoice(_invoice())),
        ("reminder", render_return_reminder(direct)),
    ):
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(pdf)
        out[name] = path
    return out


def test_address_block_keeps_3mm_clear_inside_the_window(tmp_path):
    for name, pdf in _letters(tmp_path).items():
        ws = _window_words(pdf)
        text = compact(reading_text(ws))
        assert "〒060-0001" in text and compact(ADDRESS) in text, name
        assert ws and all(w.inside(*CLEAR) for w in ws), (
            name,
            [w for w in ws if not w.inside(*CLEAR)],
        )


def test_addresses_break_only_at_the_spaces_and_hyphens_they_have(tmp_path):
    pdf = _letters(tmp_path)["letter"]
    lines = reading_text(_window_words(pdf)).splitlines()
    assert "北斗レジデンス205" in [compact(line) for line in lines]  # never 北斗レジデン/ス205
    narrow = fit(
        "東京都世田谷区北沢二丁目10-15 グランドメゾン北斗レジデンス下北沢 1205号室",
        "window_address",
    )
    for line in narrow.lines[:-1]:
        assert line[-1] in " -", narrow.lines
    assert (
        "".join(narrow.lines)
        == "東京都世田谷区北沢二丁目10-15 グランドメゾン北斗レジデンス下北沢 1205号室"
    )


def test_an_address_the_window_cannot_hold_is_refused():
    # no space or hyphen to break at, too long for one line even at the smallest size
    address = "北海道札幌市中央区北一条西一丁目二番三号北斗レジデンス二〇五号室北側別棟二階奥"
    hh = samples.household((samples.card(1, "山田\u3000太郎"),), address=address)
    result = render_chunk(Chunk(households=(hh,)))
    assert result.pdf == b"" and result.certificate_pages == 0
    (item,) = result.skipped
    assert item.field == "住所" and "封筒の窓(住所)に収まりません" in item.message
    with pytest.raises(UnprintableCharacters, match="封筒の窓"):
        render_invoice(_invoice(address=address))


def test_reminders_via_the_employer_have_the_bundle_structure(tmp_path):
    reminders = [_reminder(0), _reminder(1)]
    cover = BundleCover(
        employer_code="E001", employer_name="株式会社テスト", issue_date=date(2025, 12, 10)
    )
    pdf = tmp_path / "reminders.pdf"
    pdf.write_bytes(render_return_reminders(reminders, cover=cover))
    pages = [compact(reading_text(words(pdf, n))) for n in range(1, len(PdfReader(pdf).pages) + 1)]
    # cover, then each letter, each part on its own sheet (duplex: even page counts)
    assert len(pages) == 6 and pages[1] == pages[3] == pages[5] == ""
    assert (
        pages[0].startswith("資格確認書返却督促対象者一覧表") and "株式会社テスト御中" in pages[0]
    )
    assert "10・1000・01山田花子02025-0000000/令和7年11月25日" in pages[0]
    assert "10・1001・01山田花子12025-0000001/令和7年11月25日" in pages[0]
    for n, page in ((0, pages[2]), (1, pages[4])):
        assert "資格確認書の返却について(督促)" in page and f"2025-000000{n}" in page
        window = compact(reading_text(_window_words(pdf, 3 + 2 * n)))
        assert window == f"山田太郎{n}様(株式会社テスト経由)"
    # without a cover (direct returns): the letters alone
    direct = render_return_reminders(
        [_reminder(route="自宅", employer_name="", postal_code="0600001", address=ADDRESS)]
    )
    pdf.write_bytes(direct)
    assert len(PdfReader(pdf).pages) == 2


def test_stored_pdfs_are_pdf_a_with_title_and_language(tmp_path):
    for name, pdf in _letters(tmp_path).items():
        meta = info(pdf)
        assert 'pdfaid:part="2"' in meta["_raw"] and 'pdfaid:conformance="U"' in meta["_raw"], name
        reader = PdfReader(pdf)
        root = reader.trailer["/Root"]
        assert root["/Lang"] == "ja"
        intent = root["/OutputIntents"][0].get_object()
        assert intent["/S"] == "/GTS_PDFA1" and "/DestOutputProfile" in intent
        title = reader.metadata["/Title"]
        assert title and "<dc:title>" in meta["_raw"]
        assert {"letter": "資格確認書", "invoice": "請求書", "reminder": "返却"}[name] in title
        assert all(f["emb"] == "yes" and f["uni"] == "yes" for f in fonts(pdf)), fonts(pdf)
        assert reader.pdf_header == "%PDF-1.7"


def test_pdf_variant_is_a_setting(tmp_path, settings):
    settings.DOCUMENT_PDF_VARIANT = ""
    pdf = tmp_path / "plain.pdf"
    pdf.write_bytes(render_invoice(_invoice()))
    assert "pdfaid" not in info(pdf)["_raw"]
