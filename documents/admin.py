"""帳票(PDF) in the admin: a read-only list of rendered chunks with their outcome, the download link
(permission-checked view) and the retry action for failed chunks. Rows change only through
documents.services."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from .models import DocumentState, GeneratedDocument
from .services import document_retry


class SkippedFilter(admin.SimpleListFilter):
    """Chunks that left holders out (a character of their name or address has no glyph)."""

    title = "印刷除外"
    parameter_name = "skipped"

    def lookups(self, request, model_admin):
        return [("yes", "あり"), ("no", "なし")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(skipped=[])
        if self.value() == "no":
            return queryset.filter(skipped=[])
        return queryset


@admin.register(GeneratedDocument)
class GeneratedDocumentAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "run",
        "chunk_no",
        "label",
        "state",
        "attempts",
        "page_count",
        "certificate_pages",
        "skipped_count",
        "short_sha256",
        "download_link",
        "finished_at",
    ]
    list_filter = ["state", SkippedFilter, "kind", "run"]
    list_select_related = ["run"]
    search_fields = ["label", "sha256"]
    actions = ["retry_failed"]
    fields = [
        "kind",
        "run",
        "chunk_no",
        "employer",
        "part_no",
        "part_count",
        "label",
        "state",
        "attempts",
        "error",
        "page_count",
        "certificate_pages",
        "sha256",
        "download_link",
        "skipped_list",
        "item_count",
        "started_at",
        "finished_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # Shown read-only; the retry action checks its own permission in the service.
        return False

    def has_retry_permission(self, request) -> bool:
        # Offer the retry action only to those the service would let retry (not auditors).
        return request.user.has_perm("documents.change_generateddocument")

    @admin.display(description="SHA-256")
    def short_sha256(self, obj):
        return f"{obj.sha256[:12]}…" if obj.sha256 else "—"

    @admin.display(description="印刷除外")
    def skipped_count(self, obj):
        return len(obj.skipped or [])

    @admin.display(description="対象件数")
    def item_count(self, obj):
        return len(obj.item_ids or [])

    @admin.display(description="印刷除外(フォントにない文字)")
    def skipped_list(self, obj):
        if not obj.skipped:
            return "なし"
        return format_html(
            "<ul>{}</ul>",
            format_html_join("", "<li>{}</li>", ((s.get("message", ""),) for s in obj.skipped)),
        )

    @admin.display(description="ダウンロード")
    def download_link(self, obj):
        if not obj.file:
            return "—"
        url = reverse("documents:download", args=[obj.pk])
        return format_html('<a href="{}">PDF ({} ページ)</a>', url, obj.page_count or 0)

    @admin.action(description="失敗した帳票を再作成する", permissions=["retry"])
    def retry_failed(self, request, queryset):
        done = 0
        # Counted before retrying: a retried chunk is 待機 afterwards, and must not then be
        # reported as "not failed" in the same message (issue 12).
        failed = list(queryset.filter(state=DocumentState.FAILED))
        skipped = queryset.count() - len(failed)
        for doc in failed:
            try:
                document_retry(document=doc, acting_user=request.user)
                done += 1
            except (ValidationError, PermissionDenied) as exc:
                text = "。".join(getattr(exc, "messages", None) or [str(exc)])
                self.message_user(request, f"{doc.label}: {text}", level=messages.ERROR)
        if done:
            self.message_user(request, f"{done}件の帳票を再作成します。", level=messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped}件は失敗状態ではないため対象外です。", level=messages.WARNING
            )
