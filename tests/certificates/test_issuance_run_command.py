"""End to end through `manage.py issuance_run` (and `export_csv certificates`) on a society that
exercises every rule of rules.md."""

import csv
from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from certificates.models import Certificate, IssuanceRun, RunState, RunTarget
from core.models import AuditEvent
from documents.models import GeneratedDocument

from . import society

pytestmark = pytest.mark.django_db(transaction=True)

CERT_COLUMNS = [
    "証明書番号",
    "記号",
    "番号",
    "枝番",
    "氏名",
    "氏名カナ",
    "交付年月日",
    "有効期限",
    "交付事由",
    "状態",
    "送付先",
    "高齢受給者証発効日",
    "一部負担金割合",
    "一括交付ID",
]


def cmd(*args) -> list[str]:
    out = StringIO()
    call_command("issuance_run", *args, stdout=out)
    return out.getvalue().strip().splitlines()


def create(
    by="clerk", as_of="2026-11-15", issue="2026-12-01", until="2031-11-30"
) -> tuple[int, list]:
    lines = cmd(
        "create", "--as-of", as_of, "--issue-date", issue, "--valid-until", until, "--by", by
    )
    return int(lines[-1]), lines


def counts():
    return (
        IssuanceRun.objects.count(),
        RunTarget.objects.count(),
        Certificate.objects.count(),
        AuditEvent.objects.count(),
        list(
            IssuanceRun.objects.order_by("pk").values_list("state", "approved_by", "issued_count")
        ),
        list(Certificate.objects.order_by("pk").values_list("state", flat=True)),
    )


def export_rows(tmp_path) -> list[dict]:
    path = tmp_path / "certificates.csv"
    call_command("export_csv", "certificates", "--output", str(path), stdout=StringIO())
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM by default
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == CERT_COLUMNS
        return list(reader)


def test_full_run_issues_exactly_the_expected_certificates(clerk, supervisor, tmp_path):
    people = society.build()
    run_id, lines = create()
    # counts by 交付事由, then the total, then the run id alone on the last line
    assert lines[-1] == str(run_id)
    expected_by_reason = {}
    for reason, *_ in society.EXPECTED.values():
        expected_by_reason[reason] = expected_by_reason.get(reason, 0) + 1
    printed = dict(line.split(": ") for line in lines[:-1])
    assert printed.pop("合計") == str(len(society.EXPECTED))
    assert {k: int(v) for k, v in printed.items()} == expected_by_reason

    run = IssuanceRun.objects.get(pk=run_id)
    assert run.state == RunState.CREATED and run.target_count == len(society.EXPECTED)
    assert run.summary["by_route"] == {"事業主経由": 16, "自宅": 2}
    assert run.summary["by_employer"] == {"E100": 15, "E200": 1}

    cmd("approve", str(run_id), "--by", "supervisor")
    lines = cmd("execute", str(run_id), "--wait", "--timeout", "120", "--by", "supervisor")
    assert lines[-1] == f"一括交付 #{run_id} は完了しました"
    run.refresh_from_db()
    assert run.state == RunState.DONE
    assert run.issued_count == run.target_count == len(society.EXPECTED)
    # handed over to documents: every chunk stored, one certificate page per target
    docs = GeneratedDocument.objects.filter(run=run)
    assert docs.exists() and set(docs.values_list("state", flat=True)) == {"完了"}
    assert sum(docs.values_list("certificate_pages", flat=True)) == len(society.EXPECTED)

    issued = {
        f"{c.person.kigo}-{c.person.bango}-{c.person.edaban}": c
        for c in Certificate.objects.filter(run=run).select_related("person")
    }
    assert set(issued) == set(society.EXPECTED)
    for key, (reason, until, route, start, ratio) in society.EXPECTED.items():
        c = issued[key]
        assert (c.reason, c.valid_until, c.route, c.elderly_start, c.copay_ratio) == (
            reason,
            until,
            route,
            start,
            ratio,
        ), key
        assert c.issue_date == society.ISSUE and c.state == "有効"
    assert len({c.number for c in issued.values()}) == len(issued)
    assert issued["10-1-00"].printed_name == "髙﨑 𠮷男"
    assert issued["10-10-00"].replaces == people["old-renewed"]

    people["old-renewed"].refresh_from_db()
    people["old-expired"].refresh_from_db()
    people["old-blocking"].refresh_from_db()
    assert (people["old-renewed"].state, people["old-renewed"].state_note) == ("返却不要", "更新")
    assert (people["old-expired"].state, people["old-expired"].state_note) == (
        "返却不要",
        "有効期限切れ",
    )
    assert people["old-blocking"].state == "有効"

    # through the export, with the exact columns of rules.md
    rows = {
        f"{r['記号']}-{r['番号']}-{r['枝番']}": r for r in export_rows(tmp_path) if r["一括交付ID"]
    }
    assert set(rows) == set(society.EXPECTED)
    for key, (reason, until, route, start, ratio) in society.EXPECTED.items():
        r = rows[key]
        assert r["証明書番号"] == issued[key].number
        assert r["交付年月日"] == "2026-12-01"
        assert r["有効期限"] == until.isoformat()
        assert r["交付事由"] == reason
        assert r["送付先"] == route
        assert r["高齢受給者証発効日"] == (start.isoformat() if start else "")
        assert r["一部負担金割合"] == ratio
        assert r["一括交付ID"] == str(run_id)
    assert rows["10-1-00"]["氏名"] == "髙﨑 𠮷男"


