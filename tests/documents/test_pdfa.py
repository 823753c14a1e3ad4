"""PDF/A-2u on every kind of stored document, as far as it can be checked on this machine (pypdf and
poppler: tests/documents/pdfprobe.pdfa_problems says exactly what). veraPDF is not installed here, so
this is not a conformance validation; the README says so.

Every kind: the run's bundle via the employer (対象者一覧表, letter, leaflet, card sheet and backs), the
自宅 letter with its cards at the foot, the 返却督促 (single and bundled), the invoice, and the
高齢受給者証 of an approved elderly batch (the stored PDF). The checker itself is shown to fail on a
plain PDF, an encrypted one and one whose font lost its embedded program and ToUnicode map."""

from __future__ import annotations

import io
from datetime import date
from unittest import mock

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import NameObject

from certificates.services import certificate_issue
from documents.render import (
    BundleCover,
    Chunk,
    InvoiceData,
    ReturnReminderData,
    render_chunk,
    render_invoice,
    render_return_reminder,
    render_return_reminders,
)
from elderly.services import elderly_batch_approve, elderly_events_prepare
from tests.certificates.factories import dependent, member

from . import samples
from .pdfprobe import pdfa_problems


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


def _invoice():
    return InvoiceData(
        invoice_number="2025-000012",
        issue_date=date(2025, 12, 10),
        due_date=date(2025, 12, 31),
        amount_yen=1000,
        addressee_name="𠮷田\u3000太郎",
        postal_code="0600001",
        address="北海道札幌市中央区北一条西1丁目2-3 北斗レジデンス205",
    )


def _bundle() -> bytes:
    """A chunk of the run via the employer: three cards on a card sheet, one on the letter."""
    family = samples.household(
        (
            samples.card(1, "佐藤\u3000一郎", bango="2001"),
            samples.card(2, "佐藤\u3000洋子", relationship="家族", sex="女", bango="2001"),
            samples.card(3, "佐藤\u3000健太", relationship="家族", bango="2001"),
        ),
        route="事業主経由",
        employer_name="株式会社テスト商事",
    )
    single = samples.household(
        (samples.card(4, "髙木\u3000次郎", bango="2002"),),
        route="事業主経由",
        employer_name="株式会社テスト商事",
    )
    cover = BundleCover(
        employer_code="E0001", employer_name="株式会社テスト商事", issue_date=samples.ISSUE
    )
    result = render_chunk(Chunk(households=(family, single), cover=cover, organ_donation=True))
    assert not result.skipped
    return result.pdf


def _home_letter() -> bytes:
    hh = samples.household(
        (
            samples.card(11, "鈴木\u3000四郎", bango="900001"),
            samples.card(12, "鈴木\u3000花子", relationship="家族", sex="女", sex_on_back=True),
        ),
        address="東京都世田谷区北沢二丁目10-15 北斗レジデンス205",
        postal_code="1550031",
    )
    result = render_chunk(Chunk(households=(hh,), cards_on_letter=True))
    assert not result.skipped
    return result.pdf


def _elderly(supervisor) -> bytes:
    head = member(birth_date=date(1956, 11, 15), name="髙橋\u3000三郎", bango="7001")
    wife = dependent(head, birth_date=date(1956, 11, 20), name="髙橋\u3000𠮷子")
    for person in (head, wife):
        certificate_issue(
            person=person,
            reason="未登録",
            issue_date=date(2026, 4, 1),
            valid_until=date(2028, 3, 31),
            route="事業主経由",
        )
    today = date(2026, 11, 2)
    with mock.patch("django.utils.timezone.localdate", return_value=today):
        batch = elderly_events_prepare(today=today)
        elderly_batch_approve(batch=batch, acting_user=supervisor)
    batch.refresh_from_db()
    assert batch.skipped == [] and batch.page_count >= 2
    return batch.pdf.read()


KINDS = {
    "run bundle (事業主経由)": _bundle,
    "自宅 letter with cards": _home_letter,
    "返却督促 (自宅)": lambda: render_return_reminder(
        _reminder(route="自宅", employer_name="", postal_code="0600001", address="札幌市中央区1-2")
    ),
    "返却督促 bundle (事業主経由)": lambda: render_return_reminders(
        [_reminder(0), _reminder(1)],
        cover=BundleCover(
            employer_code="E001", employer_name="株式会社テスト", issue_date=date(2025, 12, 10)
        ),
    ),
    "invoice": lambda: render_invoice(_invoice()),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_document_kind_passes_the_pdfa_checks(tmp_path, kind):
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(KINDS[kind]())
    assert pdfa_problems(pdf) == []


@pytest.mark.django_db
def test_the_elderly_cards_pass_the_pdfa_checks(tmp_path, settings, supervisor):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.ELDERLY_RATIO_ON_CERTIFICATE = False
    pdf = tmp_path / "elderly.pdf"
    pdf.write_bytes(_elderly(supervisor))
    assert pdfa_problems(pdf) == []


# --- the checker fails where it should ------------------------------------------------------------


def test_a_plain_pdf_is_reported(tmp_path, settings):
    settings.DOCUMENT_PDF_VARIANT = ""
    pdf = tmp_path / "plain.pdf"
    pdf.write_bytes(render_invoice(_invoice()))
    problems = pdfa_problems(pdf)
    assert any("pdfaid:part 2" in p for p in problems), problems
    assert any("/GTS_PDFA1 output intents" in p for p in problems), problems
    assert "no file identifier (/ID) in the trailer" in problems


def _rewrite(source: bytes, out, change) -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(source)))
    change(writer)
    with open(out, "wb") as f:
        writer.write(f)


def test_an_encrypted_pdf_is_reported(tmp_path):
    pdf = tmp_path / "encrypted.pdf"
    _rewrite(render_invoice(_invoice()), pdf, lambda w: w.encrypt("", "owner", algorithm="AES-128"))
    assert "encrypted" in pdfa_problems(pdf)


def test_a_font_without_its_program_or_unicode_map_is_reported(tmp_path):
    def strip(writer):
        fonts = writer.pages[0]["/Resources"]["/Font"]
        font = next(iter(fonts.values())).get_object()
        del font[NameObject("/ToUnicode")]
        descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
        del descriptor[NameObject("/FontFile2")]

    pdf = tmp_path / "font.pdf"
    _rewrite(render_invoice(_invoice()), pdf, strip)
    problems = pdfa_problems(pdf)
    assert any("not embedded" in p for p in problems), problems
    assert any("no ToUnicode map" in p for p in problems), problems
