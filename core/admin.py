"""Audit screens (read-only for everyone) and the site-wide CSV export action.

- 業務イベント (AuditEvent): business events, filter by action, actor and period, search an object id.
- 変更履歴: every django-simple-history model (persons, runs, certificates, invoices…) registered
  read-only, with who, when, the type of change and each changed field as before → after.

Both lists grow to millions of rows (an import of 1.2 million persons writes 1.2 million history rows;
issue 8), so no page view of them may read a whole table: no date_hierarchy (it runs SELECT DISTINCT
date_trunc(…) over the filtered table for its year/month links), no filter whose choices are read from
the rows (RelatedOnlyFieldListFilter, AllValuesFieldListFilter), no facet counts. The period is a
from/to filter that becomes an indexed range condition; users are listed from the user table.
- CSV出力: an action on every changelist (filtered list), for users with the export permission (監査)
  and view permission on the model. Small exports stream back at once; large ones and CP932 (whose
  substitution report must be kept) become an ExportJob written by a Celery task.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.contrib.admin.views.main import PAGE_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.db import connections
from django.db.models import OuterRef, Subquery
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from .exports import ExportResult, dataset_for_model, export_bytes, to_cell
from .models import AuditEvent, ExportJob, ExportJobState
from .pagination import EstimatedCountPaginator
from .roles import is_history_model
from .services import export_job_create, export_record, user_can_export
from .text_safety import safe_text_form


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


# --- list filters that read no big table (issue 8) -------------------------------------------------


def _start_of_day(day: date) -> datetime:
    # The auditors' days are Japanese days (TIME_ZONE = Asia/Tokyo): 4月1日 begins at 00:00 JST.
    return timezone.make_aware(datetime.combine(day, time.min))


def _as_day(value: str) -> date | None:
    try:
        return parse_date(value)
    except ValueError:  # well formed but impossible (2025-02-30)
        return None


def _as_moment(value: str) -> datetime | None:
    """A date (its start, Japan time) or an ISO date-time (as the older date links wrote them)."""
    day = _as_day(value)
    if day is not None:
        return _start_of_day(day)
    try:
        moment = parse_datetime(value)
    except ValueError:
        return None
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class PeriodListFilter(admin.FieldListFilter):
    """期間: a from/to date form plus the usual 今日 / 過去7日間 / 今月 / 今年 links, for a date-time
    column with an index. The result is one range condition (col >= from AND col < day after to),
    which PostgreSQL answers from the column's index, instead of date_hierarchy's SELECT DISTINCT
    over the table. Parameters: <field>__gte (from, a date), <field>__to (to, a date, inclusive) and
    <field>__lt (exclusive end; what the links and the older date filter write)."""

    template = "admin/core/period_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.since_kwarg = f"{field_path}__gte"
        self.until_kwarg = f"{field_path}__lt"
        self.to_kwarg = f"{field_path}__to"
        self.raw = {}
        for key in self.expected_parameters():
            values = params.get(key)
            value = (values[-1] if isinstance(values, list) else values) if values else ""
            if str(value).strip():
                self.raw[key] = str(value).strip()
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = "期間"
        self.errors: list[str] = []
        self.since, self.until = self._bounds()

    def expected_parameters(self):
        return [self.since_kwarg, self.until_kwarg, self.to_kwarg]

    def _bounds(self) -> tuple[datetime | None, datetime | None]:
        since = until = None
        if self.since_kwarg in self.raw:
            since = _as_moment(self.raw[self.since_kwarg])
            if since is None:
                self.errors.append(
                    f"開始日「{self.raw[self.since_kwarg]}」は日付ではありません(例: 2025-04-01)"
                )
        ends = []
        if self.until_kwarg in self.raw:
            end = _as_moment(self.raw[self.until_kwarg])
            if end is None:
                self.errors.append(
                    f"終了日時「{self.raw[self.until_kwarg]}」は日付ではありません(例: 2025-04-01)"
                )
            else:
                ends.append(end)
        if self.to_kwarg in self.raw:
            day = _as_day(self.raw[self.to_kwarg])
            if day is None:
                self.errors.append(
                    f"終了日「{self.raw[self.to_kwarg]}」は日付ではありません(例: 2025-04-30)"
                )
            else:
                ends.append(_start_of_day(day + timedelta(days=1)))  # the whole last day
        until = min(ends) if ends else None
        if since is not None and until is not None and until <= since:
            self.errors.append("終了日が開始日より前です")
        return since, until

    def has_output(self):
        return True

    def queryset(self, request, queryset):
        if self.errors:
            # Showing every row under a filter the user believes applied would mislead an audit:
            # show none, and say why.
            messages.error(request, "期間の指定: " + "。".join(self.errors), fail_silently=True)
            return queryset.none()
        if self.since is not None:
            queryset = queryset.filter(**{f"{self.field_path}__gte": self.since})
        if self.until is not None:
            queryset = queryset.filter(**{f"{self.field_path}__lt": self.until})
        return queryset

    def _links(self) -> list[tuple[str, dict[str, str]]]:
        today = timezone.localdate()
        tomorrow = today + timedelta(days=1)
        month = today.replace(day=1)
        next_month = (month + timedelta(days=32)).replace(day=1)
        year = today.replace(month=1, day=1)
        return [
            ("すべて", {}),
            ("今日", {self.since_kwarg: str(today), self.until_kwarg: str(tomorrow)}),
            (
                "過去7日間",
                {self.since_kwarg: str(today - timedelta(days=7)), self.until_kwarg: str(tomorrow)},
            ),
            ("今月", {self.since_kwarg: str(month), self.until_kwarg: str(next_month)}),
            (
                "今年",
                {
                    self.since_kwarg: str(year),
                    self.until_kwarg: str(year.replace(year=year.year + 1)),
                },
            ),
        ]

    def choices(self, changelist):
        ours = self.expected_parameters()
        for title, params in self._links():
            yield {
                "selected": self.raw == params,
                "query_string": changelist.get_query_string(params, ours),
                "display": title,
            }
        # The form: the other filters, the search and the ordering ride along as hidden fields.
        hidden = [
            (key, value)
            for key, values in changelist.filter_params.items()
            if key not in ours and key != PAGE_VAR
            for value in values
        ]
        to_day = ""
        if self.to_kwarg in self.raw:
            to_day = self.raw[self.to_kwarg]
        elif self.until is not None and not self.errors:
            to_day = str(timezone.localtime(self.until).date() - timedelta(days=1))
        since_day = ""
        if self.since is not None:
            since_day = str(timezone.localtime(self.since).date())
        yield {
            "form": True,
            "hidden": hidden,
            "since_name": self.since_kwarg,
            "since": since_day,
            "to_name": self.to_kwarg,
            "to": to_day,
            "errors": self.errors,
        }


class UserListFilter(admin.RelatedFieldListFilter):
    """Users from the user table (a few dozen staff), not the distinct users of the event or history
    table: RelatedOnlyFieldListFilter reads every row of those to find who appears in them."""

    filter_title = ""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        if self.filter_title:
            self.title = self.filter_title

    def field_choices(self, field, request, model_admin):
        # every account, inactive ones included: a former clerk's changes must stay findable
        return field.get_choices(include_blank=False, ordering=("username",))


class ActorListFilter(UserListFilter):
    filter_title = "実行者"


class HistoryUserListFilter(UserListFilter):
    filter_title = "変更者"


# The distinct actions, read from the (action, at) index one value at a time ("loose index scan"):
# each step asks for the smallest action after the previous one, an index probe, so the cost grows
# with the number of kinds of event (a few dozen), not with the millions of events. A plain
# SELECT DISTINCT action (AllValuesFieldListFilter) would read the whole index or table.
_DISTINCT_ACTIONS_SQL = """
WITH RECURSIVE actions(action) AS (
    SELECT MIN(action) FROM {table}
    UNION ALL
    SELECT (SELECT MIN(e.action) FROM {table} e WHERE e.action > actions.action)
    FROM actions WHERE actions.action IS NOT NULL
)
SELECT action FROM actions WHERE action IS NOT NULL
"""


def distinct_actions() -> list[str]:
    connection = connections[AuditEvent.objects.db]
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(_DISTINCT_ACTIONS_SQL.format(table=table))
        return [row[0] for row in cursor.fetchall()]


class ActionListFilter(admin.SimpleListFilter):
    title = "操作"
    parameter_name = "action"

    def lookups(self, request, model_admin):
        from .audit_labels import action_choices

        return action_choices(distinct_actions())

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(action=value) if value else queryset


# --- 業務イベント ----------------------------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "action_display", "object_link", "detail_summary")
    # No date_hierarchy and no filter reading the trail (module docstring): each filter is an
    # indexed condition — (action, at), (actor, at), at.
    list_filter = (("at", PeriodListFilter), ActionListFilter, ("actor", ActorListFilter))
    show_facets = admin.ShowFacets.NEVER  # counts per choice would aggregate the whole trail
    search_fields = ("=object_id",)
    search_help_text = "記号・番号(例: 10-19-00、10-19)、証明書番号、または対象IDで検索(完全一致)"
    list_select_related = ("actor",)
    show_full_result_count = False  # the trail grows without bound: no second COUNT(*) per page
    paginator = EstimatedCountPaginator  # nor an exact one of the unfiltered trail (issue 8)
    fields = ("at", "actor", "action_display", "object_link", "detail_pretty")
    readonly_fields = fields

    @admin.display(description="操作", ordering="action")
    def action_display(self, obj: AuditEvent) -> str:
        from .audit_labels import action_label

        return action_label(obj.action)

    @admin.display(description="対象")
    def object_link(self, obj: AuditEvent):
        from .audit_labels import object_admin_url, object_type_label

        label = f"{object_type_label(obj.object_type)} #{obj.object_id}" if obj.object_id else "-"
        url = object_admin_url(obj.object_type, obj.object_id)
        return format_html('<a href="{}">{}</a>', url, label) if url else label

    @admin.display(description="詳細")
    def detail_summary(self, obj: AuditEvent) -> str:
        from .audit_labels import detail_text

        text = detail_text(obj.detail)
        return text if len(text) <= 120 else text[:119] + "…"

    @admin.display(description="詳細")
    def detail_pretty(self, obj: AuditEvent):
        from .audit_labels import detail_label

        rows = sorted(obj.detail.items())
        return format_html(
            "<table>{}</table>",
            format_html_join(
                "",
                "<tr><th>{}</th><td>{}</td></tr>",
                ((detail_label(k), to_cell(v)) for k, v in rows),
            ),
        )

    def get_search_results(self, request, queryset, search_term):
        from .audit_labels import audit_search_q

        q = audit_search_q(search_term)
        return (queryset if q is None else queryset.filter(q)), False


# --- 変更履歴 (django-simple-history) ------------------------------------------------------------

_HISTORY_TYPES = {"+": "作成", "~": "変更", "-": "削除"}


def _field_label(model, name: str) -> str:
    try:
        return str(model._meta.get_field(name).verbose_name)
    except Exception:  # noqa: BLE001 - a field removed since the record was written
        return name


_UNKNOWN = object()


def history_changes(record, prev=_UNKNOWN) -> list[tuple[str, str, str]]:
    """(field label, before, after) for each field this record changed against the previous record
    of the same object. A creation lists the initial values (before empty). `prev`: the previous
    record when the caller has already fetched it (None: there is none); else it is queried."""
    model = record.instance_type
    if record.history_type != "+" and prev is _UNKNOWN:
        prev = record.prev_record
    if record.history_type == "+" or prev is None:
        values = []
        for f in record.tracked_fields:
            if not f.editable:
                continue
            value = getattr(record, f.attname)
            if value in (None, ""):
                continue
            values.append((_field_label(model, f.name), "", to_cell(value)))
        return values
    delta = record.diff_against(prev)
    return [(_field_label(model, c.field), to_cell(c.old), to_cell(c.new)) for c in delta.changes]


def attach_previous_records(records) -> None:
    """Fetch the previous record of every changed record ("~") of a page in two queries, so that a
    page of 100 changes costs 2 queries, not 200 (prev_record is one query each). The previous record
    is simple-history's: the same object's latest record dated before this one."""
    changed = [r for r in records if r.history_type == "~"]
    if not changed:
        return
    model = type(changed[0])
    earlier = model.objects.filter(
        id=OuterRef("id"), history_date__lt=OuterRef("history_date")
    ).order_by("-history_date", "-history_id")
    prev_ids = dict(
        model.objects.filter(history_id__in=[r.history_id for r in changed])
        .annotate(prev_history_id=Subquery(earlier.values("history_id")[:1]))
        .values_list("history_id", "prev_history_id")
    )
    prevs = model.objects.in_bulk([p for p in prev_ids.values() if p is not None])
    for r in changed:
        r._previous_record = prevs.get(prev_ids.get(r.history_id))


def _displayed(record, changes):
    """JSON values with Japanese keys on screen (core.templatetags.clerk_ui.displayed_changes)."""
    from .templatetags.clerk_ui import displayed_changes

    return displayed_changes(record, changes)


class HistoryChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        # iterating fills the queryset's cache: the page shows these same objects
        attach_previous_records(list(self.result_list))


class HistoryAdmin(ReadOnlyAdmin):
    """Browse one model's history: who, when, what kind of change, which fields, before → after."""

    def get_changelist(self, request, **kwargs):
        return HistoryChangeList

    list_display = ("history_date", "history_user", "change_type", "record", "changes_summary")
    # No date_hierarchy and no filter reading the history (module docstring): the period and the
    # user are indexed conditions (simple-history indexes history_date and history_user), 種別 is
    # a fixed list of three.
    list_filter = (
        ("history_date", PeriodListFilter),
        "history_type",
        ("history_user", HistoryUserListFilter),
    )
    show_facets = admin.ShowFacets.NEVER  # counts per choice would aggregate the whole history
    search_fields = ("=id",)
    search_help_text = "元データのIDで検索(完全一致)"
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
        changes = _displayed(obj, history_changes(obj, getattr(obj, "_previous_record", _UNKNOWN)))
        if obj.history_type == "+":
            return f"作成({len(changes)}項目)"
        return format_html_join(
            mark_safe("<br>"),  # noqa: S308 - a constant
            "{}: {} → {}",
            ((label, old or "(空)", new or "(空)") for label, old, new in changes),
        )

    @admin.display(description="変更内容")
    def changes_table(self, obj):
        changes = _displayed(obj, history_changes(obj))
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
        "live_state",
        "row_count",
        "substitution_count",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "download",
    )
    readonly_fields = fields

    @admin.display(description="状態")
    def live_state(self, obj: ExportJob):
        """The state, followed live (htmx polls the fragment while the job is not finished)."""
        from django.template.loader import render_to_string

        return mark_safe(  # noqa: S308 - a template with autoescaping
            render_to_string("admin/core/exportjob/_state.html", _export_state_context(obj))
        )

    def get_urls(self):
        from django.urls import path

        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/state/", wrap(self.state_view), name="core_exportjob_state"),
            *super().get_urls(),
        ]

    def state_view(self, request, pk):
        from django.shortcuts import get_object_or_404
        from django.template.response import TemplateResponse

        job = get_object_or_404(self.get_queryset(request), pk=pk)
        return TemplateResponse(
            request,
            "admin/core/exportjob/_state.html",
            _export_state_context(job),
            headers={"Cache-Control": "no-store"},
        )

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