def test_second_run_over_the_same_data_issues_nothing(clerk, supervisor, supervisor2):
    society.build()
    first, _ = create()
    cmd("approve", str(first), "--by", "supervisor")
    cmd("execute", str(first), "--wait", "--timeout", "120")
    before = Certificate.objects.count()

    second, lines = create()
    assert lines == ["合計: 0", str(second)]
    run = IssuanceRun.objects.get(pk=second)
    assert run.summary["previous"] == {
        "run_id": first,
        "targets": len(society.EXPECTED),
        "common": 0,
        "new": 0,
        "dropped": len(society.EXPECTED),
    }
    cmd("approve", str(second), "--by", "supervisor2")
    cmd("execute", str(second), "--wait", "--timeout", "120")
    run.refresh_from_db()
    assert run.state == RunState.DONE and run.issued_count == 0
    assert Certificate.objects.count() == before


def test_executing_twice_issues_nothing_twice(clerk, supervisor):
    society.build()
    run_id, _ = create()
    cmd("approve", str(run_id), "--by", "supervisor")
    cmd("execute", str(run_id), "--wait", "--timeout", "120")
    before = counts()
    with pytest.raises(CommandError, match="既に完了"):
        cmd("execute", str(run_id))
    assert counts() == before


def test_changes_since_the_previous_run_are_counted(clerk, supervisor):
    people = society.build()
    first, _ = create()
    # the previous run was never approved; now one more person becomes a target, one drops out
    from members.models import RegistrationStatus

    RegistrationStatus.objects.filter(person=people["10-2-00"]).update(status="未登録")
    people["10-3-00"].lost_on = date(2026, 11, 20)
    people["10-3-00"].save()
    second, _ = create()
    prev = IssuanceRun.objects.get(pk=second).summary["previous"]
    assert prev == {
        "run_id": first,
        "targets": len(society.EXPECTED),
        "common": len(society.EXPECTED) - 1,
        "new": 1,
        "dropped": 1,
    }


# --- bad input: a clear message, non-zero exit, nothing changed ------------------------------


