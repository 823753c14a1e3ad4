"""Audit screens (read-only for everyone) and the site-wide CSV export action.

- 業務イベント (AuditEvent): business events, filter by action, actor and date, search an object id.
- 変更履歴: every django-simple-history model (persons, runs, certificates, invoices…) registered
  read-only, with who, when, the type of change and each changed field as before → after.
- CSV出力: an action on every changelist (filtered list), for users with the export permission (監査)
  and view permission on the model. Small exports stream back at once; large ones and CP932 (whose
  substitution report must be kept) become an ExportJob written by a Celery task.
"""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from .exports import ExportResult, dataset_for_model, export_bytes, to_cell
from .models import AuditEvent, ExportJob, ExportJobState
from .pagination import EstimatedCountPaginator
from .roles import is_history_model
from .services import export_job_create, export_record, user_can_export


def _stream_max_rows() -> int:
    # Above this many rows an admin export is written in the background (a request must not run
    # for minutes); at or below it the CSV streams back directly.
    return getattr(settings, "EXPORT_STREAM_MAX_ROWS", 50_000)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Nobody adds, changes or deletes these rows through the admin, superusers included: they are
    the record of what happened."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# --- 業務イベント ----------------------------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "action", "object_type", "object_id", "detail_summary")
    list_filter = (
        "action",
        ("actor", admin.RelatedOnlyFieldListFilter),
        ("at", admin.DateFieldListFilter),
    )
    search_fields = ("=object_id",)
    search_help_text = "対象IDで検索(完全一致)"
    date_hierarchy = "at"
    list_select_related = ("actor",)
    show_full_result_count = False  # the trail grows without bound: no second COUNT(*) per page
    paginator = EstimatedCountPaginator  # nor an exact one of the unfiltered trail (issue 8)
    fields = ("at", "actor", "action", "object_type", "object_id", "detail_pretty")
    readonly_fields = fields

    @admin.display(description="詳細")
    def detail_summary(self, obj: AuditEvent) -> str:
        text = to_cell(obj.detail)
        return text if len(text) <= 120 else text[:119] + "…"

    @admin.display(description="詳細")
    def detail_pretty(self, obj: AuditEvent):
        rows = sorted(obj.detail.items())
        return format_html(
            "<table>{}</table>",
            format_html_join(
                "", "<tr><th>{}</th><td>{}</td></tr>", ((k, to_cell(v)) for k, v in rows)
            ),
        )


# --- 変更履歴 (django-simple-history) ------------------------------------------------------------

_HISTORY_TYPES = {"+": "作成", "~": "変更", "-": "削除"}


def _field_label(model, name: str) -> str:
    try:
        return str(model._meta.get_field(name).verbose_name)
    except Exception:  # noqa: BLE001 - a field removed since the record was written
        return name


def history_changes(record) -> list[tuple[str, str, str]]:
    """(field label, before, after) for each field this record changed against the previous record
    of the same object. A creation lists the initial values (before empty)."""
    model = record.instance_type
    if record.history_type == "+" or record.prev_record is None:
        values = []
        for f in record.tracked_fields:
            if not f.editable:
                continue
            value = getattr(record, f.attname)
            if value in (None, ""):
                continue
            values.append((_field_label(model, f.name), "", to_cell(value)))
        return values
    delta = record.diff_against(record.prev_record)
    return [(_field_label(model, c.field), to_cell(c.old), to_cell(c.new)) for c in delta.changes]


