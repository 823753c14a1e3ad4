"""加入者カルテ: everything about one person on one page, read from the tables (no writes here).

The household (member and dependents), their certificates with the state as of today, registration
statuses, reissue applications with invoices and payments, returns, reminders and returned mail, and
the person's change history; plus the actions a clerk can take from there, each a link to the
screen that does it, prefilled from the household (証明書番号, 届出経路, kind).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from certificates.models import Certificate, CertificateState, ReturnedMail, ReturnReminder
from fees.models import ApplicationState, InvoiceState, ReissueApplication, ReissueKind

from .models import Person, RegistrationStatus


def application_route_for(person: Person) -> str:
    """届出経路 of the household, as fees.services checks it (its one home)."""
    from fees.services import expected_route

    return expected_route(person)


def may_reprint(user) -> bool:
    """Printing a certificate again is a clerk's act (it can be handed out or posted): it needs the
    download right and the right to change certificates — an auditor reads, never reprints."""
    from documents.views import may_download

    return may_download(user) and user.has_perm("certificates.change_certificate")


def karte_url(person_or_id) -> str:
    pk = getattr(person_or_id, "pk", person_or_id)
    return reverse("admin:members_person_karte", args=[pk])


@dataclass
class Action:
    label: str
    url: str
    kind: str = "link"  # link | button
    help: str = ""


@dataclass
class CertificateRow:
    cert: Certificate
    state_today: str
    is_current: bool
    documents: list = field(default_factory=list)


@dataclass
class Karte:
    person: Person
    household: list[Person]
    certificates: list[CertificateRow]
    current: Certificate | None
    statuses: list[RegistrationStatus]
    applications: list[ReissueApplication]
    reminders: list[ReturnReminder]
    returned_mail: list[ReturnedMail]
    history: list
    actions: list[Action]
    today: object


def _add_url(**params) -> str:
    return reverse("admin:fees_reissueapplication_add") + "?" + urlencode(params)


def person_actions(person: Person, current: Certificate | None, certs, applications, user):
    back = karte_url(person)
    actions: list[Action] = []
    can_fees = user.has_perm("fees.add_reissueapplication")
    route = application_route_for(person)
    if current is not None and can_fees:
        actions.append(
            Action(
                "滅失・き損の届出",
                _add_url(
                    kind=ReissueKind.LOSS,
                    certificate_number=current.number,
                    route=route,
                    next=back,
                ),
                help=f"{current.number} を無効にし、手数料の請求書を作成します",
            )
        )
        actions.append(
            Action(
                "氏名の変更(記載事項変更)",
                _add_url(
                    kind=ReissueKind.CHANGE,
                    certificate_number=current.number,
                    route=route,
                    next=back,
                ),
                help="新しい氏名で再交付し、旧証明書を返却待ちにします",
            )
        )
    if user.has_perm("certificates.change_certificate"):
        pending = [r.cert for r in certs if r.state_today == CertificateState.RETURN_PENDING]
        if pending:
            numbers = "\n".join(c.number for c in pending)
            actions.append(
                Action(
                    "返却の受付",
                    reverse("admin:certificates_returnpendingcertificate_receive")
                    + "?"
                    + urlencode({"numbers": numbers, "next": back}),
                    help="返却待ちの " + "・".join(c.number for c in pending),
                )
            )
        held = [r.cert for r in certs if r.cert.held_since is not None]
        if held:
            actions.append(
                Action(
                    "住所を訂正して再送",
                    reverse("admin:certificates_heldcertificate_correct", args=[held[0].pk])
                    + "?"
                    + urlencode({"next": back}),
                    help="宛所不明で保管中の資格確認書を再送します",
                )
            )
    for app in applications:
        invoice = getattr(app, "invoice", None)
        if app.state != ApplicationState.OPEN:
            continue
        if invoice is not None and invoice.state == InvoiceState.UNPAID:
            if user.has_perm("fees.change_invoice"):
                actions.append(
                    Action(
                        f"入金を確認(請求書 {invoice.number})",
                        reverse("admin:fees_invoice_pay", args=[invoice.pk])
                        + "?"
                        + urlencode({"next": back}),
                        help=f"{invoice.amount:,}円の入金を確認します",
                    )
                )
            if user.has_perm("fees.waive_invoice"):
                actions.append(
                    Action(
                        f"手数料を免除(請求書 {invoice.number})",
                        reverse("admin:fees_invoice_waive_one", args=[invoice.pk])
                        + "?"
                        + urlencode({"next": back}),
                    )
                )
        elif user.has_perm("fees.change_reissueapplication"):
            actions.append(
                Action(
                    f"再交付する(申請 #{app.pk})",
                    reverse("admin:fees_reissueapplication_issue", args=[app.pk])
                    + "?"
                    + urlencode({"next": back}),
                    help="新しい資格確認書を交付し、帳票を作成します",
                )
            )
    if current is not None and may_reprint(user):
        actions.append(
            Action(
                "資格確認書と送付状を印刷",
                reverse("admin:members_person_reprint", args=[person.pk]),
                help=f"{current.number} をPDFで表示します(記録が残ります)",
            )
        )
    return actions


def person_karte(person: Person, *, user) -> Karte:
    from documents.selectors import current_certificate

    today = timezone.localdate()
    member = person.household_member
    household = [member, *member.dependents.order_by("edaban")]
    certs = list(
        Certificate.objects.filter(person=person)
        .select_related("run", "replaces")
        .order_by("-issue_date", "-pk")
    )
    current = current_certificate(person)
    rows = [
        CertificateRow(
            cert=c,
            state_today=c.effective_state(today),
            is_current=current is not None and c.pk == current.pk,
        )
        for c in certs
    ]
    applications = list(
        ReissueApplication.objects.filter(certificate__person=person)
        .select_related(
            "certificate", "new_certificate", "invoice", "document", "invoice__document"
        )
        .order_by("-received_on", "-pk")
    )
    reminders = list(
        ReturnReminder.objects.filter(certificate__person=person)
        .select_related("certificate", "document")
        .order_by("-pk")
    )
    mail = list(
        ReturnedMail.objects.filter(certificate__person=person)
        .select_related("certificate", "document")
        .order_by("-pk")
    )
    statuses = list(
        RegistrationStatus.objects.filter(person=person)
        .select_related("snapshot")
        .order_by("-as_of", "-pk")[:24]
    )
    history = list(person.history.select_related("history_user").order_by("-history_date")[:50])
    return Karte(
        person=person,
        household=household,
        certificates=rows,
        current=current,
        statuses=statuses,
        applications=applications,
        reminders=reminders,
        returned_mail=mail,
        history=history,
        actions=person_actions(person, current, rows, applications, user),
        today=today,
    )


def karte_link(person, text=None):
    """A link to the person's 加入者カルテ, for every list that names a person."""
    from django.utils.html import format_html

    if person is None:
        return "-"
    return format_html(
        '<a href="{}" class="karte-link">{}</a>', karte_url(person), text or person.key
    )
