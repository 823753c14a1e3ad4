"""`manage.py seed_demo --persons N [--seed S] [--as-of YYYY-MM-DD] [--append]`

Makes a believable demo society: 事業所, 一般 and 任意継続 members, their dependents, and one
マイナ保険証 registration snapshot in which about 30% of the qualified people lack a usable
マイナ保険証 (the people a bulk run would issue a 資格確認書 to).

Written for scale (a later benchmark seeds 1.2 million people): rows are built in memory one chunk of
households at a time and written with bulk_create, so the number of queries grows with
N / chunk size, never with N. Deterministic for a given --seed and --as-of.

django-simple-history records are deliberately not written for seeded rows: they are demo data, not
changes a clerk made, and doubling 1.2 million inserts buys nothing.
"""

import random
import time
from dataclasses import dataclass
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from core.db import analyze_if_stale
from members.dates import add_months, age_on, late_elderly_start, month_end
from members.models import (
    Employer,
    InsuredType,
    LossReason,
    Person,
    RegistrationSnapshot,
    RegistrationStatus,
    RegistrationStatusValue,
    Relationship,
    Sex,
)

SOURCE_NAME = "seed_demo"
VOLUNTARY_KIGO_START = 900000
CHUNK_MEMBERS = 2000  # households built and written together
BATCH_SIZE = 2000  # rows per INSERT (Django lowers it further on SQLite if needed)

# 健康保険 標準報酬月額 (等級1〜50, 健康保険法§40). Grade index 20 is 280,000 yen, the 3割 threshold
# for 70–74 (rules.md).
STANDARD_REMUNERATION = [
    58_000, 68_000, 78_000, 88_000, 98_000, 104_000, 110_000, 118_000, 126_000, 134_000,
    142_000, 150_000, 160_000, 170_000, 180_000, 190_000, 200_000, 220_000, 240_000, 260_000,
    280_000, 300_000, 320_000, 340_000, 360_000, 380_000, 410_000, 440_000, 470_000, 500_000,
    530_000, 560_000, 590_000, 620_000, 650_000, 680_000, 710_000, 750_000, 790_000, 830_000,
    880_000, 930_000, 980_000, 1_030_000, 1_090_000, 1_150_000, 1_210_000, 1_270_000, 1_330_000,
    1_390_000,
]  # fmt: skip
# A 健保組合 caps 任意継続 members' 標準報酬月額 at its own average (健康保険法§47); demo value.
VOLUNTARY_CAP_INDEX = 25  # 380,000

SURNAMES = [
    ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"),
    ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"),
    ("小林", "コバヤシ"), ("加藤", "カトウ"), ("吉田", "ヨシダ"), ("山田", "ヤマダ"),
    ("佐々木", "ササキ"), ("山口", "ヤマグチ"), ("松本", "マツモト"), ("井上", "イノウエ"),
    ("木村", "キムラ"), ("林", "ハヤシ"), ("斎藤", "サイトウ"), ("清水", "シミズ"),
    ("山崎", "ヤマザキ"), ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"),
    ("阿部", "アベ"), ("石川", "イシカワ"), ("山下", "ヤマシタ"), ("中島", "ナカジマ"),
    ("石井", "イシイ"), ("小川", "オガワ"), ("前田", "マエダ"), ("岡田", "オカダ"),
    ("長谷川", "ハセガワ"), ("藤田", "フジタ"), ("後藤", "ゴトウ"), ("近藤", "コンドウ"),
    ("村上", "ムラカミ"), ("遠藤", "エンドウ"), ("青木", "アオキ"), ("坂本", "サカモト"),
    ("斉藤", "サイトウ"), ("福田", "フクダ"), ("太田", "オオタ"), ("西村", "ニシムラ"),
    ("藤井", "フジイ"), ("金子", "カネコ"), ("岡本", "オカモト"), ("藤原", "フジワラ"),
    ("中野", "ナカノ"), ("三浦", "ミウラ"), ("原田", "ハラダ"), ("中川", "ナカガワ"),
    ("松田", "マツダ"), ("竹内", "タケウチ"), ("小野", "オノ"), ("田村", "タムラ"),
    ("渡邉", "ワタナベ"), ("齋藤", "サイトウ"), ("澤田", "サワダ"), ("大野", "オオノ"),
]  # fmt: skip
# Characters outside JIS X 0208 that must survive storage, PDFs and exports (rules.md "Names"):
# 𠮷 is outside the BMP (U+20BB7) and outside CP932; 髙 and 﨑 are IBM extensions inside CP932.
VARIANT_SURNAMES = [
    ("𠮷田", "ヨシダ"), ("𠮷川", "ヨシカワ"), ("𠮷野", "ヨシノ"), ("髙橋", "タカハシ"),
    ("髙木", "タカギ"), ("髙田", "タカダ"), ("山﨑", "ヤマザキ"), ("宮﨑", "ミヤザキ"),
    ("岡﨑", "オカザキ"), ("川﨑", "カワサキ"),
]  # fmt: skip
VARIANT_SHARE = 0.03

