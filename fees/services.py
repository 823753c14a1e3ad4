"""Writes of the after-issue work (rules.md "After issue"; the seed notice's handling notes).

- 記載事項変更: `reissue_application_receive_change` — the new details are applied, a new certificate
  (再交付(記載事項変更), same 有効期限) is issued with its documents, the old one becomes 返却待ち.
- 滅失・き損: `reissue_application_receive_loss` — the old certificate is 無効 at once; when a reissue is
  wanted, an Invoice of settings.REISSUE_FEE_YEN yen and its 請求書. `invoice_confirm_payment` (clerk),
  `payments_import` (bank-transfer CSV) or `invoice_waive` (承認者 only, with a reason) settle it; only
  then does `reissue_application_issue` issue the new certificate (再交付(滅失・き損)).
- `reissue_application_cancel`, `returns_generate_reminders`, `person_correct_address`.

Double submissions: the database refuses a second open application per certificate, a second
invoice per application and a second certificate per application; the services check first so the
clerk gets a clear message instead of an IntegrityError.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from certificates.lifecycle import (
    certificate_record_undeliverable,
    certificate_require_return_after_change,
    normalize_number,
)
from certificates.models import Certificate, CertificateState, IssueReason, Route
from certificates.rules import route_for_insured_type
from certificates.selectors import person_terms
from certificates.services import certificate_issue
from core.models import NumberSequence, audit_event
from core.text_safety import check_texts
from documents.models import DocumentKind, GeneratedDocument
from members.dates import fiscal_year
from members.models import Person

from .models import (
    ApplicationRoute,
    ApplicationState,
    Invoice,
    InvoiceState,
    PaymentImport,
    PaymentSource,
    ReissueApplication,
    ReissueKind,
    ReturnedMail,
    ReturnReminder,
)
from .paperwork import document_plan
from .payments import PaymentFileError

__all__ = [
    "certificate_find",
    "invoice_confirm_payment",
    "invoice_waive",
    "mail_record_returned",
    "payments_import",
    "person_correct_address",
    "reissue_application_cancel",
    "reissue_application_issue",
    "reissue_application_receive_change",
    "reissue_application_receive_loss",
    "returns_generate_reminders",
]


def _expected_route(person: Person) -> str:
    """Applications come the way certificates go (certificates.rules' route): 自宅 households
    apply directly, the others via the employer."""
    route = route_for_insured_type(person.household_member.insured_type)
    return ApplicationRoute.DIRECT if route == Route.HOME else ApplicationRoute.EMPLOYER


def _check_route(route: str, cert: Certificate) -> None:
    """The notice: 一般 households apply via the employer; 任意継続 households directly, on the
    society's own form. A mismatch is usually a wrong 証明書番号, so it is refused."""
    expected = _expected_route(cert.person)
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
    from members.services import person_change_name

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
    new_cert = certificate_issue(
        # re-read: the printed name is copied from the registry row as it is now
        person=Person.objects.get(pk=cert.person_id),
        reason=IssueReason.REISSUE_CHANGE,
        issue_date=issue_date,
        acting_user=acting_user,
        replaces=cert,
        **terms,
    )
    app.new_certificate = new_cert
    app.state = ApplicationState.ISSUED
    app.issued_at = timezone.now()
    app.issued_by = acting_user
    _plan_reissue_documents(app, new_cert)
    app.save()
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


def _invoice_create(app: ReissueApplication, acting_user) -> Invoice:
    issued_on = timezone.localdate()
    year = fiscal_year(issued_on)
    (n,) = NumberSequence.allocate("invoice", year)
    invoice = Invoice(
        number=f"{year}-{n:06d}",
        fiscal_year=year,
        application=app,
        amount=settings.REISSUE_FEE_YEN,
        issued_on=issued_on,
        created_by=acting_user,
        state_changed_by=acting_user,
        state_changed_at=timezone.now(),
    )
    invoice._history_user = acting_user
    invoice.save()
    invoice.document = document_plan(
        kind=DocumentKind.INVOICE,
        label=f"請求書 {invoice.number} {app.certificate.person.name}",
        item_ids=[invoice.pk],
    )
    invoice.save(update_fields=["document", "updated_at"])
    audit_event(
        action="invoice.created",
        actor=acting_user,
        obj=invoice,
        number=invoice.number,
        amount=invoice.amount,
        application=app.pk,
    )
    return invoice


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


def _lock_invoice(invoice: Invoice) -> Invoice:
    return (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("application", "application__certificate")
        .get(pk=invoice.pk)
    )


def _refuse_unless_unpaid(invoice: Invoice) -> None:
    if invoice.state != InvoiceState.UNPAID:
        done = {
            InvoiceState.PAID: f"すでに入金済みです(入金日 {invoice.paid_on:%Y-%m-%d})"
            if invoice.paid_on
            else "すでに入金済みです",
            InvoiceState.WAIVED: "すでに免除済みです",
            InvoiceState.CANCELLED: "取消済みです",
        }[invoice.state]
        raise ValidationError(f"請求書 {invoice.number} は{done}")


def _settle(invoice: Invoice, *, state: str, acting_user, **fields) -> Invoice:
    invoice.state = state
    for name, value in fields.items():
        setattr(invoice, name, value)
    invoice.state_changed_by = acting_user
    invoice.state_changed_at = timezone.now()
    invoice._history_user = acting_user
    invoice.save()
    return invoice


@transaction.atomic
def invoice_confirm_payment(
    *,
    invoice: Invoice,
    paid_on: date,
    acting_user,
    paid_amount: int | None = None,
    payment_import: PaymentImport | None = None,
) -> Invoice:
    """入金済: the full amount was received on `paid_on`. Confirming twice is refused (the second
    call finds the invoice 入金済), so a payment is never counted twice."""
    invoice = _lock_invoice(invoice)
    _refuse_unless_unpaid(invoice)
    amount = invoice.amount if paid_amount is None else paid_amount
    if amount != invoice.amount:
        raise ValidationError(
            f"請求書 {invoice.number}: 入金額 {amount:,}円 が請求金額 {invoice.amount:,}円 と一致しません"
        )
    if paid_on > timezone.localdate():
        raise ValidationError(f"入金日({paid_on:%Y-%m-%d})が未来の日付です")
    if invoice.application.state != ApplicationState.OPEN:
        raise ValidationError(
            f"請求書 {invoice.number} の申請は{invoice.application.get_state_display()}です"
        )
    _settle(
        invoice,
        state=InvoiceState.PAID,
        acting_user=acting_user,
        paid_on=paid_on,
        paid_amount=amount,
        payment_source=PaymentSource.TRANSFER_IMPORT if payment_import else PaymentSource.CLERK,
        payment_import=payment_import,
    )
    audit_event(
        action="invoice.paid",
        actor=acting_user,
        obj=invoice,
        number=invoice.number,
        amount=amount,
        paid_on=paid_on.isoformat(),
        source=invoice.payment_source,
        payment_import=payment_import.pk if payment_import else None,
    )
    return invoice


@transaction.atomic
def invoice_waive(*, invoice: Invoice, reason: str, acting_user) -> Invoice:
    """免除: only a 承認者 (permission fees.waive_invoice) may waive the fee, always with a reason."""
    if acting_user is None or not acting_user.has_perm("fees.waive_invoice"):
        raise PermissionDenied("手数料の免除は承認者のみが行えます")
    check_texts({"免除理由": reason}, multiline=frozenset({"免除理由"}))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("免除理由を入力してください")
    invoice = _lock_invoice(invoice)
    _refuse_unless_unpaid(invoice)
    _settle(invoice, state=InvoiceState.WAIVED, acting_user=acting_user, waive_reason=reason[:200])
    audit_event(
        action="invoice.waived",
        actor=acting_user,
        obj=invoice,
        number=invoice.number,
        reason=reason,
    )
    return invoice


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
    cert = certificate_issue(
        person=old.person,
        reason=IssueReason.REISSUE_LOSS,
        issue_date=issue_date,
        acting_user=acting_user,
        replaces=old,
        **terms,
    )
    app.new_certificate = cert
    app.state = ApplicationState.ISSUED
    app.issued_at = timezone.now()
    app.issued_by = acting_user
    _plan_reissue_documents(app, cert)
    app._history_user = acting_user
    app.save()
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


# --- bank-transfer import ----------------------------------------------------------------------


_PAYMENT_STAGE = (("line", "int"), ("number", "text"), ("amount", "int"), ("paid_on", "date"))


@transaction.atomic
def payments_import(
    *, content: bytes | None = None, source=None, source_name: str, acting_user
) -> PaymentImport:
    """Apply a bank-transfer file (columns 請求書番号,入金額,入金日; see fees.payments).

    The rule: a file that cannot be read as a whole is refused and nothing is applied
    (fees.payments.PaymentFileError). Otherwise each row that matches an invoice — known 請求書番号,
    invoice 未入金, amount equal to the 請求金額 — is applied (入金済, source 振込データ取込); every other
    row (unknown number, wrong amount, already paid, 免除, 取消, the same invoice twice in the file) is
    listed on the PaymentImport and NEVER applied, for the clerk to settle by hand. Importing the
    same file again therefore applies nothing and lists every row as already paid.

    The file (`content` bytes, or `source`: a path or a binary file) is streamed: the readable rows
    go to a staging table in chunks (members.staging) while the whole file is checked, and are
    then matched against the invoices a chunk at a time (one query per chunk)."""
    from django.db import connection

    from members.staging import CHUNK_ROWS, Stage, execute, qn

    from .payments import PaymentFile

    file = PaymentFile(content if content is not None else source, today=timezone.localdate())
    stage = Stage("import_stage_payments", _PAYMENT_STAGE, (("first_line", "int"),))
    stage.create()
    try:
        chunk: list[tuple] = []
        for row in file.rows():
            chunk.append((row.row, row.number, row.amount, row.paid_on))
            if len(chunk) >= CHUNK_ROWS:
                stage.load(chunk)
                chunk = []
        stage.load(chunk)
    finally:
        file.close()
    if file.problem_count:
        raise file.error()
    if not stage.rows:
        raise PaymentFileError(["入金の行がありません"])
    stage.index("number", "line")
    t = stage.table
    # the first row of each 請求書番号: a later one is a double payment in the same file
    execute(
        f"UPDATE {t} SET first_line = (SELECT MIN(o.line) FROM {t} o "  # noqa: S608
        f"WHERE o.number = {t}.number)"
    )
    imp = PaymentImport.objects.create(
        source_name=source_name[:255],
        sha256=file.sha256,
        row_count=stage.rows,
        imported_by=acting_user,
    )
    applied: list[dict] = []
    rejected: list[dict] = []
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT line, number, amount, paid_on, first_line FROM {qn(stage.name)} "  # noqa: S608
                "WHERE line > %s ORDER BY line LIMIT %s",
                [last, CHUNK_ROWS],
            )
            batch = cursor.fetchall()
        if not batch:
            break
        last = batch[-1][0]
        invoices = {
            inv.number: inv
            for inv in Invoice.objects.select_for_update(of=("self",))
            .select_related("application")
            .filter(number__in={r[1] for r in batch})
        }
        for line_no, number, amount, paid_on, first_line in batch:
            paid_on = date.fromisoformat(paid_on) if isinstance(paid_on, str) else paid_on
            line = {
                "row": line_no,
                "number": number,
                "amount": amount,
                "paid_on": paid_on.isoformat(),
            }
            invoice = invoices.get(number)
            reason = ""
            if invoice is None:
                reason = "該当する請求書がありません"
            elif line_no != first_line:
                reason = "同じ請求書番号の入金がファイル内で重複しています(二重入金の可能性)"
            elif invoice.state == InvoiceState.PAID:
                reason = f"すでに入金済みです(入金日 {invoice.paid_on:%Y-%m-%d})"
            elif invoice.state == InvoiceState.WAIVED:
                reason = "手数料は免除済みです"
            elif invoice.state == InvoiceState.CANCELLED:
                reason = "請求書は取消済みです"
            elif amount != invoice.amount:
                reason = f"入金額 {amount:,}円 が請求金額 {invoice.amount:,}円 と一致しません"
            elif invoice.application.state != ApplicationState.OPEN:
                reason = f"申請が{invoice.application.get_state_display()}です"
            if reason:
                rejected.append({**line, "reason": reason})
                continue
            invoice_confirm_payment(
                invoice=invoice,
                paid_on=paid_on,
                paid_amount=amount,
                acting_user=acting_user,
                payment_import=imp,
            )
            applied.append(line)
    stage.drop()
    imp.applied = applied
    imp.rejected = rejected
    imp.applied_count = len(applied)
    imp.rejected_count = len(rejected)
    imp.save(update_fields=["applied", "rejected", "applied_count", "rejected_count"])
    audit_event(
        action="payments.imported",
        actor=acting_user,
        obj=imp,
        source_name=imp.source_name,
        applied=imp.applied_count,
        rejected=imp.rejected_count,
    )
    return imp


