"""The registry imports at the size of a whole register: peak RSS and time of `import_members` and
`import_registration_status` against plain csv + bulk_create, at several file sizes.

    .venv/bin/python scripts/bench_import.py            (its own PostgreSQL, like scripts/bench.py)
    BENCH_IMPORT_SIZES=2000,10000 .venv/bin/python scripts/bench_import.py     (small, to check it)

`make bench` calls `bench_import_scale(b)` with its own Bench (scripts/bench.py). Sizes (environment):

    BENCH_IMPORT_SIZES   rows of the members file, comma-separated   (default 100,000,1,200,000)

For each size a members CSV of whole households (rules.md format: 一般 and 任意継続 members, 0–3
dependents, a 資格喪失年月日 on one row in 20) is written, then imported into two empty databases
made from the migrated template: once with `manage.py import_members PATH --by clerk`, once with
csv.DictReader + bulk_create (scripts/bench_child.py raw-import: no validation, no history, no
audit). A registration-status CSV of every imported person then goes through
`import_registration_status` and through csv + bulk_create of RegistrationStatus. Each step is its
own process: its peak RSS is that process's (wait4), its time is measured inside it around the import
itself. Prints `RAW import_scale …` lines and the `RATIO` lines.
"""

from __future__ import annotations

import csv
import json
import os
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2025-11-30"
RSS_GOAL_MB = 300
RATIO_GOAL = 1.5

MEMBER_HEADER = (
    "事業所記号,事業所名称,記号,番号,枝番,本人家族区分,被保険者種別,氏名,氏名カナ,生年月日,性別,"
    "郵便番号,住所,資格取得年月日,資格喪失年月日,任意継続満了日,標準報酬月額,要配慮者"
).split(",")
STATUSES = ("登録済", "未登録", "登録解除", "カード返納", "電子証明書失効")


def sizes() -> list[int]:
    raw = os.environ.get("BENCH_IMPORT_SIZES", "100000,1200000")
    return [int(s.replace("_", "")) for s in raw.split(",") if s.strip()]


# --- the files -------------------------------------------------------------------------------------


def write_members_csv(path: Path, rows: int, seed: int = 19) -> int:
    """A members file of `rows` rows of whole households (the last household may be cut short)."""
    rnd = random.Random(seed)  # noqa: S311 - test data, not secrets
    family = ["山田", "佐藤", "鈴木", "髙橋", "田中", "渡辺", "伊藤", "山本", "中村", "小林"]
    kana = ["ヤマダ", "サトウ", "スズキ", "タカハシ", "タナカ", "ワタナベ", "イトウ", "ヤマモト"]
    given = [("太郎", "タロウ"), ("花子", "ハナコ"), ("𠮷男", "ヨシオ"), ("美咲", "ミサキ")]
    written = 0
    household = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(MEMBER_HEADER)
        while written < rows:
            household += 1
            kigo, bango = str(100 + household % 900), str(household)
            voluntary = household % 25 == 0
            employer = f"E{household % 4000:05d}"
            born = date(1950, 1, 1) + timedelta(days=rnd.randrange(365 * 50))
            acquired = max(born + timedelta(days=365 * 18), date(1990, 4, 1))
            lost = acquired + timedelta(days=rnd.randrange(9000)) if household % 20 == 0 else None
            fam = family[household % len(family)]
            k = kana[household % len(kana)]
            w.writerow(
                [
                    "" if voluntary else employer,
                    "" if voluntary else f"株式会社{employer}",
                    kigo,
                    bango,
                    "00",
                    "本人",
                    "任意継続" if voluntary else "一般",
                    f"{fam} {given[0][0]}",
                    f"{k} {given[0][1]}",
                    born.isoformat(),
                    "男",
                    f"{100 + household % 800:03d}-{household % 10000:04d}",
                    f"東京都千代田区丸の内{household % 9 + 1}-{household % 30 + 1}-1",
                    acquired.isoformat(),
                    lost.isoformat() if lost and lost < date(2026, 1, 1) else "",
                    "2026-03-31" if voluntary else "",
                    str(rnd.choice((180000, 240000, 300000, 410000))),
                    "1" if household % 97 == 0 else "",
                ]
            )
            written += 1
            # a household whose member lost cover has no dependents (they would follow anyway)
            for n in range(1, 1 + (0 if lost else rnd.choice((0, 0, 1, 2, 3)))):
                if written >= rows:
                    break
                name, name_kana = given[n % len(given)]
                dep_born = born + timedelta(days=rnd.randrange(365 * 20))
                w.writerow(
                    [
                        "",
                        "",
                        kigo,
                        bango,
                        f"{n:02d}",
                        "家族",
                        "",
                        f"{fam} {name}",
                        f"{k} {name_kana}",
                        dep_born.isoformat(),
                        "女" if n % 2 else "男",
                        "",
                        "",
                        max(dep_born, acquired).isoformat(),
                        "",
                        "",
                        "",
                        "",
                    ]
                )
                written += 1
    return written


