from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from .dates import DERIVED_PERSON_FIELDS, derived_person_fields

# A new 本人 is their own household, but their id exists only once the row is inserted: the row is
# written with this placeholder and settled in the same transaction (the foreign key is checked at
# commit, by then it points to the person themselves). Never seen outside a transaction.
HOUSEHOLD_PENDING = 0
# Fields whose change changes a derived column (members.dates.derived_person_fields).
_DERIVED_FROM = {"birth_date", "member", "member_id"}


class Relationship(models.TextChoices):
    SELF = "本人", "本人"
    DEPENDENT = "家族", "家族"


class InsuredType(models.TextChoices):
    GENERAL = "一般", "一般"
    VOLUNTARY = "任意継続", "任意継続"


class Sex(models.TextChoices):
    MALE = "男", "男"
    FEMALE = "女", "女"


class LossReason(models.TextChoices):
    RETIREMENT = "退職", "退職"
    NOT_DEPENDENT = "被扶養者でなくなった", "被扶養者でなくなった"
    AGE_75 = "75歳到達", "75歳到達(後期高齢者医療へ移行)"
    VOLUNTARY_END = "任意継続満了", "任意継続満了"
    DEATH = "死亡", "死亡"
    MEMBER_LOST = "被保険者の資格喪失", "被保険者の資格喪失"
    OTHER = "その他", "その他"


