"""Reading and validating the two registry imports (rules.md "Members import", "Registration-status
import"): the file readers and the row validators.

This is the ONE validation definition behind every entry point: the management commands
(`import_members`, `import_registration_status`), the admin's django-import-export resources
(members/resources.py) and the admin's background import jobs (members/import_jobs.py) all call
members.register_import, which streams the file through `CsvStream`, checks each row with the
validators below and the rules across rows in SQL over its staging table, and writes set-wise.
django-import-export's row-by-row machinery (one instance load and save per row) is not used for the
writes: the files reach the whole register (1,200,000 rows).

A file is imported whole or not at all: every problem becomes an `RowError` naming the row (the
file's line number, the header being row 1) and the column; every problem of the file is counted
(the first MAX_KEPT_ERRORS kept for the report) and nothing is stored when there is any.

個人番号 (My Number) is never stored (番号法 restricts who may hold it): a column named like one, or any
cell holding a 12-digit number that passes the My Number check digit, refuses the whole file, and the
message never repeats the value.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import BinaryIO

import jaconv

from core.text_safety import codepoint, contains_my_number, forbidden_control

from .dates import late_elderly_start
from .models import (
    InsuredType,
    LossReason,
    Person,
    RegistrationStatusValue,
    Relationship,
    Sex,
)

MAX_REPORTED_ERRORS = 100

# Choice lists, computed once (the enum properties rebuild their lists on every access).
_RELATIONSHIPS = tuple(Relationship.values)
_INSURED_TYPES = tuple(InsuredType.values)
_SEXES = tuple(Sex.values)
_STATUSES = tuple(RegistrationStatusValue.values)

Key = tuple[str, str, str]  # (記号, 番号, 枝番)


# ---------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class RowError:
    """One refusal: row is the file's line number (header = 1), None for the file as a whole."""

    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"{self.row}行目")
        if self.column:
            where.append(f"「{self.column}」")
        return f"{' '.join(where)}: {self.message}" if where else self.message


class ImportRefused(Exception):
    """The file is refused as a whole; `errors` lists the problems found (the first
    `MAX_KEPT_ERRORS` of a large file), `total` counts them all."""

    def __init__(self, errors: Sequence[RowError], *, total: int | None = None):
        self.errors = list(errors)
        self.total = max(total or 0, len(self.errors))
        super().__init__(self.summary())

    def summary(self, limit: int = MAX_REPORTED_ERRORS) -> str:
        lines = [f"取込を中止しました（{self.total}件のエラー、何も保存していません）"]
        lines += [str(e) for e in self.errors[:limit]]
        if self.total > limit:
            lines.append(f"ほか{self.total - limit}件のエラーがあります")
        return "\n".join(lines)


# A file of a million bad rows must not need a million messages in memory: the first ones are kept
# (in the order they are reported), the rest only counted.
MAX_KEPT_ERRORS = 1000


class ErrorCollector:
    """The problems of one file, in report order: every one counted, the first `keep` kept."""

    def __init__(self, keep: int = MAX_KEPT_ERRORS):
        self.keep = keep
        self.kept: list[RowError] = []
        self.total = 0

    def add(self, error: RowError) -> None:
        self.total += 1
        if len(self.kept) < self.keep:
            self.kept.append(error)

    def extend(self, errors: Iterable[RowError]) -> None:
        for error in errors:
            self.add(error)

    def __bool__(self) -> bool:
        return self.total > 0

    def refusal(self) -> ImportRefused:
        return ImportRefused(self.kept, total=self.total)


# ---------------------------------------------------------------------------------------------
# Decoding and parsing


def decode_csv(data: bytes) -> str:
    """UTF-8 (with or without BOM) or CP932 (Excel on Japanese Windows), detected.

    UTF-8 is tried first and strictly: Japanese text in CP932 is practically never valid UTF-8, while
    the reverse does happen, so the order matters.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932")
    except UnicodeDecodeError:
        raise ImportRefused(
            [
                RowError(
                    None,
                    None,
                    "文字コードを判別できません。UTF-8（BOM付き可）またはShift_JIS（CP932）で保存してください",
                )
            ]
        ) from None


@dataclass
class ParsedCsv:
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (line number, cells), blank lines dropped


def parse_csv(text: str) -> ParsedCsv:
    """Split into rows, keeping each record's starting line number (header = line 1)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            records.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ImportRefused(
            [RowError(start, None, f"CSVとして読み取れません（{exc.__class__.__name__}）")]
        ) from None
    if not records:
        raise ImportRefused([RowError(None, None, "ファイルが空です（ヘッダー行がありません）")])
    (_, header), *body = records
    rows = [(line, cells) for line, cells in body if any(c.strip() for c in cells)]
    return ParsedCsv(header=header, rows=rows)