def write_status_csv(members: Path, path: Path) -> int:
    """One status row per person of the members file."""
    written = 0
    with (
        members.open(encoding="utf-8", newline="") as src,
        path.open("w", encoding="utf-8", newline="") as fh,
    ):
        r = csv.reader(src)
        next(r)
        w = csv.writer(fh)
        w.writerow(["記号", "番号", "枝番", "登録状況", "電子証明書有効期限"])
        for i, row in enumerate(r):
            status = STATUSES[i % len(STATUSES)]
            w.writerow(
                [row[2], row[3], row[4], status, "2025-08-31" if status == "電子証明書失効" else ""]
            )
            written += 1
    return written


# --- child steps (inside Django) -----------------------------------------------------------------


def _django():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def child(step: str, path: str) -> None:
    _django()
    from django.core.management import call_command
    from django.db import transaction

    from members.models import Person, RegistrationSnapshot, RegistrationStatus

    started = time.perf_counter()
    if step == "members":
        call_command("import_members", path, username="clerk", stdout=open(os.devnull, "w"))  # noqa: SIM115
    elif step == "status":
        call_command(
            "import_registration_status",
            path,
            as_of=AS_OF,
            username="clerk",
            stdout=open(os.devnull, "w"),  # noqa: SIM115
        )
    elif step == "raw-status":
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
        ids = {
            (k, b, e): pk
            for pk, k, b, e in Person.objects.values_list("pk", "kigo", "bango", "edaban")
        }
        with transaction.atomic():
            snap = RegistrationSnapshot.objects.create(as_of=AS_OF, row_count=len(rows))
            RegistrationStatus.objects.bulk_create(
                (
                    RegistrationStatus(
                        snapshot=snap,
                        person_id=ids[(r["記号"], r["番号"], r["枝番"])],
                        as_of=AS_OF,
                        status=r["登録状況"],
                        ec_expiry=r["電子証明書有効期限"] or None,
                    )
                    for r in rows
                ),
                batch_size=2000,
            )
    else:
        raise SystemExit(f"unknown step {step}")
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "persons": Person.objects.count(),
                "statuses": RegistrationStatus.objects.count(),
            }
        ),
        flush=True,
    )


# --- the measurement ------------------------------------------------------------------------------


def _self(b, db: str, step: str, path: Path, label: str):
    return b.run(
        [
            str(ROOT / ".venv" / "bin" / "python"),
            str(Path(__file__).resolve()),
            "child",
            step,
            str(path),
        ],
        b.env(db),
        label,
    )


