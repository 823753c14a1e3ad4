"""A large members file uploaded in a real browser becomes a background import: the clerk lands on
the job page, which follows the job without reloading (htmx asks for the job's fragment, the
same pattern as a run's progress; the CSP refuses nothing) while a real Celery worker imports, and
ends on the report, where polling stops."""

from __future__ import annotations

import pytest

from members.import_jobs import ImportJob, ImportJobState
from members.models import Person
from tests.conftest import PASSWORD
from tests.members.builders import MEMBERS_HEADER, csv_text, dependent_row, member_row

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROWS = 4_000


def test_a_large_upload_is_imported_in_the_background_with_a_progress_page(
    browser,
    live_server,
    screenshots,
    tmp_path,
    settings,
    clerk,
    media_root,
    celery_to_redis,
    start_worker,
):
    settings.IMPORT_BACKGROUND_BYTES = 10_000
    rows = []
    for i in range(ROWS // 2):
        rows += [member_row(番号=str(20_000 + i)), dependent_row(番号=str(20_000 + i))]
    path = tmp_path / "加入者.csv"
    path.write_text(csv_text(MEMBERS_HEADER, rows), encoding="utf-8")

    context = browser.new_context(locale="ja-JP", base_url=live_server.url)
    page = context.new_page()
    refused = []
    page.on(
        "console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None
    )
    page.goto("/admin/login/")
    page.fill("#id_username", "clerk")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")

    page.goto("/admin/members/person/import/")
    page.set_input_files("#id_import_file", str(path))
    page.click("form:has(#id_import_file) input[type=submit]")
    page.wait_for_selector("#import-job")
    job = ImportJob.objects.get()
    assert page.url.endswith(f"/admin/members/person/import/job/{job.pk}/")
    assert page.get_attribute("#import-job", "data-state") == ImportJobState.PENDING
    page.screenshot(path=screenshots / "import-job-queued.png", full_page=True)

    assert page.get_attribute("#import-job", "hx-trigger") == "every 2s"
    page.evaluate("window.__sameDocument = 'yes'")
    start_worker("w1", concurrency=1)
    # the page follows the job by itself: no reload, no navigation (the marker set on this very
    # document is still there when the job has ended)
    page.wait_for_selector("#import-job[data-state='完了']", timeout=180_000)
    assert page.evaluate("window.__sameDocument") == "yes"
    assert page.get_attribute("#import-job", "hx-trigger") is None  # polling has stopped
    page.screenshot(path=screenshots / "import-job-done.png", full_page=True)
    text = page.inner_text("#import-job")
    assert f"加入者の取込が完了しました: {ROWS}行 / 新規 {ROWS}" in text
    assert Person.objects.count() == ROWS
    assert refused == []


def test_a_large_upload_with_bad_rows_ends_on_the_refusal_report_without_reloading(
    browser,
    live_server,
    screenshots,
    tmp_path,
    settings,
    clerk,
    media_root,
    celery_to_redis,
    start_worker,
):
    settings.IMPORT_BACKGROUND_BYTES = 10_000
    rows = []
    for i in range(300):
        rows += [member_row(番号=str(30_000 + i)), dependent_row(番号=str(30_000 + i))]
    rows[2]["性別"] = "不明"  # file line 4 (header, then rows 1…)
    path = tmp_path / "加入者.csv"
    path.write_text(csv_text(MEMBERS_HEADER, rows), encoding="utf-8")

    context = browser.new_context(locale="ja-JP", base_url=live_server.url)
    page = context.new_page()
    page.goto("/admin/login/")
    page.fill("#id_username", "clerk")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
    page.goto("/admin/members/person/import/")
    page.set_input_files("#id_import_file", str(path))
    page.click("form:has(#id_import_file) input[type=submit]")
    page.wait_for_selector("#import-job")
    page.evaluate("window.__sameDocument = 'yes'")
    start_worker("w1", concurrency=1)
    page.wait_for_selector(
        "#import-job[data-state='中止'], #import-job[data-state='完了']", timeout=180_000
    )
    assert page.get_attribute("#import-job", "data-state") == ImportJobState.REFUSED
    assert page.evaluate("window.__sameDocument") == "yes"
    assert page.get_attribute("#import-job", "hx-trigger") is None
    page.screenshot(path=screenshots / "import-job-refused.png", full_page=True)
    text = page.inner_text("#import-job")
    assert "取り込めませんでした（何も保存していません）" in text
    cells = page.eval_on_selector_all(
        "#import-job table.import-preview tbody tr",
        "rows => rows.map(r => [...r.cells].map(c => c.innerText))",
    )
    assert any(c[0] == "4" and c[1] == "性別" for c in cells), cells
    assert Person.objects.count() == 0  # all or nothing
