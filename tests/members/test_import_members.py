"""manage.py import_members: the contract of rules.md "Members import", end to end through the command."""

from datetime import date

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from certificates.models import Certificate
from core.models import AuditEvent
from members.models import Employer, Person

from .builders import (
    MEMBERS_HEADER,
    VALID_MY_NUMBER,
    dependent_row,
    make_dependent,
    make_employer,
    make_member,
    member_row,
    write_csv,
)

pytestmark = pytest.mark.django_db


def run(path, *args):
    from io import StringIO

    out = StringIO()
    call_command("import_members", str(path), *args, stdout=out)
    return out.getvalue()


def refused(path, *args) -> str:
    with pytest.raises(CommandError) as exc:
        run(path, *args)
    return str(exc.value)


def counts():
    return (Person.objects.count(), Employer.objects.count(), AuditEvent.objects.count())


# --- the happy path -----------------------------------------------------------------------------


def test_file_with_exactly_the_contract_header_is_imported(tmp_path, clerk):
    text = (
        MEMBERS_HEADER
        + "\r\n"
        + "E01,丸の内商事株式会社,10,1001,00,本人,一般,山田 太郎,ヤマダ タロウ,1970-05-10,男,100-0005,"
        "東京都千代田区丸の内1-1-1,2000-04-01,,,300000,\r\n"
        + ",,10,1001,01,家族,,山田 花子,ヤマダ ハナコ,1972/08/20,女,1000005,東京都千代田区丸の内1-1-1,"
        "2000/04/01,,,,1\r\n"
        + ",,20,2001,00,本人,任意継続,髙﨑 𠮷男,タカサキ ヨシオ,1965-02-01,男,,,2024-04-01,,2026-03-31,280000,\r\n"
    )
    path = tmp_path / "members.csv"
    path.write_bytes(text.encode("utf-8"))

    out = run(path, "--by", clerk.username)

    assert "新規 3" in out
    head = Person.objects.get(kigo="10", bango="1001", edaban="00")
    dep = Person.objects.get(kigo="10", bango="1001", edaban="01")
    vol = Person.objects.get(kigo="20", bango="2001", edaban="00")
    assert head.employer == Employer.objects.get(code="E01")
    assert head.employer.name == "丸の内商事株式会社"
    assert head.postal_code == "1000005"
    assert head.standard_remuneration == 300_000
    assert dep.member == head and dep.birth_date == date(1972, 8, 20) and dep.needs_consideration
    assert dep.insured_type == "" and dep.employer is None
    assert vol.insured_type == "任意継続" and vol.voluntary_until == date(2026, 3, 31)
    assert vol.name == "髙﨑 𠮷男"  # non-BMP and variant characters survive storage
    event = AuditEvent.objects.get(action="import.members")
    assert event.actor == clerk
    assert event.detail["created"] == 3 and event.detail["source"] == "members.csv"
    # django-simple-history keeps the creation, by the importing clerk
    created = head.history.get()
    assert (created.history_type, created.history_user) == ("+", clerk)
    assert created.history_change_reason == "取込"
    assert created.name == head.name and created.birth_date == head.birth_date
    assert abs((timezone.now() - head.created_at).total_seconds()) < 60


def test_kana_is_converted_to_full_width_katakana(tmp_path):
    path = write_csv(
        tmp_path,
        MEMBERS_HEADER,
        [
            member_row(氏名カナ="ﾔﾏﾀﾞ ﾀﾛｳ"),
            dependent_row(氏名カナ="やまだ　はなこ"),
            dependent_row(枝番="02", 氏名カナ="ｼﾞｮﾝ･ｽﾐｽｰ"),
        ],
    )
    run(path)
    kana = dict(Person.objects.values_list("edaban", "name_kana"))
    assert kana == {
        "00": "ヤマダ\u3000タロウ",
        "01": "ヤマダ\u3000ハナコ",
        "02": "ジョン・スミスー",
    }


def test_kigo_bango_are_nfkc_normalised(tmp_path):
    path = write_csv(
        tmp_path,
        MEMBERS_HEADER,
        [
            member_row(記号="１０", 番号="１００１", 枝番="００"),
            dependent_row(記号="10", 番号="1001", 枝番="０１"),
        ],
    )
    run(path)
    assert sorted(Person.objects.values_list("kigo", "bango", "edaban")) == [
        ("10", "1001", "00"),
        ("10", "1001", "01"),
    ]