def read_csv_bytes(data: bytes) -> ParsedCsv:
    return parse_csv(decode_csv(data))


_UNDECODABLE = (
    "文字コードを判別できません。UTF-8（BOM付き可）またはShift_JIS（CP932）で保存してください"
)
_BLOCK = 1 << 18  # 256 KiB read at a time while the encoding is checked


def detect_encoding(fh: BinaryIO) -> str:
    """decode_csv's rule (strict UTF-8 first, then CP932) for a file read in blocks: the whole file
    is checked before any row is looked at, so a bad byte near the end still refuses it whole."""
    for encoding in ("utf-8-sig", "cp932"):
        fh.seek(0)
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            while block := fh.read(_BLOCK):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        fh.seek(0)
        return encoding
    raise ImportRefused([RowError(None, None, _UNDECODABLE)])


class CsvStream:
    """A CSV file read as it is consumed (flat memory whatever its size): `header`, then `rows()`
    yields (line number, cells) as parse_csv does — the header is line 1, blank lines are dropped,
    a record that is not CSV refuses the file naming its line.

    `source` is a path, bytes or a seekable binary file; `fraction()` tells how much has been read.
    """

    def __init__(self, source: str | os.PathLike | bytes | BinaryIO):
        self._owned = None
        if isinstance(source, bytes | bytearray):
            fh: BinaryIO = io.BytesIO(source)
        elif isinstance(source, str | os.PathLike):
            fh = self._owned = open(source, "rb")  # noqa: SIM115 - closed by close()
        else:
            fh = source
        self._fh = fh
        fh.seek(0, os.SEEK_END)
        self.size = fh.tell()
        encoding = detect_encoding(fh)
        self._text = io.TextIOWrapper(fh, encoding=encoding, newline="")
        self._reader = csv.reader(self._text)
        try:
            self.header: list[str] = next(self._reader)
        except StopIteration:
            self.close()
            raise ImportRefused(
                [RowError(None, None, "ファイルが空です（ヘッダー行がありません）")]
            ) from None
        except csv.Error as exc:
            self.close()
            raise ImportRefused(
                [RowError(1, None, f"CSVとして読み取れません（{exc.__class__.__name__}）")]
            ) from None

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        reader = self._reader
        start = reader.line_num + 1
        try:
            for cells in reader:
                if any(c.strip() for c in cells):
                    yield start, cells
                start = reader.line_num + 1
        except csv.Error as exc:
            raise ImportRefused(
                [RowError(start, None, f"CSVとして読み取れません（{exc.__class__.__name__}）")]
            ) from None

    def fraction(self) -> float:
        try:
            return min(1.0, self._fh.tell() / self.size) if self.size else 1.0
        except (OSError, ValueError):
            return 1.0

    def close(self) -> None:
        try:
            self._text.detach()  # the caller's file stays open (and is not closed by GC)
        except (AttributeError, ValueError):
            pass
        if self._owned is not None:
            self._owned.close()

    def __enter__(self) -> CsvStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ParsedRows:
    """An already parsed file (the admin's preview holds it) with CsvStream's interface."""

    def __init__(self, parsed: ParsedCsv):
        self.header = parsed.header
        self._rows = parsed.rows
        self.size = len(parsed.rows)
        self._done = 0

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        for done, row in enumerate(self._rows, start=1):
            self._done = done
            yield row

    def fraction(self) -> float:
        return self._done / self.size if self.size else 1.0

    def close(self) -> None:
        pass

    def __enter__(self) -> ParsedRows:
        return self

    def __exit__(self, *exc) -> None:
        pass


# ---------------------------------------------------------------------------------------------
# Cell helpers

