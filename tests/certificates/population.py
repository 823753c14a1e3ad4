"""A seeded random society for comparing the selector with a naive per-person evaluation.

It covers every registration status, ages around 70 and 75 (birthday on the 1st and 2nd), dependents
of members near 75, 任意継続 households ending around the issue date, losses around the issue date,
certificates before/in/after the renewal window and snapshots dated after the status date."""

from __future__ import annotations

import random
from datetime import date, timedelta

from certificates.models import Certificate
from members.dates import add_months
from members.models import Employer, Person, RegistrationSnapshot, RegistrationStatus

STATUSES = ["登録済", "未登録", "登録解除", "カード返納", "電子証明書失効", None]


def _near(rng: random.Random, center: date, days: int) -> date:
    return center + timedelta(days=rng.randint(-days, days))


def _birth(rng: random.Random, issue: date) -> date:
    kind = rng.random()
    if kind < 0.2:  # around 75 on the issue date
        d = _near(rng, add_months(issue, -900), 40)
    elif kind < 0.4:  # around 70 (高齢受給者 start), on the 1st or 2nd sometimes
        d = _near(rng, add_months(issue, -840), 200)
    else:
        d = date(rng.randint(1952, 2015), rng.randint(1, 12), rng.randint(1, 28))
    if rng.random() < 0.25:
        d = d.replace(day=rng.choice([1, 2]))
    return d


def build(*, seed: int, households: int, issue: date, status_date: date) -> tuple[int, int]:
    rng = random.Random(seed)
    employers = Employer.objects.bulk_create(
        Employer(code=f"P{i:03d}", name=f"事業所{i}") for i in range(12)
    )
    members = []
    for i in range(households):
        voluntary = rng.random() < 0.2
        lost = None
        r = rng.random()
        if r < 0.1:
            lost = _near(rng, issue, 5)
        elif r < 0.15:
            lost = _near(rng, issue, 400)
        acquired = _near(rng, issue, 3) if rng.random() < 0.05 else date(2015, 4, 1)
        if lost is not None and lost < acquired:
            lost = acquired
        members.append(
            Person(
                kigo="9",
                bango=str(10000 + i),
                edaban="00",
                relationship="本人",
                insured_type="任意継続" if voluntary else "一般",
                employer=None if voluntary else rng.choice(employers),
                voluntary_until=_near(rng, issue, 400) if voluntary else None,
                standard_remuneration=rng.choice([None, 150_000, 279_999, 280_000, 500_000]),
                name=f"被保険者{i}",
                name_kana="ヒホケンシャ",
                birth_date=_birth(rng, issue),
                sex="男",
                acquired_on=acquired,
                lost_on=lost,
                needs_consideration=rng.random() < 0.1,
            )
        )
    members = Person.objects.bulk_create(members)
    deps = []
    for m in members:
        for k in range(rng.choice([0, 0, 1, 2, 3])):
            deps.append(
                Person(
                    kigo=m.kigo,
                    bango=m.bango,
                    edaban=f"{k + 1:02d}",
                    relationship="家族",
                    member=m,
                    name=f"家族{m.bango}-{k}",
                    name_kana="カゾク",
                    birth_date=_birth(rng, issue),
                    sex="女",
                    acquired_on=m.acquired_on,
                    lost_on=max(m.acquired_on, _near(rng, issue, 30))
                    if rng.random() < 0.05
                    else None,
                    needs_consideration=rng.random() < 0.1,
                )
            )
    deps = Person.objects.bulk_create(deps)
    everyone = members + deps

    # snapshots: two before the status date, one on it, one after (must be ignored)
    snap_dates = [
        status_date - timedelta(days=60),
        status_date - timedelta(days=30),
        status_date,
        status_date + timedelta(days=10),
    ]
    snaps = [RegistrationSnapshot.objects.create(as_of=d) for d in snap_dates]
    rows = []
    for p in everyone:
        for snap in snaps:
            if rng.random() < 0.45:
                continue
            st = rng.choice(STATUSES[:-1])
            ec = None
            if st == "電子証明書失効":
                ec = _near(rng, add_months(issue, -3), 70)
            rows.append(
                RegistrationStatus(
                    snapshot=snap, person=p, as_of=snap.as_of, status=st, ec_expiry=ec
                )
            )
    RegistrationStatus.objects.bulk_create(rows, batch_size=2000)

    certs = []
    n = 0
    for p in everyone:
        r = rng.random()
        if r < 0.35:
            continue
        n += 1
        kind = rng.random()
        if kind < 0.3:
            until = _near(rng, issue + timedelta(days=60), 3)  # window edge
        elif kind < 0.5:
            until = _near(rng, issue, 3)  # around the issue date
        elif kind < 0.7:
            until = issue + timedelta(days=rng.randint(61, 900))
        else:
            until = issue - timedelta(days=rng.randint(1, 400))
        state = rng.choice(["有効", "有効", "有効", "返却済", "返却不要", "無効"])
        certs.append(
            Certificate(
                number=f"T-{n:07d}",
                person=p,
                reason="未登録",
                issue_date=until - timedelta(days=365),
                valid_until=until,
                route="事業主経由",
                printed_name=p.name,
                printed_name_kana=p.name_kana,
                state=state,
            )
        )
    Certificate.objects.bulk_create(certs, batch_size=2000)
    return len(everyone), len(certs)
