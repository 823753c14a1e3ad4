"""Reissue applications (rules.md "After issue"; the seed notice's handling notes).

- 記載事項変更: `reissue_application_receive_change` — the new details are applied, a new certificate
  (再交付(記載事項変更), same 有効期限) is issued with its documents, the old one becomes 返却待ち.
- 滅失・き損: `reissue_application_receive_loss` — the old certificate is 無効 at once; when a reissue is
  wanted, an Invoice of settings.REISSUE_FEE_YEN yen and its 請求書 (fees.services.invoices). Only
  after it is settled does `reissue_application_issue` issue the new certificate (再交付(滅失・き損)).
- `reissue_application_cancel` withdraws an open one.

Double submissions: the database refuses a second open application per certificate, a second
invoice per application and a second certificate per application; the services check first so the
clerk gets a clear message instead of an IntegrityError.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from certificates.lifecycle import certificate_require_return_after_change, normalize_number
from certificates.models import Certificate, CertificateState, IssueReason, Route
from certificates.rules import route_for_insured_type
from certificates.selectors import person_terms
from certificates.services import certificate_issue
from core.models import audit_event
from core.text_safety import check_texts
from documents.models import DocumentKind, GeneratedDocument
from documents.receivers import document_plan
from members.models import Person
from members.services import person_change_name

from ..models import (
    ApplicationRoute,
    ApplicationState,
    Invoice,
    InvoiceState,
    ReissueApplication,
    ReissueKind,
)
from .invoices import _invoice_create, _settle

__all__ = [
    "certificate_find",
    "reissue_application_cancel",
    "reissue_application_issue",
    "reissue_application_receive_change",
    "reissue_application_receive_loss",
]


def expected_route(person: Person) -> str:
    """Applications come the way certificates go (certificates.rules' route): 自宅 households
    apply directly, the others via the employer."""
    route = route_for_insured_type(person.household_member.insured_type)
    return ApplicationRoute.DIRECT if route == Route.HOME else ApplicationRoute.EMPLOYER


def _check_route(route: str, cert: Certificate) -> None:
    """The notice: 一般 households apply via the employer; 任意継続 households directly, on the
    society's own form. A mismatch is usually a wrong 証明書番号, so it is refused."""
    expected = expected_route(cert.person)
    if route not in ApplicationRoute.values:
        raise ValidationError(f"届出経路「{route}」は使えません(事業主経由 / 直接)")
    if route != expected:
        raise ValidationError(
            f"{cert.person.key} {cert.person.name} は"
            f"{'任意継続' if expected == ApplicationRoute.DIRECT else '一般'}の世帯のため、"
            f"届出経路は「{ApplicationRoute(expected).label}」です"
        )


def certificate_find(number: str) -> Certificate:
    """The certificate with this 証明書番号 (as typed: full-width digits are folded)."""
    number = normalize_number(number)
    cert = (
        Certificate.objects.select_related("person", "person__member", "person__employer")
        .filter(number=number)
        .first()
    )
    if cert is None:
        raise ValidationError(f"証明書番号 {number}: 該当する資格確認書がありません")
    return cert


def _lock(cert: Certificate) -> Certificate:
    return (
        Certificate.objects.select_for_update(of=("self",))
        .select_related("person", "person__member", "person__employer")
        .get(pk=cert.pk)
    )


def _refuse_existing(cert: Certificate, kind: str) -> None:
    existing = (
        ReissueApplication.objects.filter(certificate=cert)
        .exclude(state=ApplicationState.CANCELLED)
        .filter(kind=kind)
        .first()
    )
    if existing is None:
        existing = ReissueApplication.objects.filter(
            certificate=cert, state=ApplicationState.OPEN
        ).first()
    if existing is not None:
        raise ValidationError(
            f"資格確認書 {cert.number} にはすでに{existing.kind}の申請があります"
            f"(申請 #{existing.pk}、{existing.received_on:%Y-%m-%d} 受付、{existing.get_state_display()})"
        )


def _check_received_on(received_on: date) -> None:
    if received_on > timezone.localdate():
        raise ValidationError(f"受付日({received_on:%Y-%m-%d})が未来の日付です")


def _reissue_terms(old: Certificate, issue_date: date) -> dict:
    """Terms of the new certificate: same 有効期限 as the old (capped by the holder's own validity end,
    which can only be earlier), route and 高齢受給者 terms recomputed for today's registry data —
    from the rule expressions of a bulk run (certificates.selectors.person_terms)."""
    person = old.person
    terms = person_terms(
        person_id=person.pk,
        status_date=issue_date,
        issue_date=issue_date,
        valid_until=old.valid_until,
    )
    if not terms["qualified"]:
        raise ValidationError(
            f"{person.key} {person.name} は{issue_date:%Y-%m-%d}時点で資格がないため再交付できません"
        )
    if terms["valid_until"] < issue_date:
        raise ValidationError(
            f"資格確認書 {old.number} の有効期限({old.valid_until:%Y-%m-%d})を過ぎているため"
            "再交付できません(次の一括交付で交付されます)"
        )
    return {
        name: terms[name]
        for name in (
            "valid_until",
            "route",
            "elderly_start",
            "copay_ratio",
            "registration_status",
            "ec_expiry",
        )
    }


def _issue_replacement(
    app: ReissueApplication, *, person, reason: str, issue_date: date, terms: dict, acting_user
) -> Certificate:
    """The step both kinds of application end with: the new certificate replacing the
    application's (on `terms`, _reissue_terms), the application 交付済 with its documents planned."""
    cert = certificate_issue(
        person=person,
        reason=reason,
        issue_date=issue_date,
        acting_user=acting_user,
        replaces=app.certificate,
        **terms,
    )
    app.new_certificate = cert
    app.state = ApplicationState.ISSUED
    app.issued_at = timezone.now()
    app.issued_by = acting_user
    _plan_reissue_documents(app, cert)
    app._history_user = acting_user
    app.save()
    return cert


def _plan_reissue_documents(app: ReissueApplication, cert: Certificate) -> GeneratedDocument:
    doc = document_plan(
        kind=DocumentKind.REISSUE,
        label=f"{cert.reason} {cert.person.key} {cert.printed_name} 証明書番号 {cert.number}",
        item_ids=[cert.pk],
    )
    app.document = doc
    return doc


# --- 記載事項変更 -----------------------------------------------------------------------------------


@transaction.atomic
def reissue_application_receive_change(
    *,
    certificate: Certificate,
    route: str,
    received_on: date,
    acting_user,
    new_name: str = "",
    new_name_kana: str = "",
    note: str = "",
    issue_date: date | None = None,
) -> ReissueApplication:
    """資格確認書交付申請書 for a change of printed details.

    The new name (if given) is applied to the registry through members.services.person_change_name;
    empty means the registry already holds the new details. Then a new certificate 再交付(記載事項変更)
    with the old one's 有効期限 is issued and its certificate + letter generated; the old one becomes
    返却待ち, due 5 days after the application was received (returned the same way as on loss)."""
    _check_received_on(received_on)
    cert = _lock(certificate)
    _check_route(route, cert)
    _refuse_existing(cert, ReissueKind.CHANGE)
    if cert.held_since is not None:
        raise ValidationError(
            f"資格確認書 {cert.number} は宛所不明で送付保留中です。先に住所を訂正してください"
        )
    if cert.effective_state() != CertificateState.ACTIVE:
        raise ValidationError(
            f"資格確認書 {cert.number} は{cert.effective_state()}のため記載事項変更の対象になりません"
        )
    issue_date = issue_date or timezone.localdate()
    terms = _reissue_terms(cert, issue_date)
    new_name = new_name.strip()
    new_name_kana = new_name_kana.strip()
    check_texts(
        {"新しい氏名": new_name, "新しい氏名カナ": new_name_kana, "備考": note},
        multiline=frozenset({"備考"}),
    )
    if bool(new_name) != bool(new_name_kana):
        raise ValidationError("新しい氏名と氏名カナは両方入力してください")
    app = ReissueApplication(
        kind=ReissueKind.CHANGE,
        route=route,
        received_on=received_on,
        certificate=cert,
        new_name=new_name,
        new_name_kana=new_name_kana,
        note=note,
        created_by=acting_user,
    )
    app._history_user = acting_user
    app.save()
    if new_name:
        person_change_name(
            person=cert.person, name=new_name, name_kana=new_name_kana, acting_user=acting_user
        )
    old = certificate_require_return_after_change(
        certificate=cert, received_on=received_on, acting_user=acting_user
    )
    new_cert = _issue_replacement(
        app,
        # re-read: the printed name is copied from the registry row as it is now
        person=Person.objects.get(pk=cert.person_id),
        reason=IssueReason.REISSUE_CHANGE,
        issue_date=issue_date,
        terms=terms,
        acting_user=acting_user,
    )
    audit_event(
        action="reissue.change_issued",
        actor=acting_user,
        obj=app,
        old=old.number,
        new=new_cert.number,
        return_due=old.return_due.isoformat(),
    )
    return app


# --- 滅失・き損 ------------------------------------------------------------------------------------


@transaction.atomic
def reissue_application_receive_loss(
    *,
    certificate: Certificate,
    route: str,
    received_on: date,
    acting_user,
    reissue_requested: bool = True,
    note: str = "",
) -> ReissueApplication:
    """資格確認書(再)交付申請書・滅失届: the certificate is 無効 at once (it may be misused).

    - reissue wanted (the holder is still qualified): an Invoice of REISSUE_FEE_YEN yen and its
      請求書 PDF; the application stays open until the fee is paid or waived, then
      reissue_application_issue. With a fee of 0 yen no invoice is made.
    - no reissue (not wanted, or a 返却待ち certificate that cannot be returned — the 返納不能 case):
      the application is closed at once; no fee.
    """
    _check_received_on(received_on)
    check_texts({"備考": note}, multiline=frozenset({"備考"}))
    cert = _lock(certificate)
    _check_route(route, cert)
    _refuse_existing(cert, ReissueKind.LOSS)
    state = cert.effective_state()
    if cert.held_since is not None and state == CertificateState.ACTIVE:
        raise ValidationError(
            f"資格確認書 {cert.number} は宛所不明で返戻され組合で保管中です(滅失ではありません)"
        )
    if state not in (CertificateState.ACTIVE, CertificateState.RETURN_PENDING):
        raise ValidationError(
            f"資格確認書 {cert.number} は{state}のため滅失・き損の届出の対象になりません"
        )
    if reissue_requested:
        if state == CertificateState.RETURN_PENDING:
            raise ValidationError(
                f"資格確認書 {cert.number} は資格喪失により返却待ちのため再交付できません。"
                "「再交付を希望」を外して滅失の届出として受け付けてください"
            )
        _reissue_terms(cert, timezone.localdate())  # refuse now what could never be issued
    app = ReissueApplication(
        kind=ReissueKind.LOSS,
        route=route,
        received_on=received_on,
        certificate=cert,
        reissue_requested=reissue_requested,
        note=note,
        created_by=acting_user,
        state=ApplicationState.OPEN if reissue_requested else ApplicationState.CLOSED,
    )
    app._history_user = acting_user
    app.save()
    previous = cert.state
    cert.state = CertificateState.VOID
    cert.state_note = f"滅失・き損の届出({received_on:%Y-%m-%d} 受付)"
    cert.state_changed_at = timezone.now()
    cert.save(update_fields=["state", "state_note", "state_changed_at", "updated_at"])
    audit_event(
        action="certificate.voided",
        actor=acting_user,
        obj=cert,
        previous_state=previous,
        application=app.pk,
    )
    invoice = None
    if reissue_requested and settings.REISSUE_FEE_YEN > 0:
        invoice = _invoice_create(app, acting_user)
    audit_event(
        action="reissue.loss_received",
        actor=acting_user,
        obj=app,
        certificate=cert.number,
        reissue_requested=reissue_requested,
        invoice=invoice.number if invoice else None,
    )
    return app


@transaction.atomic
def reissue_application_issue(
    *, application: ReissueApplication, acting_user, issue_date: date | None = None
) -> Certificate:
    """Issue the new certificate of a 滅失・き損 application (再交付(滅失・き損)) and plan its documents.

    Refused before the fee is 入金済 or 免除 (the notice: 振込が確認されてからの交付). The application row is
    locked and new_certificate is one-to-one, so a double click or two workers issue once."""
    app = (
        ReissueApplication.objects.select_for_update(of=("self",))
        .select_related("certificate", "certificate__person")
        .get(pk=application.pk)
    )
    if app.kind != ReissueKind.LOSS:
        raise ValidationError(f"申請 #{app.pk} は{app.kind}の申請です(受付時に交付済み)")
    if app.new_certificate_id is not None:
        raise ValidationError(
            f"申請 #{app.pk} の資格確認書はすでに交付済みです(証明書番号 {app.new_certificate.number})"
        )
    if app.state != ApplicationState.OPEN:
        raise ValidationError(f"申請 #{app.pk} は{app.get_state_display()}のため交付できません")
    invoice = Invoice.objects.filter(application=app).first()
    if invoice is not None and invoice.state not in (InvoiceState.PAID, InvoiceState.WAIVED):
        raise ValidationError(
            f"手数料の入金が確認できていないため交付できません"
            f"(請求書 {invoice.number}: {invoice.get_state_display()})。"
            "入金の確認または免除の後に交付してください"
        )
    issue_date = issue_date or timezone.localdate()
    old = app.certificate
    terms = _reissue_terms(old, issue_date)
    cert = _issue_replacement(
        app,
        person=old.person,
        reason=IssueReason.REISSUE_LOSS,
        issue_date=issue_date,
        terms=terms,
        acting_user=acting_user,
    )
    audit_event(
        action="reissue.loss_issued",
        actor=acting_user,
        obj=app,
        old=old.number,
        new=cert.number,
        invoice=invoice.number if invoice else None,
    )
    return cert


@transaction.atomic
def reissue_application_cancel(
    *, application: ReissueApplication, reason: str, acting_user
) -> ReissueApplication:
    """Withdraw an open 滅失・き損 application (e.g. the holder no longer wants a reissue). Its unpaid
    invoice is 取消. The old certificate stays 無効: once reported lost it is never valid again.
    A paid fee is refunded outside the system, so a paid application cannot be cancelled here."""
    check_texts({"取消理由": reason}, multiline=frozenset({"取消理由"}))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("取消理由を入力してください")
    app = ReissueApplication.objects.select_for_update().get(pk=application.pk)
    if app.state != ApplicationState.OPEN:
        raise ValidationError(f"申請 #{app.pk} は{app.get_state_display()}のため取り消せません")
    invoice = Invoice.objects.select_for_update().filter(application=app).first()
    if invoice is not None:
        if invoice.state == InvoiceState.PAID:
            raise ValidationError(
                f"請求書 {invoice.number} は入金済みのため取り消せません(再交付するか、返金を別途処理してください)"
            )
        if invoice.state == InvoiceState.UNPAID:
            _settle(
                invoice,
                state=InvoiceState.CANCELLED,
                acting_user=acting_user,
                cancel_reason=reason[:200],
            )
            audit_event(action="invoice.cancelled", actor=acting_user, obj=invoice, reason=reason)
    app.state = ApplicationState.CANCELLED
    app.cancelled_at = timezone.now()
    app.cancelled_by = acting_user
    app.cancel_reason = reason[:200]
    app._history_user = acting_user
    app.save()
    audit_event(action="reissue.cancelled", actor=acting_user, obj=app, reason=reason)
    return app
