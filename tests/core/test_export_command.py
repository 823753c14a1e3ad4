"""manage.py export_csv: the contract of rules.md (certificates) and the auditors' datasets."""

import csv
import io
from datetime import date, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from certificates.models import IssuanceRun
from core.models import AuditEvent
from tests.core.conftest import make_certificate, make_person

CERT_HEADER = (
    "証明書番号,記号,番号,枝番,氏名,氏名カナ,交付年月日,有効期限,交付事由,状態,送付先,"
    "高齢受給者証発効日,一部負担金割合,一括交付ID"
)


def run_export(tmp_path, dataset, *args):
    out, err = io.StringIO(), io.StringIO()
    path = tmp_path / f"{dataset}.csv"
    call_command("export_csv", dataset, "--output", str(path), *args, stdout=out, stderr=err)
    return path, out.getvalue(), err.getvalue()


def read_rows(path, encoding="utf-8-sig"):
    with path.open(encoding=encoding, newline="") as fh:
        return list(csv.reader(fh))


@pytest.fixture
def run(db, supervisor):
    return IssuanceRun.objects.create(
        status_date=date(2025, 11, 1),
        issue_date=date(2025, 12, 2),
        valid_until=date(2030, 12, 1),
        created_by=supervisor,
    )


def test_certificates_export_has_the_exact_columns_and_values_of_rules_md(tmp_path, employer, run):
    today = timezone.localdate()
    taro = make_person(employer=employer, bango="1")
    hanako = make_person(employer=employer, bango="2", name="佐藤　花子", kana="サトウ　ハナコ")
    make_certificate(
        taro, "2025-0000001", run=run, elderly_start=date(2026, 5, 1), copay_ratio="2割"
    )
    # stored 有効 but past its 有効期限: shown as 返却不要 (a certificate's state is as of today)
    make_certificate(
        hanako,
        "2020-0000009",
        issue_date=date(2020, 12, 1),
        valid_until=today - timedelta(days=1),
    )

    path, out, _ = run_export(tmp_path, "certificates")

    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM by default (opens in Excel)
    rows = read_rows(path)
    assert ",".join(rows[0]) == CERT_HEADER
    by_number = {r[0]: r for r in rows[1:]}
    assert by_number["2025-0000001"] == [
        "2025-0000001",
        "100",
        "1",
        "00",
        "山田　太郎",
        "ヤマダ　タロウ",
        "2025-12-02",
        "2030-12-01",
        "未登録",
        "有効",
        "事業主経由",
        "2026-05-01",
        "2割",
        str(run.pk),
    ]
    expired = by_number["2020-0000009"]
    assert expired[9] == "返却不要"
    assert expired[11:] == ["", "", ""]  # no 高齢受給者 date, no ratio, not from a run
    assert "2 件" in out


def test_cp932_export_writes_geta_for_a_name_cp932_cannot_hold_and_reports_the_row(
    tmp_path, employer
):
    make_certificate(make_person(employer=employer, bango="1"), "2025-0000001")
    yoshi = make_person(employer=employer, bango="2", name="𠮷田　髙﨑", kana="ヨシダ　タカサキ")
    make_certificate(yoshi, "2025-0000002")

    path, _, err = run_export(tmp_path, "certificates", "--encoding", "cp932")

    rows = read_rows(path, encoding="cp932")
    assert rows[2][4] == "〓田　髙﨑"  # 髙 and 﨑 exist in CP932 and survive
    assert rows[1][4] == "山田　太郎"
    assert "?" not in path.read_bytes().decode("cp932")
    # the affected row is reported by row number and column, never by value
    assert "2行目(データ行) 列「氏名」" in err
    assert "田" not in err and "𠮷" not in err


def test_cp932_reports_every_affected_row(tmp_path, employer):
    for i in range(1, 6):
        name = "𠮷川　一郎" if i in (2, 4, 5) else "川上　一郎"
        make_certificate(make_person(employer=employer, bango=str(i), name=name), f"2025-000000{i}")

    path, _, err = run_export(tmp_path, "certificates", "--encoding", "cp932")

    reported = [line for line in err.splitlines() if "列「氏名」" in line]
    assert [line.split("行目")[0] for line in reported] == ["2", "4", "5"]
    event = AuditEvent.objects.get(action="export.csv")
    assert event.detail["substitution_count"] == 3
    assert event.detail["encoding"] == "cp932"


@pytest.mark.parametrize("danger", ["=1+2", "+81-3-0000", "-2+3", "@SUM(A1)", '=HYPERLINK("x")'])
def test_cells_starting_with_a_formula_character_are_escaped(tmp_path, employer, danger):
    person = make_person(employer=employer, bango="1", name=danger)
    make_certificate(person, "2025-0000001")

    path, _, _ = run_export(tmp_path, "certificates")

    assert read_rows(path)[1][4] == "'" + danger


def test_every_export_is_logged_with_who_what_filters_rows_and_encoding(
    tmp_path, employer, auditor
):
    make_certificate(make_person(employer=employer, bango="1"), "2025-0000001")

    run_export(tmp_path, "certificates", "--by", auditor.username)

    event = AuditEvent.objects.get(action="export.csv")
    assert event.actor == auditor
    assert event.detail == {
        "dataset": "certificates",
        "encoding": "utf-8-sig",
        "row_count": 1,
        "filters": {},
        "via": "command",
        "completed": True,
        "substitution_count": 0,
    }


