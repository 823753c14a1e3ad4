"""manage.py export_csv DATASET --output PATH [--encoding utf-8-sig|cp932] [--by USERNAME]

Writes the CSV row by row into a temporary file next to PATH and renames it at the end, so a failed
export leaves no half-written file behind. CP932 substitutions are reported on stderr by row number
and column (never the value); the export is logged as an AuditEvent."""

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.exports import (
    DEFAULT_ENCODING,
    ENCODINGS,
    ExportError,
    dataset_names,
    export_to_file,
    get_dataset,
)
from core.roles import EXPORT_ROLES, RoleError, user_for_role
from core.services import export_record


class Command(BaseCommand):
    help = "CSVを出力します(資格確認書・加入者・一括交付・請求書・返却・業務イベント)"

    def add_arguments(self, parser):
        parser.add_argument("dataset", choices=dataset_names(), help="出力するデータの種類")
        parser.add_argument("--output", required=True, help="出力先のファイル")
        parser.add_argument(
            "--encoding",
            choices=ENCODINGS,
            default=DEFAULT_ENCODING,
            help="文字コード(既定: BOM付きUTF-8)",
        )
        parser.add_argument(
            "--by", help="出力者のユーザー名(監査の権限が必要。省略時は操作者不明として記録)"
        )

    def handle(self, *args, dataset, output, encoding, by, **options):
        actor = None
        if by:
            try:
                actor = user_for_role(by, *EXPORT_ROLES)
            except RoleError as exc:
                raise CommandError(str(exc)) from None
        try:
            ds = get_dataset(dataset)
            queryset = ds.base_queryset()
        except ExportError as exc:
            raise CommandError(str(exc)) from None

        path = Path(output)
        if not path.parent.is_dir():
            raise CommandError(f"出力先のフォルダ {path.parent} がありません")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")

        def on_substitution(row_no: int, column: str, kind: str) -> None:
            # Row number and column only: the value is personal data.
            self.stderr.write(f"{row_no}行目(データ行) 列「{column}」: {kind}(CP932で表せない文字)")

        try:
            with tmp.open("wb") as fh:
                result = export_to_file(
                    ds, queryset, fh, encoding=encoding, on_substitution=on_substitution
                )
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

        export_record(
            actor=actor,
            dataset=ds.name,
            encoding=encoding,
            row_count=result.row_count,
            filters={},
            via="command",
            substitution_count=result.substitution_count,
        )
        if result.substitution_count:
            self.stderr.write(
                f"CP932で表せない文字を {result.substitution_count} か所で置き換えました(上記の行)"
            )
        self.stdout.write(f"{ds.label}: {result.row_count} 件を {path} に出力しました")