# --- returns: reminders ---------------------------------------------------------------------------


@transaction.atomic
def returns_generate_reminders(
    *, certificates: Iterable[Certificate], acting_user
) -> list[GeneratedDocument]:
    """返却督促 letters: one PDF per 事業所 for returns via the employer (a letter per certificate, for
    the employer to hand over), one per household for direct returns (任意継続). Each certificate
    must still be 返却待ち; otherwise nothing is generated and the numbers are listed."""
    from certificates.lifecycle import ReturnsError

    ids = [c.pk for c in certificates]
    certs = list(
        Certificate.objects.select_related("person", "person__member", "person__employer")
        .filter(pk__in=ids)
        .order_by("number")
    )
    if not certs:
        raise ValidationError("督促する資格確認書を選んでください")
    today = timezone.localdate()
    problems = []
    for c in certs:
        if c.state != CertificateState.RETURN_PENDING or c.valid_until < today:
            problems.append((c.number, f"返却待ちではありません(状態: {c.effective_state()})"))
        elif c.person.lost_on is None:
            # The letter (documents/return_reminder.html) is worded for a return after 資格喪失;
            # the old certificate of a 記載事項変更 is chased by phone until it has its own wording.
            problems.append(
                (c.number, "記載事項変更による返却待ちのため、資格喪失用の督促状は作成できません")
            )
    if problems:
        raise ReturnsError(problems)
    groups: dict[tuple, list[Certificate]] = defaultdict(list)
    for c in certs:
        household = c.person.household_member
        if c.return_route == Route.HOME:
            groups[("person", household.pk)].append(c)
        else:
            groups[("employer", household.employer_id)].append(c)
    docs = []
    for (kind, _key), members in sorted(groups.items(), key=lambda kv: kv[1][0].number):
        household = members[0].person.household_member
        if kind == "employer":
            employer = household.employer
            who = f"事業所 {employer.code} {employer.name}" if employer else "事業所不明"
        else:
            who = f"{household.kigo}・{household.bango} {household.name}(直接返却)"
        doc = document_plan(
            kind=DocumentKind.REMINDER,
            label=f"返却督促 {who} {len(members)}件",
            item_ids=[c.pk for c in members],
        )
        ReturnReminder.objects.bulk_create(
            ReturnReminder(certificate=c, document=doc, created_by=acting_user) for c in members
        )
        audit_event(
            action="returns.reminder_generated",
            actor=acting_user,
            obj=doc,
            numbers=[c.number for c in members],
        )
        docs.append(doc)
    return docs


