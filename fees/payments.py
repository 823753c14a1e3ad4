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
import hashlib
import io
import os
import re
import unicodedata
from collections.abc import Iterator
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


_UNDECODABLE = "文字コードを判別できません(UTF-8 または Shift_JIS(CP932) で保存してください)"
MAX_KEPT_PROBLEMS = 1000  # a file of a million bad rows: the first problems listed, all counted


def decode(content: bytes) -> str:
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise PaymentFileError([_UNDECODABLE])


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


def _records(reader):
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


class PaymentFile:
    """A payment file read as it is consumed (flat memory whatever its size): `rows()` yields the
    readable rows; the problems found meanwhile are in `problems` (the first MAX_KEPT_PROBLEMS,
    `problem_count` counts them all) and `error()` is the refusal naming them. `sha256` is the
    file's digest once `rows()` is exhausted. `source` is bytes, a path or a seekable binary file.
    """

    def __init__(self, source, *, today: date):
        from members.importing import ImportRefused, detect_encoding

        self.today = today
        self.problems: list[str] = []
        self.problem_count = 0
        self._owned = None
        if isinstance(source, bytes | bytearray):
            fh = io.BytesIO(source)
        elif isinstance(source, str | os.PathLike):
            fh = self._owned = open(source, "rb")  # noqa: SIM115 - closed by close()
        else:
            fh = source
        self._fh = fh
        try:
            encoding = detect_encoding(fh)
        except ImportRefused:
            self.close()
            raise PaymentFileError([_UNDECODABLE]) from None
        digest = hashlib.sha256()
        while block := fh.read(1 << 18):
            digest.update(block)
        fh.seek(0)
        self.sha256 = digest.hexdigest()
        self._text = io.TextIOWrapper(fh, encoding=encoding, newline="")

    def problem(self, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_KEPT_PROBLEMS:
            self.problems.append(message)

    def error(self) -> PaymentFileError:
        problems = list(self.problems)
        if self.problem_count > len(problems):
            problems.append(f"ほか{self.problem_count - len(problems)}件の問題があります")
        return PaymentFileError(problems)

    def rows(self) -> Iterator[PaymentRow]:
        reader = _records(csv.reader(self._text))
        try:
            header = [unicodedata.normalize("NFKC", h).strip() for h in next(reader)]
        except StopIteration:
            raise PaymentFileError(["ファイルが空です"]) from None
        unknown = [h for h in header if h not in COLUMNS]
        missing = [c for c in COLUMNS if c not in header]
        duplicated = sorted({h for h in header if header.count(h) > 1})
        problems = []
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
        for line_no, raw in enumerate(reader, start=2):
            row = self._row(line_no, raw, header, index)
            if row is not None:
                yield row

    def _row(self, line_no: int, raw: list[str], header, index) -> PaymentRow | None:
        cells = [unicodedata.normalize("NFKC", c).strip() for c in raw]
        if not any(cells):
            return None
        if len(cells) != len(header):
            self.problem(
                f"{line_no}行目: 列の数が見出し({len(header)}列)と違います({len(cells)}列)"
            )
            return None
        for name, i in index.items():
            if _is_my_number(cells[i]):
                self.problem(
                    f"{line_no}行目 {name}: 個人番号と思われる値があります(取り込めません)"
                )
        controls = [(name, forbidden_control(cells[i])) for name, i in index.items()]
        for name, bad in controls:
            if bad is not None:
                self.problem(
                    f"{line_no}行目 {name}: 使用できない制御文字({codepoint(bad)})があります"
                )
        if any(_is_my_number(c) for c in cells) or any(bad for _, bad in controls):
            return None
        number, amount_text, date_text = (cells[index[c]] for c in COLUMNS)
        amount = _amount(amount_text)
        paid_on = _date(date_text)
        before = self.problem_count
        if not number:
            self.problem(f"{line_no}行目 請求書番号: 空欄です")
        elif not NUMBER_RE.match(number):
            self.problem(f"{line_no}行目 請求書番号: 形式が違います(例: 2026-000001)")
        if amount is None:
            self.problem(f"{line_no}行目 入金額: 円単位の整数で入力してください")
        if paid_on is None:
            self.problem(f"{line_no}行目 入金日: 日付(YYYY-MM-DD)ではありません")
        elif paid_on > self.today:
            self.problem(f"{line_no}行目 入金日: 未来の日付です")
        if self.problem_count > before:
            return None
        return PaymentRow(row=line_no, number=number, amount=amount, paid_on=paid_on)

    def close(self) -> None:
        try:
            self._text.detach()
        except (AttributeError, ValueError):
            pass
        if self._owned is not None:
            self._owned.close()


def parse(content: bytes, *, today: date) -> list[PaymentRow]:
    """The rows of a payment file, or PaymentFileError naming every problem (row and column; a cell
    holding a My Number is named but never echoed)."""
    file = PaymentFile(content, today=today)
    try:
        rows = list(file.rows())
    finally:
        file.close()
    if file.problem_count:
        raise file.error()
    if not rows:
        raise PaymentFileError(["入金の行がありません"])
    return rows
