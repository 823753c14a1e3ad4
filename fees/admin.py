"""Admin screens of the after-issue work, in Japanese, for clerks and supervisors.

- 再交付申請: receive a 記載事項変更 or 滅失・き損 application (form), issue after payment, cancel.
- 請求書: confirm payment (clerks), waive with a reason (承認者 only), PDF download.
- 振込データ取込: upload a bank-transfer CSV; the result lists applied and rejected rows.
- 返却管理: certificates asked back; receipts by a list of 証明書番号, overdue filter, reminders.
- 送付保留: 宛所不明 returns; record one, correct the address and send again.

Every change goes through a service (fees.services, certificates.lifecycle); the screens only parse
input and show results. Nothing here can be deleted: history is kept.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from certificates.lifecycle import (
    ReturnsError,
    certificates_record_returns,
    parse_number_list,
)
from certificates.models import CertificateState, Route
from documents.models import DocumentState
from members.import_jobs import ImportJob, ImportKind, background_threshold, import_job_create
from members.importing import RowError

from . import services
from .forms import (
    AddressForm,
    ApplicationForm,
    PaymentConfirmForm,
    PaymentUploadForm,
    ReasonForm,
    ReturnsReceiveForm,
    UndeliverableForm,
)
from .models import (
    ApplicationState,
    HeldCertificate,
    Invoice,
    InvoiceState,
    PaymentImport,
    ReissueApplication,
    ReissueKind,
    ReturnedMail,
    ReturnPendingCertificate,
    ReturnReminder,
)
from .paperwork import document_rerender
from .payments import payments_summary_text
from .selectors import applications_ready_to_issue, certificates_held, returns_overdue
from .tasks import payments_import_job_run_task


def document_link(doc) -> str:
    """The PDF's download link (documents' permission-checked view), or its state."""
    if doc is None:
        return "-"
    if doc.state == DocumentState.STORED and doc.file:
        return format_html(
            '<a href="{}">PDF ({}ページ)</a>',
            reverse("documents:download", args=[doc.pk]),
            doc.page_count or "?",
        )
    if doc.state == DocumentState.FAILED:
        return format_html('<span class="errornote">作成失敗: {}</span>', doc.error[:120])
    return doc.get_state_display()


def _pdf_view_link(doc) -> str:
    """A short link that opens the PDF in the browser (lists at 1366 px), else its state."""
    if doc is not None and doc.state == DocumentState.STORED and doc.file:
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">PDF</a>',
            reverse("documents:view", args=[doc.pk]),
        )
    return document_link(doc)


def _messages(exc: ValidationError) -> list[str]:
    return list(exc.messages)


def next_url(request, default: str) -> str:
    """Where to go after an action: the page that sent the clerk here (?next=, same site only,
    e.g. the 加入者カルテ), else `default`."""
    from django.utils.http import url_has_allowed_host_and_scheme

    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def _prefill(request, form_class, names) -> dict:
    return {n: request.GET[n] for n in names if n in request.GET and n in form_class.base_fields}


class ReadOnlyMixin:
    """Rows change only through the services: no add form, no edit form, no delete."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + list(self.readonly_extra)

    readonly_extra: tuple = ()


class FormPageMixin:
    def form_page(self, request, *, title, form, intro="", submit_label="実行", **extra):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "form": form,
            "intro": intro,
            "submit_label": submit_label,
            "cancel_url": reverse(f"admin:fees_{self.model._meta.model_name}_changelist"),
            **extra,
        }
        return TemplateResponse(request, "admin/fees/form.html", context)

    def changelist_url(self):
        return reverse(f"admin:fees_{self.model._meta.model_name}_changelist")


# --- 再交付申請 -----------------------------------------------------------------------------------


class ReadyToIssueFilter(admin.SimpleListFilter):
    title = "交付待ち"
    parameter_name = "ready"

    def lookups(self, request, model_admin):
        return [("1", "入金済・免除で未交付"), ("unpaid", "入金待ち")]

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.filter(pk__in=applications_ready_to_issue().values("pk"))
        if self.value() == "unpaid":
            return queryset.filter(state=ApplicationState.OPEN, invoice__state=InvoiceState.UNPAID)
        return queryset


