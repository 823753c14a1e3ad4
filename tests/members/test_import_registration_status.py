"""manage.py import_registration_status: rules.md "Registration-status import"."""

from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from core.models import AuditEvent
from members.models import RegistrationSnapshot, RegistrationStatus

from .builders import (
    STATUS_HEADER,
    VALID_MY_NUMBER,
    make_dependent,
    make_member,
    status_row,
    write_csv,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def household(db):
    head = make_member(kigo="10", bango="1001")
    dep = make_dependent(head)
    return head, dep


def run(path, *args):
    out = StringIO()
    call_command("import_registration_status", str(path), *args, stdout=out)
    return out.getvalue()


def refused(path, *args) -> str:
    with pytest.raises(CommandError) as exc:
        run(path, *args)
    return str(exc.value)


def counts():
    return (
        RegistrationSnapshot.objects.count(),
        RegistrationStatus.objects.count(),
        AuditEvent.objects.count(),
    )


def test_file_with_exactly_the_contract_header_makes_a_snapshot(tmp_path, household, clerk):
    head, dep = household
    path = tmp_path / "status-2025-11.csv"
    path.write_bytes(
        (
            STATUS_HEADER + "\r\n10,1001,00,登録済,\r\n10,1001,01,電子証明書失効,2025/08/31\r\n"
        ).encode("utf-8-sig")
    )
    out = run(path, "--as-of", "2025-11-30", "--by", clerk.username)

    snapshot = RegistrationSnapshot.objects.get()
    assert (snapshot.as_of, snapshot.row_count, snapshot.imported_by) == (
        date(2025, 11, 30),
        2,
        clerk,
    )
    assert snapshot.source_name == "status-2025-11.csv"
    statuses = {s.person_id: s for s in snapshot.statuses.all()}
    assert statuses[head.pk].status == "登録済" and statuses[head.pk].as_of == date(2025, 11, 30)
    assert statuses[dep.pk].ec_expiry == date(2025, 8, 31)
    event = AuditEvent.objects.get(action="import.registration_status")
    assert event.detail["rows"] == 2 and event.detail["by_status"] == {
        "登録済": 1,
        "電子証明書失効": 1,
    }
    assert f"取込ID: {snapshot.pk}" in out


def test_history_is_never_overwritten(tmp_path, household):
    run(
        write_csv(tmp_path, STATUS_HEADER, [status_row(登録状況="未登録")], name="a.csv"),
        "--as-of",
        "2025-10-31",
    )
    run(
        write_csv(tmp_path, STATUS_HEADER, [status_row(登録状況="登録済")], name="b.csv"),
        "--as-of",
        "2025-11-30",
    )
    head, _ = household
    history = list(
        RegistrationStatus.objects.filter(person=head)
        .order_by("as_of")
        .values_list("as_of", "status")
    )
    assert history == [(date(2025, 10, 31), "未登録"), (date(2025, 11, 30), "登録済")]
    assert RegistrationSnapshot.objects.count() == 2


def test_cp932_file_is_read(tmp_path, household):
    run(
        write_csv(tmp_path, STATUS_HEADER, [status_row(登録状況="カード返納")], encoding="cp932"),
        "--as-of",
        "2025-11-30",
    )
    assert RegistrationStatus.objects.get().status == "カード返納"


def test_dry_run_stores_nothing(tmp_path, household):
    out = run(
        write_csv(tmp_path, STATUS_HEADER, [status_row()]), "--as-of", "2025-11-30", "--dry-run"
    )
    assert "試行" in out and "1行" in out
    assert counts() == (0, 0, 0)


REFUSALS = [
    ("unknown status", {"登録状況": "登録中"}, "登録状況", "指定できません"),
    ("missing status", {"登録状況": ""}, "登録状況", "必須"),
    ("ec expired without expiry", {"登録状況": "電子証明書失効"}, "電子証明書有効期限", "必要"),
    (
        "impossible expiry",
        {"登録状況": "電子証明書失効", "電子証明書有効期限": "2025-04-31"},
        "電子証明書有効期限",
        "存在しない日付",
    ),
    ("unknown person", {"番号": "9999"}, "記号・番号・枝番", "該当する加入者"),
    ("edaban not two digits", {"枝番": "1"}, "枝番", "2桁"),
    (
        "my number in a cell",
        {"電子証明書有効期限": VALID_MY_NUMBER},
        "電子証明書有効期限",
        "個人番号",
    ),
]


@pytest.mark.parametrize(
    ("change", "column", "text"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_refusal_names_row_and_column_and_stores_nothing(tmp_path, household, change, column, text):
    path = write_csv(
        tmp_path, STATUS_HEADER, [status_row(), status_row(**{"枝番": "01", **change})]
    )
    message = refused(path, "--as-of", "2025-11-30")
    assert f"3行目 「{column}」" in message and text in message
    assert VALID_MY_NUMBER not in message
    assert counts() == (0, 0, 0)


def test_duplicate_key_is_refused(tmp_path, household):
    message = refused(
        write_csv(tmp_path, STATUS_HEADER, [status_row(), status_row()]), "--as-of", "2025-11-30"
    )
    assert "3行目 「記号・番号・枝番」" in message and "2行目と重複" in message
    assert counts() == (0, 0, 0)


def test_header_not_the_contract_is_refused(tmp_path, household):
    path = tmp_path / "h.csv"
    path.write_text(
        "記号,番号,枝番,状況,電子証明書有効期限\r\n10,1001,00,未登録,\r\n", encoding="utf-8"
    )
    message = refused(path, "--as-of", "2025-11-30")
    assert "1行目" in message and "ヘッダー" in message
    assert counts() == (0, 0, 0)


def test_my_number_column_is_refused(tmp_path, household):
    path = tmp_path / "h.csv"
    path.write_text(STATUS_HEADER + ",マイナンバー\r\n10,1001,00,未登録,,\r\n", encoding="utf-8")
    message = refused(path, "--as-of", "2025-11-30")
    assert "1行目 「6列目」" in message
    assert counts() == (0, 0, 0)


@pytest.mark.parametrize("as_of", ["2025-02-30", "30/11/2025"])
def test_bad_as_of_is_refused(tmp_path, household, as_of):
    message = refused(write_csv(tmp_path, STATUS_HEADER, [status_row()]), "--as-of", as_of)
    assert "--as-of" in message
    assert counts() == (0, 0, 0)


def test_as_of_is_required(tmp_path, household):
    with pytest.raises(CommandError):
        call_command(
            "import_registration_status", str(write_csv(tmp_path, STATUS_HEADER, [status_row()]))
        )


def test_header_only_file_is_refused(tmp_path, household):
    path = tmp_path / "e.csv"
    path.write_text(STATUS_HEADER + "\r\n", encoding="utf-8")
    assert "データ行がありません" in refused(path, "--as-of", "2025-11-30")


def test_import_showing_registered_makes_issued_certificates_no_return_except_consideration(
    tmp_path, clerk
):
    """rules.md "No return needed": the import itself applies the rule, before any nightly job."""
    from datetime import timedelta

    from django.utils import timezone

    from certificates.models import CertificateState
    from tests.fees.builders import issue, refresh

    today = timezone.localdate()
    plain = make_member(kigo="20", bango="2001")
    cared = make_member(kigo="20", bango="2002", needs_consideration=True)
    certs = [
        issue(p, issue_date=today - timedelta(days=30), valid_until=today + timedelta(days=700))
        for p in (plain, cared)
    ]
    path = tmp_path / "status.csv"
    path.write_text(STATUS_HEADER + "\n20,2001,00,登録済,\n20,2002,00,登録済,\n", encoding="utf-8")
    run(path, "--as-of", today.isoformat(), "--by", clerk.username)

    assert refresh(certs[0]).state == CertificateState.NO_RETURN
    assert refresh(certs[0]).state_note == "マイナ保険証登録"
    assert refresh(certs[1]).state == CertificateState.ACTIVE