def test_reimport_follows_the_member_from_employer_to_employer_and_out(tmp_path, clerk):
    """The 事業所 alone changing is a change (更新), found by its code, and 任意継続 has none."""
    run(write_csv(tmp_path, MEMBERS_HEADER, [member_row()], name="a.csv"))
    moved = member_row(事業所記号="E02", 事業所名称="梅田物産株式会社")
    out = run(write_csv(tmp_path, MEMBERS_HEADER, [moved], name="b.csv"))
    assert "更新 1" in out
    assert Person.objects.get().employer == Employer.objects.get(code="E02")
    out = run(write_csv(tmp_path, MEMBERS_HEADER, [moved], name="c.csv"))
    assert "更新 0" in out  # the same 事業所 again: 変更なし
    left = member_row(
        事業所記号="", 事業所名称="", 被保険者種別="任意継続", 任意継続満了日="2027-03-31"
    )
    out = run(write_csv(tmp_path, MEMBERS_HEADER, [left], name="d.csv"))
    assert "更新 1" in out
    person = Person.objects.get()
    assert person.employer is None and person.insured_type == "任意継続"
    assert [h.employer_id for h in person.history.order_by("history_id")] == [
        Employer.objects.get(code="E01").pk,
        Employer.objects.get(code="E02").pk,
        None,
    ]


def test_reimport_updates_the_person_and_keeps_history(tmp_path, clerk):
    run(write_csv(tmp_path, MEMBERS_HEADER, [member_row()], name="a.csv"))
    out = run(
        write_csv(
            tmp_path,
            MEMBERS_HEADER,
            [member_row(住所="大阪府大阪市北区梅田1-1", 事業所名称="丸の内商事（新社名）")],
            name="b.csv",
        ),
        "--by",
        clerk.username,
    )
    assert "更新 1" in out and "新規 0" in out
    person = Person.objects.get()
    assert person.address == "大阪府大阪市北区梅田1-1"
    assert person.employer.name == "丸の内商事（新社名）"
    assert person.history.count() == 2
    latest = person.history.first()
    assert latest.history_type == "~" and latest.history_user == clerk


def test_reimport_of_an_unchanged_file_changes_nothing(tmp_path):
    path = write_csv(tmp_path, MEMBERS_HEADER, [member_row(), dependent_row()])
    run(path)
    out = run(path)
    assert "変更なし 2" in out
    assert Person.history.count() == 2


def test_dry_run_stores_nothing(tmp_path):
    path = write_csv(tmp_path, MEMBERS_HEADER, [member_row(), dependent_row()])
    out = run(path, "--dry-run")
    assert "試行" in out and "新規 2" in out
    assert counts() == (0, 0, 0)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_encodings_are_detected(tmp_path, encoding):
    # 髙 and 﨑 are in CP932 (IBM extensions); 𠮷 is not, so it is only tested in UTF-8 above.
    path = write_csv(
        tmp_path,
        MEMBERS_HEADER,
        [member_row(氏名="髙﨑 太郎", 氏名カナ="ﾀｶｻｷ ﾀﾛｳ")],
        encoding=encoding,
    )
    run(path)
    person = Person.objects.get()
    assert person.name == "髙﨑 太郎"
    assert person.name_kana == "タカサキ\u3000タロウ"


