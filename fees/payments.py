"""The bank-transfer file (振込データ) for the reissue fee, read without the database.

Format (rules.md "File formats" conventions): a CSV with a header row holding exactly these columns, in
any order —

    請求書番号,入金額,入金日

- 請求書番号: as printed on the 請求書, e.g. 2026-000001 (full-width digits are accepted);
- 入金額: whole yen; "1,000" and "1000円" are accepted;
- 入金日: YYYY-MM-DD (YYYY/MM/DD accepted), not in the future.

Encoding UTF-8, UTF-8 with BOM or CP932 (detected). Blank lines are skipped.

A long file reports its reading as it goes: `PaymentFile(progress=…)`, or a `ReportedSource` given as
the source to fees.services.payments_import (which hands its source to PaymentFile) — the command's
progress bar and the admin's background job (`payments_import_job_run`) both read it that way.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import BinaryIO

from django.core.exceptions import ValidationError

from core.text_safety import codepoint, contains_my_number, forbidden_control

COLUMNS = ("請求書番号", "入金額", "入金日")
NUMBER_RE = re.compile(r"^\d{4}-\d{6}$")
# far above any fee; a longer run of digits is a mistyped cell, and would not fit the stored amount
MAX_AMOUNT = 99_999_999
_DATE_RE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")


@dataclass(frozen=True)
class PaymentRow:
    row: int  # line number in the file (the header is line 1)
    number: str
    amount: int
    paid_on: date


def problem_text(row: int | None, column: str | None, message: str) -> str:
    """How a problem is shown: "12行目 入金額: …", "1行目: …", or the message alone."""
    where = f"{row}行目" if row is not None else ""
    if column:
        where = f"{where} {column}".strip()
    return f"{where}: {message}" if where else message


class PaymentFileError(ValidationError):
    """The file as a whole is refused; `problems` names each row and column (as text), `errors`
    holds the same problems as (row, column, message) — row None for the file as a whole — and
    `total` counts every problem, also those not kept."""

    def __init__(
        self,
        problems: list[str],
        *,
        errors: list[tuple[int | None, str | None, str]] | None = None,
        total: int | None = None,
    ):
        self.problems = problems
        self.errors = errors if errors is not None else [(None, None, p) for p in problems]
        self.total = max(total or 0, len(self.errors))
        super().__init__(problems)


Progress = Callable[[str, float], None]
READING = "読込・検証"  # the progress phase while the file is read and checked
MATCHING = "照合・反映"  # after the last row: the rows matched against the invoices
_REPORT_EVERY = 5000  # rows


@dataclass(frozen=True)
class ReportedSource:
    """A binary file and who is told how far its reading has got."""

    file: BinaryIO
    progress: Progress


_UNDECODABLE = "文字コードを判別できません(UTF-8 または Shift_JIS(CP932) で保存してください)"
NO_ROWS = "入金の行がありません"
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
            raise _refusal(
                [(reader.line_num, None, "値が長すぎるか壊れたセルがあります(読み込めません)")]
            ) from None


def _refusal(errors: list[tuple[int | None, str | None, str]]) -> PaymentFileError:
    return PaymentFileError([problem_text(*e) for e in errors], errors=errors)


class PaymentFile:
    """A payment file read as it is consumed (flat memory whatever its size): `rows()` yields the
    readable rows; the problems found meanwhile are in `problems` (the first MAX_KEPT_PROBLEMS,
    `problem_count` counts them all) and `error()` is the refusal naming them. `sha256` is the
    file's digest once `rows()` is exhausted. `source` is bytes, a path, a seekable binary file or
    a ReportedSource; `progress(phase, fraction)` is told how much of the file has been read.
    """

    def __init__(self, source, *, today: date, progress: Progress | None = None):
        from members.importing import ImportRefused, detect_encoding

        if isinstance(source, ReportedSource):
            progress = progress or source.progress
            source = source.file
        self.today = today
        self.progress = progress
        self.problems: list[str] = []
        self.errors: list[tuple[int | None, str | None, str]] = []
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
        self.size = fh.tell()
        fh.seek(0)
        self.sha256 = digest.hexdigest()
        self._text = io.TextIOWrapper(fh, encoding=encoding, newline="")

    def problem(self, row: int | None, column: str | None, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_KEPT_PROBLEMS:
            self.problems.append(problem_text(row, column, message))
            self.errors.append((row, column, message))

    def error(self) -> PaymentFileError:
        problems = list(self.problems)
        if self.problem_count > len(problems):
            problems.append(f"ほか{self.problem_count - len(problems)}件の問題があります")
        return PaymentFileError(problems, errors=list(self.errors), total=self.problem_count)

    def fraction(self) -> float:
        """How much of the file has been read (by bytes)."""
        try:
            return min(1.0, self._fh.tell() / self.size) if self.size else 1.0
        except (OSError, ValueError):
            return 1.0

    def report(self, phase: str, fraction: float) -> None:
        """Tell whoever follows this file's import how far it has got (also after the reading)."""
        if self.progress is not None:
            self.progress(phase, fraction)

    def rows(self) -> Iterator[PaymentRow]:
        reader = _records(csv.reader(self._text))
        self.report(READING, 0.0)
        try:
            header = [unicodedata.normalize("NFKC", h).strip() for h in next(reader)]
        except StopIteration:
            raise _refusal([(None, None, "ファイルが空です")]) from None
        unknown = [h for h in header if h not in COLUMNS]
        missing = [c for c in COLUMNS if c not in header]
        duplicated = sorted({h for h in header if header.count(h) > 1})
        problems = []
        if unknown:
            problems.append(
                (
                    1,
                    None,
                    f"不明な列があります: {'、'.join(_shown_header(h) for h in unknown)}"
                    f"(使える列: {','.join(COLUMNS)})",
                )
            )
        if missing:
            problems.append((1, None, f"必要な列がありません: {'、'.join(missing)}"))
        if duplicated:
            problems.append((1, None, f"列が重複しています: {'、'.join(duplicated)}"))
        if problems:
            raise _refusal(problems)
        index = {name: header.index(name) for name in COLUMNS}
        for line_no, raw in enumerate(reader, start=2):
            if line_no % _REPORT_EVERY == 0:
                self.report(READING, self.fraction())
            row = self._row(line_no, raw, header, index)
            if row is not None:
                yield row
        self.report(READING, 1.0)
        if not self.problem_count:
            self.report(MATCHING, 0.0)

    def _row(self, line_no: int, raw: list[str], header, index) -> PaymentRow | None:
        cells = [unicodedata.normalize("NFKC", c).strip() for c in raw]
        if not any(cells):
            return None
        if len(cells) != len(header):
            self.problem(
                line_no, None, f"列の数が見出し({len(header)}列)と違います({len(cells)}列)"
            )
            return None
        # every cell is one of COLUMNS (an unknown column refuses the file): each is checked once
        my_numbers = [name for name, i in index.items() if _is_my_number(cells[i])]
        for name in my_numbers:
            self.problem(line_no, name, "個人番号と思われる値があります(取り込めません)")
        controls = [(name, forbidden_control(cells[i])) for name, i in index.items()]
        for name, bad in controls:
            if bad is not None:
                self.problem(line_no, name, f"使用できない制御文字({codepoint(bad)})があります")
        if my_numbers or any(bad for _, bad in controls):
            return None
        number, amount_text, date_text = (cells[index[c]] for c in COLUMNS)
        amount = _amount(amount_text)
        paid_on = _date(date_text)
        before = self.problem_count
        if not number:
            self.problem(line_no, "請求書番号", "空欄です")
        elif not NUMBER_RE.match(number):
            self.problem(line_no, "請求書番号", "形式が違います(例: 2026-000001)")
        if amount is None:
            self.problem(line_no, "入金額", "円単位の整数で入力してください")
        elif amount > MAX_AMOUNT:
            self.problem(line_no, "入金額", f"{MAX_AMOUNT:,}円を超える入金額は取り込めません")
        if paid_on is None:
            self.problem(line_no, "入金日", "日付(YYYY-MM-DD)ではありません")
        elif paid_on > self.today:
            self.problem(line_no, "入金日", "未来の日付です")
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
        raise PaymentFileError([NO_ROWS])
    return rows


