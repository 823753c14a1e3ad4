"""加入者の管理画面: 事業所, 加入者 (本人・家族), 利用登録状況の取込.

Thin: a person's 資格喪失 and 氏名変更 go through members.services (the same services the imports
use), and the CSV imports through members.resources, which call the import services.
"""

from __future__ import annotations

import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from import_export.admin import ImportMixin
from import_export.forms import ConfirmImportForm, ImportForm
from simple_history.admin import SimpleHistoryAdmin

from core.pagination import EstimatedCountPaginator

from .import_jobs import (
    ImportJob,
    ImportJobState,
    ImportKind,
    background_threshold,
    import_job_create,
)
from .importing import ImportRefused, RowError, nfkc, normalize_kana, normalize_postal_code
from .models import (
    Employer,
    Person,
    RegistrationSnapshot,
    RegistrationStatus,
    Relationship,
)
from .resources import JapaneseCSV, MembersResource, RegistrationStatusResource
from .services import person_change_name, person_record_loss

# --- a background import's page (any ImportJob kind) ---------------------------------------------


def import_job_context(request, job: ImportJob) -> dict:
    """What the job's fragment (admin/members/_import_job_live.html) shows."""
    return {
        "job": job,
        "live": not job.finished,
        "done": job.state == ImportJobState.DONE,
        "errors": [RowError(*e) for e in job.errors],
        "hidden_errors": max(0, job.error_total - len(job.errors)),
        "poll_url": request.path,
    }


def import_job_response(request, job: ImportJob, *, admin_site, opts, changelist_url: str):
    """A background import job's page for the user who uploaded it: its progress, followed live
    (htmx asks the same URL again and gets the fragment alone), then the report. The caller checks
    its own import permission; any admin whose uploads become ImportJobs serves this."""
    if job.requested_by_id != request.user.pk and not request.user.is_superuser:
        raise PermissionDenied
    context = import_job_context(request, job)
    if request.htmx:
        response = TemplateResponse(request, "admin/members/_import_job_live.html", context)
    else:
        context |= {
            **admin_site.each_context(request),
            "opts": opts,
            "title": f"{job.get_kind_display()}の取込: {job.source_name}",
            "changelist_url": changelist_url,
        }
        response = TemplateResponse(request, "admin/members/import_job.html", context)
    # the page and its fragment share the URL: never cached, kept apart by any cache
    response["Cache-Control"] = "no-store"
    response["Vary"] = "HX-Request"
    return response


# --- shared import behaviour ---------------------------------------------------------------------


