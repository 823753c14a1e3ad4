"""The one detector (core.text_safety) and every path that uses it: no My Number in any writing, no
control character or bidi override, refused with the field named and the value never repeated."""

import pytest
from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from core.text_safety import (
    SafeTextFormMixin,
    check_text,
    contains_my_number,
    has_forbidden_controls,
)

VALID = "123456789018"  # passes the check digit
# Every writing of it: separators of every kind, full-width digits and separators, line breaks.
WRITINGS = [
    "123456789018",
    "1234-5678-9018",
    "1234 5678 9018",
    "１２３４－５６７８－９０１８",
    "１２３４５６７８９０１８",
    "1234.5678.9018",
    "1234\n5678\n9018",
    "1234\r\n5678\r\n9018",
    "1234\u30005678\u30009018",
    "1234‐5678‐9018",
    "1234—5678—9018",
    "1234−5678−9018",
    "1234ー5678ー9018",
    "1234・5678・9018",
    "1234\u200b5678\u200b9018",
    "123-456-789-018",
    "東京都千代田区1234-5678-9018番地",
    "2025-12-02 1234 5678 9018",
]
NOT_MY_NUMBERS = [
    "123456789012",  # wrong check digit
    "1234-5678-9012",
    "1234567890180",  # thirteen digits
    "2025-12-02",
    "2025-0000001",
    "03-1234-5678 090-1234-5678",
    "〒100-0005 東京都千代田区丸の内一丁目1番1号",
    "",
]
CONTROLS = [
    "山田\x00太郎",
    "山田\x1b[31m",
    "山田\x07",
    "山田\u202e郎太",
    "a\u2066b",
    "a\x85b",
    "a\x7fb",
]


@pytest.mark.parametrize("text", WRITINGS)
def test_every_writing_of_a_my_number_is_found(text):
    assert contains_my_number(text)


@pytest.mark.parametrize("text", NOT_MY_NUMBERS)
def test_other_numbers_are_not(text):
    assert not contains_my_number(text)


@pytest.mark.parametrize("text", CONTROLS)
def test_controls_and_bidi_overrides_are_forbidden(text):
    assert has_forbidden_controls(text)
    assert has_forbidden_controls(text, multiline=True)


def test_tab_and_line_breaks_only_in_a_multi_line_field():
    assert has_forbidden_controls("a\nb") and has_forbidden_controls("a\tb")
    assert not has_forbidden_controls("a\r\nb\tc", multiline=True)
    assert not has_forbidden_controls("山田　太郎")


@pytest.mark.parametrize("text", WRITINGS + CONTROLS)
def test_the_error_names_the_field_never_the_value(text):
    with pytest.raises(ValidationError) as info:
        check_text(text, field="氏名")
    message = " ".join(info.value.messages)
    assert message.startswith("氏名: ")
    assert "9018" not in message and "９０１８" not in message and "太郎" not in message


# --- every admin form and inline ------------------------------------------------------------------


def _superuser_request():
    from django.contrib.auth import get_user_model

    request = RequestFactory().get("/")
    request.user = get_user_model()(is_superuser=True, is_staff=True, is_active=True)
    return request


def test_every_admin_form_and_inline_checks_its_text(db):
    """Every registered ModelAdmin's form, list-editable form and inline forms carry the check."""
    request = _superuser_request()
    checked = 0
    for model, model_admin in admin.site._registry.items():
        form = model_admin.get_form(request, None)
        assert issubclass(form, SafeTextFormMixin), model._meta.label
        assert issubclass(model_admin.get_changelist_form(request), SafeTextFormMixin)
        obj = model._default_manager.first()
        for formset, _inline in model_admin.get_formsets_with_inlines(request, obj):
            assert issubclass(formset.form, SafeTextFormMixin), (model._meta.label, _inline)
            checked += 1
        checked += 1
    assert checked > len(admin.site._registry)  # the person screen's dependents inline included


@pytest.mark.parametrize("module", ["fees.forms", "certificates.forms"])
def test_the_after_issue_screens_forms_check_their_text(module):
    """The fees screens' forms and the returns / 宛所不明 screens' forms (moved to certificates)."""
    import importlib

    page_module = importlib.import_module(module)
    page_forms = [
        c
        for c in vars(page_module).values()
        if isinstance(c, type) and issubclass(c, forms.Form) and c.__module__ == module
    ]
    with_text = [
        c for c in page_forms if any(isinstance(f, forms.CharField) for f in c.base_fields.values())
    ]
    assert with_text and all(issubclass(c, SafeTextFormMixin) for c in with_text)


