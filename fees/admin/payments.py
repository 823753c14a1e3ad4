"""振込データ取込: upload a bank-transfer CSV and see what was applied and what was not."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from core.admin_pages import FormPageMixin, ReadOnlyMixin
from core.admin_pages import error_messages as _messages
from members.admin import import_job_response
from members.import_jobs import ImportJob, ImportKind, background_threshold, import_job_create

from .. import services
from ..forms import PaymentUploadForm
from ..models import (
    PaymentImport,
)
from ..payments import payments_summary_text
from ..tasks import payments_import_job_run_task

# a file of the whole register lists up to a million rows: the page shows the first of each list
SHOWN_ROWS = 1000


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

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + list(self.readonly_extra)

    def has_add_permission(self, request):
        # importing confirms payments: the right to change invoices
        return request.user.has_perm("fees.add_paymentimport") and request.user.has_perm(
            "fees.change_invoice"
        )

    @staticmethod
    def _rows(rows, total: int, with_reason: bool):
        if not total:
            return "なし"
        shown = list(rows[:SHOWN_ROWS])
        cells = (
            (r.row, r.number, f"{r.amount:,}円", f"{r.paid_on:%Y-%m-%d}", r.reason) for r in shown
        )
        head = "<tr><th>行</th><th>請求書番号</th><th>入金額</th><th>入金日</th><th>{}</th></tr>"
        more = (
            format_html(
                "<p>先頭{}行を表示しています(全{}行)。</p>", f"{len(shown):,}", f"{total:,}"
            )
            if total > len(shown)
            else ""
        )
        return format_html(
            "{}<table>{}{}</table>",
            more,
            format_html(head, "理由(未反映)" if with_reason else ""),
            format_html_join(
                "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", cells
            ),
        )

    @admin.display(description="反映した行")
    def applied_rows(self, obj):
        return self._rows(obj.applied_rows(), obj.applied_count, False)

    @admin.display(description="不一致の行(反映していません)")
    def rejected_rows(self, obj):
        return self._rows(obj.rejected_rows(), obj.rejected_count, True)

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
        """The job's page, followed live until the job has ended, then its report with a link to
        the import's rows (applied and not applied)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        job = get_object_or_404(ImportJob, pk=job_id, kind=ImportKind.PAYMENTS)
        return import_job_response(
            request,
            job,
            admin_site=self.admin_site,
            opts=self.model._meta,
            changelist_url=self.changelist_url(),
            result_url=reverse("admin:fees_paymentimport_change", args=[job.result_id])
            if job.result_id
            else "",
        )
