"""振込データ取込: upload a bank-transfer CSV and see what was applied and what was not."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from core.admin_pages import FormPageMixin, ReadOnlyMixin
from core.admin_pages import error_messages as _messages

from .. import services
from ..forms import PaymentUploadForm
from ..models import (
    PaymentImport,
)


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
            try:
                imp = services.payments_import(
                    source=upload, source_name=upload.name, acting_user=request.user
                )
            except ValidationError as exc:
                problems = _messages(exc)
            else:
                level = messages.WARNING if imp.rejected_count else messages.SUCCESS
                self.message_user(
                    request,
                    f"入金反映 {imp.applied_count}件、不一致(未反映) {imp.rejected_count}件。",
                    level,
                )
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