_MY_NUMBER_HEADER = re.compile(r"個人番号|マイナンバー|まいなんばー|mynumber|kojin", re.IGNORECASE)
_DATE = re.compile(r"^([0-9]{4})([-/])([0-9]{1,2})\2([0-9]{1,2})$")
_EDABAN = re.compile(r"^[0-9]{2}$")
_POSTAL = re.compile(r"^([0-9]{3})-?([0-9]{4})$")
_YEN = re.compile(r"^[0-9]{1,3}(,[0-9]{3})*$|^[0-9]+$")
# Full-width katakana (ァ..ヺ), the long vowel mark, the katakana middle dot (foreign names) and spaces.
_KANA = re.compile(r"^[\u30a1-\u30fa\u30fb\u30fc\u3000 ]+$")


def header_names_my_number(name: str) -> bool:
    folded = unicodedata.normalize("NFKC", name).replace(" ", "").replace("_", "").replace("-", "")
    return bool(_MY_NUMBER_HEADER.search(folded))


def looks_like_my_number(value: str) -> bool:
    """A My Number anywhere in the cell, in any writing (core.text_safety: the one detector)."""
    return contains_my_number(value)


def _shown(value: str) -> str:
    """A value quoted back in a message, unless it holds a long run of digits (which could be a
    mistyped 個人番号): those are never repeated."""
    if re.search(r"[0-9０-９]{8,}", value) or len(value) > 30:
        return ""
    return f"「{value}」"


