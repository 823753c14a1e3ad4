"""再交付申請: receive, issue after payment, cancel."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from core.admin_pages import FormPageMixin, ReadOnlyMixin, next_url
from core.admin_pages import error_messages as _messages
from core.admin_pages import prefill as _prefill
from documents.links import document_link
from documents.links import pdf_view_link as _pdf_view_link
from documents.models import DocumentState
from documents.receivers import document_rerender
from members.karte import karte_link

from .. import services
from ..forms import ApplicationForm, ReasonForm
from ..models import (
    ApplicationState,
    InvoiceState,
    ReissueApplication,
    ReissueKind,
)
from ..selectors import applications_ready_to_issue


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