def test_undecodable_bytes_are_refused(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(MEMBERS_HEADER.encode("utf-8") + b"\r\n\xff\xfe\xfd\x80\x80\r\n")
    message = refused(path)
    assert "文字コード" in message
    assert counts() == (0, 0, 0)


# --- a loss through the import goes through person_record_loss -----------------------------------


def _certificate(person, number):
    return Certificate.objects.create(
        number=number,
        person=person,
        reason="未登録",
        issue_date=date(2025, 12, 1),
        valid_until=date(2030, 11, 30),
        route="事業主経由",
        printed_name=person.name,
        printed_name_kana=person.name_kana,
    )


def test_loss_through_import_cascades_to_dependents_and_requires_certificate_return(tmp_path):
    head = make_member(bango="1001")
    dep = make_dependent(head)
    c1, c2 = _certificate(head, "C-1"), _certificate(dep, "C-2")

    row = member_row(
        番号="1001", 氏名=head.name, 氏名カナ=head.name_kana, 資格喪失年月日="2026-01-31"
    )
    row.update(生年月日="1970-01-15", 性別="男")
    out = run(write_csv(tmp_path, MEMBERS_HEADER, [row]))

    assert "資格喪失の記録 2" in out
    head.refresh_from_db()
    dep.refresh_from_db()
    assert (head.lost_on, head.loss_reason) == (date(2026, 1, 31), "その他")
    assert (dep.lost_on, dep.loss_reason) == (date(2026, 1, 31), "被保険者の資格喪失")
    for cert in (c1, c2):
        cert.refresh_from_db()
        assert cert.state == "返却待ち"
        assert cert.return_due == date(2026, 2, 5)
    assert AuditEvent.objects.filter(action="person.loss_recorded").count() == 2


def test_empty_loss_date_never_clears_a_recorded_loss(tmp_path):
    head = make_member(bango="1001", lost_on=date(2025, 3, 31), loss_reason="退職")
    run(write_csv(tmp_path, MEMBERS_HEADER, [member_row(番号="1001")]))
    head.refresh_from_db()
    assert head.lost_on == date(2025, 3, 31)


def test_later_loss_date_in_file_does_not_move_a_recorded_earlier_loss(tmp_path):
    head = make_member(bango="1001", lost_on=date(2025, 3, 31), loss_reason="75歳到達")
    out = run(
        write_csv(tmp_path, MEMBERS_HEADER, [member_row(番号="1001", 資格喪失年月日="2025-06-30")])
    )
    head.refresh_from_db()
    assert head.lost_on == date(2025, 3, 31) and head.loss_reason == "75歳到達"
    assert "変更しなかった行: 1" in out


def test_dependent_loss_earlier_than_member_loss_is_kept(tmp_path):
    run(
        write_csv(
            tmp_path,
            MEMBERS_HEADER,
            [
                member_row(資格喪失年月日="2026-03-31"),
                dependent_row(資格喪失年月日="2025-12-31"),
                dependent_row(枝番="02", 氏名カナ="ヤマダ ジロウ"),
            ],
        )
    )
    lost = dict(Person.objects.values_list("edaban", "lost_on"))
    assert lost == {"00": date(2026, 3, 31), "01": date(2025, 12, 31), "02": date(2026, 3, 31)}
    reasons = dict(Person.objects.values_list("edaban", "loss_reason"))
    assert reasons == {"00": "その他", "01": "被扶養者でなくなった", "02": "被保険者の資格喪失"}


def test_loss_on_the_75th_birthday_is_recorded_as_75_reason(tmp_path):
    run(
        write_csv(
            tmp_path,
            MEMBERS_HEADER,
            [member_row(生年月日="1950-07-01", 資格喪失年月日="2025-07-01")],
        )
    )
    assert Person.objects.get().loss_reason == "75歳到達"


# --- refusals: each names row and column and stores nothing --------------------------------------


@pytest.fixture
def existing(db):
    """A stored household, to show that a refused file does not apply its update either."""
    make_employer()
    head = make_member(bango="1001", address="元の住所")
    return head


def assert_nothing_stored(before, existing):
    assert counts() == before
    existing.refresh_from_db()
    assert existing.address == "元の住所"
    assert existing.history.count() == 1


def good_update():
    # a valid row updating the stored person: it must not be applied when another row is refused
    return member_row(番号="1001", 住所="新しい住所")


REFUSALS = [
    ("impossible date", {"生年月日": "1970-02-30"}, 3, "生年月日", "存在しない日付"),
    ("bad date format", {"資格取得年月日": "2000.04.01"}, 3, "資格取得年月日", "YYYY-MM-DD"),
    ("unknown relationship", {"本人家族区分": "配偶者"}, 3, "本人家族区分", "指定できません"),
    ("unknown insured type", {"被保険者種別": "特例"}, 3, "被保険者種別", "指定できません"),
    ("unknown sex", {"性別": "M"}, 3, "性別", "指定できません"),
    ("bad postal code", {"郵便番号": "12-34567"}, 3, "郵便番号", "7桁"),
    ("edaban one digit", {"枝番": "0"}, 3, "枝番", "2桁"),
    ("missing name", {"氏名": ""}, 3, "氏名", "必須"),
    ("missing birth date", {"生年月日": ""}, 3, "生年月日", "必須"),
    ("kana with kanji", {"氏名カナ": "山田タロウ"}, 3, "氏名カナ", "カタカナ"),
    (
        "voluntary with employer",
        {"被保険者種別": "任意継続", "任意継続満了日": "2026-03-31"},
        3,
        "事業所記号",
        "空欄",
    ),
    (
        "voluntary without end date",
        {"被保険者種別": "任意継続", "事業所記号": "", "事業所名称": ""},
        3,
        "任意継続満了日",
        "任意継続満了日が必要",
    ),
    ("general without employer", {"事業所記号": ""}, 3, "事業所記号", "必須"),
    (
        "loss before acquisition",
        {"資格喪失年月日": "1999-03-31"},
        3,
        "資格喪失年月日",
        "資格取得年月日より前",
    ),
    ("bad consideration flag", {"要配慮者": "はい"}, 3, "要配慮者", "1または空欄"),
    ("bad remuneration", {"標準報酬月額": "30万"}, 3, "標準報酬月額", "整数"),
]


@pytest.mark.parametrize(
    ("change", "row", "column", "text"),
    [r[1:] for r in REFUSALS],
    ids=[r[0] for r in REFUSALS],
)
def test_invalid_cell_refuses_the_whole_file(tmp_path, existing, change, row, column, text):
    before = counts()
    path = write_csv(tmp_path, MEMBERS_HEADER, [good_update(), member_row(番号="3001", **change)])
    message = refused(path)
    assert f"{row}行目 「{column}」" in message and text in message
    assert_nothing_stored(before, existing)


def test_insured_type_on_a_dependent_row_is_refused(tmp_path, existing):
    before = counts()
    path = write_csv(
        tmp_path, MEMBERS_HEADER, [good_update(), dependent_row(番号="1001", 被保険者種別="一般")]
    )
    message = refused(path)
    assert "3行目 「被保険者種別」" in message
    assert_nothing_stored(before, existing)


def test_employer_on_a_dependent_row_is_refused(tmp_path, existing):
    before = counts()
    path = write_csv(
        tmp_path, MEMBERS_HEADER, [good_update(), dependent_row(番号="1001", 事業所記号="E01")]
    )
    message = refused(path)
    assert "3行目 「事業所記号」" in message
    assert_nothing_stored(before, existing)


def test_dependent_whose_member_is_nowhere_is_refused(tmp_path, existing):
    before = counts()
    path = write_csv(tmp_path, MEMBERS_HEADER, [good_update(), dependent_row(番号="9999")])
    message = refused(path)
    assert "3行目 「記号・番号」" in message and "本人がファイルにも" in message
    assert_nothing_stored(before, existing)


def test_dependent_whose_member_is_stored_is_accepted(tmp_path, existing):
    run(write_csv(tmp_path, MEMBERS_HEADER, [dependent_row(番号="1001")]))
    dep = Person.objects.get(edaban="01")
    assert dep.member == existing


def test_duplicate_key_in_the_file_is_refused(tmp_path, existing):
    before = counts()
    path = write_csv(
        tmp_path,
        MEMBERS_HEADER,
        [good_update(), dependent_row(番号="1001"), dependent_row(番号="1001", 氏名="別人")],
    )
    message = refused(path)
    assert "4行目 「記号・番号・枝番」" in message and "3行目と重複" in message
    assert_nothing_stored(before, existing)


def test_header_that_is_not_the_contract_is_refused(tmp_path, existing):
    before = counts()
    header = MEMBERS_HEADER.replace("氏名カナ", "フリガナ")
    path = tmp_path / "h.csv"
    path.write_text(header + "\r\n" + ",".join(member_row().values()) + "\r\n", encoding="utf-8")
    message = refused(path)
    assert "1行目" in message and "ヘッダー" in message and "フリガナ" in message
    assert_nothing_stored(before, existing)


@pytest.mark.parametrize("column", ["個人番号", "マイナンバー", "my_number", "KOJIN_NO"])
def test_my_number_column_is_refused(tmp_path, existing, column):
    before = counts()
    path = tmp_path / "mn.csv"
    path.write_text(
        MEMBERS_HEADER
        + f",{column}\r\n"
        + ",".join(member_row(番号="1001", 住所="新しい住所").values())
        + ",\r\n",
        encoding="utf-8",
    )
    message = refused(path)
    assert "1行目 「19列目」" in message and "個人番号" in message
    assert_nothing_stored(before, existing)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("番号", VALID_MY_NUMBER),
        ("住所", "1234 5678 9018"),
        ("標準報酬月額", "1234-5678-9018"),
        ("住所", "東京都千代田区 ＭＮ１２３４５６７８９０１８"),
    ],
)
def test_my_number_value_is_refused_and_never_repeated(tmp_path, existing, column, value):
    before = counts()
    path = write_csv(
        tmp_path, MEMBERS_HEADER, [good_update(), member_row(**{"番号": "3001", column: value})]
    )
    message = refused(path)
    assert f"3行目 「{column}」" in message and "個人番号" in message
    digits = "".join(ch for ch in value if ch.isdigit())
    assert value not in message and VALID_MY_NUMBER not in message
    assert "123456789018" not in message.replace(" ", "").replace("-", "")
    assert digits[:4] + digits[4:8] not in message.replace(" ", "")
    assert_nothing_stored(before, existing)
    assert not Person.objects.filter(address__contains="9018").exists()
    assert not AuditEvent.objects.filter(detail__icontains="9018").exists()