class HistoryAdmin(ReadOnlyAdmin):
    """Browse one model's history: who, when, what kind of change, which fields, before → after."""

    list_display = ("history_date", "history_user", "change_type", "record", "changes_summary")
    list_filter = (
        ("history_date", admin.DateFieldListFilter),
        "history_type",
        ("history_user", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("=id",)
    search_help_text = "元データのIDで検索(完全一致)"
    date_hierarchy = "history_date"
    list_select_related = ("history_user",)
    show_full_result_count = False  # millions of rows after an import: no second COUNT(*)
    paginator = EstimatedCountPaginator  # nor an exact one of the unfiltered history (issue 8)
    ordering = ("-history_date", "-history_id")
    fields = (
        "history_date",
        "history_user",
        "change_type",
        "record",
        "history_change_reason",
        "changes_table",
    )
    readonly_fields = fields

    @admin.display(description="種別", ordering="history_type")
    def change_type(self, obj) -> str:
        return _HISTORY_TYPES.get(obj.history_type, obj.history_type)

    @admin.display(description="対象")
    def record(self, obj) -> str:
        instance = obj.instance
        return f"#{instance.pk} {instance}"

    @admin.display(description="変更内容(変更前 → 変更後)")
    def changes_summary(self, obj):
        if obj.history_type == "-":
            return "削除"
        changes = history_changes(obj)
        if obj.history_type == "+":
            return f"作成({len(changes)}項目)"
        return format_html_join(
            mark_safe("<br>"),  # noqa: S308 - a constant
            "{}: {} → {}",
            ((label, old or "(空)", new or "(空)") for label, old, new in changes),
        )

    @admin.display(description="変更内容")
    def changes_table(self, obj):
        changes = history_changes(obj)
        return format_html(
            "<table><thead><tr><th>項目</th><th>変更前</th><th>変更後</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", changes),
        )


def _register_history_models() -> None:
    for model in apps.get_models():
        if is_history_model(model) and not admin.site.is_registered(model):
            admin.site.register(model, HistoryAdmin)


_register_history_models()


# --- CSV出力 --------------------------------------------------------------------------------------


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "dataset",
        "state",
        "row_count",
        "substitution_count",
        "encoding",
        "created_at",
        "finished_at",
        "download",
    )
    list_filter = ("state", "dataset")
    fields = (
        "requested_by",
        "dataset",
        "model_label",
        "encoding",
        "query",
        "select_across",
        "state",
        "row_count",
        "substitution_count",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "download",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        # An export holds personal data: each user sees (and downloads) only their own.
        qs = super().get_queryset(request).select_related("requested_by")
        return qs if request.user.is_superuser else qs.filter(requested_by=request.user)

    @admin.display(description="ダウンロード")
    def download(self, obj: ExportJob):
        if obj.state != ExportJobState.DONE:
            return "-"
        link = format_html(
            '<a href="{}">CSV</a>', reverse("core:export_job_download", args=[obj.pk])
        )
        if obj.report:
            link = format_html(
                '{} / <a href="{}">置換レポート</a>',
                link,
                reverse("core:export_job_report", args=[obj.pk]),
            )
        return link


def _changelist_query(request) -> dict[str, list[str]]:
    # The changelist posts its actions to its own URL, filters and search in the query string.
    return {key: request.GET.getlist(key) for key in request.GET if key != "p"}


def _export_action(encoding: str):
    def action(modeladmin, request, queryset):
        model = modeladmin.model
        if not user_can_export(request.user, model):
            modeladmin.message_user(
                request, "CSV出力の権限がありません(監査の担当者が出力します)", messages.ERROR
            )
            return None
        dataset = dataset_for_model(model)
        query = _changelist_query(request)
        select_across = request.POST.get("select_across") == "1"
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        count = queryset.count()
        if encoding == "cp932" or count > _stream_max_rows():
            job = export_job_create(
                user=request.user,
                dataset=dataset,
                model=model,
                encoding=encoding,
                query=query,
                selected=[] if select_across else selected,
                select_across=select_across,
            )
            url = reverse("admin:core_exportjob_change", args=[job.pk])
            modeladmin.message_user(
                request,
                format_html(
                    'CSV出力ジョブ #{}({}件)を受け付けました。完了すると<a href="{}">ジョブの画面</a>からダウンロードできます。',
                    job.pk,
                    count,
                    url,
                ),
                messages.SUCCESS,
            )
            return None

        result = ExportResult()
        user = request.user
        filters = {
            "query": query,
            "selected": [] if select_across else selected,
            "all": select_across,
        }

        def stream():
            try:
                yield from export_bytes(dataset, queryset, encoding=encoding, result=result)
            finally:
                # Logged when the rows have been produced (or the download was cut off).
                export_record(
                    actor=user,
                    dataset=dataset.name,
                    encoding=encoding,
                    row_count=result.row_count,
                    filters=filters,
                    via="admin",
                    completed=result.completed,
                )

        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{dataset.name}-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response

    action.allowed_permissions = ("view",)
    return action


export_csv_utf8 = _export_action("utf-8-sig")
export_csv_utf8.short_description = "CSV出力(UTF-8 BOM付き)"
export_csv_cp932 = _export_action("cp932")
export_csv_cp932.short_description = "CSV出力(CP932・バックグラウンド)"
admin.site.add_action(export_csv_utf8, "export_csv")
admin.site.add_action(export_csv_cp932, "export_csv_cp932")


# --- django-axes: its "clean up" action deletes login records but asks for no permission -----------


def _guard_axes_cleanup() -> None:
    """axes' AccessAttemptAdmin offers an action that deletes lockout records to anyone who can view
    the list — an auditor could erase the trail of failed logins. Re-register it so the action needs
    the delete permission (no role has it)."""
    try:
        from axes.admin import AccessAttemptAdmin
        from axes.models import AccessAttempt
    except ImportError:  # pragma: no cover - axes is a dependency
        return
    if not admin.site.is_registered(AccessAttempt):
        return

    class GuardedAccessAttemptAdmin(AccessAttemptAdmin):
        @admin.action(description="期限切れの試行記録を削除", permissions=["delete"])
        def cleanup_expired_attempts(self, request, queryset):
            return super().cleanup_expired_attempts(request, queryset)

    admin.site.unregister(AccessAttempt)
    admin.site.register(AccessAttempt, GuardedAccessAttemptAdmin)


_guard_axes_cleanup()


def _axes_in_japanese() -> None:
    """django-axes ships no Japanese: name its screens for the clerks' and auditors' menu."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    for model, name in (
        (AccessAttempt, "ログイン失敗の集計(ロック判定)"),
        (AccessFailureLog, "ログイン失敗の記録"),
        (AccessLog, "ログインの記録"),
    ):
        model._meta.verbose_name = name
        model._meta.verbose_name_plural = name
    model._meta.app_config.verbose_name = "ログイン試行"


_axes_in_japanese()
