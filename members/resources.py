"""django-import-export adapters for the two registry imports, used by the admin.

They do not define a second set of rules: `import_data` hands the file to the same services the
management commands call (members.register_import.members_import / registration_status_import, which
validate with members.importing), and translates the outcome into import-export's Result so that the
admin shows its usual preview → confirm screens. The library's row-by-row load/save is bypassed on
purpose: the files are large and are written set-wise. Uploads above IMPORT_BACKGROUND_BYTES skip
the preview and run as a background job (members.import_jobs) with the same report.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from datetime import date

import tablib
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from import_export import resources
from import_export.fields import Field
from import_export.formats import base_formats
from import_export.results import Error, InvalidRow, Result, RowResult

from .formats import MEMBER_COLUMNS, STATUS_COLUMNS
from .importing import (
    MAX_REPORTED_ERRORS,
    ImportRefused,
    ParsedCsv,
    RowError,
    looks_like_my_number,
    read_csv_bytes,
)
from .services import members_import, registration_status_import

_PREVIEW_ROWS = 200
_HIDDEN = "（非表示）"


class JapaneseCSV(base_formats.CSV):
    """CSV in UTF-8, UTF-8 with BOM or CP932, detected (rules.md "File formats").

    Declared binary so that the admin hands over the raw bytes instead of decoding them as UTF-8
    itself; members.importing detects the encoding and keeps each record's line number.
    """

    def is_binary(self) -> bool:
        return True

    def get_read_mode(self) -> str:
        return "rb"

    def create_dataset(self, in_stream, **kwargs) -> tablib.Dataset:
        data = in_stream if isinstance(in_stream, bytes) else str(in_stream).encode("utf-8")
        if b"\x00" in data[:65536]:
            # an image, a spreadsheet (.xlsx) or another binary file: no CSV holds NUL bytes
            raise ImportRefused(
                [
                    RowError(
                        None,
                        None,
                        "CSVとして読めません(バイナリファイルです)。CSV形式で保存したファイルを選んでください",
                    )
                ]
            )
        parsed = read_csv_bytes(data)  # ImportRefused for an undecodable or unreadable file
        if not parsed.rows:
            # the library's own answer would be in English ("No valid data to import")
            raise ImportRefused(
                [RowError(None, None, "データの行がありません(ヘッダー行だけのファイルです)")]
            )
        width = len(parsed.header)
        dataset = tablib.Dataset(headers=[h or f"列{i + 1}" for i, h in enumerate(parsed.header)])
        for _, cells in parsed.rows:
            dataset.append((cells + [""] * width)[:width])
        dataset.parsed = parsed  # the validators use the rows as read, with their line numbers
        return dataset


def _parsed(dataset: tablib.Dataset) -> ParsedCsv:
    parsed = getattr(dataset, "parsed", None)
    if parsed is not None:
        return parsed
    rows = [(i + 2, ["" if c is None else str(c) for c in row]) for i, row in enumerate(dataset)]
    return ParsedCsv(header=list(dataset.headers or []), rows=rows)


def _masked(cells: list[str]) -> tuple[str, ...]:
    """Row values shown beside an error: a cell that is or holds a 12-digit number is hidden."""

    def hide(value: str) -> bool:
        digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", value))
        return looks_like_my_number(value) or len(digits) >= 12

    return tuple(_HIDDEN if hide(c) else c for c in cells)


def members_summary_text(summary) -> str:
    """The admin's report of a members import (the preview flow and the background job)."""
    text = (
        f"加入者の取込が完了しました: {summary.rows}行 / 新規 {summary.created} / "
        f"更新 {summary.updated} / 変更なし {summary.unchanged} / "
        f"資格喪失の記録 {summary.losses_recorded}（被扶養者を含む） / "
        f"事業所 新規 {summary.employers_created}・名称変更 {summary.employers_updated}"
    )
    if summary.losses_kept:
        text += (
            f"。資格喪失年月日が記録済みの日付より後のため変更しなかった行: {summary.losses_kept}"
        )
    return text


def status_summary_text(summary) -> str:
    counts = " / ".join(f"{k} {v}" for k, v in sorted(summary.by_status.items()))
    return (
        f"利用登録状況の取込が完了しました（基準日 {summary.snapshot.as_of:%Y-%m-%d}）: "
        f"{summary.rows}行 / {counts}"
    )


