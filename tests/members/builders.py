"""CSV and registry builders for the members tests (no factory library)."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import date
from pathlib import Path

from members.models import Employer, Person

# Exactly the header lines of rules.md ("File formats"), as text: the contract under test.
MEMBERS_HEADER = (
    "事業所記号,事業所名称,記号,番号,枝番,本人家族区分,被保険者種別,氏名,氏名カナ,生年月日,性別,"
    "郵便番号,住所,資格取得年月日,資格喪失年月日,任意継続満了日,標準報酬月額,要配慮者"
)
STATUS_HEADER = "記号,番号,枝番,登録状況,電子証明書有効期限"

MEMBER_FIELDS = MEMBERS_HEADER.split(",")
STATUS_FIELDS = STATUS_HEADER.split(",")

# A 12-digit number that passes the My Number check digit (python-stdnum jp.in_).
VALID_MY_NUMBER = "123456789018"


def member_row(**overrides: str) -> dict[str, str]:
    row = {
        "事業所記号": "E01",
        "事業所名称": "丸の内商事株式会社",
        "記号": "10",
        "番号": "1001",
        "枝番": "00",
        "本人家族区分": "本人",
        "被保険者種別": "一般",
        "氏名": "山田 太郎",
        "氏名カナ": "ヤマダ タロウ",
        "生年月日": "1970-05-10",
        "性別": "男",
        "郵便番号": "100-0005",
        "住所": "東京都千代田区丸の内1-1-1",
        "資格取得年月日": "2000-04-01",
        "資格喪失年月日": "",
        "任意継続満了日": "",
        "標準報酬月額": "300000",
        "要配慮者": "",
    }
    row.update(overrides)
    return row


def dependent_row(**overrides: str) -> dict[str, str]:
    row = member_row(
        事業所記号="",
        事業所名称="",
        枝番="01",
        本人家族区分="家族",
        被保険者種別="",
        氏名="山田 花子",
        氏名カナ="ヤマダ ハナコ",
        生年月日="1972-08-20",
        性別="女",
        標準報酬月額="",
    )
    row.update(overrides)
    return row


def status_row(**overrides: str) -> dict[str, str]:
    row = {
        "記号": "10",
        "番号": "1001",
        "枝番": "00",
        "登録状況": "未登録",
        "電子証明書有効期限": "",
    }
    row.update(overrides)
    return row


def csv_text(header: str, rows: list[dict[str, str]] | list[list[str]]) -> str:
    out = io.StringIO()
    out.write(header + "\r\n")
    writer = csv.writer(out, lineterminator="\r\n")
    fields = header.split(",")
    for row in rows:
        writer.writerow([row[f] for f in fields] if isinstance(row, dict) else row)
    return out.getvalue()


def write_csv(
    path: Path, header: str, rows, *, encoding: str = "utf-8", name: str = "import.csv"
) -> Path:
    target = path / name
    target.write_bytes(csv_text(header, rows).encode(encoding))
    return target


_seq = itertools.count(5000)


def make_employer(code: str = "E01", name: str = "丸の内商事株式会社") -> Employer:
    return Employer.objects.get_or_create(code=code, defaults={"name": name})[0]


def make_member(**fields) -> Person:
    values = {
        "kigo": "10",
        "bango": str(next(_seq)),
        "edaban": "00",
        "relationship": "本人",
        "insured_type": "一般",
        "name": "佐藤 一郎",
        "name_kana": "サトウ\u3000イチロウ",
        "birth_date": date(1970, 1, 15),
        "sex": "男",
        "acquired_on": date(2000, 4, 1),
        "standard_remuneration": 300_000,
    }
    values.update(fields)
    if values["insured_type"] == "一般" and "employer" not in values:
        values["employer"] = make_employer()
    if values["insured_type"] == "任意継続":
        values.setdefault("voluntary_until", date(2027, 3, 31))
    return Person.objects.create(**values)


def make_dependent(member: Person, **fields) -> Person:
    values = {
        "kigo": member.kigo,
        "bango": member.bango,
        "edaban": "01",
        "relationship": "家族",
        "member": member,
        "insured_type": "",
        "name": "佐藤 花子",
        "name_kana": "サトウ\u3000ハナコ",
        "birth_date": date(1972, 3, 3),
        "sex": "女",
        "acquired_on": date(2000, 4, 1),
    }
    values.update(fields)
    return Person.objects.create(**values)
