"""The whole 一括職権交付 in a real browser, as the three roles do it in the admin:

a clerk logs in and imports the members CSV (rules.md header), creates a run; a supervisor approves
and executes it and watches the progress reach 完了 (a real Celery worker issues and renders through
Redis); the clerk downloads a bundle PDF; an auditor exports the certificates CSV.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from pypdf import PdfReader

from certificates.models import Certificate, IssuanceRun, RunState
from members.models import Person
from tests.conftest import PASSWORD
from tests.support.pdfs import card_numbers, page_texts

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MEMBERS_HEADER = (
    "事業所記号,事業所名称,記号,番号,枝番,本人家族区分,被保険者種別,氏名,氏名カナ,生年月日,性別,"
    "郵便番号,住所,資格取得年月日,資格喪失年月日,任意継続満了日,標準報酬月額,要配慮者"
)
MEMBERS_CSV = (
    MEMBERS_HEADER
    + "\n"
    + "\n".join(
        [
            "E100,ブラウザ商事株式会社,20,501,00,本人,一般,𠮷田 太郎,ヨシダ タロウ,1980-05-10,男,,,2015-04-01,,,300000,",
            ",,20,501,01,家族,,𠮷田 花子,ヨシダ ハナコ,1982-03-03,女,,,2015-04-01,,,,",
            "E100,ブラウザ商事株式会社,20,502,00,本人,一般,山田 一郎,ヤマダ イチロウ,1975-01-20,男,,,2010-04-01,,,410000,",
            "E200,ブラウザ工業株式会社,20,503,00,本人,一般,髙橋 健,タカハシ ケン,1990-07-07,男,,,2018-04-01,,,240000,",
            ",,20,504,00,本人,任意継続,佐藤 次郎,サトウ ジロウ,1970-02-02,男,150-0001,東京都渋谷区神宮前一丁目2番3号,2000-04-01,,2026-09-30,380000,",
        ]
    )
)
CERTIFICATES_HEADER = (
    "証明書番号,記号,番号,枝番,氏名,氏名カナ,交付年月日,有効期限,交付事由,状態,送付先,"
    "高齢受給者証発効日,一部負担金割合,一括交付ID"
)


def _login(browser, base_url: str, username: str):
    context = browser.new_context(
        locale="ja-JP",
        accept_downloads=True,
        base_url=base_url,
        viewport={"width": 1366, "height": 900},
    )
    page = context.new_page()
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")  # the admin greets the logged-in user
    return page


def _message(page) -> str:
    return page.inner_text("ul.messagelist")


def test_clerk_supervisor_auditor_run_a_bulk_issue_in_the_admin(
    browser,
    live_server,
    screenshots,
    readme_screenshot,
    tmp_path,
    clerk,
    supervisor,
    auditor,
    media_root,
    celery_to_redis,
    start_worker,
):
    shot = lambda page, name: page.screenshot(path=screenshots / f"{name}.png", full_page=True)  # noqa: E731

    # --- the clerk: log in, import the members CSV, create the run -----------------------------
    page = _login(browser, live_server.url, "clerk")
    shot(page, "01-clerk-menu")
    # The admin speaks Japanese (LANGUAGE_CODE ja, the site's own titles).
    assert page.get_attribute("html", "lang") == "ja"
    assert "業務メニュー" in page.inner_text("#content")
    assert "ログアウト" in page.inner_text("#user-tools")
    csv_path = tmp_path / "加入者.csv"
    csv_path.write_text(MEMBERS_CSV + "\n", encoding="utf-8")
    page.goto("/admin/members/person/import/")
    page.set_input_files("#id_import_file", str(csv_path))
    shot(page, "02-members-import")
    page.click("form:has(#id_import_file) input[type=submit]")
    page.wait_for_selector("input[name=confirm]")
    shot(page, "03-members-import-preview")
    page.click("input[name=confirm]")
    page.wait_for_selector("ul.messagelist")
    assert "新規 5" in _message(page), _message(page)
    shot(page, "04-members-imported")
    assert Person.objects.count() == 5
    assert Person.objects.get(kigo="20", bango="501", edaban="01").name == "𠮷田 花子"

    page.goto("/admin/certificates/issuancerun/add/")
    page.fill("#id_status_date", "2025-11-01")
    page.fill("#id_issue_date", "2025-12-01")
    page.fill("#id_valid_until", "2027-11-30")
    shot(page, "05-run-create")
    page.click("form:has(#id_issue_date) input[type=submit]")
    page.wait_for_selector("ul.messagelist")
    assert "を作成しました" in _message(page), _message(page)
    run = IssuanceRun.objects.get()
    assert run.target_count == 5 and run.created_by == clerk
    assert page.inner_text("#run-state") == "作成"
    # The creator cannot approve: no button for the clerk.
    assert page.locator("#run-approve").count() == 0
    shot(page, "06-run-preview-created")

    # --- the supervisor: approve, execute, watch the progress reach 完了 -------------------------
    sup = _login(browser, live_server.url, "supervisor")
    run_url = f"/admin/certificates/issuancerun/{run.pk}/change/"
    sup.goto(run_url)
    # 承認 and 実行 each open a confirmation that says what will happen, then one more click
    sup.click("#run-approve")
    assert f"{run.target_count}人" in sup.inner_text("#confirm-facts")
    shot(sup, "07a-run-approve-confirm")
    sup.click("input[name=confirm]")
    sup.wait_for_selector("ul.messagelist")
    assert "承認しました" in _message(sup), _message(sup)
    sup.click("#run-execute")
    sup.wait_for_selector("#confirm-facts")
    sup.click("input[name=confirm]")
    sup.wait_for_selector("ul.messagelist")
    assert "実行を開始しました" in _message(sup), _message(sup)
    # 実行 returned at once: the run is 実行中 and no worker has taken it yet (none is running),
    # so the page shows the run in progress (the README's picture) and polls for its fragment.
    assert sup.get_attribute("#run-live", "data-state") == "実行中"
    assert sup.get_attribute("#run-live", "hx-trigger") == "every 2s"
    readme_screenshot(sup, "run")
    # The page follows the run by itself (htmx polls the run's fragment): no reload, no
    # navigation — the marker set on this very document is still there when it reaches 完了.
    sup.evaluate("window.__sameDocument = 'yes'")
    start_worker("w1")
    refused = []  # the Content-Security-Policy must let htmx work (no inline script, no eval)
    sup.on(
        "console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None
    )
    sup.wait_for_selector(
        "#run-live[data-state='完了'], #run-live[data-state='失敗']", timeout=180_000
    )
    assert sup.inner_text("#run-state") == "完了", sup.inner_text("#content-main")
    assert sup.evaluate("window.__sameDocument") == "yes"
    assert refused == [], refused
    # once finished the fragment stops polling
    assert sup.get_attribute("#run-live", "hx-trigger") is None
    shot(sup, "08-run-done")
    assert sup.inner_text("#run-issued") == "5"
    run.refresh_from_db()
    assert run.state == RunState.DONE and run.approved_by == supervisor
    assert run.executed_by == supervisor

    # --- the clerk downloads the first bundle: 事業所 E100 (𠮷田 household and 山田) ------------
    page.goto(run_url)
    # One list of the stored PDFs, in the page body (it once leaked into the breadcrumbs bar too,
    # where it was drawn dark on dark).
    assert page.locator("#documents").count() == 1
    assert page.locator(".breadcrumbs table").count() == 0
    with page.expect_download() as info:
        page.locator("#content-main #documents a", has_text="保存").first.click()
    download = info.value
    pdf_path = tmp_path / "bundle.pdf"
    download.save_as(pdf_path)
    # named for what it holds: 一括交付{run}_事業所E100_ブラウザ商事株式会社.pdf
    assert download.suggested_filename == f"一括交付{run.pk}_事業所E100_ブラウザ商事株式会社.pdf"
    data = pdf_path.read_bytes()
    assert data.startswith(b"%PDF-")
    assert len(PdfReader(io.BytesIO(data)).pages) >= 3  # cover, letters, card sheets
    text = " ".join(" ".join(t.split()) for t in page_texts(pdf_path))
    assert "ブラウザ商事株式会社 御中" in text
    assert "山田 一郎" in text and "𠮷田 太郎" in text
    e100 = Certificate.objects.filter(run=run, person__employer__code="E100")
    e100 |= Certificate.objects.filter(run=run, person__member__employer__code="E100")
    assert sorted(card_numbers(pdf_path)) == sorted(e100.values_list("number", flat=True))

    # --- the auditor exports the certificates -------------------------------------------------
    aud = _login(browser, live_server.url, "auditor")
    aud.goto("/admin/certificates/certificate/")
    shot(aud, "09-auditor-certificates")
    aud.check("#action-toggle")
    aud.select_option("select[name=action]", "export_csv")
    with aud.expect_download() as info:
        aud.click("button[name=index]")
    export = info.value
    assert export.suggested_filename.endswith(".csv")
    export_path = tmp_path / "certificates.csv"
    export.save_as(export_path)
    raw = export_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, as rules.md says (opens in Excel)
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert ",".join(rows[0]) == CERTIFICATES_HEADER
    by_number = {r[0]: r for r in rows[1:]}
    certs = Certificate.objects.filter(run=run).select_related("person")
    assert set(by_number) == set(certs.values_list("number", flat=True))
    for cert in certs:
        row = by_number[cert.number]
        assert row[4] == cert.person.name
        assert row[6] == "2025-12-01"
        assert row[13] == str(run.pk)
    sato = by_number[certs.get(person__name="佐藤 次郎").number]
    assert sato[7] == "2026-09-30" and sato[10] == "自宅"  # 任意継続: until 満了日, sent home
    assert re.fullmatch(r"\d{4}-\d{7}", rows[1][0])
