"""manage.py render_certificate 記号 番号 枝番 --output PATH: a clerk's reprint."""

from datetime import date

import pytest
from django.core.management import CommandError, call_command
from pypdf import PdfReader

from certificates.models import Certificate, CertificateState
from core.models import AuditEvent
from members.models import Employer

from .conftest import (
    card_texts,
    execute_run,
    make_dependent,
    make_member,
    pdf_text,
    set_status,
    squash,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def issued(clerk, supervisor, media_root):
    e = Employer.objects.create(code="E001", name="株式会社テスト")
    member = make_member(name="𠮷田 太郎", employer=e)
    child = make_dependent(member, name="𠮷田 髙子", edaban="02")
    set_status([(member, "未登録", None), (child, "電子証明書失効", date(2025, 3, 31))])
    run = execute_run(clerk, supervisor)
    return member, child, {c.person_id: c for c in Certificate.objects.filter(run=run)}


def test_reprints_the_current_certificate_and_the_household_letter(issued, tmp_path, capsys):
    member, child, certs = issued
    out = tmp_path / "reprint.pdf"
    call_command("render_certificate", child.kigo, child.bango, "02", "--output", str(out))
    cert = certs[child.pk]
    assert cert.number in capsys.readouterr().out
    pages = pdf_text(out.read_bytes(), tmp_path)
    assert len(PdfReader(out).pages) == len(pages)
    text = squash("".join(pages))
    assert "資格確認書の送付について(再印刷)" in text
    assert "𠮷田 太郎 様" in text  # the letter goes to the household's 被保険者
    assert "【𠮷田 髙子 様のやること】 やることリスト 3 → 2 を対応ください" in text
    card_page = next(n for n, t in enumerate(pages, start=1) if "健康保険 資格確認書" in squash(t))
    cards = card_texts(out, card_page)
    assert len(cards) == 1  # only this person's certificate
    assert f"証明書番号 {cert.number}" in cards[0] and "𠮷田 髙子" in cards[0]
    assert certs[member.pk].number not in text
    assert AuditEvent.objects.filter(action="document.reprinted", object_id=str(cert.pk)).exists()


def test_full_width_input_is_normalised(issued, tmp_path):
    member, _, _ = issued
    full = member.bango.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    out = tmp_path / "r.pdf"
    call_command("render_certificate", member.kigo, full, "００", "--output", str(out))
    assert out.read_bytes().startswith(b"%PDF")


def test_unknown_person_fails_clearly_and_writes_nothing(issued, tmp_path):
    out = tmp_path / "none.pdf"
    with pytest.raises(
        CommandError, match="記号・番号・枝番 99・99・00 の加入者は登録されていません"
    ):
        call_command("render_certificate", "99", "99", "00", "--output", str(out))
    assert not out.exists()


def test_person_without_a_valid_certificate_fails_clearly(issued, tmp_path):
    member, _, certs = issued
    Certificate.objects.filter(pk=certs[member.pk].pk).update(state=CertificateState.VOID)
    out = tmp_path / "none.pdf"
    with pytest.raises(CommandError, match="現在有効な資格確認書がありません"):
        call_command("render_certificate", member.kigo, member.bango, "00", "--output", str(out))
    assert not out.exists()


def test_expired_certificate_is_not_current(issued, tmp_path):
    member, _, certs = issued
    Certificate.objects.filter(pk=certs[member.pk].pk).update(
        issue_date=date(2019, 1, 1), valid_until=date(2020, 1, 1)
    )
    with pytest.raises(CommandError, match="現在有効な資格確認書がありません"):
        call_command(
            "render_certificate",
            member.kigo,
            member.bango,
            "00",
            "--output",
            str(tmp_path / "x.pdf"),
        )


def test_missing_output_directory_is_refused(issued, tmp_path):
    member, _, _ = issued
    with pytest.raises(CommandError, match="出力先のディレクトリがありません"):
        call_command(
            "render_certificate",
            member.kigo,
            member.bango,
            "00",
            "--output",
            str(tmp_path / "nope" / "x.pdf"),
        )


def test_unprintable_name_is_refused_with_person_and_character(issued, tmp_path):
    member, _, certs = issued
    Certificate.objects.filter(pk=certs[member.pk].pk).update(printed_name="𠮷田\ue000")
    out = tmp_path / "x.pdf"
    with pytest.raises(CommandError, match="U\\+E000") as exc:
        call_command("render_certificate", member.kigo, member.bango, "00", "--output", str(out))
    assert member.key in str(exc.value)
    assert not out.exists()