# --- the admin's background import ---------------------------------------------------------------


def payments_summary_text(imp) -> str:
    """The clerk's report of an applied file (a PaymentImport): the admin's message and job page."""
    return (
        f"振込データの取込が完了しました: {imp.row_count}行 / 入金反映 {imp.applied_count}件 / "
        f"不一致(未反映) {imp.rejected_count}件"
    )


def payments_import_job_run(*, job_id: int):
    """Run a queued 振込データ job (fees.tasks): the job's life is members.import_jobs' (claimed
    once, progress on the job page, the upload deleted), the import fees.services.payments_import's,
    in one transaction — a refused file is reported by row and column and nothing is applied."""
    from members.import_jobs import import_job_execute

    return import_job_execute(job_id=job_id, run=_run_payments_job)


def _run_payments_job(job, fh, progress):
    from members.import_jobs import ImportKind, JobOutcome
    from members.importing import ImportRefused, RowError

    from .services import payments_import

    if job.kind != ImportKind.PAYMENTS:
        raise ValueError(f"not a payments file: {job.kind}")
    try:
        imp = payments_import(
            source=ReportedSource(fh, progress),
            source_name=job.source_name,
            acting_user=job.requested_by,
        )
    except PaymentFileError as exc:
        raise ImportRefused([RowError(*e) for e in exc.errors], total=exc.total) from None
    return JobOutcome(payments_summary_text(imp), result_id=imp.pk)