def nfkc(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


# Pure conversions of a cell, cached: a register repeats the same dates and kana readings over and
# over (a million rows hold a few tens of thousands of distinct birth dates); bounded, so a file of
# only distinct values costs a fixed few megabytes. A refusal (ValueError) is never cached.
_CELL_CACHE = 1 << 16


@lru_cache(maxsize=_CELL_CACHE)
def parse_date(value: str) -> date:
    """YYYY-MM-DD or YYYY/MM/DD (Excel writes 2025/4/1). Raises ValueError with a Japanese message."""
    m = _DATE.match(nfkc(value))
    if not m:
        raise ValueError(f"日付{_shown(value)}はYYYY-MM-DDまたはYYYY/MM/DDで指定してください")
    try:
        return date(int(m.group(1)), int(m.group(3)), int(m.group(4)))
    except ValueError:
        raise ValueError(f"{_shown(value)}は存在しない日付です") from None


@lru_cache(maxsize=_CELL_CACHE)
def normalize_kana(value: str) -> str:
    """氏名カナ as stored: half-width kana → full-width, hiragana → katakana, spaces full-width.
    Raises ValueError when anything but katakana, spaces and ー remains."""
    text = jaconv.h2z(value.strip(), kana=True, ascii=False, digit=False)
    text = jaconv.hira2kata(text).replace(" ", "\u3000")
    if not text:
        raise ValueError("氏名カナを入力してください")
    if not _KANA.match(text):
        raise ValueError("氏名カナはカタカナ・スペース・長音（ー）のみで入力してください")
    return text


def normalize_postal_code(value: str) -> str:
    """7 digits, a hyphen (and a leading 〒) allowed on input; stored as 7 digits ('' when empty).
    The one postal-code normaliser: imports, the person form and the address correction."""
    text = nfkc(value).removeprefix("〒").strip()
    if not text:
        return ""
    m = _POSTAL.match(text)
    if not m:
        raise ValueError("郵便番号は7桁の数字（ハイフン可: 123-4567）で指定してください")
    return m.group(1) + m.group(2)


def import_loss_reason(person: Person, lost_on: date) -> str:
    """The import file has no 喪失事由 column: infer what the date itself proves, else その他."""
    if lost_on == late_elderly_start(person.birth_date):
        return LossReason.AGE_75
    if person.relationship == Relationship.DEPENDENT:
        return LossReason.NOT_DEPENDENT
    if (
        person.insured_type == InsuredType.VOLUNTARY
        and person.voluntary_until is not None
        and lost_on == person.voluntary_until + timedelta(days=1)
    ):
        return LossReason.VOLUNTARY_END
    return LossReason.OTHER


# ---------------------------------------------------------------------------------------------
# Whole-file checks shared by both imports


def _check_header(header: list[str], expected: tuple[str, ...]) -> list[RowError]:
    # A column named like 個人番号 is refused with its own message, whatever else is wrong.
    errors = [
        RowError(1, f"{i + 1}列目", "個人番号（マイナンバー）の列は取り込めません")
        for i, name in enumerate(header)
        if header_names_my_number(name)
    ]
    if errors:
        return errors
    if tuple(header) != expected:
        missing = [c for c in expected if c not in header]
        unknown = [c for c in header if c not in expected]
        duplicated = [c for c in expected if header.count(c) > 1]
        detail = []
        if duplicated:
            detail.append("重複している列: " + "、".join(duplicated))
        if missing:
            detail.append("不足: " + "、".join(missing))
        if unknown:
            detail.append(
                "不明な列: " + "、".join(_shown(u) or "（表示しません）" for u in unknown)
            )
        if not detail:
            detail.append("列の順序が違います")
        return [
            RowError(
                1,
                None,
                "ヘッダー行が取込形式と一致しません（"
                + "／".join(detail)
                + "）。正しいヘッダー: "
                + ",".join(expected),
            )
        ]
    return []


def _check_cells(
    line: int, cells: list[str], columns: tuple[str, ...]
) -> tuple[dict[str, str] | None, list[RowError]]:
    """Width and My Number checks; returns the row as a dict when it can be validated further."""
    if len(cells) != len(columns):
        return None, [RowError(line, None, f"列数が{len(cells)}です（ヘッダーは{len(columns)}列）")]
    # (only a row that is not all printable text can hold a control character)
    errors = [
        RowError(
            line,
            column,
            "個人番号（マイナンバー）と思われる12桁の番号があります。個人番号は取り込めません（値は表示しません）",
        )
        for column, value in zip(columns, cells, strict=True)
        if contains_my_number(value)
    ]
    if not "".join(cells).isprintable():
        errors += [
            RowError(
                line,
                column,
                f"使用できない制御文字または文字の向きを変える記号({codepoint(bad)})があります"
                "(値は表示しません)",
            )
            for column, value in zip(columns, cells, strict=True)
            if (bad := forbidden_control(value)) is not None
        ]
    return dict(zip(columns, cells, strict=True)), errors


class _Row:
    """Collects one row's errors while its cells are converted."""

    def __init__(self, line: int, cells: dict[str, str], errors: list[RowError]):
        self.line = line
        self.cells = cells
        self.errors = errors

    def error(self, column: str | None, message: str) -> None:
        self.errors.append(RowError(self.line, column, message))

    def raw(self, column: str) -> str:
        return self.cells[column]

    def text(self, column: str, *, required: bool = False, max_length: int = 0) -> str:
        value = nfkc(self.cells[column])
        if required and not value:
            self.error(column, "必須項目です")
        elif max_length and len(value) > max_length:
            self.error(column, f"{max_length}文字以内で指定してください")
        return value

    def date(self, column: str, *, required: bool = False) -> date | None:
        value = self.cells[column].strip()
        if not value:
            if required:
                self.error(column, "必須項目です")
            return None
        try:
            return parse_date(value)
        except ValueError as exc:
            self.error(column, str(exc))
            return None

    def choice(self, column: str, choices: tuple[str, ...], *, required: bool = True) -> str:
        value = nfkc(self.cells[column])
        allowed = choices
        if not value:
            if required:
                self.error(column, f"必須項目です（{' / '.join(allowed)}）")
            return ""
        if value not in allowed:
            self.error(column, f"{_shown(value)}は指定できません（{' / '.join(allowed)}）")
            return ""
        return value

    def must_be_empty(self, column: str, why: str) -> None:
        if self.cells[column].strip():
            self.error(column, f"{why}は空欄にしてください")

    def key(self) -> Key | None:
        kigo = self.text("記号", required=True, max_length=20)
        bango = self.text("番号", required=True, max_length=20)
        edaban = nfkc(self.cells["枝番"])
        if not _EDABAN.match(edaban):
            self.error("枝番", "枝番は2桁の数字で指定してください（例: 00, 01）")
            return None
        if not kigo or not bango or len(kigo) > 20 or len(bango) > 20:
            return None
        return (kigo, bango, edaban)


# ---------------------------------------------------------------------------------------------
# Members import


@dataclass
class MemberRecord:
    """One valid row of the members file, converted to the stored representation."""

    line: int
    key: Key
    relationship: str
    insured_type: str
    employer_code: str
    employer_name: str
    name: str
    name_kana: str
    birth_date: date
    sex: str
    postal_code: str
    address: str
    acquired_on: date
    lost_on: date | None
    voluntary_until: date | None
    standard_remuneration: int | None
    needs_consideration: bool
    raw: list[str] = field(repr=False, default_factory=list)

    @property
    def household(self) -> tuple[str, str]:
        return self.key[0], self.key[1]


def _member_row(line: int, cells: dict[str, str], errors: list[RowError]) -> MemberRecord | None:
    r = _Row(line, cells, errors)
    before = len(errors)
    key = r.key()
    relationship = r.choice("本人家族区分", _RELATIONSHIPS)
    is_self = relationship == Relationship.SELF
    insured_type = ""
    employer_code = employer_name = ""
    voluntary_until = None
    remuneration = None

    if relationship == Relationship.DEPENDENT:
        # 家族 follow their member: no 種別, 事業所, 満了日 or 標準報酬 of their own.
        r.must_be_empty("被保険者種別", "家族の行の被保険者種別")
        r.must_be_empty("事業所記号", "家族の行の事業所記号")
        r.must_be_empty("事業所名称", "家族の行の事業所名称")
        r.must_be_empty("任意継続満了日", "家族の行の任意継続満了日")
        r.must_be_empty("標準報酬月額", "家族の行の標準報酬月額")
    elif is_self:
        insured_type = r.choice("被保険者種別", _INSURED_TYPES)
        if insured_type == InsuredType.GENERAL:
            employer_code = r.text("事業所記号", required=True, max_length=20)
            employer_name = r.raw("事業所名称").strip()
            if not employer_name:
                r.error("事業所名称", "必須項目です")
            elif len(employer_name) > 200:
                r.error("事業所名称", "200文字以内で指定してください")
            r.must_be_empty("任意継続満了日", "一般の被保険者の任意継続満了日")
        elif insured_type == InsuredType.VOLUNTARY:
            r.must_be_empty("事業所記号", "任意継続の被保険者の事業所記号")
            r.must_be_empty("事業所名称", "任意継続の被保険者の事業所名称")
            voluntary_until = r.date("任意継続満了日")
            if not cells["任意継続満了日"].strip():
                r.error("任意継続満了日", "任意継続の被保険者には任意継続満了日が必要です")
        yen = nfkc(cells["標準報酬月額"])
        if yen:
            if _YEN.match(yen):
                remuneration = int(yen.replace(",", ""))
            else:
                r.error("標準報酬月額", "標準報酬月額は円単位の整数で指定してください")

    name = cells["氏名"]  # stored exactly as given (𠮷, 髙, 﨑 …)
    if not name.strip():
        r.error("氏名", "必須項目です")
    elif len(name) > 100:
        r.error("氏名", "100文字以内で指定してください")
    name_kana = ""
    try:
        name_kana = normalize_kana(cells["氏名カナ"])
        if len(name_kana) > 100:
            r.error("氏名カナ", "100文字以内で指定してください")
    except ValueError as exc:
        r.error("氏名カナ", str(exc))
    birth_date = r.date("生年月日", required=True)
    sex = r.choice("性別", _SEXES)
    postal_code = ""
    try:
        postal_code = normalize_postal_code(cells["郵便番号"])
    except ValueError as exc:
        r.error("郵便番号", str(exc))
    address = cells["住所"].strip()
    if len(address) > 200:
        r.error("住所", "200文字以内で指定してください")
    acquired_on = r.date("資格取得年月日", required=True)
    lost_on = r.date("資格喪失年月日")
    if acquired_on and birth_date and acquired_on < birth_date:
        r.error("資格取得年月日", "資格取得年月日が生年月日より前です")
    if acquired_on and lost_on and lost_on < acquired_on:
        r.error("資格喪失年月日", "資格喪失年月日が資格取得年月日より前です")
    flag = nfkc(cells["要配慮者"])
    if flag not in ("", "1"):
        r.error("要配慮者", "要配慮者は1または空欄で指定してください")

    if len(errors) > before or key is None:
        return None
    return MemberRecord(
        line=line,
        key=key,
        relationship=relationship,
        insured_type=insured_type,
        employer_code=employer_code,
        employer_name=employer_name,
        name=name,
        name_kana=name_kana,
        birth_date=birth_date,
        sex=sex,
        postal_code=postal_code,
        address=address,
        acquired_on=acquired_on,
        lost_on=lost_on,
        voluntary_until=voluntary_until,
        standard_remuneration=remuneration,
        needs_consideration=flag == "1",
    )