def _export_state_context(job: ExportJob) -> dict:
    finished = job.state in (ExportJobState.DONE, ExportJobState.FAILED)
    return {
        "job": job,
        "live": not finished,
        "state_url": reverse("admin:core_exportjob_state", args=[job.pk]),
        "download_url": reverse("core:export_job_download", args=[job.pk])
        if job.state == ExportJobState.DONE
        else "",
    }


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


# --- every ModelAdmin of the site: read-only change history, safe text (issue 12) ------------------


class ReadOnlyHistoryMixin:
    """django-simple-history's history screens only show: its record view (history_form_view) saves
    a POSTed form for anyone who may view the history — an auditor or a clerk could change a person
    or set a run to 承認 through it. Here every method but GET/HEAD is refused and no revert button
    is offered, whatever the user's permissions (superusers included)."""

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied("変更履歴の画面からは変更できません")
        return super().history_form_view(request, object_id, version_id, extra_context)

    def revert_disabled(self, request, obj=None) -> bool:
        return True

    def has_change_history_permission(self, request, obj=None) -> bool:
        return False


class ProjectAdminMixin(ReadOnlyHistoryMixin):
    """What every ModelAdmin of the site gets (secure_admin_site, run from CoreConfig.ready): the
    read-only history screens and safe text in its form, its inlines' forms and its list-editable
    forms."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # A screen whose every field is read-only has nothing to save: a POST to it would only
        # re-save the row (a history record, a new updated_at) outside the services.
        if request.method == "POST" and object_id is not None and not self.inlines:
            obj = self.get_object(request, unquote(object_id))
            if obj is not None:
                fields = flatten_fieldsets(self.get_fieldsets(request, obj))
                readonly = set(self.get_readonly_fields(request, obj))
                if not [f for f in fields if f not in readonly]:
                    raise PermissionDenied("この画面からは変更できません")
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        return safe_text_form(super().get_form(request, obj, change=change, **kwargs))

    def get_changelist_form(self, request, **kwargs):
        return safe_text_form(super().get_changelist_form(request, **kwargs))

    def get_formsets_with_inlines(self, request, obj=None):
        for formset, inline in super().get_formsets_with_inlines(request, obj):
            formset.form = safe_text_form(formset.form)
            yield formset, inline


def secure_admin_site(site=None) -> None:
    """Give every registered ModelAdmin ProjectAdminMixin — the ones registered by Django, axes and
    every app of the project, and any registered later in development — so that no screen can be
    added without it. Run once the admin has discovered every admin module (CoreConfig.ready)."""
    site = site or admin.site
    for model_admin in site._registry.values():
        cls = type(model_admin)
        if not issubclass(cls, ProjectAdminMixin):
            model_admin.__class__ = type(
                cls.__name__, (ProjectAdminMixin, cls), {"__module__": cls.__module__}
            )