def bench_import_scale(b) -> dict:
    """Each size in BENCH_IMPORT_SIZES; records b.results['raw']['import_scale'] and the ratios."""
    from bench import log, ratio

    results = {}
    for rows in sizes():
        members = b.work / f"members-{rows}.csv"
        statuses = b.work / f"status-{rows}.csv"
        made = write_members_csv(members, rows)
        write_status_csv(members, statuses)
        log(
            f"import at {made} rows: import_members / import_registration_status vs csv + bulk_create"
        )
        project_db, raw_db = f"bench_imp_{rows}", f"bench_imp_raw_{rows}"
        b.create_db(project_db, template="bench_template")
        b.create_db(raw_db, template="bench_template")
        raw = b.child(raw_db, "raw-import", str(members), label=f"import-raw-{rows}")
        project = _self(b, project_db, "members", members, f"import-members-{rows}")
        b.admin_sql("ANALYZE", project_db)
        b.admin_sql("ANALYZE", raw_db)
        raw_status = _self(b, raw_db, "raw-status", statuses, f"status-raw-{rows}")
        status = _self(b, project_db, "status", statuses, f"status-import-{rows}")
        p, r, ps, rs = project.json(), raw.json(), status.json(), raw_status.json()
        if p["persons"] != r["persons"] or ps["statuses"] != rs["statuses"]:
            raise RuntimeError(f"imports disagree at {rows} rows: {p} {r} {ps} {rs}")
        entry = {
            "rows": made,
            "members": {"seconds": p["seconds"], "peak_rss_mb": project.peak_rss_mb},
            "members_raw": {"seconds": r["seconds"], "peak_rss_mb": raw.peak_rss_mb},
            "status": {"seconds": ps["seconds"], "peak_rss_mb": status.peak_rss_mb},
            "status_raw": {"seconds": rs["seconds"], "peak_rss_mb": raw_status.peak_rss_mb},
        }
        results[made] = entry
        log(
            f"  import_members {p['seconds']:.1f}s peak RSS {project.peak_rss_mb:.0f} MB;"
            f" csv + bulk_create {r['seconds']:.1f}s ({raw.peak_rss_mb:.0f} MB);"
            f" import_registration_status {ps['seconds']:.1f}s peak RSS {status.peak_rss_mb:.0f} MB;"
            f" csv + bulk_create {rs['seconds']:.1f}s"
        )
        for db in (project_db, raw_db):
            b.admin_sql(f'DROP DATABASE IF EXISTS "{db}"')
        members.unlink()
        statuses.unlink()
    b.results["raw"]["import_scale"] = results
    largest = results[max(results)]
    ratio(
        "import_vs_bulk_create",
        largest["members"]["seconds"] / largest["members_raw"]["seconds"],
        b,
    )
    # (kept beside the figures: docs/performance.md's report has no goal line for it)
    status_ratio = largest["status"]["seconds"] / largest["status_raw"]["seconds"]
    b.results["raw"]["import_scale_status_ratio"] = status_ratio
    b.results["notes"].append(
        f"import_vs_bulk_create is measured at {max(results):,} rows by scripts/bench_import.py"
        f" (status import: {status_ratio:.2f})"
    )
    print_lines(results)
    print(f"RATIO status_import_vs_bulk_create {status_ratio:.2f}")
    return results


def print_lines(results: dict) -> None:
    for rows, e in sorted(results.items()):
        print(
            f"RAW import_scale rows={rows}"
            f" import_members_s={e['members']['seconds']:.1f}"
            f" import_members_peak_rss_mb={e['members']['peak_rss_mb']:.0f}"
            f" bulk_create_s={e['members_raw']['seconds']:.1f}"
            f" status_import_s={e['status']['seconds']:.1f}"
            f" status_import_peak_rss_mb={e['status']['peak_rss_mb']:.0f}"
            f" status_bulk_create_s={e['status_raw']['seconds']:.1f}"
            f" (goals: peak RSS <= {RSS_GOAL_MB} MB, ratio <= {RATIO_GOAL})"
        )


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "child":
        child(sys.argv[2], sys.argv[3])
        return 0
    if os.environ.get("BENCH_UNDER_SERVICES") != "1":
        env = {**os.environ, "BENCH_UNDER_SERVICES": "1"}
        script = str(ROOT / "scripts" / "with-services.sh")
        python = str(ROOT / ".venv" / "bin" / "python")
        os.execve(script, [script, python, str(Path(__file__).resolve())], env)  # noqa: S606
    import tempfile

    from bench import Bench, prepare_template

    b = Bench(Path(tempfile.mkdtemp(prefix="shikaku-bench-import-")))
    prepare_template(b)
    results = bench_import_scale(b)
    (b.work / "import-results.json").write_text(json.dumps(results, indent=2))
    for name, value in b.results["ratios"].items():
        print(f"RATIO {name} {value:.2f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