MALE_GIVEN = [
    ("太郎", "タロウ"), ("一郎", "イチロウ"), ("健太", "ケンタ"), ("大輔", "ダイスケ"),
    ("翔太", "ショウタ"), ("拓也", "タクヤ"), ("直樹", "ナオキ"), ("誠", "マコト"),
    ("浩二", "コウジ"), ("隆", "タカシ"), ("修", "オサム"), ("博", "ヒロシ"),
    ("茂", "シゲル"), ("清", "キヨシ"), ("蓮", "レン"), ("悠真", "ユウマ"),
    ("陽翔", "ハルト"), ("湊", "ミナト"), ("大和", "ヤマト"), ("颯太", "ソウタ"),
    ("和也", "カズヤ"), ("雄一", "ユウイチ"), ("智也", "トモヤ"), ("亮", "リョウ"),
]  # fmt: skip
FEMALE_GIVEN = [
    ("花子", "ハナコ"), ("陽子", "ヨウコ"), ("恵子", "ケイコ"), ("裕子", "ユウコ"),
    ("美咲", "ミサキ"), ("愛", "アイ"), ("由美", "ユミ"), ("直美", "ナオミ"),
    ("久美子", "クミコ"), ("幸子", "サチコ"), ("和子", "カズコ"), ("節子", "セツコ"),
    ("陽菜", "ヒナ"), ("結衣", "ユイ"), ("葵", "アオイ"), ("凛", "リン"),
    ("さくら", "サクラ"), ("芽依", "メイ"), ("真由美", "マユミ"), ("智子", "トモコ"),
    ("明美", "アケミ"), ("舞", "マイ"), ("彩", "アヤ"), ("千尋", "チヒロ"),
]  # fmt: skip

# (prefecture + city, first three digits of its postal codes, 町名)
PLACES = [
    ("東京都千代田区", "100", ["丸の内", "大手町", "神田小川町"]),
    ("東京都新宿区", "160", ["西新宿", "高田馬場", "四谷"]),
    ("東京都世田谷区", "154", ["三軒茶屋", "太子堂", "下馬"]),
    ("東京都江東区", "135", ["豊洲", "東陽", "亀戸"]),
    ("東京都八王子市", "192", ["旭町", "明神町", "元本郷町"]),
    ("神奈川県横浜市港北区", "222", ["新横浜", "大倉山", "日吉"]),
    ("神奈川県川崎市中原区", "211", ["小杉町", "新丸子町", "木月"]),
    ("埼玉県さいたま市浦和区", "330", ["高砂", "岸町", "常盤"]),
    ("千葉県千葉市中央区", "260", ["中央", "富士見", "新町"]),
    ("大阪府大阪市北区", "530", ["梅田", "天満", "中之島"]),
    ("大阪府堺市堺区", "590", ["南瓦町", "市之町東", "戎島町"]),
    ("愛知県名古屋市中区", "460", ["栄", "丸の内", "錦"]),
    ("京都府京都市中京区", "604", ["烏丸通", "河原町", "壬生"]),
    ("兵庫県神戸市中央区", "650", ["三宮町", "元町通", "栄町通"]),
    ("北海道札幌市中央区", "060", ["北一条西", "南三条西", "大通西"]),
    ("宮城県仙台市青葉区", "980", ["一番町", "本町", "中央"]),
    ("広島県広島市中区", "730", ["紙屋町", "八丁堀", "大手町"]),
    ("福岡県福岡市博多区", "812", ["博多駅前", "中洲", "祇園町"]),
    ("静岡県静岡市葵区", "420", ["追手町", "紺屋町", "呉服町"]),
    ("新潟県新潟市中央区", "951", ["古町通", "西堀通", "東大通"]),
]
BUILDINGS = ["", "", "", "", "コーポ", "ハイツ", "メゾン", "レジデンス"]

