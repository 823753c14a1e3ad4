"""A clerk's day in a real browser at 1366×900 (headless Chromium): the home page, a person's
加入者カルテ, a loss → invoice → payment → reissue from that page in at most 6 actions, and the
person's current card opened in the browser (inline PDF). Screenshots go to test-artifacts/; the
home page and the カルテ are the ones shown in the README (readme_screenshot, conftest.py)."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from certificates.models import Certificate, CertificateState
from fees.models import ReissueApplication
from tests.admin_ui.scenario import build_society
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORT = {"width": 1366, "height": 900}


def _login(browser, base_url: str, username: str):
    context = browser.new_context(
        locale="ja-JP", accept_downloads=True, base_url=base_url, viewport=VIEWPORT
    )
    page = context.new_page()
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
    return page


class Clicks:
    """Counts the clerk's actions (clicks that submit or navigate)."""

    def __init__(self, page):
        self.page, self.n = page, 0

    def click(self, selector: str, **kw):
        self.n += 1
        self.page.click(selector, **kw)
        self.page.wait_for_load_state("domcontentloaded")


def test_loss_to_reissue_from_the_persons_page_and_the_card_inline(
    browser, live_server, screenshots, readme_screenshot, clerk, supervisor, media_root
):
    society = build_society(clerk=clerk, supervisor=supervisor)
    person = society.takahashi
    shot = lambda page, name: page.screenshot(path=screenshots / f"{name}.png", full_page=True)  # noqa: E731

    page = _login(browser, live_server.url, "clerk")
    # 本日の業務: counts that link to the lists
    assert "本日の業務" in page.inner_text("#content-main")
    assert page.locator("#today .dashboard-card").count() >= 5
    readme_screenshot(page, "home")
    # find the person from the home page's search, open the カルテ from the list
    page.fill("#person-q", "10-19")
    page.click(".person-search input[type=submit]")
    page.click(f"a.karte-link:has-text('{person.key}')")
    assert page.inner_text("#karte-key") == person.key
    old = Certificate.objects.get(person=person, run=society.run)
    assert old.number in page.inner_text("#karte-certificates")
    readme_screenshot(page, "karte")
    # the list at 1366 px: no one-character-per-line wrapping (a row is one line high)
    page.goto("/admin/members/person/")
    heights = page.eval_on_selector_all(
        "#result_list tbody tr", "rows => rows.map(r => r.getBoundingClientRect().height)"
    )
    assert heights and max(heights) < 40, heights
    shot(page, "person-list-1366")

    # --- loss → invoice → payment → issue, from the カルテ ---------------------------------
    page.goto(f"/admin/members/person/{person.pk}/karte/")
    clicks = Clicks(page)
    clicks.click("#karte-actions a:has-text('滅失・き損の届出')")
    # prefilled from the household: the certificate, the route, the kind
    assert page.input_value("#id_certificate_number") == old.number
    assert page.input_value("#id_route") == "事業主経由"
    assert page.input_value("#id_kind") == "滅失・き損"
    assert "直ちに無効" in page.inner_text("#content-main")  # what will happen, before the button
    shot(page, "loss-form")
    clicks.click("input[name=apply]")
    assert page.inner_text("#karte-key") == person.key  # back on the カルテ
    assert "請求書" in page.inner_text("ul.messagelist")
    clicks.click("#karte-actions a:has-text('入金を確認')")
    clicks.click("input[name=apply]")
    assert "入金を確認しました" in page.inner_text("ul.messagelist")
    clicks.click("#karte-actions a:has-text('再交付する')")
    assert person.name in page.inner_text("#content-main")
    clicks.click("input[name=apply]")
    assert "交付しました" in page.inner_text("ul.messagelist")
    assert clicks.n <= 6, clicks.n
    app = ReissueApplication.objects.get(certificate=old, kind="滅失・き損")
    new = app.new_certificate
    assert new is not None and new.state == CertificateState.ACTIVE
    assert new.number in page.inner_text("#karte-certificates")
    shot(page, "karte-after-reissue")

    # --- the person's current card, in the browser's PDF viewer ----------------------------
    page.click("#karte-actions a:has-text('資格確認書と送付状を印刷')")
    # the confirmation opens the PDF in a new tab
    with page.context.expect_event(
        "response", lambda r: "/reprint/" in r.url and r.request.method == "POST"
    ) as info:
        page.click("input[name=confirm]")
    response = info.value
    assert response.headers["content-type"] == "application/pdf"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("inline;")
    assert unquote(disposition.split("''", 1)[1]) == "資格確認書_10-19-00_髙橋𠮷男.pdf"
    # Chromium opened it in its own PDF viewer (a download would not render a page), and the
    # reprint is in the audit trail under the clerk's name
    assert b"<embed" in response.body() or b"<iframe" in response.body()
    from core.models import AuditEvent

    assert AuditEvent.objects.filter(action="document.reprinted", actor=clerk).count() == 1


def test_lists_fit_1366_and_an_auditor_reads_without_acting(
    browser, live_server, screenshots, clerk, supervisor, auditor, media_root
):
    society = build_society(clerk=clerk, supervisor=supervisor)
    shot = lambda page, name: page.screenshot(path=screenshots / f"{name}.png", full_page=True)  # noqa: E731
    page = _login(browser, live_server.url, "clerk")
    for url, name in (
        ("/admin/members/person/", "list-persons"),
        ("/admin/certificates/returnpendingcertificate/", "list-returns"),
        ("/admin/certificates/certificate/", "list-certificates"),
        ("/admin/fees/reissueapplication/", "list-applications"),
    ):
        page.goto(url)
        right = page.eval_on_selector("#result_list", "t => t.getBoundingClientRect().right")
        assert right <= VIEWPORT["width"], (url, right)  # every column on screen
        heights = page.eval_on_selector_all(
            "#result_list tbody tr", "rows => rows.map(r => r.getBoundingClientRect().height)"
        )
        assert heights and max(heights) < 40, (url, heights)  # no one-character wrapping
        shot(page, name)
    # the filters unfold on a click and the applied one keeps them open
    page.goto("/admin/members/person/")
    page.click("#changelist-filter summary.filters-fold, #changelist-filter-header")
    with page.expect_navigation():
        page.click("#changelist-filter a:has-text('資格喪失済み')")
    assert "qualification=lost" in page.url
    assert page.locator("#changelist-filter details.filters-fold[open]").count() == 1
    assert "(適用中)" in page.inner_text("#changelist-filter-header")

    aud = _login(browser, live_server.url, "auditor")
    aud.click("#today a:has-text('返却の回収率')")
    assert "5日以内" in aud.inner_text("#recovery")
    aud.goto(f"/admin/members/person/{society.suzuki.pk}/karte/")
    assert aud.locator("#karte-actions a.button").count() == 0  # reads, changes nothing
    cert = society.suzuki.certificates.get()
    aud.goto("/admin/core/auditevent/")
    aud.fill("#searchbar", cert.number)
    aud.press("#searchbar", "Enter")
    aud.wait_for_selector("#result_list")
    text = aud.inner_text("#result_list")
    assert "資格確認書の返却依頼(返却待ち)" in text and "certificate.return_required" not in text
    shot(aud, "auditor-audit-trail")
