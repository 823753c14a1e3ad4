"""請求書: confirm payment, waive (承認者 only), PDF download."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from core.admin_pages import FormPageMixin, ReadOnlyMixin, next_url
from core.admin_pages import error_messages as _messages
from documents.links import document_link
from members.karte import karte_link

from .. import services
from ..forms import PaymentConfirmForm, ReasonForm
from ..models import (
    Invoice,
)
from .applications import _rerender


@admin.register(Invoice)
class InvoiceAdmin(FormPageMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "number",
        "holder",
        "amount_yen",
        "issued_on",
        "state",
        "paid_on",
        "payment_source",
        "state_changed_by",
        "state_changed_at",
        "pdf",
    ]
    list_filter = ["state", "fiscal_year", "payment_source"]
    search_fields = [
        "number",
        "application__certificate__number",
        "application__certificate__person__name_kana",
    ]
    list_select_related = ["application__certificate__person", "state_changed_by", "document"]
    readonly_extra = ("pdf", "karte")

    @admin.display(description="加入者カルテ")
    def karte(self, obj):
        person = obj.application.certificate.person
        return karte_link(person, f"{person.key} {person.name}")

    actions = ["confirm_payment", "waive", "rerender_documents"]

    @admin.display(description="氏名")
    def holder(self, obj):
        person = obj.application.certificate.person
        return karte_link(person, person.name)

    @admin.display(description="請求金額", ordering="amount")
    def amount_yen(self, obj):
        return f"{obj.amount:,}円"

    @admin.display(description="請求書PDF")
    def pdf(self, obj):
        return document_link(obj.document)

    def get_actions(self, request):
        actions = super().get_actions(request)
        # Waiving is the 承認者's alone (rules.md: a fee waived with a reason): clerks never see it.
        if not request.user.has_perm("fees.waive_invoice"):
            actions.pop("waive", None)
        if not request.user.has_perm("fees.change_invoice"):
            actions.pop("confirm_payment", None)
        return actions

    def _action_page(self, request, queryset, *, action, title, form, intro, submit_label):
        return self.form_page(
            request,
            title=title,
            form=form,
            intro=intro,
            submit_label=submit_label,
            summary=[
                (
                    i.number,
                    f"{i.application.certificate.person.name} {i.amount:,}円 {i.get_state_display()}",
                )
                for i in queryset
            ],
            hidden=[("action", action), ("post", "yes")]
            + [(admin.helpers.ACTION_CHECKBOX_NAME, i.pk) for i in queryset],
        )

    def _apply_each(self, request, queryset, apply) -> int:
        """Apply a service to each selected invoice in number order; each refusal becomes an error
        message and leaves the others going. Returns how many succeeded."""
        done = 0
        for invoice in queryset.order_by("number"):
            try:
                apply(invoice)
            except ValidationError as exc:
                for m in _messages(exc):
                    self.message_user(request, m, messages.ERROR)
            except PermissionDenied as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                done += 1
        return done

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/pay/", wrap(self.pay_view), name="fees_invoice_pay"),
            path("<int:pk>/waive/", wrap(self.waive_one_view), name="fees_invoice_waive_one"),
            *super().get_urls(),
        ]

    def _one_invoice_page(
        self, request, pk, *, perm, form_class, title, intro, submit, apply, done
    ):
        if not request.user.has_perm(perm):
            raise PermissionDenied
        invoice = get_object_or_404(
            Invoice.objects.select_related("application__certificate__person"), pk=pk
        )
        back = next_url(request, reverse("admin:fees_invoice_change", args=[invoice.pk]))
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                apply(invoice, form.cleaned_data)
            except (ValidationError, PermissionDenied) as exc:
                for m in _messages(exc) if isinstance(exc, ValidationError) else [str(exc)]:
                    form.add_error(None, m)
            else:
                self.message_user(request, done(invoice), messages.SUCCESS)
                return HttpResponseRedirect(back)
        person = invoice.application.certificate.person
        return self.form_page(
            request,
            title=title,
            form=form,
            intro=intro,
            summary=[
                ("請求書番号", invoice.number),
                ("氏名", f"{person.key} {person.name}"),
                ("請求金額", f"{invoice.amount:,}円"),
                ("状態", invoice.get_state_display()),
            ],
            hidden=[("next", request.GET.get("next") or request.POST.get("next") or "")],
            submit_label=submit,
        )

    def pay_view(self, request, pk):
        return self._one_invoice_page(
            request,
            pk,
            perm="fees.change_invoice",
            form_class=PaymentConfirmForm,
            title="入金の確認",
            intro="請求金額の全額が入金されたことを確認して入金済にします。"
            "このあと再交付申請から資格確認書を交付できます。",
            submit="入金済にする",
            apply=lambda invoice, data: services.invoice_confirm_payment(
                invoice=invoice, paid_on=data["paid_on"], acting_user=request.user
            ),
            done=lambda invoice: f"請求書 {invoice.number} の入金を確認しました。",
        )

    def waive_one_view(self, request, pk):
        return self._one_invoice_page(
            request,
            pk,
            perm="fees.waive_invoice",
            form_class=ReasonForm,
            title="手数料の免除",
            intro="この請求書の手数料を免除します(承認者のみ、理由は必須)。"
            "免除すると入金確認なしで再交付できます。取り消せません。",
            submit="免除する",
            apply=lambda invoice, data: services.invoice_waive(
                invoice=invoice, reason=data["reason"], acting_user=request.user
            ),
            done=lambda invoice: f"請求書 {invoice.number} の手数料を免除しました。",
        )

    @admin.action(description="入金を確認する(入金済にする)", permissions=["change"])
    def confirm_payment(self, request, queryset):
        if not request.user.has_perm("fees.change_invoice"):
            raise PermissionDenied
        form = PaymentConfirmForm(request.POST if "post" in request.POST else None)
        if "post" in request.POST and form.is_valid():
            done = self._apply_each(
                request,
                queryset,
                lambda invoice: services.invoice_confirm_payment(
                    invoice=invoice, paid_on=form.cleaned_data["paid_on"], acting_user=request.user
                ),
            )
            if done:
                self.message_user(
                    request,
                    f"{done}件の入金を確認しました。再交付申請の画面から資格確認書を交付してください。",
                    messages.SUCCESS,
                )
            return None
        return self._action_page(
            request,
            queryset,
            action="confirm_payment",
            title="入金の確認",
            form=form,
            intro="請求金額の全額が入金されたことを確認した請求書を入金済にします。",
            submit_label="入金済にする",
        )

    @admin.action(description="手数料を免除する(承認者のみ)")
    def waive(self, request, queryset):
        if not request.user.has_perm("fees.waive_invoice"):
            raise PermissionDenied
        form = ReasonForm(request.POST if "post" in request.POST else None)
        if "post" in request.POST and form.is_valid():
            done = self._apply_each(
                request,
                queryset,
                lambda invoice: services.invoice_waive(
                    invoice=invoice, reason=form.cleaned_data["reason"], acting_user=request.user
                ),
            )
            if done:
                self.message_user(request, f"{done}件の手数料を免除しました。", messages.SUCCESS)
            return None
        return self._action_page(
            request,
            queryset,
            action="waive",
            title="手数料の免除",
            form=form,
            intro="免除理由は必須です。免除した請求書は入金確認なしで再交付できます。",
            submit_label="免除する",
        )

    @admin.action(description="作成に失敗した請求書PDFを再作成する", permissions=["change"])
    def rerender_documents(self, request, queryset):
        _rerender(self, request, [i.document for i in queryset if i.document_id])
