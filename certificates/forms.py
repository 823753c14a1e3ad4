"""Forms of the certificates app."""

from django import forms
from django.core.exceptions import ValidationError

from core.admin_pages import date_field as _date_field
from core.text_safety import SafeTextFormMixin


class RunDatesForm(forms.Form):
    """A run's three dates, checked by certificates.services.run_dates_validate (the one check)."""

    status_date = forms.DateField(
        label="基準日(登録状況)", help_text="この日以前の最新の利用登録状況で対象者を判定します"
    )
    issue_date = forms.DateField(label="交付年月日", help_text="有効期間の初日")
    valid_until = forms.DateField(
        label="有効期限(一律)",
        help_text="交付年月日から5年以内。75歳到達・任意継続満了は個別に短縮",
    )

    def clean(self):
        from .services import run_dates_validate

        data = super().clean()
        if all(data.get(f) for f in ("status_date", "issue_date", "valid_until")):
            try:
                run_dates_validate(
                    status_date=data["status_date"],
                    issue_date=data["issue_date"],
                    valid_until=data["valid_until"],
                )
            except ValidationError as exc:
                for message in exc.messages:
                    self.add_error(None, message)
        return data


# --- returns and 宛所不明 (certificates.admin_returns) ------------------------------------------------


class ReturnsReceiveForm(SafeTextFormMixin, forms.Form):
    numbers = forms.CharField(
        label="証明書番号",
        widget=forms.Textarea(attrs={"rows": 12, "cols": 30}),
        help_text="1行に1件。Excelの列をそのまま貼り付けられます。"
        "1件でも受け付けられない番号があれば、全件とも反映しません。",
    )
    returned_on = _date_field("返却日(受領日)")


class UndeliverableForm(SafeTextFormMixin, forms.Form):
    number = forms.CharField(label="証明書番号", max_length=32)
    returned_on = _date_field("返戻日")


class AddressForm(SafeTextFormMixin, forms.Form):
    postal_code = forms.CharField(label="郵便番号", max_length=10, help_text="7桁(ハイフン可)")
    address = forms.CharField(
        label="住所", max_length=200, widget=forms.TextInput(attrs={"size": 60})
    )