class RegistryImportMixin(ImportMixin):
    """django-import-export's upload → preview → confirm, for our CSV contracts."""

    import_formats = [JapaneseCSV]
    import_template_name = "admin/members/import.html"
    # The import writes its own audit_event with the counts; one LogEntry per row would be noise.
    skip_admin_log = True

    def add_data_read_fail_error_to_form(self, form, e):
        if isinstance(e, ImportRefused):
            for err in e.errors:
                form.add_error("import_file", str(err))
            return
        super().add_data_read_fail_error_to_form(form, e)

    # which background import a large upload becomes (members.import_jobs)
    import_kind = ""

    def get_urls(self):
        info = self.get_model_info()
        return [
            path(
                "import/job/<int:job_id>/",
                self.admin_site.admin_view(self.import_job_view),
                name="{}_{}_import_job".format(*info),
            ),
            *super().get_urls(),
        ]

    def import_action(self, request, **kwargs):
        upload = request.FILES.get("import_file") if request.method == "POST" else None
        if upload is not None and upload.size > background_threshold():
            # Large files are not previewed in the web request: they run as a background job.
            if not self.has_import_permission(request):
                raise PermissionDenied
            form = self.create_import_form(request)
            if form.is_valid():
                job = import_job_create(
                    user=request.user,
                    kind=self.import_kind,
                    upload=upload,
                    as_of=form.cleaned_data.get("as_of"),
                )
                return HttpResponseRedirect(
                    reverse("admin:{}_{}_import_job".format(*self.get_model_info()), args=[job.pk])
                )
        response = super().import_action(request, **kwargs)
        # A refused or unreadable upload is removed from the temporary storage at once: it holds
        # personal data, perhaps even a 個人番号, and no confirm step will come to remove it.
        context = getattr(response, "context_data", None) or {}
        if request.method == "POST" and "confirm_form" not in context:
            # (the form drops the file from cleaned_data when reading it failed: use the upload)
            name = getattr(request.FILES.get("import_file"), "tmp_storage_name", None)
            if name:
                storage = self.get_tmp_storage_class()(
                    name=name, read_mode="rb", **self.get_tmp_storage_class_kwargs()
                )
                try:
                    storage.remove()
                except OSError:
                    pass
        return response

    def import_job_view(self, request, job_id: int):
        """The job's page, followed live until the job has ended, then its report."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        job = get_object_or_404(ImportJob, pk=job_id, kind=self.import_kind)
        return import_job_response(
            request,
            job,
            admin_site=self.admin_site,
            opts=self.model._meta,
            changelist_url=reverse("admin:{}_{}_changelist".format(*self.get_model_info())),
        )

    def process_import(self, request, **kwargs):
        # The confirm step sent twice (a double click, the back button): the first one imported the
        # file and removed the temporary upload; the second finds nothing to read.
        try:
            return super().process_import(request, **kwargs)
        except FileNotFoundError:
            messages.error(
                request,
                "このファイルは既に取り込み済みか、確認の期限が切れています(何も変更していません)。"
                "取り込む場合はもう一度アップロードしてください",
            )
            return HttpResponseRedirect(
                reverse("admin:{}_{}_changelist".format(*self.get_model_info()))
            )

    def process_result(self, result, request):
        refusal = getattr(result, "refusal", None)
        if refusal is not None:
            # The data changed between preview and confirm: nothing was stored.
            messages.error(request, refusal.summary(limit=20))
            return HttpResponseRedirect(
                reverse("admin:{}_{}_changelist".format(*self.get_model_info()))
            )
        return super().process_result(result, request)

    def add_success_message(self, result, request):
        messages.success(request, getattr(result, "summary_text", "取込が完了しました"))


# --- 事業所 ----------------------------------------------------------------------------------------


@admin.register(Employer)
class EmployerAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "postal_code", "address", "updated_at")
    search_fields = ("code__startswith", "name__startswith")
    search_help_text = "事業所記号または事業所名称の先頭一致"
    readonly_fields = ("created_at", "updated_at")


# --- 加入者 ----------------------------------------------------------------------------------------


class QualificationFilter(admin.SimpleListFilter):
    title = "資格"
    parameter_name = "qualification"

    def lookups(self, request, model_admin):
        return (("active", "資格あり（喪失日なし）"), ("lost", "資格喪失済み"))

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(lost_on__isnull=True)
        if self.value() == "lost":
            return queryset.filter(lost_on__isnull=False)
        return queryset


class PersonAdminForm(forms.ModelForm):
    # Typed with a hyphen (123-4567) and stored as 7 digits.
    postal_code = forms.CharField(label="郵便番号", max_length=8, required=False)

    class Meta:
        model = Person
        fields = (
            "kigo",
            "bango",
            "edaban",
            "relationship",
            "member",
            "insured_type",
            "employer",
            "voluntary_until",
            "standard_remuneration",
            "name",
            "name_kana",
            "birth_date",
            "sex",
            "sex_on_back",
            "postal_code",
            "address",
            "address_unknown_since",
            "needs_consideration",
            "acquired_on",
            "lost_on",
            "loss_reason",
        )

    def clean_kigo(self):
        return nfkc(self.cleaned_data["kigo"])

    def clean_bango(self):
        return nfkc(self.cleaned_data["bango"])

    def clean_edaban(self):
        return nfkc(self.cleaned_data["edaban"])

    def clean_name_kana(self):
        try:
            return normalize_kana(self.cleaned_data["name_kana"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_postal_code(self):
        try:
            return normalize_postal_code(self.cleaned_data.get("postal_code") or "")
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self):
        cleaned = super().clean()
        lost_on = cleaned.get("lost_on")
        stored = self.instance.lost_on if self.instance.pk else None
        if lost_on and not cleaned.get("loss_reason"):
            self.add_error(
                "loss_reason", "資格喪失年月日を入力したときは喪失事由を選択してください"
            )
        if stored and not lost_on:
            self.add_error(
                "lost_on",
                "記録済みの資格喪失は取り消せません。日付の誤りは正しい日付を入力して訂正してください",
            )
        if (
            lost_on
            and self.instance.pk
            and self.instance.relationship == Relationship.SELF
            and lost_on != stored
        ):
            late = self.instance.dependents.filter(acquired_on__gt=lost_on).values_list(
                "edaban", flat=True
            )
            if late:
                self.add_error(
                    "lost_on",
                    f"被扶養者（枝番{'・'.join(late)}）の資格取得年月日がこの日付より後です",
                )
        return cleaned


class DependentInline(admin.TabularInline):
    model = Person
    fk_name = "member"
    verbose_name = "被扶養者"
    verbose_name_plural = "被扶養者"
    fields = (
        "edaban",
        "name",
        "name_kana",
        "birth_date",
        "sex",
        "acquired_on",
        "lost_on",
        "loss_reason",
        "needs_consideration",
    )
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


_KEY_SPLIT = re.compile(r"[-‐・\s]+")


@admin.register(Person)
class PersonAdmin(RegistryImportMixin, SimpleHistoryAdmin):
    resource_classes = [MembersResource]
    import_kind = ImportKind.MEMBERS
    form = PersonAdminForm
    list_display = (
        "key_display",
        "name",
        "name_kana",
        "relationship",
        "insured_type",
        "employer_display",
        "acquired_on",
        "lost_on",
    )
    list_display_links = ("name",)
    list_select_related = ("employer",)
    list_filter = (
        QualificationFilter,
        "relationship",
        "insured_type",
        "needs_consideration",
        "loss_reason",
    )
    # The lookups are chosen in get_search_results (exact 記号/番号, prefix 氏名/カナ) so that the
    # unique (記号, 番号, 枝番) index and the カナ index can be used on a table of a million rows.
    search_fields = ("kigo", "bango", "name", "name_kana")
    search_help_text = (
        "記号・番号（完全一致、「記号-番号」や「記号-番号-枝番」も可）、氏名・氏名カナ（先頭一致、"
        "ひらがな・半角カナ可）"
    )
    show_full_result_count = False
    paginator = EstimatedCountPaginator  # no COUNT(*) of a million rows per page (issue 8)
    list_per_page = 50
    raw_id_fields = ("member",)
    autocomplete_fields = ("employer",)
    readonly_fields = ("created_at", "updated_at")
    inlines = (DependentInline,)
    fieldsets = (
        ("記号・番号", {"fields": (("kigo", "bango", "edaban"), "relationship", "member")}),
        (
            "被保険者",
            {
                "fields": (
                    "insured_type",
                    "employer",
                    "voluntary_until",
                    "standard_remuneration",
                )
            },
        ),
        (
            "本人情報",
            {
                "fields": (
                    "name",
                    "name_kana",
                    "birth_date",
                    ("sex", "sex_on_back"),
                    "postal_code",
                    "address",
                    "address_unknown_since",
                    "needs_consideration",
                )
            },
        ),
        ("資格", {"fields": ("acquired_on", ("lost_on", "loss_reason"))}),
        ("記録", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="記号・番号・枝番", ordering="kigo")
    def key_display(self, obj: Person):
        # the 加入者カルテ is the person's page; 氏名 opens the edit form
        return format_html(
            '<a href="{}" class="karte-link">{}</a>',
            reverse("admin:members_person_karte", args=[obj.pk]),
            obj.key,
        )

    # -- 加入者カルテ ------------------------------------------------------------------------

    def karte_view(self, request, pk):
        from .karte import person_karte

        person = get_object_or_404(
            Person.objects.select_related("member", "member__employer", "employer"), pk=pk
        )
        if not self.has_view_permission(request, person):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"加入者カルテ {person.key} {person.name}",
            "k": person_karte(person, user=request.user),
            "can_change": self.has_change_permission(request, person),
            "judgement_url": _judgement_url(person),
            "issuance_decision": _decision(person),
        }
        return TemplateResponse(request, "admin/members/person/karte.html", context)

    def reprint_view(self, request, pk):
        """This person's current certificate and household letter as one PDF, shown in the
        browser; recorded in the audit trail (document.reprinted) by the service."""
        from documents.filenames import content_disposition, reprint_filenames
        from documents.selectors import current_certificate
        from documents.services import certificate_reprint

        from .karte import may_reprint

        person = get_object_or_404(Person, pk=pk)
        if not may_reprint(request.user):
            raise PermissionDenied
        back = reverse("admin:members_person_karte", args=[person.pk])
        if request.method == "POST":
            try:
                result = certificate_reprint(
                    kigo=person.kigo,
                    bango=person.bango,
                    edaban=person.edaban,
                    acting_user=request.user,
                )
            except (LookupError, ValueError) as exc:
                messages.error(request, str(exc))
                return HttpResponseRedirect(back)
            response = HttpResponse(result.pdf, content_type="application/pdf")
            name, ascii_name = reprint_filenames(
                kigo=person.kigo, bango=person.bango, edaban=person.edaban, name=person.name
            )
            response["Content-Disposition"] = content_disposition(name, ascii_name, inline=True)
            response["Cache-Control"] = "no-store"
            return response
        cert = current_certificate(person)
        if cert is None:
            messages.error(request, f"{person.key} には現在有効な資格確認書がありません")
            return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "title": "資格確認書と送付状の印刷",
            "lead": "この人の現在の資格確認書と送付状をPDFで作り、別のタブで表示します。"
            "印刷したことは業務イベントに記録されます。",
            "facts": [
                ("記号・番号・枝番", person.key),
                ("氏名", person.name),
                ("証明書番号", cert.number),
                ("有効期限", cert.valid_until.isoformat()),
                ("送付先", cert.route),
            ],
            "submit_label": "PDFを作成して表示",
            "back_url": back,
            "back_label": "加入者カルテ",
            "new_tab": True,
        }
        return TemplateResponse(request, "admin/confirm.html", context)

    @admin.display(description="事業所", ordering="employer__code")
    def employer_display(self, obj: Person) -> str:
        return obj.employer.name if obj.employer_id else "-"

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        folded = nfkc(term)
        condition = Q(kigo=folded) | Q(bango=folded)
        # 氏名 by prefix (family name first), never contains: the person_name_prefix index
        # (varchar_pattern_ops) answers a prefix; a LIKE '%…%' reads every row, and a trigram index
        # cannot help either, 2-character names (佐藤, 太郎) having no trigram. Names are stored as
        # given, with a full-width, half-width or no space: each spelling is its own index range.
        for sep in ("\u3000", " ", "") if re.search(r"\s", term) else ("",):
            condition |= Q(name__startswith=re.sub(r"\s+", sep, term))
        try:
            condition |= Q(name_kana__startswith=normalize_kana(term))
        except ValueError:
            pass  # not kana: no カナ search
        parts = [p for p in _KEY_SPLIT.split(folded) if p]
        if len(parts) == 2:
            condition |= Q(kigo=parts[0], bango=parts[1])
        elif len(parts) == 3:
            condition |= Q(kigo=parts[0], bango=parts[1], edaban=parts[2])
        return queryset.filter(condition), False

    # --- 「交付判定」 (certificates.decision: its own view and templates) ---------------------------
    change_form_template = "certificates/person_change_form.html"

    def get_urls(self):
        from functools import partial

        from certificates.decision import person_decision_view

        wrap = self.admin_site.admin_view
        view = wrap(partial(person_decision_view, self))
        own = [
            path(
                "<path:object_id>/issuance-decision/",
                view,
                name="members_person_issuance_decision",
            ),
            # 加入者カルテ and the person's reprint
            path("<int:pk>/karte/", wrap(self.karte_view), name="members_person_karte"),
            path("<int:pk>/reprint/", wrap(self.reprint_view), name="members_person_reprint"),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        from certificates.decision import decision_context, default_dates

        person = self.get_object(request, object_id)
        if person is not None:
            extra_context = {
                **(extra_context or {}),
                "issuance_decision": decision_context(person, default_dates()),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj: Person, form, change):
        """A new or changed 資格喪失年月日 goes through person_record_loss (dependents follow,
        certificates become 返却待ち), a new 氏名/カナ through person_change_name; the other fields
        are saved as usual."""
        lost_on, reason = obj.lost_on, obj.loss_reason
        if not change:
            obj.lost_on, obj.loss_reason = None, ""
            super().save_model(request, obj, form, change)
            if lost_on:
                person_record_loss(
                    person=obj, lost_on=lost_on, reason=reason, acting_user=request.user
                )
            return
        stored = Person.objects.get(pk=obj.pk)
        name, name_kana = obj.name, obj.name_kana
        obj.name, obj.name_kana = stored.name, stored.name_kana
        obj.lost_on, obj.loss_reason = stored.lost_on, stored.loss_reason
        service_fields = {"name", "name_kana", "lost_on", "loss_reason"}
        if set(form.changed_data) - service_fields:
            super().save_model(request, obj, form, change)
        if (name, name_kana) != (stored.name, stored.name_kana):
            person_change_name(person=obj, name=name, name_kana=name_kana, acting_user=request.user)
        if lost_on and (lost_on, reason) != (stored.lost_on, stored.loss_reason):
            changed = person_record_loss(
                person=obj, lost_on=lost_on, reason=reason, acting_user=request.user
            )
            followers = len(changed) - (1 if obj in changed else 0)
            if followers:
                messages.info(request, f"被扶養者{followers}人の資格喪失も同じ日付で記録しました")


def _judgement_url(person: Person) -> str:
    """The 交付判定 page of the person (certificates.decision), for dates the clerk chooses."""
    return reverse("admin:members_person_issuance_decision", args=[person.pk])


def _decision(person: Person) -> dict:
    """The read-only 「交付判定」 panel for today's dates (certificates.decision), on the カルテ."""
    from certificates.decision import decision_context, default_dates

    return decision_context(person, default_dates())


