"""Download of stored PDFs: logged-in staff with documents.download_generateddocument only.

There is no public URL (no MEDIA_URL is served); anyone else gets 404, so the view does not even
reveal which documents exist. Every download is an audit event.
"""

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404

from core.models import audit_event

from .models import GeneratedDocument


@login_required
def document_download(request, pk: int):
    user = request.user
    if not (
        user.is_active and user.is_staff and user.has_perm("documents.download_generateddocument")
    ):
        raise Http404
    doc = get_object_or_404(GeneratedDocument, pk=pk)
    if not doc.file:
        raise Http404
    try:
        handle = doc.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    audit_event(action="document.downloaded", actor=user, obj=doc, sha256=doc.sha256)
    filename = doc.file.name.rsplit("/", 1)[-1]
    response = FileResponse(
        handle, as_attachment=True, filename=filename, content_type="application/pdf"
    )
    response["Cache-Control"] = "no-store"
    return response
