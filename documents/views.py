"""Viewing and downloading stored PDFs: logged-in staff with documents.download_generateddocument
only.

There is no public URL (no MEDIA_URL is served); anyone else gets 404, so the view does not even
reveal which documents exist. Every view or download is an audit event. `view` opens the PDF in the
browser's own viewer (Content-Disposition inline), `download` saves it; both name it for what it
holds (documents.filenames).
"""

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404

from core.models import audit_event

from .filenames import content_disposition, document_filenames
from .models import GeneratedDocument


def may_download(user) -> bool:
    return (
        user.is_active and user.is_staff and user.has_perm("documents.download_generateddocument")
    )


def _serve(request, pk: int, *, inline: bool):
    user = request.user
    if not may_download(user):
        raise Http404
    doc = get_object_or_404(GeneratedDocument.objects.select_related("employer"), pk=pk)
    if not doc.file:
        raise Http404
    try:
        handle = doc.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    audit_event(
        action="document.downloaded",
        actor=user,
        obj=doc,
        sha256=doc.sha256,
        via="表示" if inline else "保存",
    )
    response = FileResponse(handle, content_type="application/pdf")
    name, ascii_name = document_filenames(doc)
    response["Content-Disposition"] = content_disposition(name, ascii_name, inline=inline)
    response["Cache-Control"] = "no-store"
    return response


@login_required
def document_download(request, pk: int):
    return _serve(request, pk, inline=False)


@login_required
def document_view(request, pk: int):
    return _serve(request, pk, inline=True)