class Employer(models.Model):
    """事業所."""

    code = models.CharField("事業所記号", max_length=20, unique=True)
    name = models.CharField("事業所名称", max_length=200)
    postal_code = models.CharField("郵便番号", max_length=7, blank=True)
    address = models.CharField("所在地", max_length=200, blank=True)
    created_at = models.DateTimeField("登録日時", auto_now_add=True)
    updated_at = models.DateTimeField("更新日時", auto_now=True)

    class Meta:
        verbose_name = "事業所"
        verbose_name_plural = "事業所"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class PersonQuerySet(models.QuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        """Bulk inserts (seed_demo, tests, benchmarks) get the derived columns too: each row's from
        members.dates, and new 本人 settled as their own household in the same transaction."""
        objs = list(objs)
        for p in objs:
            if Person.member.is_cached(p) and p.member is not None:
                p.member_id = p.member.pk  # the member's id, once the member has one
            p.apply_derived()
        with transaction.atomic(using=self.db, savepoint=False):
            created = super().bulk_create(objs, *args, **kwargs)
            if persons_settle_households():
                for p in created:
                    if p.household_id == HOUSEHOLD_PENDING:
                        p.household_id = p.pk
        return created


class Person(models.Model):
    """Anyone who can hold a 資格確認書: a 被保険者 (本人) or a 被扶養者 (家族).

    One table so that a certificate points to any holder. A dependent shares their member's 記号・番号
    and has their own 枝番; the (記号, 番号, 枝番) triple is the identity key.
    """

    kigo = models.CharField("記号", max_length=20)
    bango = models.CharField("番号", max_length=20)
    edaban = models.CharField("枝番", max_length=2)
    relationship = models.CharField("本人家族区分", max_length=2, choices=Relationship.choices)
    member = models.ForeignKey(
        "self",
        verbose_name="被保険者",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="dependents",
        help_text="家族の場合のみ。本人は空欄。",
    )
    insured_type = models.CharField(
        "被保険者種別", max_length=4, choices=InsuredType.choices, blank=True
    )
    employer = models.ForeignKey(
        Employer,
        verbose_name="事業所",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
    )
    voluntary_until = models.DateField("任意継続満了日", null=True, blank=True)
    standard_remuneration = models.PositiveIntegerField("標準報酬月額(円)", null=True, blank=True)
    name = models.CharField("氏名", max_length=100)
    name_kana = models.CharField("氏名カナ", max_length=100)
    birth_date = models.DateField("生年月日")
    sex = models.CharField("性別", max_length=1, choices=Sex.choices)
    postal_code = models.CharField("郵便番号", max_length=7, blank=True)
    address = models.CharField("住所", max_length=200, blank=True)
    acquired_on = models.DateField("資格取得年月日")
    lost_on = models.DateField("資格喪失年月日", null=True, blank=True)
    loss_reason = models.CharField(
        "喪失事由", max_length=16, choices=LossReason.choices, blank=True
    )
    needs_consideration = models.BooleanField("要配慮者", default=False)
    address_unknown_since = models.DateField(
        "宛所不明(返戻)日", null=True, blank=True, help_text="郵便が返戻された日。住所訂正で解除。"
    )
    # Derived columns: computed only by members.dates.derived_person_fields (see Person.save and
    # persons_settle_households), never edited. They turn the date law into column comparisons for
    # certificates.rules, in bulk and for one person alike.
    household = models.ForeignKey(
        "self",
        verbose_name="世帯(被保険者)",
        # `member` (PROTECT) already keeps a 本人 with dependents from being deleted; a 本人 points
        # to themselves here, which PROTECT would refuse to delete.
        on_delete=models.DO_NOTHING,
        related_name="+",
        editable=False,
        help_text="本人は本人自身、家族はその被保険者。",
    )
    age_cover_until = models.DateField(
        "年齢による資格の終期", editable=False, help_text="75歳の誕生日の前日。"
    )
    elderly_from = models.DateField(
        "高齢受給者の開始日",
        editable=False,
        help_text="70歳に達する日の翌月1日(1日生まれはその月)。",
    )
    created_at = models.DateTimeField("登録日時", auto_now_add=True)
    updated_at = models.DateTimeField("更新日時", auto_now=True)

    history = HistoricalRecords(
        verbose_name="加入者の変更履歴", verbose_name_plural="加入者の変更履歴"
    )
    objects = PersonQuerySet.as_manager()

    class Meta:
        verbose_name = "加入者"
        verbose_name_plural = "加入者(被保険者・被扶養者)"
        ordering = ["kigo", "bango", "edaban"]
        constraints = [
            models.UniqueConstraint(
                fields=["kigo", "bango", "edaban"], name="person_kigo_bango_edaban_unique"
            ),
            models.CheckConstraint(
                condition=Q(edaban__regex=r"^[0-9]{2}$"), name="person_edaban_two_digits"
            ),
            models.CheckConstraint(
                condition=Q(postal_code="") | Q(postal_code__regex=r"^[0-9]{7}$"),
                name="person_postal_code_seven_digits",
            ),
            models.CheckConstraint(
                condition=Q(relationship__in=Relationship.values), name="person_relationship_valid"
            ),
            models.CheckConstraint(condition=Q(sex__in=Sex.values), name="person_sex_valid"),
            # 本人: no member, a 被保険者種別. 家族: belongs to a member, follows the member's 種別.
            models.CheckConstraint(
                condition=(
                    Q(
                        relationship=Relationship.SELF,
                        member__isnull=True,
                        insured_type__in=InsuredType.values,
                    )
                    | Q(
                        relationship=Relationship.DEPENDENT,
                        member__isnull=False,
                        insured_type="",
                        employer__isnull=True,
                        voluntary_until__isnull=True,
                        standard_remuneration__isnull=True,
                    )
                ),
                name="person_relationship_shape",
            ),
            # 一般 members belong to a 事業所; 任意継続 members have none and an end date (≤ 2 years).
            models.CheckConstraint(
                condition=~Q(insured_type=InsuredType.GENERAL)
                | Q(employer__isnull=False, voluntary_until__isnull=True),
                name="person_general_has_employer",
            ),
            models.CheckConstraint(
                condition=~Q(insured_type=InsuredType.VOLUNTARY)
                | Q(employer__isnull=True, voluntary_until__isnull=False),
                name="person_voluntary_has_end_date",
            ),
            models.CheckConstraint(
                condition=Q(lost_on__isnull=True) | Q(lost_on__gte=models.F("acquired_on")),
                name="person_lost_after_acquired",
            ),
        ]
        indexes = [
            # clerks search by カナ (prefix search in the admin). Prefix LIKE can use a btree index
            # only with pattern ops unless the collation is "C" (C.UTF-8 does not count before
            # PostgreSQL 17); other backends ignore opclasses.
            models.Index(
                fields=["name_kana"], name="person_name_kana", opclasses=["varchar_pattern_ops"]
            ),
            # the 75th-birthday job and age pre-filters of the selector
            models.Index(fields=["birth_date"], name="person_birth_date"),
            # the selector's "qualified on the issue date" pre-filter
            models.Index(fields=["lost_on"], name="person_lost_on"),
            # The admin's person search ORs 記号 =, 番号 =, 氏名 LIKE 'x%' and カナ LIKE 'x%'; each
            # branch needs an index or PostgreSQL scans the whole table. 記号 leads the unique key.
            models.Index(fields=["bango"], name="person_bango"),
            models.Index(
                fields=["name"], name="person_name_prefix", opclasses=["varchar_pattern_ops"]
            ),
            # the 75th-birthday job (persons whose cover by age ends before a date) and rule 1
            models.Index(fields=["age_cover_until"], name="person_age_cover_until"),
            # 高齢受給者 starting in a month (the 70th-birthday events)
            models.Index(fields=["elderly_from"], name="person_elderly_from"),
        ]

    def __str__(self) -> str:
        return f"{self.kigo}-{self.bango}-{self.edaban} {self.name}"

    def save(self, *args, update_fields=None, **kwargs):
        """Every single-row write (services, admin) recomputes the derived columns."""
        if update_fields is not None and not _DERIVED_FROM & set(update_fields):
            return super().save(*args, update_fields=update_fields, **kwargs)
        self.apply_derived()
        if update_fields is not None:
            update_fields = {*update_fields, *DERIVED_PERSON_FIELDS}
            update_fields.discard("household_id")
            update_fields.add("household")
        if self.household_id != HOUSEHOLD_PENDING:
            return super().save(*args, update_fields=update_fields, **kwargs)
        with transaction.atomic():
            super().save(*args, update_fields=update_fields, **kwargs)
            persons_settle_households()
            self.household_id = self.pk

    def apply_derived(self) -> None:
        """Set the derived columns from this row (members.dates.derived_person_fields)."""
        derived = derived_person_fields(
            birth_date=self.birth_date, member_id=self.member_id, pk=self.pk
        )
        if derived["household_id"] is None:
            derived["household_id"] = HOUSEHOLD_PENDING
        for name, value in derived.items():
            setattr(self, name, value)

    @property
    def key(self) -> str:
        return f"{self.kigo}・{self.bango}・{self.edaban}"

    @property
    def household_member(self) -> "Person":
        """The 被保険者 of this person's household (themselves for a 本人)."""
        return self if self.member_id is None else self.member


def persons_settle_households() -> int:
    """New 本人 rows written with HOUSEHOLD_PENDING become their own household, set-wise (and so do
    their history rows). Called in the transaction that inserted them. Returns how many."""
    n = Person.objects.filter(household_id=HOUSEHOLD_PENDING).update(household_id=F("pk"))
    if n:
        Person.history.filter(household_id=HOUSEHOLD_PENDING).update(household_id=F("id"))
    return n


class RegistrationStatusValue(models.TextChoices):
    REGISTERED = "登録済", "登録済"
    NOT_REGISTERED = "未登録", "未登録"
    DEREGISTERED = "登録解除", "登録解除"
    CARD_RETURNED = "カード返納", "カード返納"
    EC_EXPIRED = "電子証明書失効", "電子証明書失効"


class RegistrationSnapshot(models.Model):
    """One import of the monthly マイナ保険証 利用登録状況 data. Never overwritten."""

    as_of = models.DateField("基準日")
    source_name = models.CharField("ファイル名", max_length=255, blank=True)
    row_count = models.PositiveIntegerField("件数", default=0)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="取込者",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField("取込日時", auto_now_add=True)

    class Meta:
        verbose_name = "利用登録状況の取込"
        verbose_name_plural = "利用登録状況の取込"
        ordering = ["-as_of", "-id"]

    def __str__(self) -> str:
        return f"{self.as_of} ({self.row_count}件)"


class RegistrationStatus(models.Model):
    """A person's マイナ保険証 registration status in one snapshot."""

    snapshot = models.ForeignKey(
        RegistrationSnapshot,
        verbose_name="取込",
        on_delete=models.PROTECT,
        related_name="statuses",
    )
    person = models.ForeignKey(
        Person,
        verbose_name="加入者",
        on_delete=models.PROTECT,
        related_name="registration_statuses",
    )
    # Copied from the snapshot so "latest status on or before the status date" is one index scan.
    as_of = models.DateField("基準日")
    status = models.CharField("登録状況", max_length=8, choices=RegistrationStatusValue.choices)
    ec_expiry = models.DateField("電子証明書有効期限", null=True, blank=True)

    class Meta:
        verbose_name = "利用登録状況"
        verbose_name_plural = "利用登録状況"
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "person"], name="registrationstatus_snapshot_person_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=RegistrationStatusValue.values),
                name="registrationstatus_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status=RegistrationStatusValue.EC_EXPIRED)
                | Q(ec_expiry__isnull=False),
                name="registrationstatus_ec_expiry_required",
            ),
        ]
        indexes = [
            # latest status of a person on or before a status date (selector, letters)
            models.Index(fields=["person", "-as_of", "-snapshot"], name="regstatus_person_asof"),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.as_of} {self.status}"
