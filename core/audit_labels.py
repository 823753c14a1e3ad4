"""業務イベントの表示名: each audit action code (core.models.audit_event) as the Japanese label a clerk
or an auditor reads, and the admin page of the object an event is about.

The codes stay what they are in the database and the CSV export (auditors' tools filter on them);
only the screens show the labels. tests/admin_ui/test_audit_labels.py fails when a code written
anywhere in the source has no label here.
"""

from __future__ import annotations

from django.apps import apps
from django.urls import NoReverseMatch, reverse

ACTION_LABELS: dict[str, str] = {
    # 一括職権交付
    "run.created": "一括交付の作成",
    "run.approved": "一括交付の承認",
    "run.started": "一括交付の実行開始",
    "run.batch_issued": "一括交付の交付(一区切り)",
    "run.executed": "一括交付の交付完了",
    "run.documents_done": "一括交付の帳票作成完了",
    "run.failed": "一括交付の失敗",
    "run.resumed": "一括交付の再開",
    "run.manifest_downloaded": "対象者一覧(CSV)のダウンロード",
    # 資格確認書
    "certificate.issued": "資格確認書の交付",
    "certificate.replaced": "資格確認書の差し替え(更新・再交付)",
    "certificate.return_required": "資格確認書の返却依頼(返却待ち)",
    "certificate.returned": "資格確認書の返却受付",
    "certificate.return_overdue": "資格確認書の返却期限超過",
    "certificate.no_return_registered": "資格確認書の返却不要(利用登録)",
    "certificate.expired": "資格確認書の有効期限切れ",
    "certificate.voided": "資格確認書の無効化",
    "certificate.undeliverable": "宛所不明による返戻(送付保留)",
    "certificate.hold_released": "送付保留の解除(再送)",
    # 帳票
    "document.stored": "帳票の作成",
    "document.failed": "帳票の作成失敗",
    "document.retried": "帳票の再作成",
    "document.downloaded": "帳票のダウンロード・表示",
    "document.reprinted": "資格確認書の再印刷",
    "documents.scheduled": "帳票作成の予約",
    "documents.resumed": "帳票作成の再開",
    "documents.retried": "失敗した帳票の再作成",
    # 加入者
    "person.loss_recorded": "資格喪失の記録",
    "person.name_changed": "氏名の変更",
    "person.address_corrected": "住所の訂正",
    "person.late_elderly_applied": "75歳到達(後期高齢者医療へ移行)の反映",
    "import.members": "加入者データの取込",
    "import.registration_status": "利用登録状況の取込",
    # 再交付・手数料
    "reissue.change_issued": "記載事項変更による再交付",
    "reissue.loss_received": "滅失・き損の届出の受付",
    "reissue.loss_issued": "滅失・き損による再交付",
    "reissue.cancelled": "再交付申請の取消",
    "invoice.created": "請求書の作成",
    "invoice.paid": "入金の確認",
    "invoice.waived": "手数料の免除",
    "invoice.cancelled": "請求書の取消",
    "payments.imported": "振込データの取込",
    "returns.reminder_generated": "返却督促状の作成",
    # 高齢受給者証・基準収入額適用
    "elderly_card.issued": "高齢受給者証の交付",
    "elderly_card.return_required": "高齢受給者証の返却依頼(返却待ち)",
    "elderly_card.returned": "高齢受給者証の返却受付",
    "elderly_card.return_overdue": "高齢受給者証の返却期限超過",
    "elderly_batch.prepared": "高齢受給者証の交付一覧の作成",
    "elderly_batch.approved": "高齢受給者証の交付一覧の承認",
    "elderly_batch.rendered": "高齢受給者証の帳票作成",
    "elderly_batch.downloaded": "高齢受給者証の帳票のダウンロード",
    "income_basis.recorded": "基準収入額適用の記録",
    "income_basis.ended": "基準収入額適用の終了",
    # 出力・利用者
    "export.csv": "CSV出力",
    "export.downloaded": "CSV出力ファイルのダウンロード",
    "demo_user_created": "デモ用ログインの作成",
}


def action_label(code: str) -> str:
    """The label of an action code; an unknown code is shown as it is (never hidden)."""
    return ACTION_LABELS.get(code, code)


def action_choices(codes) -> list[tuple[str, str]]:
    return [(code, action_label(code)) for code in codes]


def object_admin_url(object_type: str, object_id: str) -> str | None:
    """The admin page of the object an event or a history row is about (a person: the 加入者カルテ)."""
    if not object_type or not object_id:
        return None
    try:
        model = apps.get_model(object_type)
    except (LookupError, ValueError):
        return None
    opts = model._meta
    names = [f"admin:{opts.app_label}_{opts.model_name}_change"]
    if opts.label == "members.Person":
        names.insert(0, "admin:members_person_karte")
    for name in names:
        try:
            return reverse(name, args=[object_id])
        except NoReverseMatch:
            continue
    return None


def object_type_label(object_type: str) -> str:
    try:
        return str(apps.get_model(object_type)._meta.verbose_name)
    except (LookupError, ValueError):
        return object_type


