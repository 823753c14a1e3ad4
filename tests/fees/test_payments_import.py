"""Bank-transfer import: matching rows applied, mismatches listed and never applied; a malformed file
is refused as a whole."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from fees.models import InvoiceState, PaymentImport
from fees.payments import PaymentFileError, parse
from fees.services import (
    invoice_confirm_payment,
    invoice_waive,
    payments_import,
    reissue_application_cancel,
    reissue_application_receive_loss,
)
from tests.fees.builders import issue, member, refresh

pytestmark = pytest.mark.django_db


def _today():
    return timezone.localdate()


def _invoice(clerk):
    t = _today()
    cert = issue(member(), issue_date=t - timedelta(days=30), valid_until=t + timedelta(days=700))
    app = reissue_application_receive_loss(
        certificate=cert, route="事業主経由", received_on=t, acting_user=clerk
    )
    return app.invoice


def _csv(rows, header="請求書番号,入金額,入金日", encoding="utf-8"):
    return ("\n".join([header, *rows]) + "\n").encode(encoding)


def test_matching_rows_are_applied_and_mismatches_listed_never_applied(clerk, supervisor):
    paid, wrong, ok, waived, cancelled, already = (_invoice(clerk) for _ in range(6))
    invoice_waive(invoice=waived, reason="災害", acting_user=supervisor)
    reissue_application_cancel(application=cancelled.application, reason="不要", acting_user=clerk)
    invoice_confirm_payment(invoice=already, paid_on=_today(), acting_user=clerk)
    d = _today().isoformat()
    content = _csv(
        [
            f"{paid.number},1000,{d}",
            f"{wrong.number},900,{d}",
            "2000-999999,1000," + d,
            f'{ok.number},"1,000",{_today():%Y/%m/%d}',
            f"{waived.number},1000,{d}",
            f"{cancelled.number},1000,{d}",
            f"{already.number},1000,{d}",
            f"{paid.number},1000,{d}",
        ]
    )
    imp = payments_import(content=content, source_name="furikomi.csv", acting_user=clerk)
    assert imp.applied_count == 2 and imp.rejected_count == 6
    reasons = {(r.row, r.number): r.reason for r in imp.rejected_rows()}
    assert "一致しません" in reasons[(3, wrong.number)]
    assert "該当する請求書がありません" in reasons[(4, "2000-999999")]
    assert "免除済み" in reasons[(6, waived.number)]
    assert "取消済み" in reasons[(7, cancelled.number)]
    assert "すでに入金済み" in reasons[(8, already.number)]
    assert "ファイル内で重複" in reasons[(9, paid.number)]
    for inv in (paid, ok):
        inv = refresh(inv)
        assert inv.state == InvoiceState.PAID
        assert inv.payment_source == "振込データ取込" and inv.payment_import == imp
        assert inv.state_changed_by == clerk
    assert refresh(wrong).state == InvoiceState.UNPAID and refresh(wrong).paid_on is None
    assert refresh(waived).state == InvoiceState.WAIVED
    assert refresh(cancelled).state == InvoiceState.CANCELLED


def test_importing_the_same_file_twice_applies_nothing_the_second_time(clerk):
    inv = _invoice(clerk)
    content = _csv([f"{inv.number},1000,{_today()}"])
    payments_import(content=content, source_name="a.csv", acting_user=clerk)
    second = payments_import(content=content, source_name="a.csv", acting_user=clerk)
    assert second.applied_count == 0 and second.rejected_count == 1
    assert refresh(inv).payment_import.pk != second.pk


def test_malformed_file_is_refused_as_a_whole_naming_row_and_column(clerk):
    good = _invoice(clerk)
    content = _csv(
        [
            f"{good.number},1000,{_today()}",
            f"{good.number},千円,{_today()}",
            f"2026-1,1000,{_today()}",
            f"{good.number},1000,2026-13-45",
            f"{good.number},1000,{_today() + timedelta(days=2)}",
        ]
    )
    with pytest.raises(PaymentFileError) as exc:
        payments_import(content=content, source_name="bad.csv", acting_user=clerk)
    problems = exc.value.problems
    assert "3行目 入金額: 円単位の整数で入力してください" in problems
    assert "4行目 請求書番号: 形式が違います(例: 2026-000001)" in problems
    assert "5行目 入金日: 日付(YYYY-MM-DD)ではありません" in problems
    assert "6行目 入金日: 未来の日付です" in problems
    assert refresh(good).state == InvoiceState.UNPAID
    assert not PaymentImport.objects.exists()


def test_header_must_name_exactly_the_three_columns():
    with pytest.raises(PaymentFileError, match="不明な列があります: 振込人"):
        parse(_csv([], header="請求書番号,入金額,入金日,振込人"), today=_today())
    with pytest.raises(PaymentFileError, match="必要な列がありません: 入金日"):
        parse(_csv([], header="請求書番号,入金額"), today=_today())
    with pytest.raises(PaymentFileError, match="入金の行がありません"):
        parse(_csv([]), today=_today())


def test_a_my_number_in_a_cell_refuses_the_file_without_echoing_it():
    my_number = "123456789018"  # a valid check digit (stdnum.jp.in_)
    content = _csv([f"2026-000001,{my_number},2026-01-05"])
    with pytest.raises(PaymentFileError) as exc:
        parse(content, today=_today())
    assert exc.value.problems == ["2行目 入金額: 個人番号と思われる値があります(取り込めません)"]
    assert my_number not in str(exc.value)


def test_cp932_and_bom_files_are_read(clerk):
    inv = _invoice(clerk)
    rows = parse(_csv([f"{inv.number},１０００円,{_today()}"], encoding="cp932"), today=_today())
    assert rows[0].amount == 1000
    rows = parse(b"\xef\xbb\xbf" + _csv([f"{inv.number},1000,{_today()}"]), today=_today())
    assert rows[0].number == inv.number


def test_import_payments_command_prints_applied_and_rejected_rows(clerk, tmp_path):
    a, b = _invoice(clerk), _invoice(clerk)
    path = tmp_path / "pay.csv"
    path.write_bytes(_csv([f"{a.number},1000,{_today()}", f"{b.number},500,{_today()}"]))
    out = StringIO()
    call_command("import_payments", str(path), "--by", "clerk", stdout=out)
    text = out.getvalue()
    assert "入金反映: 1件" in text and "不一致(未反映): 1件" in text
    assert f"3行目 {b.number}: 入金額 500円 が請求金額 1,000円 と一致しません" in text
    assert refresh(a).state == InvoiceState.PAID and refresh(a).state_changed_by == clerk
    assert refresh(b).state == InvoiceState.UNPAID


def test_import_payments_command_refuses_bad_input_and_changes_nothing(clerk, outsider, tmp_path):
    a = _invoice(clerk)
    path = tmp_path / "pay.csv"
    path.write_bytes(_csv([f"{a.number},abc,{_today()}"]))
    with pytest.raises(CommandError, match="2行目 入金額"):
        call_command("import_payments", str(path), "--by", "clerk")
    with pytest.raises(CommandError, match="存在しません|ファイル"):
        call_command("import_payments", str(tmp_path / "missing.csv"), "--by", "clerk")
    path.write_bytes(_csv([f"{a.number},1000,{_today()}"]))
    with pytest.raises(CommandError, match="権限がありません"):
        call_command("import_payments", str(path), "--by", "outsider")
    assert refresh(a).state == InvoiceState.UNPAID
    assert not PaymentImport.objects.exists()


def test_validation_error_type_is_shared_with_the_admin():
    assert issubclass(PaymentFileError, ValidationError)
