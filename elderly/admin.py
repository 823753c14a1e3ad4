"""高齢受給者の管理画面: 基準収入額適用 (clerks record, auditors read), the 高齢受給者証 交付リスト
(preview, approval by a second person, the PDF), the 高齢受給者証 issued (state as of today, return
received), the events, and the monthly draft runs. Thin: every change goes through elderly.services.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from certificates.models import CertificateState
from core.admin import ReadOnlyAdmin
from core.models import audit_event
from members.models import IncomeBasisApplication

from .models import (
    BatchState,
    ElderlyBatch,
    ElderlyCard,
    ElderlyEvent,
    MonthlyPreparation,
)
from .services import (
    elderly_batch_approve,
    elderly_cards_record_returns,
    income_basis_end,
    income_basis_record,
    income_basis_validate,
)


def _errors(exc: Exception) -> list[str]:
    return list(exc.messages) if isinstance(exc, ValidationError) else [str(exc)]


# --- 基準収入額適用 ------------------------------------------------------------------------------


class IncomeBasisForm(forms.ModelForm):
    class Meta:
        model = IncomeBasisApplication
        fields = ["member", "valid_from", "valid_to", "decided_on", "note"]

    def clean(self):
        data = super().clean()
        inst = self.instance
        member = data.get("member") or (inst.member if inst.pk else None)
        valid_from = data.get("valid_from") or inst.valid_from
        decided_on = data.get("decided_on") or inst.decided_on
        if member is not None and valid_from and decided_on and not self.errors:
            try:
                income_basis_validate(
                    member=member,
                    valid_from=valid_from,
                    valid_to=data.get("valid_to"),
                    decided_on=decided_on,
                    exclude_pk=inst.pk,
                )
            except ValidationError as exc:
                for msg in exc.messages:
                    self.add_error(None, msg)
        return data


@admin.register(IncomeBasisApplication)
class IncomeBasisApplicationAdmin(SimpleHistoryAdmin):
    form = IncomeBasisForm
    list_display = ("member", "valid_from", "valid_to", "decided_on", "recorded_by", "created_at")
    list_select_related = ("member", "recorded_by")
    raw_id_fields = ("member",)
    search_fields = ("member__kigo", "member__bango")
    date_hierarchy = "valid_from"

    def get_readonly_fields(self, request, obj=None):
        # After recording, only the end of the window changes (a new decision is a new record).
        if obj is not None:
            return ("member", "valid_from", "decided_on", "recorded_by")
        return ("recorded_by",)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            saved = income_basis_record(
                member=data["member"],
                valid_from=data["valid_from"],
                valid_to=data.get("valid_to"),
                decided_on=data["decided_on"],
                note=data.get("note", ""),
                acting_user=request.user,
            )
            obj.pk = saved.pk
        elif "valid_to" in form.changed_data and data.get("valid_to") is not None:
            income_basis_end(application=obj, valid_to=data["valid_to"], acting_user=request.user)
        elif form.changed_data:
            raise PermissionDenied("記録済みの基準収入額適用は適用終了日だけを変更できます")


# --- 交付リスト ----------------------------------------------------------------------------------


@admin.register(ElderlyBatch)
class ElderlyBatchAdmin(SimpleHistoryAdmin):
    list_display = (
        "id",
        "detected_on",
        "state",
        "event_count",
        "prepared_by_label",
        "approved_by",
        "approved_at",
        "pdf_link",
    )
    list_filter = ("state",)
    list_select_related = ("prepared_by", "approved_by")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="作成者")
    def prepared_by_label(self, obj):
        return obj.prepared_by or "夜間処理"

    @admin.display(description="PDF")
    def pdf_link(self, obj):
        if not obj.pdf:
            return "-"
        return format_html(
            '<a href="{}">PDF</a>', reverse("admin:elderly_batch_pdf", args=[obj.pk])
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/approve/", wrap(self.approve_view), name="elderly_batch_approve"),
            path("<int:pk>/pdf/", wrap(self.pdf_view), name="elderly_batch_pdf"),
            *super().get_urls(),
        ]

    @staticmethod
    def can_approve(user, batch: ElderlyBatch) -> bool:
        return (
            batch.state == BatchState.PREPARED
            and user.has_perm("elderly.approve_elderlybatch")
            and user.pk != batch.prepared_by_id
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        batch = get_object_or_404(ElderlyBatch, pk=object_id)
        if not self.has_view_permission(request, batch):
            raise PermissionDenied
        events = batch.events.select_related("person", "household", "replaces", "card").order_by(
            "route", "household__kigo", "household__bango", "person__edaban"
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"高齢受給者証 交付リスト #{batch.pk} の内容確認",
            "batch": batch,
            "events": events,
            "by_kind": sorted((batch.summary or {}).get("by_kind", {}).items()),
            "can_approve": self.can_approve(request.user, batch),
            "is_preparer": request.user.pk == batch.prepared_by_id,
            "approve_url": reverse("admin:elderly_batch_approve", args=[batch.pk]),
            "pdf_url": reverse("admin:elderly_batch_pdf", args=[batch.pk]) if batch.pdf else "",
            "history_url": reverse("admin:elderly_elderlybatch_history", args=[batch.pk]),
        }
        return TemplateResponse(request, "admin/elderly/elderlybatch/preview.html", context)

    def approve_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        batch = get_object_or_404(ElderlyBatch, pk=pk)
        if not request.user.has_perm("elderly.approve_elderlybatch"):
            raise PermissionDenied
        try:
            batch = elderly_batch_approve(batch=batch, acting_user=request.user)
        except (ValidationError, PermissionDenied) as exc:
            for msg in _errors(exc):
                messages.error(request, msg)
        else:
            issued = batch.cards.count()
            messages.success(
                request, f"交付リスト #{batch.pk} を承認し、高齢受給者証を{issued}件交付しました。"
            )
        return HttpResponseRedirect(reverse("admin:elderly_elderlybatch_change", args=[pk]))

    def pdf_view(self, request, pk):
        user = request.user
        if not user.has_perm("documents.download_generateddocument"):
            raise Http404
        batch = get_object_or_404(ElderlyBatch, pk=pk)
        if not batch.pdf:
            raise Http404
        try:
            handle = batch.pdf.open("rb")
        except FileNotFoundError:
            raise Http404 from None
        audit_event(action="elderly_batch.downloaded", actor=user, obj=batch)
        response = FileResponse(
            handle,
            as_attachment=False,
            filename=f"高齢受給者証_交付リスト{batch.pk}.pdf",
            content_type="application/pdf",
        )
        response["Cache-Control"] = "no-store"
        return response


# --- 高齢受給者証 ---------------------------------------------------------------------------------


class CardStateFilter(admin.SimpleListFilter):
    """By the state as of today (a replaced card is 返却待ち only from its successor's start)."""

    title = "状態(本日時点)"
    parameter_name = "state_today"

    def lookups(self, request, model_admin):
        return [(s, s) for s in CertificateState.values] + [("overdue", "返却期限超過")]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        value = self.value()
        not_yet = Q(superseded_from__gt=today)
        live = Q(valid_until__gte=today)
        if value == CertificateState.ACTIVE:
            return queryset.filter(
                live & (Q(state=CertificateState.ACTIVE) | Q(state="返却待ち") & not_yet)
            )
        if value == CertificateState.RETURN_PENDING:
            return queryset.filter(live & ~not_yet, state=value)
        if value == "overdue":
            return queryset.filter(live & ~not_yet, state="返却待ち", return_due__lt=today)
        if value == CertificateState.NO_RETURN:
            return queryset.filter(
                Q(state=value) | Q(state__in=["有効", "返却待ち"], valid_until__lt=today)
            )
        if value:
            return queryset.filter(state=value)
        return queryset


@admin.register(ElderlyCard)
class ElderlyCardAdmin(SimpleHistoryAdmin):
    list_display = (
        "number",
        "person",
        "event",
        "effective_from",
        "valid_until",
        "copay_ratio",
        "route",
        "state_today",
        "return_due",
        "returned_on",
    )
    list_filter = (CardStateFilter, "event", "copay_ratio", "route")
    list_select_related = ("person",)
    search_fields = ("number", "person__kigo", "person__bango")
    actions = ["record_return_today"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="状態(本日時点)")
    def state_today(self, obj: ElderlyCard):
        state = obj.effective_state()
        return f"{state}(期限超過)" if obj.is_overdue() else state

    @admin.action(description="選択した高齢受給者証の返却を記録(返却日: 本日)")
    def record_return_today(self, request, queryset):
        if not request.user.has_perm("elderly.change_elderlycard"):
            raise PermissionDenied
        try:
            done = elderly_cards_record_returns(
                numbers=list(queryset.values_list("number", flat=True)),
                returned_on=timezone.localdate(),
                acting_user=request.user,
            )
        except (ValidationError, PermissionDenied) as exc:
            for msg in _errors(exc):
                messages.error(request, msg)
        else:
            messages.success(request, f"{len(done)}件の返却を記録しました。")

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("elderly.change_elderlycard"):
            actions.pop("record_return_today", None)
        return actions


@admin.register(ElderlyEvent)
class ElderlyEventAdmin(ReadOnlyAdmin):
    list_display = (
        "person",
        "kind",
        "effective_from",
        "valid_until",
        "copay_ratio",
        "route",
        "batch",
        "card",
        "detail",
    )
    list_filter = ("kind",)
    list_select_related = ("person", "batch", "card")
    search_fields = ("person__kigo", "person__bango")


@admin.register(MonthlyPreparation)
class MonthlyPreparationAdmin(ReadOnlyAdmin):
    list_display = ("snapshot", "state", "run_link", "message", "created_at")
    list_filter = ("state",)
    list_select_related = ("snapshot", "run")

    @admin.display(description="一括交付(下書き)")
    def run_link(self, obj):
        if obj.run_id is None:
            return "-"
        return format_html(
            '<a href="{}">#{}</a>',
            reverse("admin:certificates_issuancerun_change", args=[obj.run_id]),
            obj.run_id,
        )