EMPLOYER_STEMS = [
    "日本", "東洋", "大和", "昭和", "平成", "中央", "富士", "北斗", "三協", "丸紅",
    "新星", "旭", "明和", "白鳥", "青葉", "桜", "光陽", "協和", "東邦", "西海",
]  # fmt: skip
EMPLOYER_TRADES = [
    "商事", "工業", "電機", "精工", "物産", "建設", "運輸", "化学", "食品", "製薬",
    "情報システム", "印刷", "不動産", "機械", "繊維", "倉庫", "通信", "エンジニアリング",
]  # fmt: skip
EMPLOYER_SITES = ["本社", "本店", "支店", "営業所", "工場", "研究所", "物流センター"]

# Registration statuses of the snapshot, as shares of the qualified people (rules.md 交付事由).
# Lacking a usable マイナ保険証: 未登録 + 登録解除 + カード返納 + lapsed 電子証明書失効 + no row = 30%.
# A further 1% have an expired electronic certificate still inside its 3-month grace period:
# still usable on the status date (rules.md 電子証明書失効), so counted as usable.
STATUS_SHARES = [
    ("未登録", 0.13),
    ("なし", 0.08),  # no row at all: 登録状況不明
    ("登録解除", 0.02),
    ("カード返納", 0.02),
    ("失効", 0.05),  # lapsed
    ("失効猶予", 0.01),  # expired, not yet lapsed
    ("登録済", 0.69),
]

STATUS_CUMULATIVE = [
    (kind, sum(share for _, share in STATUS_SHARES[: i + 1]))
    for i, (kind, _) in enumerate(STATUS_SHARES)
]


@dataclass
class Counts:
    employers: int = 0
    general: int = 0
    voluntary: int = 0
    dependents: int = 0
    lost: int = 0
    elderly: int = 0
    near_75: int = 0
    consideration: int = 0
    variant_names: int = 0
    statuses: int = 0
    without_status: int = 0


def _years_before(d: date, years: int) -> date:
    return add_months(d, -12 * years)