@pytest.fixture
def created_run(clerk, supervisor, supervisor2):
    society.build()
    run_id, _ = create()
    return run_id


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "create",
                "--as-of",
                "2026-11-15",
                "--issue-date",
                "2026-12-01",
                "--valid-until",
                "2031-11-30",
                "--by",
                "nobody",
            ],
            "存在しません",
        ),
        (
            [
                "create",
                "--as-of",
                "2026-11-15",
                "--issue-date",
                "2026-12-01",
                "--valid-until",
                "2031-11-30",
                "--by",
                "outsider",
            ],
            "権限がありません",
        ),
        (
            [
                "create",
                "--as-of",
                "2026-11-15",
                "--issue-date",
                "2026-12-01",
                "--valid-until",
                "2026-11-30",
                "--by",
                "clerk",
            ],
            "交付年月日",
        ),
        (
            [
                "create",
                "--as-of",
                "2026-11-15",
                "--issue-date",
                "2026-12-01",
                "--valid-until",
                "2031-12-02",
                "--by",
                "clerk",
            ],
            "5年以内",
        ),
        (
            [
                "create",
                "--as-of",
                "2026-12-02",
                "--issue-date",
                "2026-12-01",
                "--valid-until",
                "2031-11-30",
                "--by",
                "clerk",
            ],
            "基準日",
        ),
        (
            [
                "create",
                "--as-of",
                "2026-13-15",
                "--issue-date",
                "2026-12-01",
                "--valid-until",
                "2031-11-30",
                "--by",
                "clerk",
            ],
            "日付",
        ),
        (
            [
                "create",
                "--as-of",
                "2026-11-15",
                "--issue-date",
                "tomorrow",
                "--valid-until",
                "2031-11-30",
                "--by",
                "clerk",
            ],
            "tomorrow",
        ),
        (["approve", "{run}", "--by", "clerk"], "承認者の権限"),
        (["approve", "{run}", "--by", "auditor"], "承認者の権限"),
        (["approve", "9999", "--by", "supervisor"], "#9999 は存在しません"),
        (["execute", "{run}"], "承認されていない"),
        (["execute", "9999"], "存在しません"),
        (["execute", "{run}", "--by", "clerk"], "承認者の権限"),
    ],
)
def test_bad_input_changes_nothing(created_run, auditor, outsider, args, message):
    args = [a.replace("{run}", str(created_run)) for a in args]
    before = counts()
    with pytest.raises(CommandError, match=message):
        cmd(*args)
    assert counts() == before


def test_creator_cannot_approve(supervisor, supervisor2):
    society.build()
    run_id, _ = create(by="supervisor")
    before = counts()
    with pytest.raises(CommandError, match="作成した「supervisor」は承認できません"):
        cmd("approve", str(run_id), "--by", "supervisor")
    assert counts() == before
    cmd("approve", str(run_id), "--by", "supervisor2")
    assert IssuanceRun.objects.get(pk=run_id).approved_by.username == "supervisor2"


def test_approving_twice_is_refused(created_run):
    cmd("approve", str(created_run), "--by", "supervisor")
    before = counts()
    with pytest.raises(CommandError, match="承認できません"):
        cmd("approve", str(created_run), "--by", "supervisor2")
    assert counts() == before


def test_command_errors_exit_non_zero_from_the_command_line(created_run, capsys):
    from django.core.management import ManagementUtility

    utility = ManagementUtility(["manage.py", "issuance_run", "execute", str(created_run)])
    with pytest.raises(SystemExit) as exc:
        utility.execute()
    assert exc.value.code != 0
    assert "承認されていない" in capsys.readouterr().err


def test_execute_wait_exits_non_zero_when_documents_fail(clerk, supervisor, monkeypatch):
    import documents.services

    def fail(*, run_id):
        IssuanceRun.objects.filter(pk=run_id).update(state=RunState.FAILED, error="PDF作成に失敗")

    monkeypatch.setattr(documents.services, "run_documents_schedule", fail)
    society.build()
    run_id, _ = create()
    cmd("approve", str(run_id), "--by", "supervisor")
    with pytest.raises(CommandError, match="失敗しました: PDF作成に失敗"):
        cmd("execute", str(run_id), "--wait", "--timeout", "30")
    # the certificates were issued; only the documents failed
    assert Certificate.objects.filter(run_id=run_id).count() == len(society.EXPECTED)


def test_execute_wait_times_out_non_zero(clerk, supervisor, monkeypatch):
    import documents.services

    monkeypatch.setattr(documents.services, "run_documents_schedule", lambda *, run_id: None)
    society.build()
    run_id, _ = create()
    cmd("approve", str(run_id), "--by", "supervisor")
    with pytest.raises(CommandError, match="0.3秒以内に完了しませんでした"):
        cmd("execute", str(run_id), "--wait", "--timeout", "0.3", "--poll", "0.1")
    assert IssuanceRun.objects.get(pk=run_id).state == RunState.RUNNING