def test_twelve_digits_failing_the_check_digit_are_not_a_my_number(tmp_path):
    run(write_csv(tmp_path, MEMBERS_HEADER, [member_row(番号="123456789012")]))
    assert Person.objects.get().bango == "123456789012"


def test_all_errors_are_reported_with_a_cap(tmp_path):
    rows = [member_row(番号=str(4000 + i), 性別="?") for i in range(130)]
    message = refused(write_csv(tmp_path, MEMBERS_HEADER, rows))
    assert "130件のエラー" in message
    assert "2行目 「性別」" in message and "101行目 「性別」" in message
    assert "102行目" not in message
    assert "ほか30件" in message


def test_missing_file_is_a_clear_error(tmp_path):
    message = refused(tmp_path / "nope.csv")
    assert "ファイルを読み込めません" in message


def test_unknown_acting_user_is_refused(tmp_path):
    message = refused(write_csv(tmp_path, MEMBERS_HEADER, [member_row()]), "--by", "nobody")
    assert "nobody" in message
    assert Person.objects.count() == 0


def test_outsider_cannot_import(tmp_path, outsider):
    message = refused(
        write_csv(tmp_path, MEMBERS_HEADER, [member_row()]), "--by", outsider.username
    )
    assert "権限" in message
    assert Person.objects.count() == 0


