"""The registry's CSV headers (rules.md "File formats"): defined here once, used by the imports
(members.importing), the members export (members.exports) and the admin's import page."""

MEMBER_COLUMNS: tuple[str, ...] = (
    "事業所記号",
    "事業所名称",
    "記号",
    "番号",
    "枝番",
    "本人家族区分",
    "被保険者種別",
    "氏名",
    "氏名カナ",
    "生年月日",
    "性別",
    "郵便番号",
    "住所",
    "資格取得年月日",
    "資格喪失年月日",
    "任意継続満了日",
    "標準報酬月額",
    "要配慮者",
)
STATUS_COLUMNS: tuple[str, ...] = ("記号", "番号", "枝番", "登録状況", "電子証明書有効期限")
