"""Download of a finished background export: the requester only, with the export permission still
held, logged as a business event."""

from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from .models import ExportJob, ExportJobState
from .services import export_job_download_record, user_can_export


def _job_for(request, pk: int) -> ExportJob:
    job = get_object_or_404(ExportJob, pk=pk)
    user = request.user
    if job.requested_by_id != user.pk and not user.is_superuser:
        raise PermissionDenied("この出力ファイルは依頼者だけがダウンロードできます")
    try:
        model = apps.get_model(job.model_label)
    except LookupError:
        raise Http404("出力元のモデルがありません") from None
    if not user_can_export(user, model):
        raise PermissionDenied("CSV出力の権限がありません")
    if job.state != ExportJobState.DONE or not job.file:
        raise Http404("出力はまだ完了していません")
    return job


@require_GET
def export_job_download(request, pk: int):
    job = _job_for(request, pk)
    export_job_download_record(job=job, user=request.user)
    response = FileResponse(
        job.file.open("rb"),
        as_attachment=True,
        filename=job.file.name.rsplit("/", 1)[-1],
        content_type="text/csv",
    )
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def export_job_report(request, pk: int):
    """Where CP932 could not hold a character: row numbers and columns only (no personal data)."""
    job = _job_for(request, pk)
    if not job.report:
        raise Http404("置換はありませんでした")
    return FileResponse(
        job.report.open("rb"),
        as_attachment=True,
        filename=job.report.name.rsplit("/", 1)[-1],
        content_type="text/plain; charset=utf-8",
    )
