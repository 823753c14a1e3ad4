"""The certificates admin through the test client: runs (create, preview, approve, execute,
manifest) and the certificate search."""

import csv
import io

import pytest
from django.urls import reverse

from certificates.models import Certificate, IssuanceRun, RunState
from certificates.services import run_approve, run_create, run_execute
from core.models import AuditEvent

from . import society

pytestmark = pytest.mark.django_db


def login(client, user):
    client.force_login(user)
    return client


def make_run(user):
    return run_create(
        status_date=society.STATUS_DATE,
        issue_date=society.ISSUE,
        valid_until=society.RUN_UNTIL,
        acting_user=user,
    )


def preview(client, run):
    return client.get(reverse("admin:certificates_issuancerun_change", args=[run.pk]))


def test_clerk_creates_a_run_from_the_admin(client, clerk):
    society.build()
    login(client, clerk)
    url = reverse("admin:certificates_issuancerun_add")
    assert client.get(url).status_code == 200
    resp = client.post(
        url,
        {"status_date": "2026-11-15", "issue_date": "2026-12-01", "valid_until": "2031-11-30"},
        follow=True,
    )
    run = IssuanceRun.objects.get()
    assert run.created_by == clerk and run.target_count == len(society.EXPECTED)
    assert resp.redirect_chain[-1][0].endswith(f"/{run.pk}/change/")
    assert "を作成しました" in resp.content.decode()


def test_create_form_refuses_bad_dates_and_changes_nothing(client, clerk):
    login(client, clerk)
    url = reverse("admin:certificates_issuancerun_add")
    resp = client.post(
        url, {"status_date": "2026-11-15", "issue_date": "2026-12-01", "valid_until": "2032-01-01"}
    )
    assert resp.status_code == 200 and "5年以内" in resp.content.decode()
    resp = client.post(
        url, {"status_date": "2026-11-15", "issue_date": "2026-12-01", "valid_until": "2026-11-01"}
    )
    assert "交付年月日より前" in resp.content.decode()
    assert IssuanceRun.objects.count() == 0


def test_auditor_cannot_create_runs(client, auditor):
    login(client, auditor)
    assert client.get(reverse("admin:certificates_issuancerun_add")).status_code == 403


def test_preview_shows_counts_and_buttons_only_to_those_allowed(client, clerk, supervisor):
    society.build()
    run = make_run(supervisor)
    html = preview(login(client, supervisor), run).content.decode()
    for text in (
        "交付事由別",
        "未登録",
        "E100",
        "第一商事",
        "事業主経由",
        "自宅",
        "前回の一括交付はありません",
    ):
        assert text in html
    assert 'id="run-approve"' not in html  # the creator
    assert "作成者は承認できません" in html
    client.logout()
    html = preview(login(client, clerk), run).content.decode()
    assert 'id="run-approve"' not in html and 'id="run-execute"' not in html  # no permission


def test_approve_button_posts_through_the_service(client, clerk, supervisor):
    society.build()
    run = make_run(clerk)
    login(client, supervisor)
    assert 'id="run-approve"' in preview(client, run).content.decode()
    url = reverse("admin:certificates_run_approve", args=[run.pk])
    # the button opens a confirmation saying what will be approved; GET changes nothing
    confirm = client.get(url)
    assert confirm.status_code == 200
    assert f"{run.target_count}人" in confirm.content.decode()
    run.refresh_from_db()
    assert run.state == RunState.CREATED
    resp = client.post(url, follow=True)
    run.refresh_from_db()
    assert run.state == RunState.APPROVED and run.approved_by == supervisor
    assert "承認しました" in resp.content.decode()
    # approving again: a clear message, nothing changes
    resp = client.post(url, follow=True)
    assert "承認できません" in resp.content.decode()
    run.refresh_from_db()
    assert run.approved_by == supervisor


def test_creator_posting_approve_gets_a_message_and_nothing_changes(client, supervisor):
    society.build()
    run = make_run(supervisor)
    resp = login(client, supervisor).post(
        reverse("admin:certificates_run_approve", args=[run.pk]), follow=True
    )
    assert "承認できません" in resp.content.decode()
    run.refresh_from_db()
    assert run.state == RunState.CREATED and run.approved_by is None


def test_clerk_cannot_post_approve_or_execute(client, clerk, clerk2, supervisor):
    society.build()
    run = make_run(clerk2)
    login(client, clerk)
    assert client.post(reverse("admin:certificates_run_approve", args=[run.pk])).status_code == 403
    run_approve(run=run, acting_user=supervisor)
    assert client.post(reverse("admin:certificates_run_execute", args=[run.pk])).status_code == 403
    assert Certificate.objects.filter(run=run).count() == 0


def test_execute_button_issues_in_a_task_and_documents_finish_the_run(
    client, clerk, supervisor, django_capture_on_commit_callbacks
):
    society.build()
    run = make_run(clerk)
    run_approve(run=run, acting_user=supervisor)
    login(client, supervisor)
    assert 'id="run-execute"' in preview(client, run).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(reverse("admin:certificates_run_execute", args=[run.pk]), follow=True)
    assert "実行を開始しました" in resp.content.decode()
    run.refresh_from_db()
    assert run.issued_count == len(society.EXPECTED) == Certificate.objects.filter(run=run).count()
    assert run.state == RunState.DONE
    html = preview(client, run).content.decode()
    assert "<progress" in html and 'value="' in html and "100%" in html
    assert 'id="run-execute"' not in html
    # the run list shows state, counts and the progress bar
    html = client.get(reverse("admin:certificates_issuancerun_changelist")).content.decode()
    assert "完了" in html and "<progress" in html and str(len(society.EXPECTED)) in html


