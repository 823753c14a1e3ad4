"""The return recovery rate page and its CSV (auditors and supervisors; figures only, no personal
data). The home page itself is templates/admin/index.html with core.dashboard.today_items."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from core.exports import CsvEncoder

from .dashboard import RECOVERY_CSV_HEADER, recovery_csv_rows, recovery_rates
from .services import export_record


def _check(request):
    if not request.user.has_perm("certificates.view_certificate"):
        raise PermissionDenied


def recovery_view(request):
    _check(request)
    context = {
        **admin.site.each_context(request),
        "title": "資格確認書の回収率(資格喪失から5日以内・30日以内)",
        "rates": recovery_rates(),
    }
    return TemplateResponse(request, "admin/recovery.html", context)


def recovery_csv(request):
    _check(request)
    rates = recovery_rates()
    encoder = CsvEncoder(header=RECOVERY_CSV_HEADER)
    body = encoder.header_bytes() + b"".join(
        encoder.row_bytes(row) for row in recovery_csv_rows(rates)
    )
    export_record(
        actor=request.user,
        dataset="recovery_rate",
        encoding="utf-8-sig",
        row_count=len(rates),
        filters={},
        via="admin",
        completed=True,
    )
    stamp = timezone.localtime().strftime("%Y%m%d")
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="recovery-rate-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response