class Society:
    """Builds the rows; all randomness comes from one seeded generator, in a fixed order."""

    def __init__(self, *, rng: random.Random, as_of: date, employer_start: int, vol_start: int):
        self.rng = rng
        self.as_of = as_of
        self.counts = Counts()
        self.employer_seq = employer_start
        self.vol_kigo_seq = vol_start + 1
        self.vol_bango = 0
        self.employer_names: set[str] = set()

    # --- people -------------------------------------------------------------------------------
    def surname(self) -> tuple[str, str]:
        if self.rng.random() < VARIANT_SHARE:
            return self.rng.choice(VARIANT_SURNAMES)
        return self.rng.choice(SURNAMES)

    def given(self, sex: str) -> tuple[str, str]:
        return self.rng.choice(MALE_GIVEN if sex == Sex.MALE else FEMALE_GIVEN)

    def birth_for_age(self, age: int) -> date:
        """A birth date giving exactly `age` on the as-of date."""
        # The (age+1)th birthday falls 1..365 days after the as-of date.
        next_birthday = self.as_of + timedelta(days=self.rng.randint(1, 365))
        birth = _years_before(next_birthday, age + 1)
        if age_on(birth, self.as_of) != age:  # 29 February clamping; nudge by a day
            birth += timedelta(days=1)
        return birth

    def birth_near_75(self) -> date:
        """Turns 75 (leaves for 後期高齢者医療) within the next six months."""
        birthday_75 = self.as_of + timedelta(days=self.rng.randint(1, 180))
        return _years_before(birthday_75, 75)

    def address(self, *, office: bool = False) -> tuple[str, str]:
        city, prefix, towns = self.rng.choice(PLACES)
        postal = f"{prefix}{self.rng.randint(0, 9999):04d}"
        building = self.rng.choice(BUILDINGS)
        line = (
            f"{city}{self.rng.choice(towns)}{self.rng.randint(1, 5)}丁目"
            f"{self.rng.randint(1, 30)}番{self.rng.randint(1, 20)}号"
        )
        if office:
            line += f" {self.rng.choice(EMPLOYER_STEMS)}ビル{self.rng.randint(1, 12)}階"
        elif building:
            room = f"{self.rng.randint(1, 9)}0{self.rng.randint(1, 9)}"
            line += f" {self.rng.choice(EMPLOYER_STEMS)}{building}{room}"
        return postal, line

    def remuneration(self, age: int, *, voluntary: bool) -> int:
        peak = min(30, 6 + max(0, age - 20) * 0.5)
        index = int(self.rng.gauss(peak, 6))
        index = max(0, min(len(STANDARD_REMUNERATION) - 1, index))
        if voluntary:
            index = min(index, VOLUNTARY_CAP_INDEX)
        return STANDARD_REMUNERATION[index]

    def member_age(self, voluntary: bool) -> int | None:
        """Age on the as-of date; None means "about to turn 75"."""
        r = self.rng.random()
        if voluntary:
            if r < 0.05:
                return None
            if r < 0.30:
                return self.rng.randint(70, 74)
            if r < 0.75:
                return self.rng.randint(60, 69)
            return self.rng.randint(25, 59)
        if r < 0.004:
            return None
        if r < 0.035:
            return self.rng.randint(70, 74)
        return min(69, int(self.rng.triangular(18, 68, 38)))

    def next_voluntary_bango(self) -> int:
        """任意継続 members are grouped under their own 6-digit 記号 (9xxxxx), apart from the
        5-digit 事業所記号 of 一般 members, so the two never collide."""
        self.vol_bango += 1
        if self.vol_bango > 99999:
            self.vol_kigo_seq, self.vol_bango = self.vol_kigo_seq + 1, 1
        return self.vol_bango

    # --- employers ----------------------------------------------------------------------------
    def employer(self) -> Employer:
        self.employer_seq += 1
        while True:
            name = (
                f"{self.rng.choice(['株式会社', '', ''])}{self.rng.choice(EMPLOYER_STEMS)}"
                f"{self.rng.choice(EMPLOYER_TRADES)}"
            )
            if not name.startswith("株式会社"):
                name += self.rng.choice(["株式会社", "株式会社", "有限会社"])
            name += f" {self.rng.choice(EMPLOYER_SITES)}"
            if name not in self.employer_names or len(self.employer_names) > 5000:
                break
        self.employer_names.add(name)
        postal, address = self.address(office=True)
        self.counts.employers += 1
        return Employer(
            code=f"{self.employer_seq:05d}", name=name, postal_code=postal, address=address
        )

    # --- households ---------------------------------------------------------------------------
    def member(self, *, employer: Employer | None, bango: int) -> Person:
        voluntary = employer is None
        age = self.member_age(voluntary)
        if age is None:
            birth = self.birth_near_75()
            age = 74
            self.counts.near_75 += 1
        else:
            birth = self.birth_for_age(age)
        sex = Sex.MALE if self.rng.random() < 0.62 else Sex.FEMALE
        surname, surname_kana = self.surname()
        given, given_kana = self.given(sex)
        postal, address = self.address()
        if voluntary:
            # 任意継続: at most 2 years (健康保険法§38); ends between tomorrow and 2 years ahead.
            until = self.as_of + timedelta(days=self.rng.randint(1, 729))
            acquired = _years_before(until, 2) + timedelta(days=1)
            kigo = str(self.vol_kigo_seq)
        else:
            until = None
            start_age = self.rng.randint(18, max(18, min(age, 60)))
            earliest = max(_years_before(self.as_of, age - start_age), birth + timedelta(days=1))
            acquired = earliest + timedelta(days=self.rng.randint(0, 360))
            acquired = min(acquired, self.as_of - timedelta(days=self.rng.randint(0, 30)))
            kigo = employer.code
        acquired = max(acquired, birth)
        return Person(
            kigo=kigo,
            bango=str(bango),
            edaban="00",
            relationship=Relationship.SELF,
            insured_type=InsuredType.VOLUNTARY if voluntary else InsuredType.GENERAL,
            employer=employer,
            voluntary_until=until,
            standard_remuneration=self.remuneration(age, voluntary=voluntary),
            name=f"{surname}\u3000{given}",
            name_kana=f"{surname_kana}\u3000{given_kana}",
            birth_date=birth,
            sex=sex,
            postal_code=postal,
            address=address,
            acquired_on=acquired,
        )

    def dependents(self, member: Person) -> list[Person]:
        r = self.rng.random()
        # about 0.8 dependents per member
        count = 0 if r < 0.56 else 1 if r < 0.77 else 2 if r < 0.90 else 3 if r < 0.98 else 4
        member_age = age_on(member.birth_date, self.as_of)
        surname, surname_kana = member.name.split("\u3000")[0], member.name_kana.split("\u3000")[0]
        people: list[tuple[date, str]] = []
        if count and member_age >= 24 and self.rng.random() < 0.8:
            spouse_age = max(20, min(74, member_age + self.rng.randint(-6, 6)))
            sex = Sex.FEMALE if member.sex == Sex.MALE else Sex.MALE
            people.append((self.birth_for_age(spouse_age), sex))
        if len(people) < count and 35 <= member_age <= 55 and self.rng.random() < 0.08:
            # a parent of the member, aged 70–74, as 被扶養者
            people.append((self.birth_for_age(self.rng.randint(70, 74)), Sex.FEMALE))
        while len(people) < count:
            oldest = min(22, member_age - 20)
            if oldest < 0:
                break
            child_age = self.rng.randint(0, oldest)
            sex = Sex.MALE if self.rng.random() < 0.5 else Sex.FEMALE
            people.append((self.birth_for_age(child_age), sex))
        result = []
        for i, (birth, sex) in enumerate(people, start=1):
            given, given_kana = self.given(sex)
            acquired = max(member.acquired_on, birth)
            postal, address = member.postal_code, member.address
            if self.rng.random() < 0.03:  # a student living away from home
                postal, address = self.address()
            result.append(
                Person(
                    kigo=member.kigo,
                    bango=member.bango,
                    edaban=f"{i:02d}",
                    relationship=Relationship.DEPENDENT,
                    member=member,
                    insured_type="",
                    name=f"{surname}\u3000{given}",
                    name_kana=f"{surname_kana}\u3000{given_kana}",
                    birth_date=birth,
                    sex=sex,
                    postal_code=postal,
                    address=address,
                    acquired_on=min(acquired, self.as_of),
                )
            )
        return result

    def apply_losses(self, member: Person, dependents: list[Person]) -> None:
        """A few losses before the as-of date. A member's dependents lose cover on the same date
        (rules.md "Dependents follow their member")."""
        r = self.rng.random()
        lost_on = reason = None
        settled = member.acquired_on < self.as_of - timedelta(days=150)
        if settled and age_on(member.birth_date, self.as_of) >= 68 and r < 0.12:
            # turned 75 in the last months: 後期高齢者医療 from the 75th birthday itself.
            birthday_75 = self.as_of - timedelta(days=self.rng.randint(0, 150))
            member.birth_date = _years_before(birthday_75, 75)
            lost_on, reason = late_elderly_start(member.birth_date), LossReason.AGE_75
        elif settled and r < 0.015 and member.insured_type == InsuredType.GENERAL:
            lost_on = self.as_of - timedelta(days=self.rng.randint(1, 150))
            reason = LossReason.RETIREMENT
        elif r < 0.015 and member.insured_type == InsuredType.VOLUNTARY:
            # 任意継続満了: the 2 years ended recently; cover ends the day after 満了日.
            member.voluntary_until = self.as_of - timedelta(days=self.rng.randint(1, 90))
            member.acquired_on = _years_before(member.voluntary_until, 2) + timedelta(days=1)
            for dep in dependents:
                dep.acquired_on = max(member.acquired_on, dep.birth_date)
            lost_on = member.voluntary_until + timedelta(days=1)
            reason = LossReason.VOLUNTARY_END
        if lost_on is not None:
            lost_on = max(lost_on, member.acquired_on)
            member.lost_on, member.loss_reason = lost_on, reason
            # nobody is a dependent of a member who had already left when they were born
            dependents[:] = [d for d in dependents if d.birth_date < lost_on]
            for i, dep in enumerate(dependents, start=1):
                dep.edaban = f"{i:02d}"
                dep.acquired_on = min(dep.acquired_on, lost_on)
                dep.lost_on, dep.loss_reason = lost_on, LossReason.MEMBER_LOST
            return
        for dep in dependents:
            age = age_on(dep.birth_date, self.as_of)
            if 18 <= age <= 24 and self.rng.random() < 0.05:
                # a child who started work: 被扶養者でなくなった
                dep.lost_on = max(
                    dep.acquired_on, self.as_of - timedelta(days=self.rng.randint(1, 120))
                )
                dep.loss_reason = LossReason.NOT_DEPENDENT

    def registration(self, person: Person, snapshot: RegistrationSnapshot):
        """The person's row in the snapshot, or None for 登録状況不明 (no row)."""
        r = self.rng.random()
        kind = next((k for k, cumulative in STATUS_CUMULATIVE if r < cumulative), "登録済")
        if kind == "なし":
            return None
        ec_expiry = None
        if kind == "失効":
            # lapses (last day of the 3rd month after the expiry month) before the as-of month ends
            ec_expiry = self.as_of - timedelta(days=self.rng.randint(130, 700))
            status = RegistrationStatusValue.EC_EXPIRED
        elif kind == "失効猶予":
            ec_expiry = self.as_of - timedelta(days=self.rng.randint(0, 40))
            status = RegistrationStatusValue.EC_EXPIRED
        else:
            status = RegistrationStatusValue(kind)
        return RegistrationStatus(
            snapshot=snapshot,
            person=person,
            as_of=snapshot.as_of,
            status=status,
            ec_expiry=ec_expiry,
        )