@pytest.fixture
def person(db):
    from tests.core.conftest import make_employer, make_person

    return make_person(employer=make_employer(), bango="1")


@pytest.mark.parametrize("text", WRITINGS[:6] + CONTROLS[:4])
@pytest.mark.parametrize("field", ["name", "address"])
def test_the_person_change_form_refuses_it(admin_client, person, text, field):
    from django.urls import reverse

    url = reverse("admin:members_person_change", args=[person.pk])
    page = admin_client.get(url)
    data = {k: v for k, v in page.context["adminform"].form.initial.items() if v is not None}
    data.update(
        {
            "dependents-TOTAL_FORMS": "0",
            "dependents-INITIAL_FORMS": "0",
            "dependents-MIN_NUM_FORMS": "0",
            "dependents-MAX_NUM_FORMS": "1000",
        }
    )
    data = {k: (v.pk if hasattr(v, "pk") else v) for k, v in data.items()}
    data[field] = "山田　" + text if field == "name" else "東京都" + text
    response = admin_client.post(url, data)
    assert response.status_code == 200  # the form again, with the error
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    html = response.content.decode()
    assert "9018" not in "".join(errors[field]) and "\u202e" not in "".join(errors[field])
    person.refresh_from_db()
    assert getattr(person, field) in ("山田　太郎", person.address) and text not in getattr(
        person, field
    )
    assert html  # rendered


@pytest.mark.parametrize("text", WRITINGS[:8])
def test_the_reissue_service_refuses_it_in_the_new_name_and_the_note(person, clerk, text):
    from datetime import date

    from fees.services import reissue_application_receive_loss
    from tests.core.conftest import make_certificate

    cert = make_certificate(person, "2025-0000001", issue_date=date(2025, 12, 2))
    with pytest.raises(ValidationError, match="備考"):
        reissue_application_receive_loss(
            certificate=cert,
            route="事業主経由",
            received_on=date(2025, 12, 3),
            acting_user=clerk,
            note="連絡先 " + text,
        )


def _refusals(call, label: str):
    """call(text) refuses a grouped My Number and a control character, naming `label`, never
    echoing the value, and leaves the database as it was (the caller's rollback)."""
    for text in (WRITINGS[1], "山田\u202e太郎"):
        with pytest.raises(ValidationError) as refused:
            call(text)
        message = " ".join(refused.value.messages)
        assert label in message and text not in message and VALID not in message


def test_every_other_service_taking_free_text_refuses_it(person, clerk, supervisor):
    """The name change, the fee's waiver and cancellation reasons, the address correction after
    returned mail and the 基準収入額適用 備考: the same detector as the forms and the imports."""
    from datetime import date

    from certificates.returns import address_correct_and_resend
    from elderly.services import income_basis_record
    from fees.models import ReissueApplication
    from fees.services import (
        invoice_waive,
        reissue_application_cancel,
        reissue_application_receive_loss,
    )
    from members.models import Person
    from members.services import person_change_name
    from tests.core.conftest import make_certificate

    before = Person.objects.get(pk=person.pk).name
    _refusals(lambda t: person_change_name(person=person, name=t, name_kana="ヤマダ"), "氏名")
    _refusals(
        lambda t: address_correct_and_resend(
            person=person, postal_code="1000001", address="東京都 " + t, acting_user=clerk
        ),
        "住所",
    )
    assert Person.objects.get(pk=person.pk).name == before
    cert = make_certificate(person, "2025-0000001", issue_date=date(2025, 12, 2))
    app = reissue_application_receive_loss(
        certificate=cert, route="事業主経由", received_on=date(2025, 12, 3), acting_user=clerk
    )
    app = ReissueApplication.objects.get(pk=app.pk)
    _refusals(
        lambda t: invoice_waive(invoice=app.invoice, reason="理由 " + t, acting_user=supervisor),
        "免除理由",
    )
    _refusals(
        lambda t: reissue_application_cancel(
            application=app, reason="理由 " + t, acting_user=clerk
        ),
        "取消理由",
    )
    _refusals(
        lambda t: income_basis_record(
            member=person,
            valid_from=date(2025, 4, 1),
            decided_on=date(2025, 4, 1),
            note="備考 " + t,
            acting_user=clerk,
        ),
        "備考",
    )
