"""資格確認書の管理画面: 一括職権交付 (list with progress, preview, manifest CSV, create / approve /
execute through certificates.services) and 資格確認書 (search by 記号・番号, 氏名, カナ).

Thin: every change goes through the services; buttons are shown only to those allowed, and the
views check the same rules again (POST only).
"""

from __future__ import annotations

import re
import unicodedata

import jaconv
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from core.exports import CsvEncoder
from core.models import audit_event
from core.pagination import EstimatedCountPaginator
from documents.selectors import run_documents_done as run_progress
from members.models import Employer, Person

from .forms import RunDatesForm
from .models import (
    Certificate,
    CertificateState,
    IssuanceRun,
    IssueReason,
    Route,
    RunState,
)
from .selectors import run_changes_since_frozen, run_targets_for_manifest
from .services import run_approve, run_create, run_execute_begin


def _errors(exc: Exception) -> list[str]:
    if isinstance(exc, ValidationError):
        return list(exc.messages)
    return [str(exc)]


def progress_bar(done: int, total: int):
    if not total:
        return "-"
    return format_html(
        '<progress value="{}" max="{}" title="{}/{}"></progress> {}%',
        done,
        total,
        done,
        total,
        done * 100 // total,
    )


# --- 一括職権交付 ------------------------------------------------------------------------------


class RunCreateForm(RunDatesForm):
    pass


MANIFEST_HEADER = (
    "一括交付ID",
    "送付先",
    "事業所記号",
    "事業所名称",
    "世帯(記号・番号)",
    "記号",
    "番号",
    "枝番",
    "本人家族区分",
    "氏名",
    "氏名カナ",
    "交付事由",
    "有効期限",
    "高齢受給者証発効日",
    "一部負担金割合",
    "登録状況",
    "電子証明書有効期限",
    "更新前の証明書番号",
)