# --- 宛所不明: record, address correction and resend ----------------------------------------------------


@transaction.atomic
def mail_record_returned(*, number: str, returned_on: date, acting_user) -> ReturnedMail:
    """宛所不明の返戻 by 証明書番号: the certificate is held and the addressee's address flagged
    (certificates.lifecycle.certificate_record_undeliverable), and the return is recorded."""
    cert = certificate_record_undeliverable(
        number=number, returned_on=returned_on, acting_user=acting_user
    )
    return ReturnedMail.objects.create(
        certificate=cert, returned_on=returned_on, recorded_by=acting_user
    )


def _normalize_postal_code(raw: str) -> str:
    code = unicodedata.normalize("NFKC", raw or "").strip().replace("-", "").replace("〒", "")
    if len(code) != 7 or not code.isascii() or not code.isdigit():
        raise ValidationError("郵便番号は7桁の数字で入力してください(ハイフン可)")
    return code


@transaction.atomic
def person_correct_address(
    *, person: Person, postal_code: str, address: str, acting_user
) -> list[Certificate]:
    """The corrected address of an envelope's addressee (the household's 被保険者) after a 宛所不明
    return: the address is saved and its flag cleared, and every held certificate of the household
    that is still 有効 is sent again in one new letter (documents kind 再印刷); all holds are lifted.
    Returns the certificates sent again."""
    check_texts({"郵便番号": postal_code, "住所": address})
    addressee = Person.objects.select_for_update().get(pk=person.household_member.pk)
    postal_code = _normalize_postal_code(postal_code)
    address = (address or "").strip()
    if not address:
        raise ValidationError("住所を入力してください")
    previous = (addressee.postal_code, addressee.address, addressee.address_unknown_since)
    addressee.postal_code = postal_code
    addressee.address = address
    addressee.address_unknown_since = None
    addressee._history_user = acting_user
    addressee.save(update_fields=["postal_code", "address", "address_unknown_since", "updated_at"])
    household_ids = [addressee.pk, *addressee.dependents.values_list("pk", flat=True)]
    held = list(
        Certificate.objects.select_for_update()
        .filter(person_id__in=household_ids, held_since__isnull=False)
        .order_by("person__edaban", "pk")
    )
    today = timezone.localdate()
    resend = [c for c in held if c.effective_state(today) == CertificateState.ACTIVE]
    doc = None
    if resend:
        doc = document_plan(
            kind=DocumentKind.REPRINT,
            label=f"再送(宛所不明→住所訂正) {addressee.kigo}・{addressee.bango} {addressee.name} {len(resend)}件",
            item_ids=[c.pk for c in resend],
        )
    ReturnedMail.objects.filter(certificate__in=held, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=acting_user, document=doc
    )
    for cert in held:
        held_since = cert.held_since
        cert.held_since = None
        cert.save(update_fields=["held_since", "updated_at"])
        audit_event(
            action="certificate.hold_released",
            actor=acting_user,
            obj=cert,
            held_since=held_since.isoformat(),
            resent=cert in resend,
            document=doc.pk if (doc and cert in resend) else None,
        )
    audit_event(
        action="person.address_corrected",
        actor=acting_user,
        obj=addressee,
        was_unknown_since=previous[2].isoformat() if previous[2] else None,
        resent=[c.number for c in resend],
    )
    return resend
