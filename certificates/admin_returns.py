"""Admin screens of the certificate's life after issue, for clerks:

- 返却管理: certificates asked back; receipts by a list of 証明書番号, overdue filter, reminders.
- 送付保留: 宛所不明 returns; record one, correct the address and send again.
- 返戻記録: the record of returned envelopes and their resends.

Every change goes through a service (certificates.returns, certificates.lifecycle); the screens only
parse input and show results. Nothing here can be deleted: history is kept.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from core.admin_pages import FormPageMixin, ReadOnlyMixin, next_url
from core.admin_pages import error_messages as _messages
from core.admin_pages import prefill as _prefill
from documents.links import document_link
from documents.links import pdf_view_link as _pdf_view_link
from members.karte import karte_link

from . import returns as services
from .forms import AddressForm, ReturnsReceiveForm, UndeliverableForm
from .lifecycle import ReturnsError, certificates_record_returns, parse_number_list
from .models import (
    CertificateState,
    HeldCertificate,
    ReturnedMail,
    ReturnPendingCertificate,
    ReturnReminder,
    Route,
)
from .returns import certificates_held, returns_overdue


class ReturnStatusFilter(admin.SimpleListFilter):
    title = "返却状況"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [
            ("pending", "返却待ち(すべて)"),
            ("overdue", "返却期限超過"),
            ("returned", "返却済"),
        ]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "pending":
            return queryset.filter(state=CertificateState.RETURN_PENDING)
        if self.value() == "overdue":
            return queryset.filter(pk__in=returns_overdue(today=today).values("pk"))
        if self.value() == "returned":
            return queryset.filter(state=CertificateState.RETURNED)
        return queryset


@admin.register(ReturnPendingCertificate)
class ReturnPendingAdmin(FormPageMixin, ReadOnlyMixin, admin.ModelAdmin):
    change_list_template = "admin/core/change_list_tools.html"
    # The clerk's columns at 1366 px: who (氏名 opens the 加入者カルテ), where it comes back from,
    # by when, how late, what happened; 記号・番号 and the route are in the カルテ and the filters.
    list_display = [
        "number",
        "holder",
        "returned_via",
        "return_due",
        "days_overdue",
        "state_today",
        "returned_on",
        "reminders",
    ]
    list_filter = [ReturnStatusFilter, "return_route"]
    search_fields = ["number", "person__name_kana", "person__kigo", "person__bango"]
    ordering = ["return_due", "number"]
    actions = ["generate_reminders", "mark_returned_today"]

    def get_queryset(self, request):
        # Every certificate that was asked back (its return_due is set), whatever became of it.
        return (
            super()
            .get_queryset(request)
            .filter(return_due__isnull=False)
            .select_related("person", "person__member__employer", "person__employer")
            .prefetch_related(
                Prefetch(
                    "return_reminders",
                    queryset=ReturnReminder.objects.select_related("document").order_by("-id"),
                )
            )
        )

    @admin.display(description="記号・番号・枝番")
    def person_key(self, obj):
        return karte_link(obj.person)

    @admin.display(description="事業所")
    def employer(self, obj):
        e = obj.person.household_member.employer
        return f"{e.code} {e.name}" if e else "-"

    @admin.display(description="氏名", ordering="printed_name")
    def holder(self, obj):
        return karte_link(obj.person, obj.printed_name)

    @admin.display(description="返却先", ordering="return_route")
    def returned_via(self, obj):
        e = obj.person.household_member.employer
        if e is not None and obj.return_route == Route.EMPLOYER:
            return f"{e.code} {e.name}"
        return obj.return_route or "-"

    @admin.display(description="超過日数")
    def days_overdue(self, obj):
        today = timezone.localdate()
        if obj.state != CertificateState.RETURN_PENDING or obj.return_due >= today:
            return "-"
        if obj.valid_until < today:
            return "有効期限切れ"
        return f"{(today - obj.return_due).days}日"

    @admin.display(description="状態(本日)")
    def state_today(self, obj):
        state = obj.effective_state()
        if state == CertificateState.RETURN_PENDING and obj.valid_until < timezone.localdate():
            return "返却不要(有効期限切れ)"
        return state

    @admin.display(description="督促")
    def reminders(self, obj):
        sent = list(obj.return_reminders.all())
        if not sent:
            return "-"
        last = sent[0]
        return format_html(
            "{}回(最終 {}) {}",
            len(sent),
            f"{timezone.localtime(last.created_at):%m-%d}",
            _pdf_view_link(last.document),
        )

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "extra_tools": [
                (
                    reverse("admin:certificates_returnpendingcertificate_receive"),
                    "返却の受付(証明書番号で一括)",
                ),
                (
                    reverse("admin:certificates_returnpendingcertificate_changelist")
                    + "?status=overdue",
                    "返却期限超過の一覧",
                ),
            ],
        }
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "receive/",
                wrap(self.receive_view),
                name="certificates_returnpendingcertificate_receive",
            ),
            *super().get_urls(),
        ]

    def receive_view(self, request):
        """Receipts by a pasted list of 証明書番号, all-or-nothing (certificates_record_returns)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = ReturnsReceiveForm(
            request.POST or None, initial=_prefill(request, ReturnsReceiveForm, ("numbers",))
        )
        problems = []
        if request.method == "POST" and form.is_valid():
            numbers = parse_number_list(form.cleaned_data["numbers"])
            try:
                done = certificates_record_returns(
                    numbers=numbers,
                    returned_on=form.cleaned_data["returned_on"],
                    acting_user=request.user,
                )
            except ReturnsError as exc:
                problems = [f"{n}: {reason}" for n, reason in exc.problems]
            except ValidationError as exc:
                problems = _messages(exc)
            else:
                self.message_user(request, f"{len(done)}件を返却済にしました。", messages.SUCCESS)
                return HttpResponseRedirect(
                    next_url(request, self.changelist_url() + "?status=returned")
                )
        return self.form_page(
            request,
            title="返却の受付(証明書番号で一括)",
            form=form,
            problems=problems,
            hidden=[("next", request.GET.get("next") or request.POST.get("next") or "")],
            intro="受け取った資格確認書の証明書番号を入力してください。"
            "返却待ちでない番号や見つからない番号が1件でもあれば、全件とも反映しません(一覧を直して再送信)。",
            submit_label="返却済にする",
        )

    @admin.action(
        description="督促状を作成する(事業所ごと・直接返却は世帯ごと)", permissions=["change"]
    )
    def generate_reminders(self, request, queryset):
        if not self.has_change_permission(request):
            raise PermissionDenied
        try:
            docs = services.returns_generate_reminders(
                certificates=list(queryset), acting_user=request.user
            )
        except ReturnsError as exc:
            for n, reason in exc.problems:
                self.message_user(request, f"{n}: {reason}", messages.ERROR)
            self.message_user(request, "督促状は作成していません。", messages.ERROR)
            return
        except ValidationError as exc:
            for m in _messages(exc):
                self.message_user(request, m, messages.ERROR)
            return
        self.message_user(
            request,
            f"督促状を{len(docs)}通作成しています: {'、'.join(d.label for d in docs)}。"
            "作成後、この一覧の「督促」欄からダウンロードできます。",
            messages.SUCCESS,
        )

    @admin.action(description="返却済にする(本日受領)", permissions=["change"])
    def mark_returned_today(self, request, queryset):
        if not self.has_change_permission(request):
            raise PermissionDenied
        try:
            done = certificates_record_returns(
                numbers=[c.number for c in queryset],
                returned_on=timezone.localdate(),
                acting_user=request.user,
            )
        except ReturnsError as exc:
            for n, reason in exc.problems:
                self.message_user(request, f"{n}: {reason}", messages.ERROR)
            self.message_user(request, "何も反映していません。", messages.ERROR)
            return
        self.message_user(request, f"{len(done)}件を返却済にしました。", messages.SUCCESS)