def test_by_must_name_an_auditor_and_a_refused_export_writes_nothing(tmp_path, clerk, employer):
    make_certificate(make_person(employer=employer, bango="1"), "2025-0000001")
    with pytest.raises(CommandError, match="監査"):
        run_export(tmp_path, "certificates", "--by", clerk.username)
    with pytest.raises(CommandError, match="存在しません"):
        run_export(tmp_path, "certificates", "--by", "nobody")
    assert not (tmp_path / "certificates.csv").exists()
    assert not AuditEvent.objects.filter(action="export.csv").exists()


def test_unknown_dataset_is_refused(tmp_path, db):
    with pytest.raises(CommandError):
        run_export(tmp_path, "salaries")


def test_members_export_uses_the_members_import_format(tmp_path, employer):
    make_person(employer=employer, bango="7", name="=cmd", kana="イコール")

    path, _, _ = run_export(tmp_path, "members")

    rows = read_rows(path)
    assert rows[0] == (
        "事業所記号,事業所名称,記号,番号,枝番,本人家族区分,被保険者種別,氏名,氏名カナ,生年月日,性別,"
        "郵便番号,住所,資格取得年月日,資格喪失年月日,任意継続満了日,標準報酬月額,要配慮者"
    ).split(",")
    assert rows[1] == [
        "E001",
        "デモ商事株式会社",
        "100",
        "7",
        "00",
        "本人",
        "一般",
        "'=cmd",
        "イコール",
        "1980-04-01",
        "男",
        "",
        "",
        "2010-04-01",
        "",
        "",
        "300000",
        "",
    ]


def test_runs_export_names_the_people(tmp_path, run, supervisor):
    path, _, _ = run_export(tmp_path, "runs")
    rows = read_rows(path)
    assert rows[0][:6] == ["一括交付ID", "状態", "基準日", "交付年月日", "有効期限", "作成者"]
    assert rows[1][:6] == [
        str(run.pk),
        "作成",
        "2025-11-01",
        "2025-12-02",
        "2030-12-01",
        "supervisor",
    ]


def test_returns_export_lists_pending_and_returned_certificates_with_the_overdue_flag(
    tmp_path, employer
):
    today = timezone.localdate()
    p = [make_person(employer=employer, bango=str(i)) for i in range(4)]
    make_certificate(p[0], "C-0", state="有効")  # never to be returned: not listed
    make_certificate(
        p[1], "C-1", state="返却待ち", return_due=today - timedelta(days=1), return_route="自宅"
    )
    make_certificate(
        p[2],
        "C-2",
        state="返却待ち",
        return_due=today + timedelta(days=3),
        return_route="事業主経由",
    )
    make_certificate(
        p[3],
        "C-3",
        state="返却済",
        return_due=today - timedelta(days=10),
        returned_on=today - timedelta(days=8),
        return_route="事業主経由",
    )

    path, _, _ = run_export(tmp_path, "returns")

    rows = read_rows(path)
    header = rows[0]
    got = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert set(got) == {"C-1", "C-2", "C-3"}
    assert got["C-1"]["期限超過"] == "1" and got["C-1"]["返却経路"] == "自宅"
    assert got["C-2"]["期限超過"] == ""
    assert got["C-3"]["期限超過"] == "1"  # received two days late
    assert got["C-3"]["返却日"] == (today - timedelta(days=8)).isoformat()


def test_audit_export_lists_business_events(tmp_path, auditor, employer):
    make_certificate(make_person(employer=employer, bango="1"), "2025-0000001")
    run_export(tmp_path, "certificates", "--by", "auditor")

    path, _, _ = run_export(tmp_path, "audit")

    rows = read_rows(path)
    assert rows[0] == ["ID", "日時", "実行者", "操作", "対象種別", "対象ID", "詳細"]
    assert rows[1][2:4] == ["auditor", "export.csv"]
    assert '"dataset": "certificates"' in rows[1][6]
    # the audit export itself is logged too, after it was written
    assert AuditEvent.objects.filter(action="export.csv").count() == 2


def test_invoices_export_says_whose_invoice_it_is(tmp_path, db):
    path, _, _ = run_export(tmp_path, "invoices")
    header = read_rows(path)[0]
    assert "請求書番号" in header
    assert header[-4:] == ["記号", "番号", "枝番", "氏名"]


def test_a_failed_export_leaves_no_partial_file(tmp_path, employer, monkeypatch):
    make_certificate(make_person(employer=employer, bango="1"), "2025-0000001")
    make_certificate(make_person(employer=employer, bango="2"), "2025-0000002")
    from core import exports

    real = exports.CsvEncoder.row_bytes
    calls = []

    def boom(self, values):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(self, values)

    monkeypatch.setattr(exports.CsvEncoder, "row_bytes", boom)
    with pytest.raises(OSError):
        run_export(tmp_path, "certificates")
    assert list(tmp_path.iterdir()) == []
    assert not AuditEvent.objects.filter(action="export.csv").exists()