@admin.register(ReissueApplication)
class ReissueApplicationAdmin(FormPageMixin, ReadOnlyMixin, admin.ModelAdmin):
    # At 1366 px: the short kind, who (氏名 opens the 加入者カルテ), the fee, the result; the
    # 届出経路 is a filter and on the application's page.
    list_display = [
        "id",
        "kind_short",
        "received_on",
        "certificate_number",
        "holder",
        "state",
        "invoice_state",
        "new_certificate_number",
        "documents_short",
    ]
    list_filter = ["kind", "state", ReadyToIssueFilter, "route"]
    search_fields = [
        "certificate__number",
        "new_certificate__number",
        "certificate__person__name",
        "certificate__person__name_kana",
        "invoice__number",
    ]
    date_hierarchy = "received_on"
    list_select_related = ["certificate__person", "new_certificate", "invoice", "document"]
    readonly_extra = ("operations", "karte")

    @admin.display(description="加入者カルテ")
    def karte(self, obj):
        from members.karte import karte_link

        person = obj.certificate.person
        return karte_link(person, f"{person.key} {person.name}")

    actions = ["issue_selected", "rerender_documents"]

    def has_add_permission(self, request):
        return request.user.has_perm("fees.add_reissueapplication")

    @admin.display(description="証明書番号", ordering="certificate__number")
    def certificate_number(self, obj):
        return obj.certificate.number

    @admin.display(description="氏名")
    def holder(self, obj):
        from members.karte import karte_link

        return karte_link(obj.certificate.person, obj.certificate.person.name)

    @admin.display(description="請求書")
    def invoice_state(self, obj):
        invoice = getattr(obj, "invoice", None)
        if invoice is None:
            return "-"
        url = reverse("admin:fees_invoice_change", args=[invoice.pk])
        return format_html(
            '<a href="{}">{}</a> {}', url, invoice.number, invoice.get_state_display()
        )

    @admin.display(description="新しい証明書番号")
    def new_certificate_number(self, obj):
        return obj.new_certificate.number if obj.new_certificate_id else "-"

    @admin.display(description="交付帳票")
    def documents(self, obj):
        return document_link(obj.document)

    @admin.display(description="申請種別", ordering="kind")
    def kind_short(self, obj):
        return obj.kind

    @admin.display(description="交付帳票")
    def documents_short(self, obj):
        return _pdf_view_link(obj.document) if obj.document_id else "-"

    @admin.display(description="操作")
    def operations(self, obj):
        if obj.state != ApplicationState.OPEN:
            return "-"
        return format_html(
            '<a class="button" href="{}">交付する</a> <a class="button" href="{}">取り消す</a>',
            reverse("admin:fees_reissueapplication_issue", args=[obj.pk]),
            reverse("admin:fees_reissueapplication_cancel", args=[obj.pk]),
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/issue/", wrap(self.issue_view), name="fees_reissueapplication_issue"),
            path("<int:pk>/cancel/", wrap(self.cancel_view), name="fees_reissueapplication_cancel"),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        """The 申請書 form: received and processed by the service (change: issued at once; loss:
        invalidated at once and billed)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ApplicationForm(
            request.POST or None,
            initial=_prefill(request, ApplicationForm, ("kind", "certificate_number", "route")),
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                cert = services.certificate_find(data["certificate_number"])
                common = {
                    "certificate": cert,
                    "route": data["route"],
                    "received_on": data["received_on"],
                    "note": data["note"],
                    "acting_user": request.user,
                }
                if data["kind"] == ReissueKind.CHANGE:
                    app = services.reissue_application_receive_change(
                        new_name=data["new_name"], new_name_kana=data["new_name_kana"], **common
                    )
                    msg = (
                        f"記載事項変更を受け付け、資格確認書 {app.new_certificate.number} を交付しました。"
                        f"旧証明書 {cert.number} は返却待ちです。"
                    )
                else:
                    app = services.reissue_application_receive_loss(
                        reissue_requested=data["reissue_requested"], **common
                    )
                    invoice = getattr(app, "invoice", None)
                    msg = f"滅失・き損の届出を受け付け、資格確認書 {cert.number} を無効にしました。"
                    if invoice is not None:
                        msg += f"請求書 {invoice.number}({invoice.amount:,}円)を作成しました。入金確認後に交付してください。"
            except ValidationError as exc:
                for m in _messages(exc):
                    form.add_error(None, m)
            else:
                self.message_user(request, msg, messages.SUCCESS)
                return HttpResponseRedirect(
                    next_url(
                        request, reverse("admin:fees_reissueapplication_change", args=[app.pk])
                    )
                )
        return self.form_page(
            request,
            title="再交付申請の受付",
            hidden=[("next", request.GET.get("next") or request.POST.get("next") or "")],
            summary=_certificate_summary(form),
            form=form,
            intro="記載事項変更は受付と同時に新しい資格確認書を交付します(旧証明書は返却待ち)。"
            "滅失・き損は受付と同時に旧証明書を無効にし、手数料の請求書を作成します。",
            submit_label="受け付ける",
        )

    def issue_view(self, request, pk):
        if not self.has_change_permission(request):
            raise PermissionDenied
        app = get_object_or_404(
            ReissueApplication.objects.select_related("certificate__person", "invoice"), pk=pk
        )
        url = next_url(request, reverse("admin:fees_reissueapplication_change", args=[app.pk]))
        if request.method == "POST":
            try:
                cert = services.reissue_application_issue(application=app, acting_user=request.user)
            except ValidationError as exc:
                for m in _messages(exc):
                    self.message_user(request, m, messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"資格確認書 {cert.number}(再交付(滅失・き損))を交付しました。帳票を作成しています。",
                    messages.SUCCESS,
                )
            return HttpResponseRedirect(url)
        invoice = getattr(app, "invoice", None)
        person = app.certificate.person
        return self.form_page(
            request,
            title=f"再交付申請 #{app.pk} の資格確認書を交付",
            form=None,
            intro="次の人に新しい資格確認書(再交付(滅失・き損))を交付し、資格確認書と送付状を作成します。"
            "手数料の入金(または免除)を確認済みの申請だけが交付できます。",
            summary=[
                ("記号・番号・枝番", person.key),
                ("氏名", person.name),
                ("滅失・き損の証明書", app.certificate.number),
                (
                    "請求書",
                    f"{invoice.number} {invoice.amount:,}円 {invoice.get_state_display()}"
                    if invoice
                    else "なし",
                ),
            ],
            hidden=[("next", request.GET.get("next", ""))],
            submit_label="交付する",
        )

    def cancel_view(self, request, pk):
        if not self.has_change_permission(request):
            raise PermissionDenied
        app = get_object_or_404(ReissueApplication, pk=pk)
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.reissue_application_cancel(
                    application=app, reason=form.cleaned_data["reason"], acting_user=request.user
                )
            except ValidationError as exc:
                for m in _messages(exc):
                    form.add_error(None, m)
            else:
                self.message_user(
                    request, f"再交付申請 #{app.pk} を取り消しました。", messages.SUCCESS
                )
                return HttpResponseRedirect(
                    reverse("admin:fees_reissueapplication_change", args=[app.pk])
                )
        return self.form_page(
            request,
            title=f"再交付申請 #{app.pk} の取消",
            form=form,
            intro="未入金の請求書は取消になります。無効にした資格確認書は無効のままです。",
            submit_label="取り消す",
        )

    @admin.action(
        description="選択した申請の資格確認書を交付する(入金確認・免除後)", permissions=["change"]
    )
    def issue_selected(self, request, queryset):
        if not self.has_change_permission(request):
            raise PermissionDenied
        done = 0
        for app in queryset.order_by("pk"):
            try:
                services.reissue_application_issue(application=app, acting_user=request.user)
            except ValidationError as exc:
                for m in _messages(exc):
                    self.message_user(request, f"申請 #{app.pk}: {m}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"{done}件の資格確認書を交付しました。", messages.SUCCESS)

    @admin.action(description="作成に失敗した帳票を再作成する", permissions=["change"])
    def rerender_documents(self, request, queryset):
        _rerender(self, request, [a.document for a in queryset if a.document_id])


def _certificate_summary(form) -> list[tuple[str, str]]:
    """What receiving the application will do, for the certificate typed or prefilled."""
    number = (form.data.get("certificate_number") if form.is_bound else None) or form.initial.get(
        "certificate_number"
    )
    if not number:
        return []
    try:
        cert = services.certificate_find(number)
    except ValidationError:
        return []
    person = cert.person
    return [
        ("記号・番号・枝番", person.key),
        ("氏名", person.name),
        ("証明書番号", f"{cert.number}({cert.effective_state()})"),
        (
            "滅失・き損を受け付けると",
            f"{cert.number} を直ちに無効にし、再交付を希望するときは手数料の請求書を作成します",
        ),
        (
            "記載事項変更を受け付けると",
            "直ちに新しい資格確認書を交付し、旧証明書を返却待ちにします",
        ),
    ]


def _rerender(model_admin, request, docs):
    if not request.user.has_perm("documents.change_generateddocument"):
        raise PermissionDenied
    n = 0
    for doc in docs:
        if doc.state != DocumentState.FAILED:
            continue
        document_rerender(document=doc, acting_user=request.user)
        n += 1
    model_admin.message_user(request, f"{n}件の帳票を再作成します。", messages.INFO)


# --- 請求書 ------------------------------------------------------------------------------------------


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
        from members.karte import karte_link

        person = obj.application.certificate.person
        return karte_link(person, f"{person.key} {person.name}")

    actions = ["confirm_payment", "waive", "rerender_documents"]

    @admin.display(description="氏名")
    def holder(self, obj):
        from members.karte import karte_link

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


# --- 振込データ取込 ----------------------------------------------------------------------------------


@admin.register(PaymentImport)
class PaymentImportAdmin(FormPageMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "source_name",
        "created_at",
        "imported_by",
        "row_count",
        "applied_count",
        "rejected_count",
    ]
    readonly_extra = ("applied_rows", "rejected_rows")
    exclude = ["applied", "rejected"]

    def get_readonly_fields(self, request, obj=None):
        return [
            f.name for f in self.model._meta.fields if f.name not in ("applied", "rejected")
        ] + list(self.readonly_extra)

    def has_add_permission(self, request):
        # importing confirms payments: the right to change invoices
        return request.user.has_perm("fees.add_paymentimport") and request.user.has_perm(
            "fees.change_invoice"
        )

    @staticmethod
    def _rows(rows, with_reason):
        if not rows:
            return "なし"
        cells = (
            (r["row"], r["number"], f"{r['amount']:,}円", r["paid_on"], r.get("reason", ""))
            for r in rows
        )
        head = "<tr><th>行</th><th>請求書番号</th><th>入金額</th><th>入金日</th><th>{}</th></tr>"
        return format_html(
            "<table>{}{}</table>",
            format_html(head, "理由(未反映)" if with_reason else ""),
            format_html_join(
                "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", cells
            ),
        )

    @admin.display(description="反映した行")
    def applied_rows(self, obj):
        return self._rows(obj.applied, False)

    @admin.display(description="不一致の行(反映していません)")
    def rejected_rows(self, obj):
        return self._rows(obj.rejected, True)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = PaymentUploadForm(request.POST or None, request.FILES or None)
        problems = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > background_threshold():
                return self._start_payments_job(request, upload)
            try:
                imp = services.payments_import(
                    source=upload, source_name=upload.name, acting_user=request.user
                )
            except ValidationError as exc:
                problems = _messages(exc)
            else:
                level = messages.WARNING if imp.rejected_count else messages.SUCCESS
                self.message_user(request, payments_summary_text(imp), level)
                return HttpResponseRedirect(
                    reverse("admin:fees_paymentimport_change", args=[imp.pk])
                )
        return self.form_page(
            request,
            title="振込データの取込",
            form=form,
            problems=problems,
            problems_title="ファイルを取り込めません。何も反映していません:",
            intro="請求書番号と入金額が請求書と一致する行だけを入金済にします。"
            "番号不明・金額相違・入金済・免除・取消・ファイル内の重複の行は一覧に表示し、反映しません。",
            submit_label="取り込む",
        )

    # A large file is not imported inside the web request: it becomes a background job
    # (members.import_jobs, the registry imports' job and page; run by fees.tasks).

    def get_urls(self):
        return [
            path(
                "job/<int:job_id>/",
                self.admin_site.admin_view(self.import_job_view),
                name="fees_paymentimport_import_job",
            ),
            *super().get_urls(),
        ]

    def _start_payments_job(self, request, upload):
        job = import_job_create(
            user=request.user,
            kind=ImportKind.PAYMENTS,
            upload=upload,
            task=payments_import_job_run_task,
        )
        return HttpResponseRedirect(reverse("admin:fees_paymentimport_import_job", args=[job.pk]))

    def import_job_view(self, request, job_id: int):
        """The job's progress (the page reloads itself until the job has ended), then its report
        with a link to the import's rows (applied and not applied)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        job = get_object_or_404(ImportJob, pk=job_id, kind=ImportKind.PAYMENTS)
        if job.requested_by_id != request.user.pk and not request.user.is_superuser:
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{job.get_kind_display()}の取込: {job.source_name}",
            "job": job,
            "errors": [RowError(*e) for e in job.errors],
            "hidden_errors": max(0, job.error_total - len(job.errors)),
            "changelist_url": self.changelist_url(),
            "result_url": reverse("admin:fees_paymentimport_change", args=[job.result_id])
            if job.result_id
            else "",
        }
        return TemplateResponse(request, "admin/members/import_job.html", context)