# --- 送付保留 ---------------------------------------------------------------------------------------


@admin.register(HeldCertificate)
class HeldCertificateAdmin(FormPageMixin, ReadOnlyMixin, admin.ModelAdmin):
    change_list_template = "admin/core/change_list_tools.html"
    list_display = [
        "number",
        "printed_name",
        "addressee",
        "held_since",
        "days_held",
        "route",
        "state_today",
        "correct_link",
    ]
    search_fields = ["number", "person__name_kana", "person__member__name_kana"]
    ordering = ["held_since", "number"]
    readonly_extra = ("correct_link",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(pk__in=certificates_held().values("pk"))
            .select_related("person", "person__member")
        )

    @admin.display(description="宛先(被保険者)・住所")
    def addressee(self, obj):
        a = obj.person.household_member
        flag = f"(宛所不明 {a.address_unknown_since:%Y-%m-%d}〜)" if a.address_unknown_since else ""
        return f"{a.name} 〒{a.postal_code} {a.address}{flag}"

    @admin.display(description="保留日数", ordering="held_since")
    def days_held(self, obj):
        return f"{(timezone.localdate() - obj.held_since).days}日"

    @admin.display(description="状態(本日)")
    def state_today(self, obj):
        return obj.effective_state()

    @admin.display(description="操作")
    def correct_link(self, obj):
        return format_html(
            '<a class="button" href="{}">住所を訂正して再送</a>',
            reverse("admin:certificates_heldcertificate_correct", args=[obj.pk]),
        )

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "extra_tools": [
                (reverse("admin:certificates_heldcertificate_record"), "宛所不明の返戻を登録"),
            ],
        }
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("record/", wrap(self.record_view), name="certificates_heldcertificate_record"),
            path(
                "<int:pk>/correct/",
                wrap(self.correct_view),
                name="certificates_heldcertificate_correct",
            ),
            *super().get_urls(),
        ]

    def record_view(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = UndeliverableForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                mail = services.mail_record_returned(
                    number=form.cleaned_data["number"],
                    returned_on=form.cleaned_data["returned_on"],
                    acting_user=request.user,
                )
            except ValidationError as exc:
                for m in _messages(exc):
                    form.add_error(None, m)
            else:
                self.message_user(
                    request,
                    f"資格確認書 {mail.certificate.number} を送付保留にし、宛先の住所を宛所不明として記録しました。",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(self.changelist_url())
        return self.form_page(
            request,
            title="宛所不明の返戻を登録",
            form=form,
            intro="郵便局から返戻された封筒の資格確認書の証明書番号を入力してください。"
            "宛先(被保険者)の住所に宛所不明の印を付け、資格確認書を住所訂正まで保留します。",
            submit_label="登録する",
        )

    def correct_view(self, request, pk):
        if not self.has_change_permission(request):
            raise PermissionDenied
        cert = get_object_or_404(HeldCertificate.objects.select_related("person__member"), pk=pk)
        addressee = cert.person.household_member
        form = AddressForm(
            request.POST or None,
            initial={"postal_code": addressee.postal_code, "address": addressee.address},
        )
        if request.method == "POST" and form.is_valid():
            try:
                resent = services.address_correct_and_resend(
                    person=addressee,
                    postal_code=form.cleaned_data["postal_code"],
                    address=form.cleaned_data["address"],
                    acting_user=request.user,
                )
            except ValidationError as exc:
                for m in _messages(exc):
                    form.add_error(None, m)
            else:
                self.message_user(
                    request,
                    f"{addressee.name} の住所を訂正しました。再送する資格確認書: "
                    + ("、".join(c.number for c in resent) or "なし(有効なものがありません)")
                    + "。再送の帳票は「返戻記録」からダウンロードできます。",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(next_url(request, self.changelist_url()))
        return self.form_page(
            request,
            title=f"住所の訂正と再送({addressee.key} {addressee.name})",
            form=form,
            hidden=[("next", request.GET.get("next") or request.POST.get("next") or "")],
            intro="訂正後の住所で、世帯の保留中の資格確認書を送付状とともに作り直して再送します。",
            submit_label="訂正して再送する",
        )


@admin.register(ReturnedMail)
class ReturnedMailAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The record of returned envelopes and their resends (the PDF to print and post again)."""

    list_display = [
        "certificate_number",
        "holder",
        "returned_on",
        "recorded_by",
        "resolved_at",
        "resolved_by",
        "resend",
    ]
    list_filter = [("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["certificate__number", "certificate__person__name_kana"]
    list_select_related = ["certificate__person", "recorded_by", "resolved_by", "document"]
    readonly_extra = ("resend",)

    @admin.display(description="証明書番号", ordering="certificate__number")
    def certificate_number(self, obj):
        return obj.certificate.number

    @admin.display(description="氏名")
    def holder(self, obj):
        return karte_link(obj.certificate.person, obj.certificate.person.name)

    @admin.display(description="再送帳票")
    def resend(self, obj):
        if obj.resolved_at is None:
            return "住所訂正待ち"
        return document_link(obj.document) if obj.document_id else "再送なし(有効期限切れ等)"