def ec_lapse_date(ec_expiry: date, lapse_months: int = 3) -> date:
    """The day the 保険証利用登録 lapses after the electronic certificate expired (rules.md)."""
    return month_end(add_months(ec_expiry, lapse_months))


class Command(BaseCommand):
    help = (
        "デモ用の健康保険組合(事業所・被保険者・被扶養者・利用登録状況)を一括作成します。"
        " Seeds a demo society with bulk inserts."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--persons", type=int, required=True, help="作成する加入者数(本人+家族)"
        )
        parser.add_argument("--seed", type=int, default=1, help="乱数の種(同じ種なら同じデータ)")
        parser.add_argument(
            "--as-of",
            type=date.fromisoformat,
            default=None,
            help="基準日 YYYY-MM-DD(年齢・利用登録状況の基準。既定: 今日)",
        )
        parser.add_argument(
            "--append", action="store_true", help="既に加入者がいても追加で作成する"
        )

    def handle(self, *args, persons: int, seed: int, as_of: date | None, append: bool, **options):
        if persons < 1:
            raise CommandError("--persons は1以上を指定してください (--persons must be at least 1)")
        as_of = as_of or timezone.localdate()
        existing = Person.objects.count()
        if existing and not append:
            raise CommandError(
                f"加入者が既に{existing}人登録されています。追加する場合は --append を指定してください"
                f" ({existing} persons already exist; pass --append to add more)"
            )
        self.as_of = as_of
        started = time.monotonic()
        with transaction.atomic():
            counts = self._seed(persons=persons, seed=seed, as_of=as_of)
        # the planner's statistics for what comes next (a run straight after seeding; issue 18)
        analyze_if_stale(Employer, Person, RegistrationSnapshot, RegistrationStatus)
        elapsed = time.monotonic() - started
        total = counts.general + counts.voluntary + counts.dependents
        self.stdout.write(
            f"事業所 {counts.employers} / 被保険者(一般) {counts.general} / "
            f"被保険者(任意継続) {counts.voluntary} / 被扶養者 {counts.dependents} / 計 {total}人"
        )
        self.stdout.write(
            f"資格喪失 {counts.lost} / 70〜74歳 {counts.elderly} / 75歳到達間近 {counts.near_75} / "
            f"要配慮者 {counts.consideration} / 異体字の氏名 {counts.variant_names}"
        )
        self.stdout.write(
            f"利用登録状況 基準日 {as_of.isoformat()}: {counts.statuses}件, "
            f"登録なし {counts.without_status}人"
        )
        self.stdout.write(self.style.SUCCESS(f"{total}人を{elapsed:.1f}秒で作成しました"))

    def _seed(self, *, persons: int, seed: int, as_of: date) -> Counts:
        # New 記号 never meet existing ones (--append, or people imported before): 事業所記号 continue
        # above every numeric 記号/事業所記号 below 900000, 任意継続 記号 above every one from 900000 up.
        taken = {
            int(code)
            for code in (
                *Employer.objects.values_list("code", flat=True),
                *Person.objects.values_list("kigo", flat=True).distinct(),
            )
            if code.isascii() and code.isdigit()
        }
        society = Society(
            rng=random.Random(seed),  # noqa: S311 (demo data, reproducible on purpose)
            as_of=as_of,
            employer_start=max((k for k in taken if k < VOLUNTARY_KIGO_START), default=10000),
            vol_start=max(
                (k for k in taken if k >= VOLUNTARY_KIGO_START), default=VOLUNTARY_KIGO_START
            ),
        )
        snapshot = RegistrationSnapshot.objects.create(as_of=as_of, source_name=SOURCE_NAME)
        c = society.counts
        rng = society.rng
        remaining = persons
        employer: Employer | None = None
        employer_left = employer_bango = 0
        while remaining > 0:
            households: list[tuple[Person, list[Person]]] = []
            new_employers: list[Employer] = []
            chunk_persons = 0
            while chunk_persons < remaining and len(households) < CHUNK_MEMBERS:
                if rng.random() < 0.03:  # 任意継続: a few percent of members
                    member = society.member(employer=None, bango=society.next_voluntary_bango())
                else:
                    if employer_left <= 0:
                        employer = society.employer()
                        new_employers.append(employer)
                        # employer sizes: many small, a few large
                        employer_left = min(3000, 3 + int(rng.lognormvariate(3.5, 1.1)))
                        employer_bango = 0
                    employer_left -= 1
                    employer_bango += 1
                    member = society.member(employer=employer, bango=employer_bango)
                deps = society.dependents(member)[: max(0, remaining - chunk_persons - 1)]
                society.apply_losses(member, deps)
                households.append((member, deps))
                chunk_persons += 1 + len(deps)
            remaining -= chunk_persons

            statuses = []
            for member, deps in households:
                for person in (member, *deps):
                    self._count(c, person)
                    if person.lost_on is not None and person.lost_on <= as_of:
                        continue  # no longer qualified: not in the month's registration data
                    if rng.random() < 0.004:
                        person.needs_consideration = True
                        c.consideration += 1
                    row = society.registration(person, snapshot)
                    if row is None:
                        c.without_status += 1
                    else:
                        statuses.append(row)
            # Four INSERT batches per chunk. bulk_create fills each foreign key from the related
            # object's pk, which the previous INSERT set (RETURNING: PostgreSQL, SQLite >= 3.35).
            Employer.objects.bulk_create(new_employers, batch_size=BATCH_SIZE)
            # Person.objects.bulk_create also writes the derived columns (members.dates).
            Person.objects.bulk_create([m for m, _ in households], batch_size=BATCH_SIZE)
            Person.objects.bulk_create(
                [d for _, deps in households for d in deps], batch_size=BATCH_SIZE
            )
            RegistrationStatus.objects.bulk_create(statuses, batch_size=BATCH_SIZE)
            c.statuses += len(statuses)
        snapshot.row_count = c.statuses
        snapshot.save(update_fields=["row_count"])
        return c

    def _count(self, c: Counts, person: Person) -> None:
        if person.relationship == Relationship.DEPENDENT:
            c.dependents += 1
        elif person.insured_type == InsuredType.VOLUNTARY:
            c.voluntary += 1
        else:
            c.general += 1
        if person.lost_on is not None:
            c.lost += 1
        elif 70 <= age_on(person.birth_date, self.as_of) <= 74:
            c.elderly += 1
        if any(ch in person.name for ch in "𠮷髙﨑"):
            c.variant_names += 1
