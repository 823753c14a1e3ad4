"""A small society in which every rule of rules.md decides someone's fate, with the expected
certificates of a run on ISSUE (status date STATUS_DATE, uniform expiry RUN_UNTIL)."""

from __future__ import annotations

from datetime import date

from certificates.models import Certificate

from .factories import dependent, employer, member, snapshot

STATUS_DATE = date(2026, 11, 15)
ISSUE = date(2026, 12, 1)
RUN_UNTIL = date(2031, 11, 30)

# key (記号-番号-枝番) → (交付事由, 有効期限, 送付先, 高齢受給者証発効日, 一部負担金割合)
EXPECTED = {
    "10-1-00": ("未登録", RUN_UNTIL, "事業主経由", None, ""),
    "10-1-01": ("登録状況不明", RUN_UNTIL, "事業主経由", None, ""),
    "10-2-01": ("要配慮者", RUN_UNTIL, "事業主経由", None, ""),  # 登録済 but 要配慮者
    "10-3-00": ("登録解除", RUN_UNTIL, "事業主経由", None, ""),
    "10-4-00": ("カード返納", RUN_UNTIL, "事業主経由", None, ""),
    "10-5-00": ("電子証明書失効", RUN_UNTIL, "事業主経由", None, ""),  # lapses 2026-12-31
    "10-6-00": ("未登録", date(2027, 6, 30), "自宅", None, ""),  # 任意継続満了日
    "10-6-01": ("登録状況不明", date(2027, 6, 30), "自宅", None, ""),
    "10-8-00": (
        "未登録",
        date(2027, 5, 31),
        "事業主経由",
        date(2022, 6, 1),
        "3割",
    ),  # 75 on 2027-06-01
    "10-8-01": ("未登録", date(2027, 5, 31), "事業主経由", None, ""),  # capped by the member's 75th
    "10-9-00": ("未登録", RUN_UNTIL, "事業主経由", date(2027, 1, 1), "2割"),  # born on the 2nd
    "10-9-01": ("未登録", RUN_UNTIL, "事業主経由", date(2026, 12, 1), "2割"),  # born on the 1st
    "10-10-00": ("更新", RUN_UNTIL, "事業主経由", None, ""),  # renews a certificate ending +60 days
    "10-12-00": ("カード返納", RUN_UNTIL, "事業主経由", None, ""),  # its old one expired
    "10-13-00": ("未登録", RUN_UNTIL, "事業主経由", None, ""),  # 登録済 snapshot after status date
    "10-15-00": ("未登録", RUN_UNTIL, "事業主経由", None, ""),  # 要配慮者 and 未登録
    "10-16-00": (
        "未登録",
        date(2026, 12, 1),
        "事業主経由",
        date(2022, 1, 1),
        "3割",
    ),  # 75 the day after the issue date: valid one day; born on the 2nd → 高齢受給者 from January
    "10-17-00": ("未登録", RUN_UNTIL, "事業主経由", None, ""),  # 2nd 事業所
}
NOT_TARGETS = {
    "10-2-00": "登録済",
    "10-5-01": "電子証明書失効 lapsing after the issue month",
    "10-7-00": "75 on the issue date",
    "10-7-01": "member 75 on the issue date",
    "10-11-00": "certificate valid beyond the renewal window (+61 days)",
    "10-14-00": "lost qualification on the issue date",
    "10-14-01": "acquired after the issue date (own)",
    "10-18-00": "任意継続満了日 before the issue date",
}


def build() -> dict[str, object]:
    e1 = employer("E100", "第一商事")
    e2 = employer("E200", "第二工業")
    p = {}

    def k(x):
        p[f"{x.kigo}-{x.bango}-{x.edaban}"] = x
        return x

    a = k(
        member(kigo="10", bango="1", employer_obj=e1, name="髙﨑 𠮷男", name_kana="タカサキ ヨシオ")
    )
    k(dependent(a))
    b = k(member(kigo="10", bango="2", employer_obj=e1))
    k(dependent(b, needs_consideration=True))
    k(member(kigo="10", bango="3", employer_obj=e1))
    k(member(kigo="10", bango="4", employer_obj=e1))
    e = k(member(kigo="10", bango="5", employer_obj=e1))
    k(dependent(e))
    f = k(member(kigo="10", bango="6", insured_type="任意継続", voluntary_until=date(2027, 6, 30)))
    k(dependent(f))
    g = k(member(kigo="10", bango="7", employer_obj=e1, birth_date=date(1951, 12, 1)))
    k(dependent(g, birth_date=date(1990, 1, 1)))
    h = k(member(kigo="10", bango="8", employer_obj=e1, birth_date=date(1952, 6, 1)))
    k(dependent(h, birth_date=date(1960, 3, 10)))
    i = k(
        member(
            kigo="10",
            bango="9",
            employer_obj=e1,
            birth_date=date(1956, 12, 2),
            standard_remuneration=200_000,
        )
    )
    k(dependent(i, birth_date=date(1956, 12, 1)))
    j = k(member(kigo="10", bango="10", employer_obj=e1))
    kk = k(member(kigo="10", bango="11", employer_obj=e1))
    ll = k(member(kigo="10", bango="12", employer_obj=e1))
    m = k(member(kigo="10", bango="13", employer_obj=e1))
    n = k(member(kigo="10", bango="14", employer_obj=e1, lost_on=date(2026, 12, 1)))
    k(dependent(n, acquired_on=date(2026, 12, 2)))
    pp = k(member(kigo="10", bango="15", employer_obj=e1, needs_consideration=True))
    q = k(member(kigo="10", bango="16", employer_obj=e1, birth_date=date(1951, 12, 2)))
    r = k(member(kigo="10", bango="17", employer_obj=e2))
    s = k(
        member(kigo="10", bango="18", insured_type="任意継続", voluntary_until=date(2026, 11, 30))
    )

    snapshot(
        date(2026, 10, 1),
        [
            (a, "未登録", None),
            (b, "登録済", None),
            (p["10-2-01"], "登録済", None),
            (p["10-3-00"], "登録解除", None),
            (p["10-4-00"], "カード返納", None),
            (e, "電子証明書失効", date(2026, 9, 1)),
            (p["10-5-01"], "電子証明書失効", date(2026, 10, 1)),
            (f, "未登録", None),
            (g, "未登録", None),
            (p["10-7-01"], "未登録", None),
            (h, "未登録", None),
            (p["10-8-01"], "未登録", None),
            (i, "未登録", None),
            (p["10-9-01"], "未登録", None),
            (j, "未登録", None),
            (kk, "未登録", None),
            (ll, "カード返納", None),
            (m, "未登録", None),
            (n, "未登録", None),
            (p["10-14-01"], "未登録", None),
            (pp, "未登録", None),
            (q, "未登録", None),
            (r, "未登録", None),
            (s, "未登録", None),
        ],
    )
    snapshot(date(2026, 11, 20), [(m, "登録済", None)])  # after the status date: ignored

    def cert(person, number, issue, until):
        return Certificate.objects.create(
            number=number,
            person=person,
            reason="未登録",
            issue_date=issue,
            valid_until=until,
            route="事業主経由",
            printed_name=person.name,
            printed_name_kana=person.name_kana,
        )

    p["old-renewed"] = cert(j, "2025-9000001", date(2025, 12, 1), date(2027, 1, 30))
    p["old-blocking"] = cert(kk, "2025-9000002", date(2025, 12, 1), date(2027, 1, 31))
    p["old-expired"] = cert(ll, "2024-9000003", date(2024, 7, 1), date(2026, 6, 30))
    return p