@admin.register(IssuanceRun)
class IssuanceRunAdmin(SimpleHistoryAdmin):
    list_display = (
        "id",
        "issue_date",
        "status_date",
        "valid_until",
        "state",
        "target_count",
        "issued_count",
        "progress",
        "created_by",
        "approved_by",
        "created_at",
    )
    list_display_links = ("id", "issue_date")
    list_filter = ("state",)
    list_select_related = ("created_by", "approved_by")
    show_full_result_count = False

    def get_queryset(self, request):
        # The progress column's counts in the list query itself (no query per row).
        return (
            super()
            .get_queryset(request)
            .annotate(
                docs_total=Count("documents"),
                docs_done=Count("documents", filter=Q(documents__state="完了")),
            )
        )

    @admin.display(description="帳票作成の進捗")
    def progress(self, obj):
        if hasattr(obj, "docs_total"):
            return progress_bar(obj.docs_done, obj.docs_total)
        return progress_bar(*run_progress(obj))

    # Runs change only through the services: no edit form, no delete.
    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/approve/", wrap(self.approve_view), name="certificates_run_approve"),
            path("<int:pk>/progress/", wrap(self.progress_view), name="certificates_run_progress"),
            path("<int:pk>/execute/", wrap(self.execute_view), name="certificates_run_execute"),
            path(
                "<int:pk>/manifest.csv", wrap(self.manifest_view), name="certificates_run_manifest"
            ),
            *super().get_urls(),
        ]

    # -- permissions shown and enforced ------------------------------------------------------

    @staticmethod
    def can_approve(user, run: IssuanceRun) -> bool:
        return (
            run.state == RunState.CREATED
            and user.has_perm("certificates.approve_issuancerun")
            and user.pk != run.created_by_id
        )

    @staticmethod
    def can_execute(user, run: IssuanceRun) -> bool:
        return run.state in (RunState.APPROVED, RunState.FAILED) and user.has_perm(
            "certificates.execute_issuancerun"
        )

    def _preview_url(self, pk: int) -> str:
        return reverse("admin:certificates_issuancerun_change", args=[pk])

    # -- create ------------------------------------------------------------------------------

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = RunCreateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                run = run_create(acting_user=request.user, **form.cleaned_data)
            except (ValidationError, PermissionDenied) as exc:
                for msg in _errors(exc):
                    form.add_error(None, msg)
            else:
                messages.success(
                    request,
                    f"一括交付 #{run.pk} を作成しました（対象者 {run.target_count}件）。"
                    "内容を確認し、作成者以外の承認者が承認してください。",
                )
                return HttpResponseRedirect(self._preview_url(run.pk))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "一括職権交付の作成",
            "form": form,
        }
        return TemplateResponse(request, "admin/certificates/issuancerun/create.html", context)

    # -- preview -----------------------------------------------------------------------------

    def _live_context(self, request, run: IssuanceRun) -> dict:
        """What the live part of the run page shows (templates/…/issuancerun/_live.html)."""
        from documents.models import GeneratedDocument

        docs = GeneratedDocument.objects.filter(run=run)
        doc_states = dict(
            docs.order_by().values("state").annotate(n=Count("pk")).values_list("state", "n")
        )
        done, total = run_progress(run)
        moving = run.state == RunState.RUNNING  # issuing, then rendering, until 完了 or 失敗
        return {
            "run": run,
            "progress": progress_bar(done, total),
            "doc_states": sorted(doc_states.items()),
            "live": moving,
            "progress_url": reverse("admin:certificates_run_progress", args=[run.pk]),
            "can_approve": self.can_approve(request.user, run),
            "can_execute": self.can_execute(request.user, run),
            "is_creator": request.user.pk == run.created_by_id,
            "certificates_url": reverse("admin:certificates_certificate_changelist")
            + f"?run__id__exact={run.pk}",
            "manifest_url": reverse("admin:certificates_run_manifest", args=[run.pk]),
            "approve_url": reverse("admin:certificates_run_approve", args=[run.pk]),
            "execute_url": reverse("admin:certificates_run_execute", args=[run.pk]),
        }

    def _run_for(self, request, pk) -> IssuanceRun:
        run = get_object_or_404(
            IssuanceRun.objects.select_related("created_by", "approved_by", "executed_by"), pk=pk
        )
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        return run

    def progress_view(self, request, pk):
        """The live fragment alone, for htmx's polling (GET, read-only)."""
        run = self._run_for(request, pk)
        return TemplateResponse(
            request,
            "admin/certificates/issuancerun/_live.html",
            self._live_context(request, run),
            headers={"Cache-Control": "no-store"},
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self._run_for(request, object_id)
        summary = run.summary or {}
        codes = list((summary.get("by_employer") or {}).keys())
        names = dict(Employer.objects.filter(code__in=codes).values_list("code", "name"))
        by_employer = [
            (code, names.get(code, ""), n) for code, n in (summary.get("by_employer") or {}).items()
        ]
        from documents.models import GeneratedDocument

        docs = GeneratedDocument.objects.filter(run=run)
        problem_docs = docs.exclude(state="完了").order_by("chunk_no")[:50]
        stored_docs = docs.filter(state="完了").order_by("chunk_no")[:100]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"一括職権交付 #{run.pk} の内容確認",
            "run": run,
            "by_reason": [
                (r, summary.get("by_reason", {}).get(r, 0))
                for r in IssueReason.values
                if r in summary.get("by_reason", {})
            ],
            "by_employer": by_employer,
            "by_route": [
                (r, summary.get("by_route", {}).get(r, 0))
                for r in Route.values
                if r in summary.get("by_route", {})
            ],
            "previous": summary.get("previous"),
            "changes": _changes_before_execution(run),
            **self._live_context(request, run),
            "problem_docs": problem_docs,
            "stored_docs": stored_docs,
            "can_download": request.user.has_perm("documents.download_generateddocument"),
            "history_url": reverse("admin:certificates_issuancerun_history", args=[run.pk]),
        }
        return TemplateResponse(request, "admin/certificates/issuancerun/preview.html", context)

    # -- approve / execute (POST only, through the services) ---------------------------------

    def _confirm_page(self, request, run, *, title, lead, submit_label, warning=""):
        summary = run.summary or {}
        facts = [
            ("一括交付", f"#{run.pk}(作成: {run.created_by})"),
            ("交付年月日", run.issue_date.isoformat()),
            ("有効期限(一律)", run.valid_until.isoformat()),
            ("対象者数", f"{run.target_count}人"),
            (
                "交付事由別",
                "、".join(f"{r} {n}人" for r, n in (summary.get("by_reason") or {}).items()) or "-",
            ),
            (
                "送付先別",
                "、".join(f"{r} {n}人" for r, n in (summary.get("by_route") or {}).items()) or "-",
            ),
            ("事業所数(事業主経由)", f"{len(summary.get('by_employer') or {})}事業所"),
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "lead": lead,
            "facts": facts,
            "warning": warning,
            "submit_label": submit_label,
            "back_url": self._preview_url(run.pk),
            "back_label": f"一括交付 #{run.pk}",
        }
        return TemplateResponse(request, "admin/confirm.html", context)

    def approve_view(self, request, pk):
        run = get_object_or_404(IssuanceRun.objects.select_related("created_by"), pk=pk)
        if not request.user.has_perm("certificates.approve_issuancerun"):
            raise PermissionDenied
        if request.method != "POST":
            return self._confirm_page(
                request,
                run,
                title=f"一括交付 #{run.pk} の承認",
                lead="次の内容で一括職権交付を承認します。承認後、承認者が実行すると"
                "資格確認書が交付されます(対象者一覧は作成時のまま変わりません)。",
                submit_label="承認する",
                warning=_changes_warning(run),
            )
        try:
            run = run_approve(run=run, acting_user=request.user)
        except (ValidationError, PermissionDenied) as exc:
            for msg in _errors(exc):
                messages.error(request, msg)
        else:
            messages.success(request, f"一括交付 #{run.pk} を承認しました。")
        return HttpResponseRedirect(self._preview_url(pk))

    def execute_view(self, request, pk):
        run = get_object_or_404(IssuanceRun.objects.select_related("created_by"), pk=pk)
        if not request.user.has_perm("certificates.execute_issuancerun"):
            raise PermissionDenied
        if not self.can_execute(request.user, run):
            # The button is shown only for 承認 and 失敗; a hand-made POST gets the same answer.
            messages.error(
                request,
                f"一括交付 #{run.pk} は「{run.get_state_display()}」のため実行できません"
                + {
                    RunState.CREATED: "(承認されていない一括交付は実行できません)",
                    RunState.RUNNING: "(実行中です。進捗はこの画面で確認できます)",
                }.get(run.state, ""),
            )
            return HttpResponseRedirect(self._preview_url(pk))
        if request.method != "POST":
            return self._confirm_page(
                request,
                run,
                title=f"一括交付 #{run.pk} の実行",
                lead=f"{run.target_count}人に資格確認書を交付し、送付状・事業所別の束をPDFで作成します。"
                "実行後は取り消せません。進捗は一括交付の画面に自動で表示されます。",
                submit_label="実行する(資格確認書を交付)",
                warning="失敗した一括交付の再実行では、まだ交付していない対象者だけを交付します。"
                if run.state == RunState.FAILED
                else "",
            )
        try:
            run = run_execute_begin(run=run, acting_user=request.user)
        except (ValidationError, PermissionDenied) as exc:
            for msg in _errors(exc):
                messages.error(request, msg)
            return HttpResponseRedirect(self._preview_url(pk))
        from .tasks import issue_run

        run_id, user_id = run.pk, request.user.pk
        # Issuing a large run takes minutes: a worker does it, committed batch by batch.
        transaction.on_commit(lambda: issue_run.delay(run_id, user_id))
        messages.success(
            request,
            f"一括交付 #{run.pk} の実行を開始しました。交付と帳票作成の進捗はこの画面で確認できます。",
        )
        return HttpResponseRedirect(self._preview_url(pk))

    # -- manifest CSV ------------------------------------------------------------------------

    def manifest_view(self, request, pk):
        run = get_object_or_404(IssuanceRun, pk=pk)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        audit_event(
            action="run.manifest_downloaded", actor=request.user, obj=run, rows=run.target_count
        )
        encoder = CsvEncoder(header=MANIFEST_HEADER)

        def rows():
            yield encoder.header_bytes()
            for t in run_targets_for_manifest(run).iterator(chunk_size=2000):
                p, h = t.person, t.household
                yield encoder.row_bytes(
                    [
                        run.pk,
                        t.route,
                        t.employer.code if t.employer else "",
                        t.employer.name if t.employer else "",
                        f"{h.kigo}・{h.bango}",
                        p.kigo,
                        p.bango,
                        p.edaban,
                        p.relationship,
                        p.name,
                        p.name_kana,
                        t.reason,
                        t.valid_until,
                        t.elderly_start,
                        t.copay_ratio,
                        t.registration_status,
                        t.ec_expiry,
                        t.replaces.number if t.replaces else "",
                    ]
                )

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="run{run.pk}-targets.csv"'
        response["Cache-Control"] = "no-store"
        return response


