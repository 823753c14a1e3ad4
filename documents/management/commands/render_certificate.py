"""manage.py render_certificate 記号 番号 枝番 --output PATH

A clerk's reprint: the person's current certificate (the latest one that is 有効 today) and their
household letter, as one PDF. Exits non-zero with a clear message and writes nothing on bad input.
"""

import unicodedata
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from documents.services import certificate_reprint


def _key(value: str) -> str:
    # 記号・番号 are stored NFKC-normalised (rules.md); accept full-width input the same way.
    return unicodedata.normalize("NFKC", value).strip()


class Command(BaseCommand):
    help = "加入者の現在の資格確認書と送付状をPDFで出力します(再印刷)。"

    def add_arguments(self, parser):
        parser.add_argument("kigo", help="記号")
        parser.add_argument("bango", help="番号")
        parser.add_argument("edaban", help="枝番(2桁)")
        parser.add_argument("--output", required=True, help="出力するPDFのパス")

    def handle(self, *args, kigo, bango, edaban, output, **options):
        out = Path(output)
        if not out.parent.is_dir():
            raise CommandError(f"出力先のディレクトリがありません: {out.parent}")
        if out.exists() and out.is_dir():
            raise CommandError(f"出力先がディレクトリです: {out}")
        try:
            result = certificate_reprint(kigo=_key(kigo), bango=_key(bango), edaban=_key(edaban))
        except (LookupError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        out.write_bytes(result.pdf)
        self.stdout.write(
            f"{result.person_key} 証明書番号 {result.certificate_number} を出力しました: "
            f"{out} ({result.pages} ページ)"
        )