class _RegistryImportResource(resources.Resource):
    columns: tuple[str, ...] = ()
    display_name = ""

    @classmethod
    def get_display_name(cls) -> str:
        return cls.display_name

    def get_user_visible_fields(self):
        return [Field(attribute=None, column_name=c) for c in self.columns]

    def get_import_fields(self):
        return self.get_user_visible_fields()

    def run_import(self, parsed: ParsedCsv, *, dry_run: bool, user, file_name: str, **kwargs):
        """Call the import service (each subclass names its own)."""
        raise NotImplementedError(f"{type(self).__name__} must define run_import")

    def import_data(
        self,
        dataset,
        dry_run=False,
        raise_errors=False,
        use_transactions=None,
        collect_failed_rows=False,
        rollback_on_validation_errors=False,
        **kwargs,
    ) -> Result:
        result = self.get_result_class()()
        result.diff_headers = list(self.columns)
        parsed = _parsed(dataset)
        user = kwargs.pop("user", None)
        file_name = kwargs.pop("file_name", None) or ""
        try:
            summary = self.run_import(
                parsed,
                dry_run=dry_run,
                user=user if getattr(user, "is_authenticated", False) else None,
                file_name=file_name,
                **kwargs,
            )
        except ImportRefused as exc:
            if raise_errors:
                raise
            self._report_refusal(result, exc, parsed)
            return result
        self._report_success(result, summary, parsed)
        return result

    def _report_refusal(self, result: Result, exc: ImportRefused, parsed: ParsedCsv) -> None:
        cells_by_line = dict(parsed.rows)
        by_line: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for err in exc.errors:
            if err.row is None or err.row == 1:
                result.append_base_error(Error(ValueError(str(err))))
                continue
            by_line[err.row][err.column or NON_FIELD_ERRORS].append(err.message)
        result.refusal = exc  # the admin's confirm step reports it as a message
        if result.base_errors:
            return  # whole-file problems (header, 個人番号 column): the rows were not examined
        for n, (line, errors) in enumerate(sorted(by_line.items())):
            if n == MAX_REPORTED_ERRORS:
                rest = len(by_line) - MAX_REPORTED_ERRORS
                result.invalid_rows.append(
                    InvalidRow(
                        number="…",
                        validation_error=ValidationError(f"ほかに{rest}行にエラーがあります"),
                        values=(),
                    )
                )
                break
            result.invalid_rows.append(
                InvalidRow(
                    number=line,
                    validation_error=ValidationError(dict(errors)),
                    values=_masked(cells_by_line.get(line, [])),
                )
            )

    def _row_result(self, import_type: str, cells: list[str], instance=None) -> RowResult:
        row = self.get_row_result_class()()
        row.import_type = import_type
        row.diff = list(cells)
        if instance is not None:
            row.add_instance_info(instance)
        return row


class MembersResource(_RegistryImportResource):
    """加入者CSV (rules.md "Members import")."""

    columns = MEMBER_COLUMNS

    display_name = "加入者CSV"

    def run_import(self, parsed, *, dry_run, user, file_name, **kwargs):
        return members_import(
            parsed=parsed, source_name=file_name, acting_user=user, dry_run=dry_run
        )

    def _report_success(self, result: Result, summary, parsed: ParsedCsv) -> None:
        cells_by_line = dict(parsed.rows)
        for line, kind, person in summary.preview:
            result.append_row_result(self._row_result(kind, cells_by_line[line], person))
        result.totals[RowResult.IMPORT_TYPE_NEW] = summary.created
        result.totals[RowResult.IMPORT_TYPE_UPDATE] = summary.updated
        result.totals[RowResult.IMPORT_TYPE_SKIP] = summary.unchanged
        result.total_rows = summary.rows
        result.summary_text = members_summary_text(summary)


class RegistrationStatusResource(_RegistryImportResource):
    """マイナ保険証 利用登録状況CSV (rules.md "Registration-status import")."""

    columns = STATUS_COLUMNS

    display_name = "利用登録状況CSV"

    def run_import(self, parsed, *, dry_run, user, file_name, as_of: date | None = None, **kwargs):
        if as_of is None:
            from .importing import RowError

            raise ImportRefused([RowError(None, "基準日", "基準日を指定してください")])
        return registration_status_import(
            parsed=parsed, as_of=as_of, source_name=file_name, acting_user=user, dry_run=dry_run
        )

    def _report_success(self, result: Result, summary, parsed: ParsedCsv) -> None:
        for _, cells in parsed.rows[:_PREVIEW_ROWS]:
            result.append_row_result(self._row_result(RowResult.IMPORT_TYPE_NEW, cells))
        result.totals[RowResult.IMPORT_TYPE_NEW] = summary.rows
        result.total_rows = summary.rows
        result.summary_text = status_summary_text(summary)