# --- 資格確認書 ----------------------------------------------------------------------------------


class RunFilter(admin.SimpleListFilter):
    """The most recent runs only: a dropdown of every run ever made would grow without end."""

    title = "一括交付"
    parameter_name = "run__id__exact"

    def lookups(self, request, model_admin):
        return [(str(r.pk), str(r)) for r in IssuanceRun.objects.order_by("-pk")[:20]]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(run_id=self.value())
        return queryset


class StateTodayFilter(admin.SimpleListFilter):
    """状態 as of today: a stored 有効 or 返却待ち past its 有効期限 counts as 返却不要."""

    title = "状態(本日時点)"
    parameter_name = "state_today"

    def lookups(self, request, model_admin):
        return CertificateState.choices

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        return queryset.in_effective_state(value)


_KEY_SEPARATORS = re.compile(r"[-‐・/\s]+")
_KANA_QUERY = re.compile(r"[\u3041-\u3096\u30a1-\u30fa\u30fcー\s]+")
_CERTIFICATE_NUMBER = re.compile(r"[0-9]{4}-[0-9]{7}")  # certificates/numbering.py


def certificate_search_q(search_term: str) -> Q | None:
    """The certificate search of the admin (None: no search).

    - 証明書番号 (YYYY-NNNNNNN) of an existing certificate: that certificate.
    - 記号・番号・枝番 as 10-1-00, 10・1, "10 1 00": 記号 exact, 番号 exact (or by prefix when it is
      the last part after a 記号), 枝番 exact; a single token: 記号 or 番号 exact.
    - カナ: by prefix, half-width and hiragana accepted (stored as full-width katakana, rules.md).
    - anything else, 氏名: every word contained in the name (as printed or current).
    The person conditions are resolved on the person table (its indexes), then joined by id. Each kind
    of term gets only its own condition: OR-ing a certificate column with the person subquery (or a
    LIKE '%…%') would make PostgreSQL read every certificate (issue 8, tests/scale).
    """
    term = unicodedata.normalize("NFKC", search_term or "").strip()
    if not term:
        return None
    if _CERTIFICATE_NUMBER.fullmatch(term) and Certificate.objects.filter(number=term).exists():
        return Q(number=term)
    if _KANA_QUERY.fullmatch(term):
        kana = jaconv.hira2kata(term)
        person = Q()
        for sep in ("\u3000", " ", ""):
            person |= Q(name_kana__startswith=re.sub(r"\s+", sep, kana))
    elif any(c.isdigit() for c in term):
        parts = [p for p in _KEY_SEPARATORS.split(term) if p]
        if len(parts) == 1:
            person = Q(kigo=parts[0]) | Q(bango=parts[0])
        elif len(parts) == 2:
            person = Q(kigo=parts[0], bango__startswith=parts[1])
        elif len(parts) == 3:
            person = Q(kigo=parts[0], bango=parts[1], edaban=parts[2])
        else:
            return Q(pk__in=[])
    else:
        # 氏名 by prefix (family name first), current or as printed, each spelling of the space
        # its own index range; one IN (… UNION …) so that PostgreSQL drives from both indexes.
        person = printed = Q()
        for sep in ("\u3000", " ", "") if re.search(r"\s", term) else ("",):
            spelling = re.sub(r"\s+", sep, term)
            person |= Q(name__startswith=spelling)
            printed |= Q(printed_name__startswith=spelling)
        return Q(
            person_id__in=Person.objects.filter(person)
            .order_by()
            .values("pk")
            .union(Certificate.objects.filter(printed).order_by().values("person_id"))
        )
    return Q(person_id__in=Person.objects.filter(person).values("pk"))