# --- 利用登録状況 ----------------------------------------------------------------------------------


class StatusImportForm(ImportForm):
    as_of = forms.DateField(label="基準日", help_text="利用登録状況データの基準日（YYYY-MM-DD）")


class StatusConfirmImportForm(ConfirmImportForm):
    as_of = forms.DateField(widget=forms.HiddenInput())


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RegistrationSnapshot)
class RegistrationSnapshotAdmin(RegistryImportMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Snapshots are created only by the import and never changed (rules.md: history is never
    overwritten)."""

    resource_classes = [RegistrationStatusResource]
    import_kind = ImportKind.REGISTRATION_STATUS
    import_form_class = StatusImportForm
    confirm_form_class = StatusConfirmImportForm
    list_display = ("as_of", "source_name", "row_count", "imported_by", "created_at")
    list_select_related = ("imported_by",)
    date_hierarchy = "as_of"
    fields = (
        "as_of",
        "source_name",
        "row_count",
        "imported_by",
        "created_at",
        "counts_by_status",
        "statuses_link",
    )
    readonly_fields = fields

    def get_confirm_form_initial(self, request, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["as_of"] = import_form.cleaned_data["as_of"]
        return initial

    def get_import_data_kwargs(self, **kwargs):
        form = kwargs.get("form")
        if form is not None and "as_of" in getattr(form, "cleaned_data", {}):
            kwargs["as_of"] = form.cleaned_data["as_of"]
        return super().get_import_data_kwargs(**kwargs)

    @admin.display(description="登録状況別の件数")
    def counts_by_status(self, obj: RegistrationSnapshot):
        rows = obj.statuses.values_list("status").annotate(n=Count("pk")).order_by("status")
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}件</td></tr>", rows),
        )

    @admin.display(description="明細")
    def statuses_link(self, obj: RegistrationSnapshot):
        url = reverse("admin:members_registrationstatus_changelist")
        return format_html(
            '<a href="{}?snapshot__id__exact={}">この取込の利用登録状況（{}件）</a>',
            url,
            obj.pk,
            obj.row_count,
        )


@admin.register(RegistrationStatus)
class RegistrationStatusAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("person_key", "person_name", "as_of", "status", "ec_expiry", "snapshot")
    list_select_related = ("person", "snapshot")
    list_filter = ("status", "snapshot")
    search_fields = ("person__kigo", "person__bango", "person__name_kana")
    search_help_text = "記号・番号（完全一致）、氏名カナ（先頭一致）"
    show_full_result_count = False
    paginator = EstimatedCountPaginator  # no COUNT(*) of a million rows per page (issue 8)
    ordering = ("-pk",)
    fields = ("snapshot", "person", "as_of", "status", "ec_expiry")
    readonly_fields = fields

    @admin.display(description="記号・番号・枝番")
    def person_key(self, obj: RegistrationStatus):
        from .karte import karte_link

        return karte_link(obj.person)

    @admin.display(description="氏名")
    def person_name(self, obj: RegistrationStatus) -> str:
        return obj.person.name

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        folded = nfkc(term)
        condition = Q(person__kigo=folded) | Q(person__bango=folded)
        try:
            condition |= Q(person__name_kana__startswith=normalize_kana(term))
        except ValueError:
            pass
        return queryset.filter(condition), False


# --- 取込ジョブ (background imports) ----------------------------------------------------------------


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The background imports (no personal data: file names, counts, row and column of refusals);
    each links to its progress / report page, which only its requester opens."""

    list_display = ("id", "kind", "source_name", "state", "requested_by", "created_at", "report")
    list_select_related = ("requested_by",)
    list_filter = ("kind", "state")
    fields = (
        "kind",
        "source_name",
        "as_of",
        "state",
        "phase",
        "summary",
        "error_total",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields

    @admin.display(description="進捗・結果")
    def report(self, obj: ImportJob):
        model = Person if obj.kind == ImportKind.MEMBERS else RegistrationSnapshot
        url = reverse(
            f"admin:{model._meta.app_label}_{model._meta.model_name}_import_job", args=[obj.pk]
        )
        return format_html('<a href="{}">表示</a>', url)
