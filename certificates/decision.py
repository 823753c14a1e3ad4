"""「交付判定」: one person's case for a bulk run with given dates, read-only, for the clerk answering
a member's call. Everything shown comes from certificates.selectors.issuance_decision, i.e. from
the queryset a bulk run freezes (.filter(pk=…)) and the same rule expressions — never a third
spelling of the rules. Shown on the person's change page (defaults) and on its own page (any
dates)."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils import timezone

from members.models import Person, RegistrationSnapshot

from . import rules
from .forms import RunDatesForm
from .models import Certificate
from .selectors import issuance_decision


class DecisionForm(RunDatesForm):
    pass


def default_dates(today: date | None = None) -> dict[str, date]:
    """Today's issue date, the latest registration snapshot on or before it, the longest validity."""
    today = today or timezone.localdate()
    latest = (
        RegistrationSnapshot.objects.filter(as_of__lte=today)
        .order_by("-as_of")
        .values_list("as_of", flat=True)
        .first()
    )
    return {
        "status_date": latest or today,
        "issue_date": today,
        "valid_until": rules.max_valid_until(today),
    }


def decision_context(person: Person, dates: dict[str, date]) -> dict:
    """What the panel shows for one person and these dates."""
    d = issuance_decision(person_id=person.pk, **dates)
    row = d.target or d.terms
    replaces = (
        Certificate.objects.filter(pk=row["replaces_id"]).values_list("number", flat=True).first()
        if row.get("replaces_id")
        else None
    )
    return {
        "dates": dates,
        "is_target": d.target is not None,
        "excluded_by": d.excluded_by,
        "reason": row["reason"] if d.target else "",
        "valid_until": row["valid_until"],
        "route": row["route"],
        "elderly_start": row["elderly_start"],
        "copay_ratio": row["copay_ratio"],
        "registration_status": row["registration_status"] or "(記録なし)",
        "replaces": replaces,
    }


def person_decision_view(model_admin, request, object_id):
    """The panel on its own page, for dates the clerk chooses (GET form: changes nothing)."""
    person = get_object_or_404(Person, pk=object_id)
    if not model_admin.has_view_permission(request, person):
        raise PermissionDenied
    form = DecisionForm(request.GET or None, initial=default_dates())
    decision = None
    if form.is_bound and form.is_valid():
        decision = decision_context(person, form.cleaned_data)
    elif not form.is_bound:
        decision = decision_context(person, default_dates())
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "person": person,
        "form": form,
        "decision": decision,
        "title": f"交付判定: {person.key} {person.name}",
    }
    return TemplateResponse(request, "certificates/issuance_decision.html", context)
