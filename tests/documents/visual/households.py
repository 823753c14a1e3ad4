"""The fixed households of the visual regression tests, one of each kind, with fixed dates, numbers
and society data (nothing here reads the clock, the database or the environment)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from documents.render import BundleCover, Chunk, Insurer

from .. import samples

INSURER = Insurer(
    number="06139018",
    name="デモ健康保険組合",
    address="東京都千代田区丸の内一丁目1番1号",
    postal_code="1000005",
    phone="03-0000-0000",
)
LONG_NAME = (
    "ファン・デル・ヴェステルハウゼン\u3000マクシミリアン\u3000アレクサンドラ\u3000クリストファー"
)


@dataclass(frozen=True)
class Kind:
    name: str  # file name stem of its reference images
    title: str  # what it shows (README)
    chunk: Chunk
    pages: tuple[int, ...]  # the pages kept as reference images (1-based)


def _chunk(households, cover=None) -> Chunk:
    return Chunk(
        households=tuple(households),
        cover=cover,
        insurer=INSURER,
        elderly_on_certificate=False,
        reissue_fee_yen=1000,
        insured_name_on_family_card=True,
        organ_donation=False,
        cards_on_letter=True,
    )


def kinds() -> list[Kind]:
    general = samples.household(
        (
            samples.card(1, "佐藤\u3000一郎", bango="2001"),
            samples.card(2, "佐藤\u3000洋子", relationship="家族", sex="女", bango="2001"),
            samples.card(
                3, "佐藤\u3000健太", relationship="家族", bango="2001", birth_date=date(2012, 8, 3)
            ),
        ),
        route="事業主経由",
        employer_name="株式会社テスト商事",
    )
    cover = BundleCover(
        employer_code="E0001", employer_name="株式会社テスト商事", issue_date=samples.ISSUE
    )
    voluntary = samples.household(
        (
            samples.card(11, "鈴木\u3000四郎", bango="900001"),
            samples.card(
                12,
                "鈴木\u3000花子",
                relationship="家族",
                sex="女",
                bango="900001",
                sex_on_back=True,
            ),
        ),
        address="東京都世田谷区北沢二丁目10-15 北斗レジデンス205",
        postal_code="1550031",
        step="2",
    )
    elderly = samples.household(
        (
            samples.card(
                21,
                "高橋\u3000三郎",
                bango="3001",
                birth_date=date(1955, 6, 15),
                elderly_start=date(2025, 7, 1),
                copay_ratio="2割",
            ),
        ),
        step="3→2",
    )
    long_name = samples.household((samples.card(31, LONG_NAME, bango="4001"),))
    variants = samples.household(
        (
            samples.card(41, "𠮷田\u3000太郎", bango="5001"),
            samples.card(42, "𠮷田\u3000髙子", relationship="家族", sex="女", bango="5001"),
        ),
        address="大阪府大阪市北区梅田一丁目1-1 﨑山ハイツ101",
        postal_code="5300001",
    )
    return [
        Kind(
            "general",
            "一般(事業主経由・被扶養者あり): 対象者一覧表、送付状、チェックリスト、カード台紙(表・裏)",
            _chunk([general], cover),
            (1, 3, 5, 6, 7, 8),
        ),
        Kind(
            "voluntary",
            "任意継続(自宅): 送付状の下部にカード、裏面(性別を裏面に記載)",
            _chunk([voluntary]),
            (1, 2),
        ),
        Kind("elderly", "70〜74歳(資格確認書に高齢受給者証の案内)", _chunk([elderly]), (1, 2)),
        Kind("long-name", "長い氏名(縮小して折り返し)", _chunk([long_name]), (1,)),
        Kind("variants", "𠮷・髙・﨑", _chunk([variants]), (1,)),
    ]