@admin.register(Certificate)
class CertificateAdmin(SimpleHistoryAdmin):
    list_display = (
        "number",
        "person_key",
        "printed_name",
        "printed_name_kana",
        "reason",
        "issue_date",
        "valid_until",
        "state_today",
        "route",
        "run_link",
    )
    list_select_related = ("person", "run")
    list_filter = (StateTodayFilter, "reason", "route", RunFilter)
    # Shows the search box; the search itself is certificate_search_q.
    search_fields = ("number", "person__kigo", "person__bango", "person__name", "person__name_kana")
    search_help_text = (
        "記号・番号（例: 10-1、10 1 00）、証明書番号、氏名、カナ（前方一致・半角可）で検索"
    )
    show_full_result_count = False
    paginator = EstimatedCountPaginator  # no COUNT(*) of a million rows per page (issue 8)
    raw_id_fields = ("person", "run", "replaces")

    readonly_fields = ("karte",)

    @admin.display(description="記号・番号・枝番", ordering="person__kigo")
    def person_key(self, obj):
        from members.karte import karte_link

        return karte_link(obj.person)

    @admin.display(description="加入者カルテ")
    def karte(self, obj):
        from members.karte import karte_link

        return karte_link(obj.person, f"{obj.person.key} {obj.person.name}")

    @admin.display(description="状態(本日時点)")
    def state_today(self, obj):
        return obj.effective_state()

    @admin.display(description="一括交付", ordering="run")
    def run_link(self, obj):
        if obj.run_id is None:
            return "-"
        return format_html(
            '<a href="{}">#{}</a>',
            reverse("admin:certificates_issuancerun_change", args=[obj.run_id]),
            obj.run_id,
        )

    def get_search_results(self, request, queryset, search_term):
        q = certificate_search_q(search_term)
        return (queryset if q is None else queryset.filter(q)), False

    # Certificates change only through the services (issue, return, reissue): read-only here.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _changes_before_execution(run: IssuanceRun):
    """Who changed since the list was frozen, while that can still matter (before executing)."""
    if run.state not in (RunState.CREATED, RunState.APPROVED):
        return None
    return run_changes_since_frozen(run)


def _changes_warning(run: IssuanceRun) -> str:
    """The approval page's warning: frozen targets the same selection would no longer pick."""
    changes = _changes_before_execution(run)
    if changes is None or not changes.total:
        return ""
    by_rule = "、".join(f"{label} {n}人" for label, n in changes.by_rule)
    lost = (
        f"(うち交付年月日に資格喪失 {changes.lost_on_issue_date}人)"
        if changes.lost_on_issue_date
        else ""
    )
    return (
        f"作成後に変わった対象者が {changes.total}人います: {by_rule}。"
        f"交付年月日に資格がない {changes.unqualified}人{lost}は実行時に交付を見送ります。"
        "一覧は一括交付の画面で確認できます。"
    )


# The screens of the certificate's life after issue (返却管理, 送付保留, 返戻記録) live in their own module.
from . import admin_returns  # noqa: E402, F401
