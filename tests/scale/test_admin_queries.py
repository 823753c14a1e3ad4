"""The admin at a million persons: a changelist page costs the same number of queries whatever the
number of rows on it (no query per row), so a page stays fast however large the tables grow.

Each test loads the page with a few rows, then with many, and asserts the query counts are equal and
the rows are really on the page. (Timings are measured by `make bench`, not here.)"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from certificates.services import run_create

from . import builders

pytestmark = pytest.mark.django_db

FEW = 3  # households: 6 persons
MANY = 25  # households: 50 persons (the Person list shows 50 per page)


def page_queries(client, url: str, params: dict | None = None) -> tuple[int, object]:
    client.get(url, params or {})  # first load: session, content types, permissions caches
    with CaptureQueriesContext(connection) as ctx:
        resp = client.get(url, params or {})
    assert resp.status_code == 200, resp.status_code
    return len(ctx.captured_queries), resp


def rows_on_page(resp) -> int:
    return len(resp.context["cl"].result_list)


def assert_flat(small: tuple[int, object], large: tuple[int, object], few: int, many: int):
    (q_small, r_small), (q_large, r_large) = small, large
    assert rows_on_page(r_small) == few
    assert rows_on_page(r_large) == many
    assert q_large == q_small, f"{q_small} queries for {few} rows, {q_large} for {many}"


def test_person_list(client, supervisor):
    client.force_login(supervisor)
    url = reverse("admin:members_person_changelist")
    builders.households(FEW)
    small = page_queries(client, url)
    builders.households(MANY - FEW)
    assert_flat(small, page_queries(client, url), 2 * FEW, 2 * MANY)


def test_person_search(client, supervisor):
    client.force_login(supervisor)
    url = reverse("admin:members_person_changelist")
    builders.households(FEW, kana="サトウ")
    small = page_queries(client, url, {"q": "さとう"})
    builders.households(MANY - FEW, kana="サトウ")
    builders.households(5, kana="スズキ")  # not found by the search
    assert_flat(small, page_queries(client, url, {"q": "さとう"}), 2 * FEW, 2 * MANY)


def test_registration_status_list(client, supervisor):
    client.force_login(supervisor)
    url = reverse("admin:members_registrationstatus_changelist")
    builders.households(FEW)
    small = page_queries(client, url)
    builders.households(MANY - FEW)
    # one snapshot per builder call: the 取込 filter lists snapshots, which grow by one per import
    # (monthly), not with rows; compare pages with the same number of snapshots
    builders.households(0)
    q_small, r_small = small
    q_large, r_large = page_queries(client, url)
    assert rows_on_page(r_small) == 2 * FEW and rows_on_page(r_large) == 2 * MANY
    assert q_large == q_small


def test_certificate_list(client, supervisor):
    client.force_login(supervisor)
    url = reverse("admin:certificates_certificate_changelist")
    builders.certificates(builders.households(FEW))
    small = page_queries(client, url)
    builders.certificates(builders.households(MANY - FEW))
    assert_flat(small, page_queries(client, url), 2 * FEW, 2 * MANY)


def test_certificate_search_by_kana(client, supervisor):
    client.force_login(supervisor)
    url = reverse("admin:certificates_certificate_changelist")
    builders.certificates(builders.households(FEW, kana="サトウ"))
    small = page_queries(client, url, {"q": "ｻﾄｳ"})
    builders.certificates(builders.households(MANY - FEW, kana="サトウ"))
    assert_flat(small, page_queries(client, url, {"q": "ｻﾄｳ"}), 2 * FEW, 2 * MANY)


def test_invoice_list(client, supervisor):
    client.force_login(supervisor)
    url = reverse("admin:fees_invoice_changelist")
    builders.invoices(builders.certificates(builders.households(FEW)), user=supervisor)
    small = page_queries(client, url)
    builders.invoices(builders.certificates(builders.households(MANY - FEW)), user=supervisor)
    assert_flat(small, page_queries(client, url), 2 * FEW, 2 * MANY)


def test_run_list(client, clerk, supervisor):
    client.force_login(supervisor)
    url = reverse("admin:certificates_issuancerun_changelist")
    builders.households(2)

    def runs(n):
        for _ in range(n):
            run = run_create(
                status_date=builders.STATUS_DATE,
                issue_date=builders.ISSUE,
                valid_until=builders.UNTIL,
                acting_user=clerk,
            )
            builders.stored_chunks(run, 3)

    runs(FEW)
    small = page_queries(client, url)
    runs(12)
    assert_flat(small, page_queries(client, url), FEW, FEW + 12)


def test_run_preview(client, clerk, supervisor):
    """The preview the approver reads: its tables (by 事業所, chunks) grow with the run, its queries
    do not."""
    client.force_login(supervisor)

    def preview(n_households: int, n_chunks: int):
        persons = builders.households(n_households)
        run = run_create(
            status_date=builders.STATUS_DATE,
            issue_date=builders.ISSUE,
            valid_until=builders.UNTIL,
            acting_user=clerk,
        )
        # who changed since freezing (issue 14): every household's member lost on the issue date
        from members.services import person_record_loss

        for member in persons[::2]:
            person_record_loss(person=member, lost_on=builders.ISSUE, reason="退職")
        builders.stored_chunks(run, n_chunks)
        url = reverse("admin:certificates_issuancerun_change", args=[run.pk])
        count, resp = page_queries(client, url)
        return count, resp, run

    q_small, r_small, run_small = preview(FEW, FEW)
    q_large, r_large, run_large = preview(MANY, MANY)
    assert len(r_small.context["by_employer"]) == run_small.target_count // 2 == FEW
    assert len(r_large.context["by_employer"]) >= MANY
    assert len(r_large.context["stored_docs"]) == MANY
    assert r_small.context["changes"].total == len(r_small.context["changes"].rows) == 2 * FEW
    assert r_large.context["changes"].total == len(r_large.context["changes"].rows) == 2 * MANY
    assert q_large == q_small, f"{q_small} queries for the small run, {q_large} for the large"
