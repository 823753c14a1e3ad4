"""What the apps' own admin screens (form pages beside a changelist, read-only lists) share: the form
page and its mixins, the safe ?next= redirect and the date field of their forms. Used by fees.admin
and certificates.admin_returns; nothing here knows an app (PDF links: documents.links)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme


def error_messages(exc: ValidationError) -> list[str]:
    return list(exc.messages)


def next_url(request, default: str) -> str:
    """Where to go after an action: the page that sent the clerk here (?next=, same site only,
    e.g. the 加入者カルテ), else `default`."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def prefill(request, form_class, names) -> dict:
    return {n: request.GET[n] for n in names if n in request.GET and n in form_class.base_fields}


def date_field(label: str, **kw) -> forms.DateField:
    return forms.DateField(
        label=label,
        initial=timezone.localdate,
        input_formats=["%Y-%m-%d", "%Y/%m/%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        **kw,
    )


class ReadOnlyMixin:
    """Rows change only through the services: no add form, no edit form, no delete."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + list(self.readonly_extra)

    readonly_extra: tuple = ()


class FormPageMixin:
    """A form page of its own under a model's admin (admin/core/form.html), back to its changelist."""

    def form_page(self, request, *, title, form, intro="", submit_label="実行", **extra):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "form": form,
            "intro": intro,
            "submit_label": submit_label,
            "cancel_url": self.changelist_url(),
            **extra,
        }
        return TemplateResponse(request, "admin/core/form.html", context)

    def changelist_url(self):
        opts = self.model._meta
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
