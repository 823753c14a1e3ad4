"""The bank-transfer file (振込データ) for the reissue fee, read without the database.

Format (rules.md "File formats" conventions): a CSV with a header row holding exactly these columns, in
any order —

    請求書番号,入金額,入金日

- 請求書番号: as printed on the 請求書, e.g. 2026-000001 (full-width digits are accepted);
- 入金額: whole yen; "1,000" and "1000円" are accepted;
- 入金日: YYYY-MM-DD (YYYY/MM/DD accepted), not in the future.

Encoding UTF-8, UTF-8 with BOM or CP932 (detected). Blank lines are skipped.

A file that cannot be read as a whole — wrong or unknown columns, an unreadable cell, a value that is a
My Number (個人番号, never stored) — is refused as a whole with every problem named by row and column
(`PaymentFileError`), and nothing is applied. Matching the readable rows against invoices is
fees.services.payments_import's job.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError

from core.text_safety import codepoint, contains_my_number, forbidden_control

COLUMNS = ("請求書番号", "入金額", "入金日")
NUMBER_RE = re.compile(r"^\d{4}-\d{6}$")
_DATE_RE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")


@dataclass(frozen=True)
class PaymentRow:
    row: int  # line number in the file (the header is line 1)
    number: str
    amount: int
    paid_on: date


class PaymentFileError(ValidationError):
    """The file as a whole is refused; `problems` names each row and column."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(problems)


def decode(content: bytes) -> str:
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise PaymentFileError(
        ["文字コードを判別できません(UTF-8 または Shift_JIS(CP932) で保存してください)"]
    )


def _amount(text: str) -> int | None:
    t = text.replace(",", "").removesuffix("円").strip()
    if not t.isascii() or not t.isdigit():
        return None
    return int(t)


def _date(text: str) -> date | None:
    m = _DATE_RE.match(text)
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def _is_my_number(text: str) -> bool:
    return contains_my_number(text)  # core.text_safety: the one detector


def _shown_header(name: str) -> str:
    # a header holding a My Number or a control character is named by position, never echoed
    if contains_my_number(name) or forbidden_control(name) is not None:
        return "(表示しません)"
    return name


def _rows(reader):
    """The reader's rows; a cell too large for the csv module (128 KB) is refused by its line."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error:
            raise PaymentFileError(
                [f"{reader.line_num}行目: 値が長すぎるか壊れたセルがあります(読み込めません)"]
            ) from None


def parse(content: bytes, *, today: date) -> list[PaymentRow]:
    """The rows of a payment file, or PaymentFileError naming every problem (row and column; a cell
    holding a My Number is named but never echoed)."""
    text = decode(content)
    reader = csv.reader(io.StringIO(text))
    lines = _rows(reader)
    try:
        header = [unicodedata.normalize("NFKC", h).strip() for h in next(lines)]
    except StopIteration:
        raise PaymentFileError(["ファイルが空です"]) from None
    problems: list[str] = []
    unknown = [h for h in header if h not in COLUMNS]
    missing = [c for c in COLUMNS if c not in header]
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if unknown:
        problems.append(
            f"1行目: 不明な列があります: {'、'.join(_shown_header(h) for h in unknown)}"
            f"(使える列: {','.join(COLUMNS)})"
        )
    if missing:
        problems.append(f"1行目: 必要な列がありません: {'、'.join(missing)}")
    if duplicated:
        problems.append(f"1行目: 列が重複しています: {'、'.join(duplicated)}")
    if problems:
        raise PaymentFileError(problems)
    index = {name: header.index(name) for name in COLUMNS}
    rows: list[PaymentRow] = []
    for line_no, raw in enumerate(lines, start=2):
        cells = [unicodedata.normalize("NFKC", c).strip() for c in raw]
        if not any(cells):
            continue
        if len(cells) != len(header):
            problems.append(
                f"{line_no}行目: 列の数が見出し({len(header)}列)と違います({len(cells)}列)"
            )
            continue
        for name, i in index.items():
            if _is_my_number(cells[i]):
                problems.append(
                    f"{line_no}行目 {name}: 個人番号と思われる値があります(取り込めません)"
                )
        controls = [(name, forbidden_control(cells[i])) for name, i in index.items()]
        for name, bad in controls:
            if bad is not None:
                problems.append(
                    f"{line_no}行目 {name}: 使用できない制御文字({codepoint(bad)})があります"
                )
        if any(_is_my_number(c) for c in cells) or any(bad for _, bad in controls):
            continue
        number, amount_text, date_text = (cells[index[c]] for c in COLUMNS)
        amount = _amount(amount_text)
        paid_on = _date(date_text)
        row_problems = []
        if not number:
            row_problems.append(f"{line_no}行目 請求書番号: 空欄です")
        elif not NUMBER_RE.match(number):
            row_problems.append(f"{line_no}行目 請求書番号: 形式が違います(例: 2026-000001)")
        if amount is None:
            row_problems.append(f"{line_no}行目 入金額: 円単位の整数で入力してください")
        if paid_on is None:
            row_problems.append(f"{line_no}行目 入金日: 日付(YYYY-MM-DD)ではありません")
        elif paid_on > today:
            row_problems.append(f"{line_no}行目 入金日: 未来の日付です")
        if row_problems:
            problems += row_problems
            continue
        rows.append(PaymentRow(row=line_no, number=number, amount=amount, paid_on=paid_on))
    if problems:
        raise PaymentFileError(problems)
    if not rows:
        raise PaymentFileError(["入金の行がありません"])
    return rows
