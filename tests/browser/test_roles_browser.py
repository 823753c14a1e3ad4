"""Each role in a real browser (headless Chromium at 1366×900): what it may do succeeds, what it may
not do is refused with a Japanese message — through the screens and through the side door (the URL
typed by hand, a POST made by hand with a valid CSRF token), since a hidden button alone refuses
nothing.

- 事務担当 (clerk): prepares a run; cannot approve it (no button, the approve URL is refused, a
  hand-made POST is refused and the run stays 作成); cannot waive a fee.
- 承認者 (supervisor): waives a fee from the 加入者カルテ; approves a run a clerk prepared; cannot
  approve the run they prepared themselves (refused with the reason, the run stays 作成).
- 監査 (auditor): reads a person's page with no 追加/保存/削除 buttons and no actions; a hand-made
  POST to the change form and to a clerk's action is refused and changes nothing.
- a login without a role (not staff) does not get into the admin.

Batch operators have no admin role of their own (README: a supervisor or the server operator runs
the commands), so they have nothing more to drive here. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from certificates.models import IssuanceRun, RunState
from certificates.services import run_create
from fees.models import Invoice, InvoiceState, ReissueApplication
from fees.services import reissue_application_receive_loss
from members.models import Person
from tests.admin_ui.scenario import build_society
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORT = {"width": 1366, "height": 900}
REFUSED_TITLE = "この操作の権限がありません"  # templates/403.html


def _login(browser, base_url: str, username: str):
    context = browser.new_context(locale="ja-JP", base_url=base_url, viewport=VIEWPORT)
    page = context.new_page()
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
    return page


def _post_by_hand(page, url: str, data: dict):
    """Submit a form the page never offered (as a user editing the HTML would), with the session's
    valid CSRF token: only the server's permission check stands in the way. Returns the response."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    with page.expect_navigation() as nav:
        page.evaluate(
            """([url, data]) => {
                const f = document.createElement('form');
                f.method = 'post';
                f.action = url;
                for (const [k, v] of Object.entries(data)) {
                    const i = document.createElement('input');
                    i.type = 'hidden'; i.name = k; i.value = v;
                    f.appendChild(i);
                }
                document.body.appendChild(f);
                f.submit();
            }""",
            [url, {**data, "csrfmiddlewaretoken": token}],
        )
    return nav.value


def _refused(page, response) -> str:
    """The 403 page, in Japanese."""
    assert response.status == 403, (response.status, page.url)
    assert page.get_attribute("html", "lang") == "ja"
    assert page.inner_text("h1") == REFUSED_TITLE
    return page.inner_text("#content")


def test_clerk_prepares_a_run_but_cannot_approve_it_nor_waive_a_fee(
    browser, live_server, screenshots, clerk, supervisor, media_root
):
    society = build_society(clerk=clerk, supervisor=supervisor)
    today = timezone.localdate()
    page = _login(browser, live_server.url, "clerk")

    # may: prepare a run (the add form)
    page.goto("/admin/certificates/issuancerun/add/")
    page.fill("#id_status_date", today.isoformat())
    page.fill("#id_issue_date", (today + timezone.timedelta(days=7)).isoformat())
    page.fill("#id_valid_until", (today + timezone.timedelta(days=700)).isoformat())
    page.click("form:has(#id_issue_date) input[type=submit]")
    page.wait_for_selector("ul.messagelist")
    assert "を作成しました" in page.inner_text("ul.messagelist")
    run = IssuanceRun.objects.get(created_by=clerk, state=RunState.CREATED)
    # may not: approve — no button, and the page says why
    assert page.locator("#run-approve").count() == 0
    assert "作成者は承認できません" in page.inner_text("#run-actions")
    page.screenshot(path=screenshots / "role-clerk-run-no-approve.png", full_page=True)
    # … nor through the side door: the approve URL typed by hand, and a hand-made POST
    approve_url = f"/admin/certificates/issuancerun/{run.pk}/approve/"
    text = _refused(page, page.goto(approve_url))
    assert "役割" in text
    page.screenshot(path=screenshots / "role-clerk-approve-refused.png", full_page=True)
    page.goto(f"/admin/certificates/issuancerun/{run.pk}/change/")
    _refused(page, _post_by_hand(page, approve_url, {"confirm": "1"}))
    run.refresh_from_db()
    assert run.state == RunState.CREATED and run.approved_by is None

    # may not: waive a fee (承認者 only) — not offered on the カルテ, refused by hand
    app = reissue_application_receive_loss(
        certificate=society.takahashi.certificates.get(run=society.run),
        route="事業主経由",
        received_on=today,
        acting_user=clerk,
    )
    page.goto(f"/admin/members/person/{society.takahashi.pk}/karte/")
    actions = page.inner_text("#karte-actions")
    assert "入金を確認" in actions and "手数料を免除" not in actions
    waive_url = f"/admin/fees/invoice/{app.invoice.pk}/waive/"
    _refused(page, page.goto(waive_url))
    page.goto(f"/admin/members/person/{society.takahashi.pk}/karte/")
    _refused(page, _post_by_hand(page, waive_url, {"reason": "勝手な免除", "apply": "1"}))
    assert Invoice.objects.get(pk=app.invoice.pk).state == InvoiceState.UNPAID


