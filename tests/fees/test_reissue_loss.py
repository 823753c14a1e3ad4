"""滅失・き損: 無効 at once, invoice, payment or waiver, then (only then) the reissue."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from certificates.lifecycle import certificates_require_return
from certificates.models import Certificate, CertificateState
from core.models import AuditEvent
from documents.models import DocumentKind, GeneratedDocument
from fees.models import ApplicationState, Invoice, InvoiceState, ReissueApplication
from fees.services import (
    invoice_confirm_payment,
    invoice_waive,
    reissue_application_cancel,
    reissue_application_issue,
    reissue_application_receive_loss,
)
from members.dates import fiscal_year
from tests.fees.builders import dependent, issue, member, refresh

pytestmark = pytest.mark.django_db


def _today():
    return timezone.localdate()


def _cert(person=None, **kw):
    person = person or member()
    t = _today()
    return issue(
        person, issue_date=t - timedelta(days=30), valid_until=t + timedelta(days=700), **kw
    )


def _loss(cert, user, **kw):
    args = dict(certificate=cert, route="事業主経由", received_on=_today(), acting_user=user)
    args.update(kw)
    return reissue_application_receive_loss(**args)


def test_loss_voids_the_certificate_at_once_and_bills_the_fee(clerk, settings):
    settings.REISSUE_FEE_YEN = 1000
    cert = _cert()
    app = _loss(cert, clerk)
    cert = refresh(cert)
    assert cert.state == CertificateState.VOID
    assert cert.state_note.startswith("滅失・き損の届出")
    assert app.state == ApplicationState.OPEN
    invoice = Invoice.objects.get(application=app)
    year = fiscal_year(_today())
    assert invoice.number == f"{year}-000001"
    assert invoice.amount == 1000
    assert invoice.state == InvoiceState.UNPAID
    assert invoice.created_by == clerk
    assert invoice.document.kind == DocumentKind.INVOICE
    assert invoice.document.item_ids == [invoice.pk]
    assert invoice.history.first().history_user == clerk
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"certificate.voided", "invoice.created", "reissue.loss_received"} <= actions


def test_invoice_numbers_are_sequential_within_the_fiscal_year(clerk):
    a = _loss(_cert(), clerk)
    b = _loss(_cert(), clerk)
    year = fiscal_year(_today())
    assert [a.invoice.number, b.invoice.number] == [f"{year}-000001", f"{year}-000002"]


def test_fee_amount_comes_from_settings(clerk, settings):
    settings.REISSUE_FEE_YEN = 2000
    assert _loss(_cert(), clerk).invoice.amount == 2000


def test_issue_before_payment_is_refused_with_a_clear_message(clerk):
    app = _loss(_cert(), clerk)
    with pytest.raises(ValidationError, match="手数料の入金が確認できていないため交付できません"):
        reissue_application_issue(application=app, acting_user=clerk)
    assert refresh(app).new_certificate is None
    assert not Certificate.objects.filter(reason="再交付(滅失・き損)").exists()


def test_payment_then_issue_makes_the_new_certificate_and_its_documents(clerk):
    old = _cert()
    app = _loss(old, clerk)
    invoice = invoice_confirm_payment(invoice=app.invoice, paid_on=_today(), acting_user=clerk)
    assert invoice.state == InvoiceState.PAID
    assert invoice.paid_amount == 1000 and invoice.payment_source == "窓口確認"
    assert invoice.state_changed_by == clerk and invoice.state_changed_at is not None
    new = reissue_application_issue(application=app, acting_user=clerk)
    app = refresh(app)
    assert app.state == ApplicationState.ISSUED and app.new_certificate == new
    assert new.reason == "再交付(滅失・き損)"
    assert new.replaces_id == old.pk
    assert new.valid_until == old.valid_until
    assert new.state == CertificateState.ACTIVE
    assert refresh(old).state == CertificateState.VOID  # stays 無効, not 返却不要
    assert app.document.kind == DocumentKind.REISSUE and app.document.item_ids == [new.pk]


def test_issuing_twice_never_makes_two_certificates(clerk):
    app = _loss(_cert(), clerk)
    invoice_confirm_payment(invoice=app.invoice, paid_on=_today(), acting_user=clerk)
    reissue_application_issue(application=app, acting_user=clerk)
    with pytest.raises(ValidationError, match="すでに交付済み"):
        reissue_application_issue(application=app, acting_user=clerk)
    assert Certificate.objects.filter(reason="再交付(滅失・き損)").count() == 1


def test_confirming_payment_twice_is_refused(clerk):
    app = _loss(_cert(), clerk)
    invoice_confirm_payment(invoice=app.invoice, paid_on=_today(), acting_user=clerk)
    with pytest.raises(ValidationError, match="すでに入金済"):
        invoice_confirm_payment(invoice=app.invoice, paid_on=_today(), acting_user=clerk)
    assert AuditEvent.objects.filter(action="invoice.paid").count() == 1


def test_payment_with_a_wrong_amount_or_future_date_is_refused(clerk):
    app = _loss(_cert(), clerk)
    with pytest.raises(ValidationError, match="一致しません"):
        invoice_confirm_payment(
            invoice=app.invoice, paid_on=_today(), paid_amount=900, acting_user=clerk
        )
    with pytest.raises(ValidationError, match="未来"):
        invoice_confirm_payment(
            invoice=app.invoice, paid_on=_today() + timedelta(days=1), acting_user=clerk
        )
    assert refresh(app.invoice).state == InvoiceState.UNPAID


def test_second_loss_application_for_the_same_certificate_is_refused(clerk):
    cert = _cert()
    _loss(cert, clerk)
    with pytest.raises(ValidationError, match="すでに滅失・き損の申請があります"):
        _loss(cert, clerk)
    assert ReissueApplication.objects.count() == 1
    assert Invoice.objects.count() == 1


def test_database_refuses_a_second_open_application_and_a_second_invoice(clerk):
    cert = _cert()
    app = _loss(cert, clerk)
    with pytest.raises(IntegrityError), transaction.atomic():
        ReissueApplication.objects.create(
            kind="滅失・き損", route="事業主経由", received_on=_today(), certificate=cert
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.create(
            number="1999-000001", fiscal_year=1999, application=app, amount=1, issued_on=_today()
        )


def test_waiver_needs_a_supervisor_and_a_reason(clerk, supervisor):
    app = _loss(_cert(), clerk)
    with pytest.raises(PermissionDenied, match="承認者のみ"):
        invoice_waive(invoice=app.invoice, reason="生活困窮", acting_user=clerk)
    with pytest.raises(ValidationError, match="免除理由"):
        invoice_waive(invoice=app.invoice, reason="  ", acting_user=supervisor)
    assert refresh(app.invoice).state == InvoiceState.UNPAID
    invoice = invoice_waive(invoice=app.invoice, reason="災害による滅失", acting_user=supervisor)
    assert invoice.state == InvoiceState.WAIVED
    assert invoice.waive_reason == "災害による滅失"
    assert invoice.state_changed_by == supervisor
    ev = AuditEvent.objects.get(action="invoice.waived")
    assert ev.actor == supervisor and ev.detail["reason"] == "災害による滅失"
    # and a waived fee lets the reissue go ahead
    new = reissue_application_issue(application=app, acting_user=clerk)
    assert new.reason == "再交付(滅失・き損)"


def test_waiving_a_paid_invoice_is_refused(clerk, supervisor):
    app = _loss(_cert(), clerk)
    invoice_confirm_payment(invoice=app.invoice, paid_on=_today(), acting_user=clerk)
    with pytest.raises(ValidationError, match="すでに入金済"):
        invoice_waive(invoice=app.invoice, reason="x", acting_user=supervisor)


def test_loss_without_reissue_voids_and_closes_without_a_fee(clerk):
    cert = _cert()
    app = _loss(cert, clerk, reissue_requested=False)
    assert app.state == ApplicationState.CLOSED
    assert refresh(cert).state == CertificateState.VOID
    assert not Invoice.objects.exists()


def test_unreturnable_certificate_after_loss_goes_the_loss_way(clerk):
    """返納不能: a 返却待ち certificate reported lost becomes 無効; no reissue, no fee."""
    p = member()
    cert = _cert(p)
    p.lost_on = _today() - timedelta(days=10)
    p.save(update_fields=["lost_on"])
    certificates_require_return(person=p, lost_on=p.lost_on)
    assert refresh(cert).state == CertificateState.RETURN_PENDING
    with pytest.raises(ValidationError, match="返却待ちのため再交付できません"):
        _loss(cert, clerk)
    app = _loss(cert, clerk, reissue_requested=False)
    assert app.state == ApplicationState.CLOSED
    assert refresh(cert).state == CertificateState.VOID
    assert not Invoice.objects.exists()


def test_voluntary_household_applies_directly_and_the_route_is_checked(clerk):
    m = member(insured_type="任意継続", voluntary_until=_today() + timedelta(days=500))
    d = dependent(m)
    cert = _cert(d)
    with pytest.raises(ValidationError, match="届出経路は「直接"):
        _loss(cert, clerk, route="事業主経由")
    app = _loss(cert, clerk, route="直接")
    assert app.route == "直接"
    general = _cert()
    with pytest.raises(ValidationError, match="届出経路は「事業主経由"):
        _loss(general, clerk, route="直接")


def test_refused_states_expired_void_and_held(clerk):
    t = _today()
    expired = issue(member(), issue_date=t - timedelta(days=400), valid_until=t - timedelta(days=1))
    with pytest.raises(ValidationError, match="返却不要のため"):
        _loss(expired, clerk)
    held = _cert()
    Certificate.objects.filter(pk=held.pk).update(held_since=t)
    with pytest.raises(ValidationError, match="組合で保管中"):
        _loss(refresh(held), clerk)
    with pytest.raises(ValidationError, match="未来"):
        _loss(_cert(), clerk, received_on=t + timedelta(days=1))
    assert not ReissueApplication.objects.exists()


def test_no_fee_configured_means_no_invoice_and_immediate_issue(clerk, settings):
    settings.REISSUE_FEE_YEN = 0
    app = _loss(_cert(), clerk)
    assert not Invoice.objects.exists()
    assert (
        reissue_application_issue(application=app, acting_user=clerk).reason == "再交付(滅失・き損)"
    )


def test_cancel_cancels_the_unpaid_invoice_and_keeps_the_old_certificate_void(clerk):
    cert = _cert()
    app = _loss(cert, clerk)
    with pytest.raises(ValidationError, match="取消理由"):
        reissue_application_cancel(application=app, reason="", acting_user=clerk)
    app = reissue_application_cancel(application=app, reason="本人が不要と連絡", acting_user=clerk)
    assert app.state == ApplicationState.CANCELLED and app.cancelled_by == clerk
    invoice = refresh(app.invoice)
    assert invoice.state == InvoiceState.CANCELLED and invoice.cancel_reason == "本人が不要と連絡"
    assert refresh(cert).state == CertificateState.VOID
    with pytest.raises(ValidationError, match="取消のため交付できません"):
        reissue_application_issue(application=app, acting_user=clerk)
    with pytest.raises(ValidationError, match="取消済"):
        invoice_confirm_payment(invoice=invoice, paid_on=_today(), acting_user=clerk)


def test_cancel_after_payment_is_refused(clerk):
    app = _loss(_cert(), clerk)
    invoice_confirm_payment(invoice=app.invoice, paid_on=_today(), acting_user=clerk)
    with pytest.raises(ValidationError, match="入金済みのため取り消せません"):
        reissue_application_cancel(application=app, reason="x", acting_user=clerk)


def test_holder_who_lost_qualification_before_the_issue_is_not_reissued(clerk):
    p = member()
    app = _loss(_cert(p), clerk)
    invoice_confirm_payment(invoice=app.invoice, paid_on=_today(), acting_user=clerk)
    p.lost_on = _today()
    p.save(update_fields=["lost_on"])
    with pytest.raises(ValidationError, match="資格がないため再交付できません"):
        reissue_application_issue(application=app, acting_user=clerk)
    assert not GeneratedDocument.objects.filter(kind=DocumentKind.REISSUE).exists()


def test_database_refuses_two_applications_issuing_the_same_certificate(clerk):
    a = _loss(_cert(), clerk)
    b = _loss(_cert(), clerk)
    invoice_confirm_payment(invoice=a.invoice, paid_on=_today(), acting_user=clerk)
    new = reissue_application_issue(application=a, acting_user=clerk)
    with pytest.raises(IntegrityError), transaction.atomic():
        ReissueApplication.objects.filter(pk=b.pk).update(new_certificate=new)


def test_database_refuses_an_issued_application_without_a_certificate(clerk):
    app = _loss(_cert(), clerk)
    with pytest.raises(IntegrityError), transaction.atomic():
        ReissueApplication.objects.filter(pk=app.pk).update(state="交付済")


def test_database_refuses_a_paid_invoice_without_the_full_amount_or_a_waiver_without_reason(clerk):
    app = _loss(_cert(), clerk)
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=app.invoice.pk).update(
            state="入金済", paid_on=_today(), paid_amount=999
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=app.invoice.pk).update(state="免除")
