"""Forms of the fees admin screens (input only; every change goes through fees.services)."""

from django import forms

from core.admin_pages import date_field as _date_field
from core.text_safety import SafeTextFormMixin

from .models import ApplicationRoute, ReissueKind


class ApplicationForm(SafeTextFormMixin, forms.Form):
    # No default: 記載事項変更 reissues at once, so the clerk always chooses (issue 16).
    kind = forms.ChoiceField(
        label="申請種別", choices=[("", "選択してください"), *ReissueKind.choices]
    )
    certificate_number = forms.CharField(
        label="証明書番号", max_length=32, help_text="申請書に記載の証明書番号(例: 2026-0000123)"
    )
    route = forms.ChoiceField(
        label="届出経路",
        choices=ApplicationRoute.choices,
        help_text="一般の世帯は事業主経由、任意継続の世帯は組合へ直接。",
    )
    received_on = _date_field("受付日")
    reissue_requested = forms.BooleanField(
        label="再交付を希望",
        required=False,
        initial=True,
        help_text="滅失・き損のみ。外すと無効化だけ行います(資格喪失後の返納不能など、手数料なし)。",
    )
    new_name = forms.CharField(
        label="新しい氏名",
        max_length=100,
        required=False,
        help_text="記載事項変更のみ。空欄なら登録済みの氏名で再交付します。",
    )
    new_name_kana = forms.CharField(label="新しい氏名カナ", max_length=100, required=False)
    note = forms.CharField(label="備考", required=False, widget=forms.Textarea(attrs={"rows": 3}))


class PaymentConfirmForm(forms.Form):
    paid_on = _date_field("入金日")


class ReasonForm(SafeTextFormMixin, forms.Form):
    reason = forms.CharField(
        label="理由", max_length=200, widget=forms.TextInput(attrs={"size": 60})
    )


class PaymentUploadForm(forms.Form):
    file = forms.FileField(
        label="振込データ(CSV)",
        help_text=(
            "列: 請求書番号,入金額,入金日(UTF-8 / UTF-8 BOM / Shift_JIS)。"
            "請求書番号と金額が一致する行だけ入金済にします。一致しない行は一覧に表示し、反映しません。"
            "読めない行があるファイルは全体を取り込みません。"
        ),
    )