def test_supervisor_waives_a_fee_approves_a_clerks_run_but_not_their_own(
    browser, live_server, screenshots, clerk, supervisor, media_root
):
    society = build_society(clerk=clerk, supervisor=supervisor)
    today = timezone.localdate()
    dates = dict(
        status_date=today,
        issue_date=today + timezone.timedelta(days=7),
        valid_until=today + timezone.timedelta(days=700),
    )
    clerks_run = run_create(acting_user=clerk, **dates)
    own_run = run_create(acting_user=supervisor, **dates)
    app = reissue_application_receive_loss(
        certificate=society.takahashi.certificates.get(run=society.run),
        route="事業主経由",
        received_on=today,
        acting_user=clerk,
    )
    sup = _login(browser, live_server.url, "supervisor")

    # may: waive the fee from the person's page (reason required, one confirmation)
    sup.goto(f"/admin/members/person/{society.takahashi.pk}/karte/")
    sup.click("#karte-actions a:has-text('手数料を免除')")
    sup.click("input[name=apply]")  # without a reason: refused on the form, in Japanese
    assert "このフィールドは必須です" in sup.inner_text("#content-main")
    sup.fill("textarea[name=reason], input[name=reason]", "災害による免除")
    sup.click("input[name=apply]")
    sup.wait_for_selector("ul.messagelist")
    assert "手数料を免除しました" in sup.inner_text("ul.messagelist")
    invoice = Invoice.objects.get(pk=app.invoice.pk)
    assert invoice.state == InvoiceState.WAIVED and invoice.state_changed_by == supervisor

    # may not: approve the run they prepared — no button, the reason on the page …
    sup.goto(f"/admin/certificates/issuancerun/{own_run.pk}/change/")
    assert sup.locator("#run-approve").count() == 0
    assert "作成者は承認できません" in sup.inner_text("#run-actions")
    # … and the approve URL typed by hand ends in the refusal with the reason
    sup.goto(f"/admin/certificates/issuancerun/{own_run.pk}/approve/")
    sup.click("input[name=confirm]")
    sup.wait_for_selector("ul.messagelist")
    message = sup.inner_text("ul.messagelist")
    assert f"一括交付 #{own_run.pk} を作成した「supervisor」は承認できません" in message, message
    sup.screenshot(path=screenshots / "role-supervisor-own-run-refused.png", full_page=True)
    own_run.refresh_from_db()
    assert own_run.state == RunState.CREATED and own_run.approved_by is None

    # may: approve the clerk's run (the button, the confirmation with the counts, one more click)
    sup.goto(f"/admin/certificates/issuancerun/{clerks_run.pk}/change/")
    sup.click("#run-approve")
    assert f"{clerks_run.target_count}人" in sup.inner_text("#confirm-facts")
    sup.click("input[name=confirm]")
    sup.wait_for_selector("ul.messagelist")
    assert f"一括交付 #{clerks_run.pk} を承認しました" in sup.inner_text("ul.messagelist")
    clerks_run.refresh_from_db()
    assert clerks_run.state == RunState.APPROVED and clerks_run.approved_by == supervisor


def test_auditor_reads_everything_and_every_write_is_refused(
    browser, live_server, screenshots, clerk, supervisor, auditor, media_root
):
    society = build_society(clerk=clerk, supervisor=supervisor)
    person = society.takahashi
    aud = _login(browser, live_server.url, "auditor")

    # may: read the person's page, the change form (read-only) and the lists
    aud.goto(f"/admin/members/person/{person.pk}/karte/")
    assert aud.inner_text("#karte-key") == person.key
    assert aud.locator("#karte-actions a.button").count() == 0
    assert "登録内容の編集" not in aud.inner_text("#content")
    change_url = f"/admin/members/person/{person.pk}/change/"
    aud.goto(change_url)
    assert person.name in aud.inner_text("#content-main")
    # no 保存 / 保存して編集を続ける / 削除 buttons, no editable field
    for selector in ("input[name=_save]", "input[name=_continue]", "input[name=_addanother]"):
        assert aud.locator(selector).count() == 0, selector
    assert aud.locator("#content-main a.deletelink").count() == 0
    assert aud.locator("#content-main input[name=name]").count() == 0
    aud.screenshot(path=screenshots / "role-auditor-person-readonly.png", full_page=True)
    aud.goto("/admin/members/person/")
    assert aud.locator("#content-main a.addlink").count() == 0  # no 追加

    # may not: change the person by a hand-made POST …
    text = _refused(aud, _post_by_hand(aud, change_url, {"name": "監査 改ざん", "_save": "1"}))
    assert "役割" in text
    aud.screenshot(path=screenshots / "role-auditor-post-refused.png", full_page=True)
    assert Person.objects.get(pk=person.pk).name == person.name
    # … nor take a clerk's action (the 滅失・き損 form the clerk's カルテ offers)
    cert = person.certificates.get(run=society.run)
    before = ReissueApplication.objects.count()
    response = _post_by_hand(
        aud,
        "/admin/fees/reissueapplication/add/",
        {
            "certificate_number": cert.number,
            "kind": "滅失・き損",
            "route": "事業主経由",
            "received_on": society.today.isoformat(),
            "apply": "1",
        },
    )
    _refused(aud, response)
    assert ReissueApplication.objects.count() == before


def test_a_login_without_a_role_does_not_get_into_the_admin(browser, live_server, outsider):
    context = browser.new_context(locale="ja-JP", base_url=live_server.url, viewport=VIEWPORT)
    page = context.new_page()
    page.goto("/admin/login/")
    page.fill("#id_username", "outsider")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector(".errornote")
    assert "スタッフ" in page.inner_text(".errornote")  # Django's Japanese text: staff only
    assert page.locator("#user-tools").count() == 0
    assert "/admin/login/" in page.url
