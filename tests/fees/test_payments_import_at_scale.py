"""The bank-transfer import streams its file through a staging table: a bad last row of a large
file refuses it with every table unchanged, and a double payment is caught across chunks."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from fees.models import InvoiceState, PaymentImport
from fees.services import reissue_application_receive_loss
from tests.fees.builders import issue, member, refresh
from tests.members.test_import_at_scale import fingerprint

pytestmark = pytest.mark.django_db

ROWS = 11_000  # more than two staging chunks


def _invoice(clerk):
    t = timezone.localdate()
    cert = issue(member(), issue_date=t - timedelta(days=30), valid_until=t + timedelta(days=700))
    return reissue_application_receive_loss(
        certificate=cert, route="事業主経由", received_on=t, acting_user=clerk
    ).invoice


def _write(path, invoice, last: str):
    today = timezone.localdate().isoformat()
    with path.open("w", encoding="utf-8") as fh:
        fh.write("請求書番号,入金額,入金日\n")
        fh.write(f"{invoice.number},1000,{today}\n")
        for i in range(ROWS):
            fh.write(f"1999-{i:06d},1000,{today}\n")
        fh.write(f"{invoice.number},1000,{today}\n")  # the same invoice again, chunks later
        fh.write(last + "\n")
    return path


def test_a_bad_last_row_of_a_large_file_leaves_every_table_unchanged(tmp_path, clerk):
    inv = _invoice(clerk)
    path = _write(tmp_path / "pay.csv", inv, "2026-000001,千円,2026-01-05")
    before = fingerprint()
    with pytest.raises(CommandError) as exc:
        call_command("import_payments", str(path), "--by", "clerk")
    assert f"{ROWS + 4}行目 入金額: 円単位の整数で入力してください" in str(exc.value)
    assert fingerprint() == before
    assert refresh(inv).state == InvoiceState.UNPAID


def test_a_large_file_applies_the_match_and_catches_the_double_payment(tmp_path, clerk):
    inv = _invoice(clerk)
    path = _write(tmp_path / "pay.csv", inv, "2000-999999,1000,2026-01-05")
    out = StringIO()
    call_command("import_payments", str(path), "--by", "clerk", stdout=out)
    imp = PaymentImport.objects.get()
    assert imp.row_count == ROWS + 3 and imp.applied_count == 1
    assert refresh(inv).state == InvoiceState.PAID and refresh(inv).payment_import == imp
    double = [r for r in imp.rejected if r["number"] == inv.number]
    assert [r["row"] for r in double] == [ROWS + 3]
    assert "ファイル内で重複" in double[0]["reason"]


def test_problem_count_is_exact_while_only_the_first_are_listed(clerk):
    from fees.payments import PaymentFileError, parse

    content = ("請求書番号,入金額,入金日\n" + "x,1,2026-01-01\n" * 1500).encode()
    with pytest.raises(PaymentFileError) as exc:
        parse(content, today=timezone.localdate())
    assert len(exc.value.problems) == 1001
    assert exc.value.problems[-1] == "ほか500件の問題があります"