# --- 返却管理 ------------------------------------------------------------------------------------------


class ReturnStatusFilter(admin.SimpleListFilter):
    title = "返却状況"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [
            ("pending", "返却待ち(すべて)"),
            ("overdue", "返却期限超過"),
            ("returned", "返却済"),
        ]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "pending":
            return queryset.filter(state=CertificateState.RETURN_PENDING)
        if self.value() == "overdue":
            return queryset.filter(pk__in=returns_overdue(today=today).values("pk"))
        if self.value() == "returned":
            return queryset.filter(state=CertificateState.RETURNED)
        return queryset


@admin.register(ReturnPendingCertificate)
class ReturnPendingAdmin(FormPageMixin, ReadOnlyMixin, admin.ModelAdmin):
    change_list_template = "admin/fees/change_list_tools.html"
    # The clerk's columns at 1366 px: who (氏名 opens the 加入者カルテ), where it comes back from,
    # by when, how late, what happened; 記号・番号 and the route are in the カルテ and the filters.
    list_display = [
        "number",
        "holder",
        "returned_via",
        "return_due",
        "days_overdue",
        "state_today",
        "returned_on",
        "reminders",
    ]
    list_filter = [ReturnStatusFilter, "return_route"]
    search_fields = ["number", "person__name_kana", "person__kigo", "person__bango"]
    ordering = ["return_due", "number"]
    actions = ["generate_reminders", "mark_returned_today"]

    def get_queryset(self, request):
        # Every certificate that was asked back (its return_due is set), whatever became of it.
        return (
            super()
            .get_queryset(request)
            .filter(return_due__isnull=False)
            .select_related("person", "person__member__employer", "person__employer")
            .prefetch_related(
                Prefetch(
                    "return_reminders",
                    queryset=ReturnReminder.objects.select_related("document").order_by("-id"),
                )
            )
        )

    @admin.display(description="記号・番号・枝番")
    def person_key(self, obj):
        from members.karte import karte_link

        return karte_link(obj.person)

    @admin.display(description="事業所")
    def employer(self, obj):
        e = obj.person.household_member.employer
        return f"{e.code} {e.name}" if e else "-"

    @admin.display(description="氏名", ordering="printed_name")
    def holder(self, obj):
        from members.karte import karte_link

        return karte_link(obj.person, obj.printed_name)

    @admin.display(description="返却先", ordering="return_route")
    def returned_via(self, obj):
        e = obj.person.household_member.employer
        if e is not None and obj.return_route == Route.EMPLOYER:
            return f"{e.code} {e.name}"
        return obj.return_route or "-"

    @admin.display(description="超過日数")
    def days_overdue(self, obj):
        today = timezone.localdate()
        if obj.state != CertificateState.RETURN_PENDING or obj.return_due >= today:
            return "-"
        if obj.valid_until < today:
            return "有効期限切れ"
        return f"{(today - obj.return_due).days}日"

    @admin.display(description="状態(本日)")
    def state_today(self, obj):
        state = obj.effective_state()
        if state == CertificateState.RETURN_PENDING and obj.valid_until < timezone.localdate():
            return "返却不要(有効期限切れ)"
        return state

    @admin.display(description="督促")
    def reminders(self, obj):
        sent = list(obj.return_reminders.all())
        if not sent:
            return "-"
        last = sent[0]
        return format_html(
            "{}回(最終 {}) {}",
            len(sent),
            f"{timezone.localtime(last.created_at):%m-%d}",
            _pdf_view_link(last.document),
        )

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "extra_tools": [
                (
                    reverse("admin:fees_returnpendingcertificate_receive"),
                    "返却の受付(証明書番号で一括)",
                ),
                (
                    reverse("admin:fees_returnpendingcertificate_changelist") + "?status=overdue",
                    "返却期限超過の一覧",
                ),
            ],
        }
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("receive/", wrap(self.receive_view), name="fees_returnpendingcertificate_receive"),
            *super().get_urls(),
        ]

    def receive_view(self, request):
        """Receipts by a pasted list of 証明書番号, all-or-nothing (certificates_record_returns)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = ReturnsReceiveForm(
            request.POST or None, initial=_prefill(request, ReturnsReceiveForm, ("numbers",))
        )
        problems = []
        if request.method == "POST" and form.is_valid():
            numbers = parse_number_list(form.cleaned_data["numbers"])
            try:
                done = certificates_record_returns(
                    numbers=numbers,
                    returned_on=form.cleaned_data["returned_on"],
                    acting_user=request.user,
                )
            except ReturnsError as exc:
                problems = [f"{n}: {reason}" for n, reason in exc.problems]
            except ValidationError as exc:
                problems = _messages(exc)
            else:
                self.message_user(request, f"{len(done)}件を返却済にしました。", messages.SUCCESS)
                return HttpResponseRedirect(
                    next_url(request, self.changelist_url() + "?status=returned")
                )
        return self.form_page(
            request,
            title="返却の受付(証明書番号で一括)",
            form=form,
            problems=problems,
            hidden=[("next", request.GET.get("next") or request.POST.get("next") or "")],
            intro="受け取った資格確認書の証明書番号を入力してください。"
            "返却待ちでない番号や見つからない番号が1件でもあれば、全件とも反映しません(一覧を直して再送信)。",
            submit_label="返却済にする",
        )

    @admin.action(
        description="督促状を作成する(事業所ごと・直接返却は世帯ごと)", permissions=["change"]
    )
    def generate_reminders(self, request, queryset):
        if not self.has_change_permission(request):
            raise PermissionDenied
        try:
            docs = services.returns_generate_reminders(
                certificates=list(queryset), acting_user=request.user
            )
        except ReturnsError as exc:
            for n, reason in exc.problems:
                self.message_user(request, f"{n}: {reason}", messages.ERROR)
            self.message_user(request, "督促状は作成していません。", messages.ERROR)
            return
        except ValidationError as exc:
            for m in _messages(exc):
                self.message_user(request, m, messages.ERROR)
            return
        self.message_user(
            request,
            f"督促状を{len(docs)}通作成しています: {'、'.join(d.label for d in docs)}。"
            "作成後、この一覧の「督促」欄からダウンロードできます。",
            messages.SUCCESS,
        )

    @admin.action(description="返却済にする(本日受領)", permissions=["change"])
    def mark_returned_today(self, request, queryset):
        if not self.has_change_permission(request):
            raise PermissionDenied
        try:
            done = certificates_record_returns(
                numbers=[c.number for c in queryset],
                returned_on=timezone.localdate(),
                acting_user=request.user,
            )
        except ReturnsError as exc:
            for n, reason in exc.problems:
                self.message_user(request, f"{n}: {reason}", messages.ERROR)
            self.message_user(request, "何も反映していません。", messages.ERROR)
            return
        self.message_user(request, f"{len(done)}件を返却済にしました。", messages.SUCCESS)


# --- 送付保留 ---------------------------------------------------------------------------------------


@admin.register(HeldCertificate)
class HeldCertificateAdmin(FormPageMixin, ReadOnlyMixin, admin.ModelAdmin):
    change_list_template = "admin/fees/change_list_tools.html"
    list_display = [
        "number",
        "printed_name",
        "addressee",
        "held_since",
        "days_held",
        "route",
        "state_today",
        "correct_link",
    ]
    search_fields = ["number", "person__name_kana", "person__member__name_kana"]
    ordering = ["held_since", "number"]
    readonly_extra = ("correct_link",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(pk__in=certificates_held().values("pk"))
            .select_related("person", "person__member")
        )

    @admin.display(description="宛先(被保険者)・住所")
    def addressee(self, obj):
        a = obj.person.household_member
        flag = f"(宛所不明 {a.address_unknown_since:%Y-%m-%d}〜)" if a.address_unknown_since else ""
        return f"{a.name} 〒{a.postal_code} {a.address}{flag}"

    @admin.display(description="保留日数", ordering="held_since")
    def days_held(self, obj):
        return f"{(timezone.localdate() - obj.held_since).days}日"

    @admin.display(description="状態(本日)")
    def state_today(self, obj):
        return obj.effective_state()

    @admin.display(description="操作")
    def correct_link(self, obj):
        return format_html(
            '<a class="button" href="{}">住所を訂正して再送</a>',
            reverse("admin:fees_heldcertificate_correct", args=[obj.pk]),
        )

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "extra_tools": [
                (reverse("admin:fees_heldcertificate_record"), "宛所不明の返戻を登録"),
            ],
        }
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("record/", wrap(self.record_view), name="fees_heldcertificate_record"),
            path("<int:pk>/correct/", wrap(self.correct_view), name="fees_heldcertificate_correct"),
            *super().get_urls(),
        ]

    def record_view(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = UndeliverableForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                mail = services.mail_record_returned(
                    number=form.cleaned_data["number"],
                    returned_on=form.cleaned_data["returned_on"],
                    acting_user=request.user,
                )
            except ValidationError as exc:
                for m in _messages(exc):
                    form.add_error(None, m)
            else:
                self.message_user(
                    request,
                    f"資格確認書 {mail.certificate.number} を送付保留にし、宛先の住所を宛所不明として記録しました。",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(self.changelist_url())
        return self.form_page(
            request,
            title="宛所不明の返戻を登録",
            form=form,
            intro="郵便局から返戻された封筒の資格確認書の証明書番号を入力してください。"
            "宛先(被保険者)の住所に宛所不明の印を付け、資格確認書を住所訂正まで保留します。",
            submit_label="登録する",
        )

    def correct_view(self, request, pk):
        if not self.has_change_permission(request):
            raise PermissionDenied
        cert = get_object_or_404(HeldCertificate.objects.select_related("person__member"), pk=pk)
        addressee = cert.person.household_member
        form = AddressForm(
            request.POST or None,
            initial={"postal_code": addressee.postal_code, "address": addressee.address},
        )
        if request.method == "POST" and form.is_valid():
            try:
                resent = services.person_correct_address(
                    person=addressee,
                    postal_code=form.cleaned_data["postal_code"],
                    address=form.cleaned_data["address"],
                    acting_user=request.user,
                )
            except ValidationError as exc:
                for m in _messages(exc):
                    form.add_error(None, m)
            else:
                self.message_user(
                    request,
                    f"{addressee.name} の住所を訂正しました。再送する資格確認書: "
                    + ("、".join(c.number for c in resent) or "なし(有効なものがありません)")
                    + "。再送の帳票は「返戻記録」からダウンロードできます。",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(next_url(request, self.changelist_url()))
        return self.form_page(
            request,
            title=f"住所の訂正と再送({addressee.key} {addressee.name})",
            form=form,
            hidden=[("next", request.GET.get("next") or request.POST.get("next") or "")],
            intro="訂正後の住所で、世帯の保留中の資格確認書を送付状とともに作り直して再送します。",
            submit_label="訂正して再送する",
        )


@admin.register(ReturnedMail)
class ReturnedMailAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The record of returned envelopes and their resends (the PDF to print and post again)."""

    list_display = [
        "certificate_number",
        "holder",
        "returned_on",
        "recorded_by",
        "resolved_at",
        "resolved_by",
        "resend",
    ]
    list_filter = [("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["certificate__number", "certificate__person__name_kana"]
    list_select_related = ["certificate__person", "recorded_by", "resolved_by", "document"]
    readonly_extra = ("resend",)

    @admin.display(description="証明書番号", ordering="certificate__number")
    def certificate_number(self, obj):
        return obj.certificate.number

    @admin.display(description="氏名")
    def holder(self, obj):
        from members.karte import karte_link

        return karte_link(obj.certificate.person, obj.certificate.person.name)

    @admin.display(description="再送帳票")
    def resend(self, obj):
        if obj.resolved_at is None:
            return "住所訂正待ち"
        return document_link(obj.document) if obj.document_id else "再送なし(有効期限切れ等)"