def test_execute_of_an_unapproved_run_is_refused_with_a_message(client, clerk, supervisor):
    society.build()
    run = make_run(clerk)
    resp = login(client, supervisor).post(
        reverse("admin:certificates_run_execute", args=[run.pk]), follow=True
    )
    assert "承認されていない" in resp.content.decode()
    assert Certificate.objects.count() == 3  # only the society's own


def test_manifest_csv_lists_every_frozen_target(client, clerk, auditor):
    society.build()
    run = make_run(clerk)
    resp = login(client, auditor).get(reverse("admin:certificates_run_manifest", args=[run.pk]))
    assert resp.status_code == 200
    body = b"".join(resp.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert len(rows) == len(society.EXPECTED)
    keys = {f"{r['記号']}-{r['番号']}-{r['枝番']}": r for r in rows}
    assert set(keys) == set(society.EXPECTED)
    assert keys["10-10-00"]["更新前の証明書番号"] == "2025-9000001"
    assert keys["10-6-01"]["送付先"] == "自宅" and keys["10-6-01"]["世帯(記号・番号)"] == "10・6"
    assert keys["10-5-00"]["電子証明書有効期限"] == "2026-09-01"
    assert keys["10-1-00"]["氏名"] == "髙﨑 𠮷男"
    assert AuditEvent.objects.filter(action="run.manifest_downloaded", actor=auditor).count() == 1


@pytest.fixture
def issued(clerk, supervisor):
    society.build()
    run = make_run(clerk)
    run_approve(run=run, acting_user=supervisor)
    return run_execute(run=run)


def search(client, q, **params):
    resp = client.get(reverse("admin:certificates_certificate_changelist"), {"q": q, **params})
    assert resp.status_code == 200
    return {c.number for c in resp.context["cl"].result_list}


@pytest.mark.parametrize(
    ("query", "keys"),
    [
        ("10-1-00", {"10-1-00"}),
        ("10・1・01", {"10-1-01"}),
        ("10 1", "10 1*"),  # 記号 10, 番号 starting with 1
        ("１０－６－０１", {"10-6-01"}),  # full-width input
        ("髙﨑", {"10-1-00"}),
        ("タカサキ", {"10-1-00"}),
        ("ﾀｶｻｷ", {"10-1-00"}),  # half-width カナ
        ("たかさき よしお", {"10-1-00"}),  # hiragana, with the space
        ("ヨシオ", set()),  # カナ is by prefix
    ],
)
def test_certificate_search(client, supervisor, issued, query, keys):
    login(client, supervisor)

    def wanted(p):
        if keys == "10 1*":
            return p.kigo == "10" and p.bango.startswith("1")
        return f"{p.kigo}-{p.bango}-{p.edaban}" in keys

    numbers = {c.number for c in Certificate.objects.select_related("person") if wanted(c.person)}
    assert numbers or not keys
    assert search(client, query) == numbers


def test_certificate_search_by_number_and_run_filter(client, supervisor, issued):
    login(client, supervisor)
    cert = Certificate.objects.filter(run=issued).first()
    assert search(client, cert.number) == {cert.number}
    in_run = search(client, "", run__id__exact=issued.pk)
    assert in_run == set(Certificate.objects.filter(run=issued).values_list("number", flat=True))


def test_certificate_list_shows_reason_and_state_as_of_today(client, supervisor, issued):
    login(client, supervisor)
    html = client.get(reverse("admin:certificates_certificate_changelist")).content.decode()
    assert "交付事由" in html and "状態(本日時点)" in html and "電子証明書失効" in html
    # a stored 有効 past its 有効期限 is shown (and filtered) as 返却不要
    old = Certificate.objects.get(number="2025-9000002")
    Certificate.objects.filter(pk=old.pk).update(valid_until="2026-01-31", issue_date="2025-02-01")
    assert old.number in search(client, "", state_today="返却不要")
    assert old.number not in search(client, "", state_today="有効")


def test_certificate_history_page(client, supervisor, issued):
    login(client, supervisor)
    cert = Certificate.objects.filter(run=issued).first()
    resp = client.get(reverse("admin:certificates_certificate_history", args=[cert.pk]))
    assert resp.status_code == 200
    assert cert.history.count() == 1  # bulk issue wrote the history row


def test_run_list_reads_progress_without_a_query_per_run(
    client, clerk, supervisor, django_assert_max_num_queries
):
    for _ in range(5):
        IssuanceRun.objects.create(
            status_date=society.STATUS_DATE,
            issue_date=society.ISSUE,
            valid_until=society.RUN_UNTIL,
            created_by=clerk,
        )
    login(client, supervisor)
    url = reverse("admin:certificates_issuancerun_changelist")
    client.get(url)
    with django_assert_max_num_queries(8):  # not one more per run
        html = client.get(url).content.decode()
    assert html.count("<tr") >= 6


def test_run_history_page_lists_the_state_changes(client, clerk, supervisor):
    society.build()
    run = make_run(clerk)
    run_approve(run=run, acting_user=supervisor)
    resp = login(client, supervisor).get(
        reverse("admin:certificates_issuancerun_history", args=[run.pk])
    )
    assert resp.status_code == 200
    assert run.history.count() >= 3  # created, counted, approved
    assert "承認" in resp.content.decode()
