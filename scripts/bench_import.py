"""The registry imports at the size of a whole register: peak RSS and time of `import_members` and
`import_registration_status` against plain csv + bulk_create, at several file sizes; and
`import_payments` of a bank-transfer file of as many rows against csv + bulk_create of the listed rows.

    .venv/bin/python scripts/bench_import.py            (its own PostgreSQL, like scripts/bench.py)
    BENCH_IMPORT_SIZES=2000,10000 .venv/bin/python scripts/bench_import.py     (small, to check it)

`make bench` calls `bench_import_scale(b)` with its own Bench (scripts/bench.py). Sizes (environment):

    BENCH_IMPORT_SIZES   rows of the members file, comma-separated   (default 100,000,1,200,000)
    BENCH_PROFILE_SQL=1  each step's log (in the bench's work folder) ends with its slowest
                         statements: seconds and count

For each size a members CSV of whole households (rules.md format: 一般 and 任意継続 members, 0–3
dependents, a 資格喪失年月日 on one row in 20) is written, then imported into two empty databases
made from the migrated template: once with `manage.py import_members PATH --by clerk`, once with
csv.DictReader + bulk_create (scripts/bench_child.py raw-import: no validation, no history, no
audit). A registration-status CSV of every imported person then goes through
`import_registration_status` and through csv + bulk_create of RegistrationStatus. A 振込データ file of
as many rows, none of them matching an invoice (the import's worst case: every row is listed on the
PaymentImport), goes through `import_payments` and through csv.DictReader + one PaymentImport holding
the same listed rows (the least that stores the same result). Each step is its own process: its peak
RSS is that process's (wait4), its time is measured inside it around the import itself. Prints
`RAW import_scale …` lines and the `RATIO` lines.

The files are written with the contract's headers (members.formats, fees.payments): the bench
measures the imports of the files the society sends, so it follows the contract, not a copy of it.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from members.formats import MEMBER_COLUMNS, STATUS_COLUMNS  # noqa: E402 (plain constants, no Django)

AS_OF = "2025-11-30"
RSS_GOAL_MB = 300
RATIO_GOAL = 1.5
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
        w = csv.DictWriter(fh, fieldnames=MEMBER_COLUMNS)
        w.writeheader()
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
                {
                    "事業所記号": "" if voluntary else employer,
                    "事業所名称": "" if voluntary else f"株式会社{employer}",
                    "記号": kigo,
                    "番号": bango,
                    "枝番": "00",
                    "本人家族区分": "本人",
                    "被保険者種別": "任意継続" if voluntary else "一般",
                    "氏名": f"{fam} {given[0][0]}",
                    "氏名カナ": f"{k} {given[0][1]}",
                    "生年月日": born.isoformat(),
                    "性別": "男",
                    "郵便番号": f"{100 + household % 800:03d}-{household % 10000:04d}",
                    "住所": f"東京都千代田区丸の内{household % 9 + 1}-{household % 30 + 1}-1",
                    "資格取得年月日": acquired.isoformat(),
                    "資格喪失年月日": lost.isoformat() if lost and lost < date(2026, 1, 1) else "",
                    "任意継続満了日": "2026-03-31" if voluntary else "",
                    "標準報酬月額": str(rnd.choice((180000, 240000, 300000, 410000))),
                    "要配慮者": "1" if household % 97 == 0 else "",
                }
            )
            written += 1
            # a household whose member lost cover has no dependents (they would follow anyway)
            for n in range(1, 1 + (0 if lost else rnd.choice((0, 0, 1, 2, 3)))):
                if written >= rows:
                    break
                name, name_kana = given[n % len(given)]
                dep_born = born + timedelta(days=rnd.randrange(365 * 20))
                w.writerow(
                    {
                        "事業所記号": "",
                        "事業所名称": "",
                        "記号": kigo,
                        "番号": bango,
                        "枝番": f"{n:02d}",
                        "本人家族区分": "家族",
                        "被保険者種別": "",
                        "氏名": f"{fam} {name}",
                        "氏名カナ": f"{k} {name_kana}",
                        "生年月日": dep_born.isoformat(),
                        "性別": "女" if n % 2 else "男",
                        "郵便番号": "",
                        "住所": "",
                        "資格取得年月日": max(dep_born, acquired).isoformat(),
                        "資格喪失年月日": "",
                        "任意継続満了日": "",
                        "標準報酬月額": "",
                        "要配慮者": "",
                    }
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
        r = csv.DictReader(src)
        w = csv.DictWriter(fh, fieldnames=STATUS_COLUMNS)
        w.writeheader()
        for i, row in enumerate(r):
            status = STATUSES[i % len(STATUSES)]
            w.writerow(
                {
                    "記号": row["記号"],
                    "番号": row["番号"],
                    "枝番": row["枝番"],
                    "登録状況": status,
                    "電子証明書有効期限": "2025-08-31" if status == "電子証明書失効" else "",
                }
            )
            written += 1
    return written


def write_payments_csv(path: Path, rows: int) -> int:
    """A 振込データ file of `rows` rows whose 請求書番号 match no invoice of the database."""
    from fees.payments import COLUMNS

    paid_on = AS_OF  # in the past: a future 入金日 is refused
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        for i in range(rows):
            w.writerow(
                {
                    "請求書番号": f"{1900 + i // 1_000_000}-{i % 1_000_000:06d}",
                    "入金額": "1000",
                    "入金日": paid_on,
                }
            )
    return rows


# --- child steps (inside Django) -----------------------------------------------------------------


def _django():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _profile_statements() -> None:
    """BENCH_PROFILE_SQL=1: seconds and count per statement (its first 90 characters), the slowest
    first, on stderr (the step's log) when the step ends."""
    import atexit

    from django.db import connection

    by_statement: dict[str, list] = {}

    def timed(execute, statement, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            entry = by_statement.setdefault(" ".join(statement.split())[:90], [0.0, 0])
            entry[0] += time.perf_counter() - t0
            entry[1] += 1

    def report() -> None:
        for text, (seconds, count) in sorted(by_statement.items(), key=lambda kv: -kv[1][0])[:15]:
            print(f"SQL {seconds:8.2f}s {count:6d}  {text}", file=sys.stderr)

    connection.execute_wrappers.append(timed)
    atexit.register(report)


def child(step: str, path: str) -> None:
    _django()
    from django.core.management import call_command
    from django.db import transaction

    if os.environ.get("BENCH_PROFILE_SQL") == "1":
        _profile_statements()

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
    elif step == "payments":
        call_command("import_payments", path, username="clerk", stdout=open(os.devnull, "w"))  # noqa: SIM115
    elif step == "raw-payments":
        from fees.models import PaymentImport, PaymentImportRow

        imp = PaymentImport.objects.create(
            source_name=Path(path).name, sha256="0" * 64, row_count=0
        )
        with open(path, encoding="utf-8-sig", newline="") as fh:
            listed = (
                PaymentImportRow(
                    payment_import=imp,
                    row=i,
                    number=r["請求書番号"],
                    amount=int(r["入金額"]),
                    paid_on=r["入金日"],
                    applied=False,
                    reason="該当する請求書がありません",
                )
                for i, r in enumerate(csv.DictReader(fh), start=2)
            )
            count = 0
            while batch := list(itertools.islice(listed, 5000)):
                PaymentImportRow.objects.bulk_create(batch)
                count += len(batch)
        imp.row_count = imp.rejected_count = count
        imp.save(update_fields=["row_count", "rejected_count"])
    else:
        raise SystemExit(f"unknown step {step}")
    seconds = time.perf_counter() - started
    from fees.models import PaymentImport

    print(
        json.dumps(
            {
                "seconds": seconds,
                "persons": Person.objects.count(),
                "statuses": RegistrationStatus.objects.count(),
                "payment_rows": sum(PaymentImport.objects.values_list("row_count", flat=True)),
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
        payments_file = b.work / f"payments-{rows}.csv"
        write_payments_csv(payments_file, made)
        raw_pay = _self(b, raw_db, "raw-payments", payments_file, f"payments-raw-{rows}")
        pay = _self(b, project_db, "payments", payments_file, f"payments-import-{rows}")
        p, r, ps, rs = project.json(), raw.json(), status.json(), raw_status.json()
        pp, rp = pay.json(), raw_pay.json()
        if (
            p["persons"] != r["persons"]
            or ps["statuses"] != rs["statuses"]
            or pp["payment_rows"] != rp["payment_rows"]
        ):
            raise RuntimeError(f"imports disagree at {rows} rows: {p} {r} {ps} {rs} {pp} {rp}")
        entry = {
            "rows": made,
            "members": {"seconds": p["seconds"], "peak_rss_mb": project.peak_rss_mb},
            "members_raw": {"seconds": r["seconds"], "peak_rss_mb": raw.peak_rss_mb},
            "status": {"seconds": ps["seconds"], "peak_rss_mb": status.peak_rss_mb},
            "status_raw": {"seconds": rs["seconds"], "peak_rss_mb": raw_status.peak_rss_mb},
            "payments": {"seconds": pp["seconds"], "peak_rss_mb": pay.peak_rss_mb},
            "payments_raw": {"seconds": rp["seconds"], "peak_rss_mb": raw_pay.peak_rss_mb},
        }
        results[made] = entry
        log(
            f"  import_members {p['seconds']:.1f}s peak RSS {project.peak_rss_mb:.0f} MB;"
            f" csv + bulk_create {r['seconds']:.1f}s ({raw.peak_rss_mb:.0f} MB);"
            f" import_registration_status {ps['seconds']:.1f}s peak RSS {status.peak_rss_mb:.0f} MB;"
            f" csv + bulk_create {rs['seconds']:.1f}s;"
            f" import_payments {pp['seconds']:.1f}s peak RSS {pay.peak_rss_mb:.0f} MB;"
            f" csv + bulk_create {rp['seconds']:.1f}s ({raw_pay.peak_rss_mb:.0f} MB)"
        )
        for db in (project_db, raw_db):
            b.admin_sql(f'DROP DATABASE IF EXISTS "{db}"')
        members.unlink()
        statuses.unlink()
        payments_file.unlink()
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
    payments_ratio = largest["payments"]["seconds"] / largest["payments_raw"]["seconds"]
    b.results["raw"]["import_scale_payments_ratio"] = payments_ratio
    print(f"RATIO payments_import_vs_bulk_create {payments_ratio:.2f}")
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
            + (
                f" payments_import_s={e['payments']['seconds']:.1f}"
                f" payments_import_peak_rss_mb={e['payments']['peak_rss_mb']:.0f}"
                f" payments_bulk_create_s={e['payments_raw']['seconds']:.1f}"
                f" payments_bulk_create_peak_rss_mb={e['payments_raw']['peak_rss_mb']:.0f}"
                if "payments" in e
                else ""
            )
            + f" (goals: peak RSS <= {RSS_GOAL_MB} MB, ratio <= {RATIO_GOAL})"
        )


def report_section(results: dict, *, heading: str = "##") -> list[str]:
    """The section of docs/performance.md for these figures (scripts/bench_report.py adds it)."""
    rows = sorted(int(k) for k in results)
    e = {int(k): v for k, v in results.items()}
    largest = e[rows[-1]]
    members_ratio = largest["members"]["seconds"] / largest["members_raw"]["seconds"]
    status_ratio = largest["status"]["seconds"] / largest["status_raw"]["seconds"]
    peak = max(e[n]["members"]["peak_rss_mb"] for n in rows)
    out = [
        f"{heading} Imports at register size (scripts/bench_import.py)",
        "",
        "A members CSV of whole households (rules.md format; 一般 and 任意継続 members with 0–3 "
        "dependents, a 資格喪失年月日 in one household in 20) is written for each size and imported "
        "into two empty databases made from the migrated template: with `manage.py import_members "
        "PATH --by clerk` (streamed, staged with COPY, merged set-wise with history and audit rows) "
        "and with csv.DictReader + bulk_create (scripts/bench_child.py raw-import: no validation, no "
        "history, no audit). Then a registration-status CSV of every person goes through "
        "`import_registration_status` and through csv + bulk_create of RegistrationStatus. Each "
        "step is its own process: peak RSS is that process's (wait4), time is measured inside it "
        "around the import alone.",
        "",
        "| rows | import_members | peak RSS | csv + bulk_create | peak RSS "
        "| import_registration_status | peak RSS | csv + bulk_create |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n in rows:
        x = e[n]
        out.append(
            f"| {n:,} | {x['members']['seconds']:.1f} s | {x['members']['peak_rss_mb']:.0f} MB "
            f"| {x['members_raw']['seconds']:.1f} s | {x['members_raw']['peak_rss_mb']:.0f} MB "
            f"| {x['status']['seconds']:.1f} s | {x['status']['peak_rss_mb']:.0f} MB "
            f"| {x['status_raw']['seconds']:.1f} s |"
        )
    held = "held" if members_ratio <= RATIO_GOAL else "not held"
    status_held = "held" if status_ratio <= RATIO_GOAL else "not held"
    rss_held = "held" if peak <= RSS_GOAL_MB else "not held"
    out += [
        "",
        f"At {rows[-1]:,} rows: `RATIO import_vs_bulk_create` {members_ratio:.2f} (goal ≤ "
        f"{RATIO_GOAL}: **{held}**), registration-status import against bulk_create "
        f"{status_ratio:.2f} (goal ≤ {RATIO_GOAL}: **{status_held}**); the largest peak RSS of "
        f"`import_members` {peak:.0f} MB (goal ≤ {RSS_GOAL_MB} MB and flat: **{rss_held}**).",
        "",
    ]
    paid = [n for n in rows if "payments" in e[n]]
    if paid:  # (results of an earlier version of this script have no payments figures)
        out += [
            "`import_payments` of a 振込データ file of as many rows, none matching an invoice (every "
            "row listed on the PaymentImport), against csv.DictReader + bulk_create of the same "
            "listed rows (PaymentImportRow, in batches):",
            "",
            "| rows | import_payments | peak RSS | csv + bulk_create | peak RSS |",
            "| ---: | ---: | ---: | ---: | ---: |",
        ]
        for n in paid:
            x = e[n]
            out.append(
                f"| {n:,} | {x['payments']['seconds']:.1f} s "
                f"| {x['payments']['peak_rss_mb']:.0f} MB "
                f"| {x['payments_raw']['seconds']:.1f} s "
                f"| {x['payments_raw']['peak_rss_mb']:.0f} MB |"
            )
        out.append("")
    return out


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
    print("\n".join(report_section(results)))
    for name, value in b.results["ratios"].items():
        print(f"RATIO {name} {value:.2f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