def test_relationship_of_a_stored_person_cannot_change(tmp_path, existing):
    before = counts()
    path = write_csv(tmp_path, MEMBERS_HEADER, [dependent_row(番号="1001", 枝番="00")])
    message = refused(path)
    assert "2行目 「本人家族区分」" in message
    assert_nothing_stored(before, existing)


def test_two_members_in_one_household_are_refused(tmp_path):
    path = write_csv(tmp_path, MEMBERS_HEADER, [member_row(), member_row(枝番="01")])
    message = refused(path)
    assert "3行目 「枝番」" in message
    assert counts() == (0, 0, 0)


def test_conflicting_employer_names_are_refused(tmp_path):
    path = write_csv(
        tmp_path, MEMBERS_HEADER, [member_row(), member_row(番号="1002", 事業所名称="別の名前")]
    )
    message = refused(path)
    assert "3行目 「事業所名称」" in message
    assert counts() == (0, 0, 0)


def test_wrong_number_of_columns_is_refused(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text(MEMBERS_HEADER + "\r\n10,1001,00\r\n", encoding="utf-8")
    message = refused(path)
    assert "2行目" in message and "列数" in message


def test_row_numbers_count_the_header_as_row_1_and_blank_lines(tmp_path):
    path = tmp_path / "b.csv"
    good = ",".join(member_row().values())
    bad = ",".join(member_row(番号="2", 性別="X").values())
    path.write_text(MEMBERS_HEADER + "\r\n" + good + "\r\n\r\n" + bad + "\r\n", encoding="utf-8")
    message = refused(path)
    assert "4行目 「性別」" in message