DETAIL_LABELS: dict[str, str] = {
    "sha256": "SHA-256",
    "rows": "件数",
    "row_count": "件数",
    "person": "記号・番号・枝番",
    "pages": "ページ数",
    "number": "証明書番号",
    "numbers": "証明書番号",
    "reason": "理由",
    "state": "状態",
    "from_state": "変更前の状態",
    "to_state": "変更後の状態",
    "amount": "金額",
    "invoice": "請求書番号",
    "certificate": "証明書番号",
    "old_certificate": "旧証明書番号",
    "new_certificate": "新証明書番号",
    "lost_on": "資格喪失年月日",
    "returned_on": "返却日",
    "paid_on": "入金日",
    "issued": "交付数",
    "targets": "対象者数",
    "target_count": "対象者数",
    "issued_count": "交付数",
    "documents": "帳票数",
    "chunks": "帳票数",
    "error": "エラー",
    "dataset": "データ種別",
    "encoding": "文字コード",
    "filters": "絞り込み条件",
    "via": "経路",
    "completed": "完了",
    "source_name": "ファイル名",
    "name": "氏名",
    "old_name": "変更前の氏名",
    "new_name": "変更後の氏名",
    "kind": "種別",
    "label": "内容",
    "attempts": "試行回数",
    "skipped": "印刷除外",
}


def detail_label(key: str) -> str:
    return DETAIL_LABELS.get(key, key)


def detail_text(detail: dict) -> str:
    from core.exports import to_cell

    return "、".join(
        f"{detail_label(k)}: {json_text(v) if isinstance(v, (dict, list)) else to_cell(v)}"
        for k, v in sorted((detail or {}).items())
    )


def audit_search_q(term: str):
    """The trail searched as a clerk thinks of it: 証明書番号 (that certificate's events), 記号・番号
    [・枝番] (the persons' events and their certificates' events), else the object id exactly.
    Each is an indexed (object_type, object_id) condition (auditevent_object)."""
    import re
    import unicodedata

    from django.db.models import Q

    from certificates.models import Certificate
    from members.models import Person

    term = unicodedata.normalize("NFKC", term or "").strip()
    if not term:
        return None
    cert_type, person_type = Certificate._meta.label, Person._meta.label
    if re.fullmatch(r"[0-9]{4}-[0-9]{7}", term):
        ids = [
            str(pk) for pk in Certificate.objects.filter(number=term).values_list("pk", flat=True)
        ]
        if ids:
            return Q(object_type=cert_type, object_id__in=ids)
    parts = [p for p in re.split(r"[-‐・/\s]+", term) if p]
    if 2 <= len(parts) <= 3 and all(p.isdigit() for p in parts):
        persons = Person.objects.filter(kigo=parts[0], bango=parts[1])
        if len(parts) == 3:
            persons = persons.filter(edaban=parts[2])
        person_ids = [str(pk) for pk in persons.values_list("pk", flat=True)[:50]]
        cert_ids = [
            str(pk)
            for pk in Certificate.objects.filter(person_id__in=person_ids).values_list(
                "pk", flat=True
            )
        ]
        return Q(object_type=person_type, object_id__in=person_ids) | Q(
            object_type=cert_type, object_id__in=cert_ids
        )
    return Q(object_id=term)


# Keys of the JSON a run keeps as its summary (certificates.services._run_summary), as shown in the
# change history.
DETAIL_LABELS.update(
    {
        "by_reason": "交付事由別",
        "by_route": "送付先別",
        "by_employer": "事業所別",
        "previous": "前回の一括交付",
        "print_skipped": "印刷除外",
        "run_id": "一括交付ID",
        "common": "前回も対象",
        "new": "新",
        "old": "旧",
        "dropped": "今回は対象外",
        "certificate_pages": "資格確認書ページ数",
        "created": "作成数",
        "addressee": "宛先(記号・番号・枝番)",
        "return_due": "返却期限",
        "return_route": "返却先",
        "replaces": "更新前の証明書番号",
        "run": "一括交付ID",
        "cause": "事由",
        "fields": "項目",
        "name_kana": "氏名カナ",
        "payment_import": "振込データ取込ID",
        "source": "入金の確認方法",
        "reissue_requested": "再交付の希望",
        "application": "再交付申請ID",
        "previous_state": "変更前の状態",
        "previous_lost_on": "変更前の資格喪失年月日",
        "count": "件数",
        "first": "最初の証明書番号",
        "last": "最後の証明書番号",
        "retired": "差し替えた証明書",
        "issue_date": "交付年月日",
        "status_date": "基準日(登録状況)",
        "valid_until": "有効期限",
        "applied": "反映",
        "rejected": "不一致",
        "chunk_no": "チャンク番号",
        "user": "ユーザー",
        "username": "ユーザー名",
        "role": "役割",
        "updated": "更新数",
        "unchanged": "変更なし",
        "skipped_count": "印刷除外数",
    }
)


def json_text(value) -> str:
    """A JSON value with its keys in Japanese, for screens (the export keeps the JSON)."""
    if value is None:
        return "なし"
    if isinstance(value, dict):
        if not value:
            return "なし"
        return "、".join(f"{detail_label(str(k))}: {json_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return (
            "・".join(detail_label(v) if isinstance(v, str) else json_text(v) for v in value)
            or "なし"
        )
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    return str(value)
