"""Steps of the benchmark that run inside Django, one per process (scripts/bench.py starts them).

    python scripts/bench_child.py STEP [options]      (DATABASE_URL names the database to use)

Each step prints one JSON object on its last line of stdout. The "raw" steps are the baselines the
project is measured against: hand-written SQL (scripts/bench_sql.py), plain WeasyPrint on the same
HTML, plain csv + bulk_create. The others prepare data or read facts back from the database.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import bench_sql  # noqa: E402  (scripts/ is on sys.path when run as a script)
from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402


def emit(obj: dict) -> None:
    print(json.dumps(obj, ensure_ascii=False, default=str), flush=True)


def _selection_params(a) -> dict:
    from datetime import timedelta

    from certificates.rules import HIGH_INCOME_REMUNERATION
    from members.dates import fiscal_year

    issue = date.fromisoformat(a.issue_date)
    return {
        "issue_date": issue,
        "status_date": date.fromisoformat(a.as_of),
        "valid_until": date.fromisoformat(a.valid_until),
        "renewal_limit": issue + timedelta(days=settings.RENEWAL_WINDOW_DAYS),
        "lapse_months": settings.EC_LAPSE_MONTHS,
        "high_income": HIGH_INCOME_REMUNERATION,
        # "R" keeps the raw numbers apart from the project's YYYY-NNNNNNN
        "number_prefix": f"{fiscal_year(issue)}-R",
    }


# --- issuance ----------------------------------------------------------------------------------


def raw_issue(a) -> None:
    """The INSERT … SELECT, timed, then rolled back (the project issues into the same database).

    Django creates foreign keys DEFERRABLE INITIALLY DEFERRED: PostgreSQL checks them at COMMIT.
    The project's times include its commits; a rolled-back baseline would never check its foreign
    keys, so the baseline makes them IMMEDIATE: checked inside the timed statement, as a commit
    would."""
    params = _selection_params(a)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM members_person")  # warm the connection
        timings = []
        by_reason: dict[str, int] = {}
        for _ in range(a.repeat):
            cur.execute("BEGIN")
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            started = time.perf_counter()
            cur.execute(bench_sql.RAW_ISSUE_SQL, params)
            inserted = cur.rowcount
            timings.append(time.perf_counter() - started)
            cur.execute(
                "SELECT reason, count(*) FROM certificates_certificate "
                "WHERE number LIKE %s GROUP BY reason",
                [params["number_prefix"] + "%"],
            )
            by_reason = dict(cur.fetchall())
            cur.execute("ROLLBACK")
    emit(
        {"seconds": min(timings), "all_seconds": timings, "count": inserted, "by_reason": by_reason}
    )


def save_selection(a) -> None:
    """Keep the raw selection in a table for verify-issue (not timed)."""
    params = _selection_params(a)
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_raw_selection")
        cur.execute(bench_sql.SAVE_SELECTION_SQL, params)
        cur.execute("SELECT reason, count(*) FROM bench_raw_selection GROUP BY reason")
        by_reason = dict(cur.fetchall())
    emit({"by_reason": by_reason, "count": sum(by_reason.values())})


def verify_issue(a) -> None:
    """The project's certificates of the run against the raw selection, row by row."""
    from certificates.models import Certificate, IssuanceRun

    run = IssuanceRun.objects.get(pk=a.run)
    project = Counter(Certificate.objects.filter(run=run).values_list("reason", flat=True))
    with connection.cursor() as cur:
        cur.execute("SELECT reason, count(*) FROM bench_raw_selection GROUP BY reason")
        raw = dict(cur.fetchall())
        cur.execute(bench_sql.COMPARE_SQL, {"run_id": run.pk})
        only_raw, only_project = cur.fetchone()
    emit(
        {
            "project_by_reason": dict(project),
            "raw_by_reason": raw,
            "summary_by_reason": run.summary.get("by_reason", {}),
            "only_raw": only_raw,
            "only_project": only_project,
            "equal": dict(project) == raw and only_raw == 0 and only_project == 0,
        }
    )


def issue_phases(a) -> None:
    """The project's run in one process, phase by phase: run_create (select), approve, execute
    (issue). The hand-over to documents (planning the PDF chunks, enqueueing them to the broker) is
    timed apart: it is part of executing a run but not of selecting and issuing."""
    import resource

    from certificates import services
    from certificates.models import IssuanceRun
    from core.roles import CLERK, SUPERVISOR, user_for_role
    from documents import services as doc_services

    # time spent waiting on PostgreSQL: in statements, and in COMMIT (where PostgreSQL checks the
    # foreign keys Django creates DEFERRABLE INITIALLY DEFERRED); the rest of a phase is Python
    sql = {"seconds": 0.0, "queries": 0, "commit": 0.0}
    # BENCH_PROFILE_SQL=1: seconds and count per statement (its first 90 characters), on stderr
    by_statement: dict[str, list] = {}
    profile = os.environ.get("BENCH_PROFILE_SQL") == "1"

    def timed_sql(execute, statement, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            seconds = time.perf_counter() - t0
            sql["seconds"] += seconds
            sql["queries"] += 1
            if profile:
                entry = by_statement.setdefault(" ".join(statement.split())[:90], [0.0, 0])
                entry[0] += seconds
                entry[1] += 1

    connection.execute_wrappers.append(timed_sql)
    connection.ensure_connection()
    real_commit = connection._commit

    def timed_commit():
        t0 = time.perf_counter()
        try:
            return real_commit()
        finally:
            sql["commit"] += time.perf_counter() - t0

    connection._commit = timed_commit
    clerk = user_for_role("clerk", CLERK, SUPERVISOR)
    supervisor = user_for_role("supervisor", SUPERVISOR)
    supervisor2 = user_for_role("supervisor2", SUPERVISOR)
    p = _selection_params(a)
    out: dict = {}
    if a.phase == "create":
        started = time.perf_counter()
        run = services.run_create(
            status_date=p["status_date"],
            issue_date=p["issue_date"],
            valid_until=p["valid_until"],
            acting_user=clerk,
        )
        out["select_seconds"] = time.perf_counter() - started
        out["run"] = run.pk
        out["targets"] = run.target_count
        out["by_reason"] = run.summary.get("by_reason", {})
    else:
        run = IssuanceRun.objects.get(pk=a.run)
        services.run_approve(run=run, acting_user=supervisor2)
        scheduled = {}
        original = doc_services.run_documents_schedule

        def timed_schedule(**kwargs):
            t0 = time.perf_counter()
            sql0, commit0 = sql["seconds"], sql["commit"]
            try:
                return original(**kwargs)
            finally:
                scheduled["seconds"] = time.perf_counter() - t0
                scheduled["sql"] = sql["seconds"] - sql0
                scheduled["commit"] = sql["commit"] - commit0

        doc_services.run_documents_schedule = timed_schedule
        started = time.perf_counter()
        run = services.run_execute(run=run, acting_user=supervisor)
        total = time.perf_counter() - started
        out["execute_seconds"] = total
        out["schedule_seconds"] = scheduled.get("seconds", 0.0)
        out["issue_seconds"] = total - out["schedule_seconds"]
        out["issued"] = run.issued_count
    out["sql_seconds"] = sql["seconds"]
    out["commit_seconds"] = sql["commit"]
    if a.phase != "create":  # the planning's share, timed apart like its seconds
        out["sql_seconds"] -= scheduled.get("sql", 0.0)
        out["commit_seconds"] -= scheduled.get("commit", 0.0)
    out["queries"] = sql["queries"]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for statement, (seconds, count) in sorted(by_statement.items(), key=lambda i: -i[1][0])[:25]:
        print(f"SQL {seconds:8.3f}s {count:6d}x  {statement}", file=sys.stderr)
    emit(out)


def topup_certificates(a) -> None:
    """Add past certificates (返却不要, 2020年度) until the table holds `total` rows, so the export is
    measured over that many. Plain SQL: these rows only need to exist."""
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM certificates_certificate")
        have = cur.fetchone()[0]
        need = max(0, a.total - have)
        if need:
            # person k % N for k in 0..need-1: every person gets about the same number of rows
            cur.execute(
                """
                WITH p AS (
                    SELECT id, name, name_kana, row_number() OVER (ORDER BY id) - 1 AS i
                    FROM members_person
                )
                INSERT INTO certificates_certificate (
                    number, person_id, run_id, reason, issue_date, valid_until, route,
                    elderly_start, copay_ratio, printed_name, printed_name_kana,
                    registration_status, ec_expiry, state, state_changed_at, state_note,
                    return_route, created_at, updated_at)
                SELECT '2020-P' || lpad(g.k::text, 9, '0'), p.id, NULL, '未登録',
                       DATE '2020-12-01', DATE '2021-11-30', '事業主経由', NULL, '',
                       p.name, p.name_kana, '未登録', NULL, '返却不要', now(), '有効期限切れ',
                       '', now(), now()
                FROM generate_series(0, %(need)s - 1) g(k)
                JOIN p ON p.i = g.k %% (SELECT count(*) FROM members_person)
                """,
                {"need": need},
            )
        cur.execute("ANALYZE certificates_certificate")
        cur.execute("SELECT count(*) FROM certificates_certificate")
        emit({"certificates": cur.fetchone()[0], "added": need})


# --- PDFs --------------------------------------------------------------------------------------


def pipeline_facts(a) -> None:
    """What the pipeline produced for a run: households, chunks, pages, bytes, start and end."""
    from certificates.models import IssuanceRun, RunTarget
    from documents.models import GeneratedDocument

    run = IssuanceRun.objects.get(pk=a.run)
    docs = list(GeneratedDocument.objects.filter(run=run).order_by("chunk_no"))
    sizes = [d.file.size for d in docs if d.file]
    emit(
        {
            "state": run.state,
            "error": run.error,
            "targets": run.target_count,
            "households": RunTarget.objects.filter(run=run).values("household").distinct().count(),
            "chunks": len(docs),
            "stored": sum(1 for d in docs if d.state == "完了"),
            "pages": sum(d.page_count or 0 for d in docs),
            "certificate_pages": sum(d.certificate_pages or 0 for d in docs),
            "bytes": sum(sizes),
            # time the renderers spent on the chunks (claim → stored), summed over the chunks
            "busy_seconds": sum(
                (d.finished_at - d.started_at).total_seconds()
                for d in docs
                if d.started_at and d.finished_at
            ),
            "started_at": run.started_at.timestamp() if run.started_at else None,
            "finished_at": run.finished_at.timestamp() if run.finished_at else None,
            "seconds": (run.finished_at - run.started_at).total_seconds()
            if run.finished_at and run.started_at
            else None,
        }
    )


# Plain HTML cannot reuse laid-out pages, so the baseline document holds every page the pipeline
# prints: documents' own chunk HTML with documents' own leaflet HTML inserted after each letter.
# The pipeline pads each part (cover, letter, leaflet, card sheets) to an even page count for duplex
# printing; in plain CSS that is "each part starts on a right-hand page".
DUPLEX_CSS = ".letter, .leaflet, .sheet[id] { break-before: recto; }"


def _plain_html(chunk, households) -> str:
    import re

    from documents import render

    # the same documents the pipeline prints: cards on the letter only where the letter leaves them
    # room (the pipeline finds out by laying the chunk out; done here too, untimed)
    on_letter = render.letter_households(chunk, households)
    probe = render._layout(render.chunk_html(chunk, households, on_letter, backs=False))
    on_letter -= render._letters_too_long(probe, on_letter)
    html = render.chunk_html(chunk, households, on_letter)
    for n, hh in enumerate(households):
        leaflet = render.leaflet_html(chunk, render._marks(hh))
        body = re.search(r"<body>(.*)</body>", leaflet, re.S).group(1)
        anchor = f"<!-- leaflet hh{n} -->"  # after the letter (and its cards' backs)
        assert html.count(anchor) == 1, anchor
        html = html.replace(anchor, body)
    return html


def raw_render(a) -> None:
    """Plain WeasyPrint on the same pages the pipeline rendered for the run, in one process; and,
    for the overhead alone, the project's own renderer (render_chunk) in one process.

    The data comes from documents' own code (chunk_render_data, printable_households), untimed.
    Timed: only the `weasyprint.HTML(string=…).write_pdf()` calls, with the project's stylesheet,
    fonts and PDF variant (PDF/A); then only the render_chunk calls. Page counts are returned for comparison with what the
    pipeline stored."""
    import io

    from pypdf import PdfReader
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    from certificates.models import IssuanceRun
    from documents import render
    from documents.models import GeneratedDocument
    from documents.selectors import chunk_render_data

    run = IssuanceRun.objects.get(pk=a.run)
    chunks = [
        chunk_render_data(doc)
        for doc in GeneratedDocument.objects.filter(run=run).order_by("chunk_no")
    ]
    documents = []
    for chunk in chunks:
        households, _ = render.printable_households(chunk.households)
        if households:
            documents.append(_plain_html(chunk, households))

    base_url = render.STYLESHEET.parent.as_uri() + "/"
    font_config = FontConfiguration()
    css = CSS(
        string=render.stylesheet_text(),
        base_url=base_url,
        font_config=font_config,
    )
    duplex = CSS(string=DUPLEX_CSS, font_config=font_config)
    out = {"documents": len(documents)}
    pages = size = 0
    seconds = 0.0
    for html in documents:
        started = time.perf_counter()
        pdf = HTML(string=html, base_url=base_url).write_pdf(
            stylesheets=[css, duplex], font_config=font_config, **render.pdf_options()
        )
        seconds += time.perf_counter() - started
        size += len(pdf)
        if a.count_pages:  # outside the timing: plain WeasyPrint does not read its PDFs back
            n = len(PdfReader(io.BytesIO(pdf)).pages)
            # the pipeline also pads the last part to an even count; CSS cannot pad the end
            pages += n + n % 2
    out.update(seconds=seconds, bytes=size, pages=pages)

    # the project's renderer alone (no Celery, database or storage), after a warm-up like a worker's
    render.warm_up()
    own_pages = 0
    own_seconds = 0.0
    for chunk in chunks:
        started = time.perf_counter()
        result = render.render_chunk(chunk)
        own_seconds += time.perf_counter() - started
        if a.count_pages and result.pdf:
            own_pages += len(PdfReader(io.BytesIO(result.pdf)).pages)
    out.update(render_chunk_seconds=own_seconds, render_chunk_pages=own_pages)
    emit(out)


def sheets_per_household(a) -> None:
    """Pages and duplex sheets per household of the run's first chunks, rendered by render_chunk
    with the cards on card sheets (before: CARDS_ON_LETTER off) and at the letter's foot where they
    fit (after). Every part is padded to an even page count, so a sheet is two pages."""
    from dataclasses import replace

    from certificates.models import IssuanceRun
    from documents import render
    from documents.models import GeneratedDocument
    from documents.selectors import chunk_render_data

    run = IssuanceRun.objects.get(pk=a.run)
    docs = GeneratedDocument.objects.filter(run=run).order_by("chunk_no")[: a.chunks]
    chunks = [chunk_render_data(doc) for doc in docs]
    households = sum(len(render.printable_households(c.households, c)[0]) for c in chunks)
    out = {"households": households, "chunks": len(chunks)}
    for label, on_letter in (("before", False), ("after", True)):
        pages = 0
        for chunk in chunks:
            pdf = render.render_chunk(replace(chunk, cards_on_letter=on_letter)).pdf
            pages += _count_pages(pdf) if pdf else 0
        out[label] = {
            "pages": pages,
            "pages_per_household": pages / max(households, 1),
            "sheets_per_household": pages / 2 / max(households, 1),
        }
    emit(out)


def _count_pages(pdf: bytes) -> int:
    import io

    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


# --- import ------------------------------------------------------------------------------------

MEMBER_COLUMNS = (
    "事業所記号,事業所名称,記号,番号,枝番,本人家族区分,被保険者種別,氏名,氏名カナ,生年月日,性別,"
    "郵便番号,住所,資格取得年月日,資格喪失年月日,任意継続満了日,標準報酬月額,要配慮者"
).split(",")


def members_csv(a) -> None:
    """A members CSV (rules.md format) of whole households, from the seeded society, `rows` rows."""
    from members.models import Person

    def d(v):
        return v.isoformat() if v else ""

    written = 0
    with open(a.output, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(MEMBER_COLUMNS)
        members = (
            Person.objects.filter(member__isnull=True)
            .select_related("employer")
            .prefetch_related("dependents")
            .order_by("pk")
        )
        for m in members.iterator(chunk_size=2000):
            household = [m, *sorted(m.dependents.all(), key=lambda p: p.edaban)]
            if written + len(household) > a.rows:
                if written >= a.rows:
                    break
                household = household[: a.rows - written]
            for p in household:
                own = p.member_id is None
                w.writerow(
                    [
                        p.employer.code if own and p.employer_id else "",
                        p.employer.name if own and p.employer_id else "",
                        p.kigo,
                        p.bango,
                        p.edaban,
                        p.relationship,
                        p.insured_type,
                        p.name,
                        p.name_kana,
                        d(p.birth_date),
                        p.sex,
                        p.postal_code,
                        p.address,
                        d(p.acquired_on),
                        d(p.lost_on),
                        d(p.voluntary_until),
                        p.standard_remuneration if p.standard_remuneration is not None else "",
                        "1" if p.needs_consideration else "",
                    ]
                )
                written += 1
    emit({"rows": written})


def raw_import(a) -> None:
    """csv.DictReader + bulk_create into the same tables (no validation, no history, no audit)."""
    from members.models import Employer, Person

    def d(v):
        return date.fromisoformat(v) if v else None

    started = time.perf_counter()
    with open(a.path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with transaction.atomic():
        employers = {}
        for r in rows:
            if r["事業所記号"] and r["事業所記号"] not in employers:
                employers[r["事業所記号"]] = Employer(code=r["事業所記号"], name=r["事業所名称"])
        Employer.objects.bulk_create(employers.values(), batch_size=2000)

        def person(r, member=None):
            own = member is None
            return Person(
                kigo=r["記号"],
                bango=r["番号"],
                edaban=r["枝番"],
                relationship=r["本人家族区分"],
                member=member,
                insured_type=r["被保険者種別"],
                employer=employers.get(r["事業所記号"]) if own else None,
                voluntary_until=d(r["任意継続満了日"]),
                standard_remuneration=int(r["標準報酬月額"]) if r["標準報酬月額"] else None,
                name=r["氏名"],
                name_kana=r["氏名カナ"],
                birth_date=d(r["生年月日"]),
                sex=r["性別"],
                postal_code=r["郵便番号"].replace("-", ""),
                address=r["住所"],
                acquired_on=d(r["資格取得年月日"]),
                lost_on=d(r["資格喪失年月日"]),
                needs_consideration=r["要配慮者"] == "1",
            )

        members = {(r["記号"], r["番号"]): person(r) for r in rows if r["本人家族区分"] == "本人"}
        Person.objects.bulk_create(members.values(), batch_size=2000)
        dependents = [
            person(r, members[(r["記号"], r["番号"])]) for r in rows if r["本人家族区分"] == "家族"
        ]
        Person.objects.bulk_create(dependents, batch_size=2000)
    seconds = time.perf_counter() - started
    emit({"seconds": seconds, "rows": len(rows), "persons": Person.objects.count()})


def project_import(a) -> None:
    """The real import: `manage.py import_members PATH --by clerk`, timed inside the process."""
    from django.core.management import call_command

    from members.models import Person

    started = time.perf_counter()
    call_command("import_members", a.path, username="clerk")
    seconds = time.perf_counter() - started
    emit({"seconds": seconds, "persons": Person.objects.count()})


# --- issue 18: renewal, runs after an import, nightly jobs, monthly run, reissue ----------------


def raw_renewal(a) -> None:
    """The renewal by hand (bench_sql.RAW_RENEWAL_SQL), timed, rolled back; foreign keys checked
    inside the timed statements as in raw_issue."""
    params = _selection_params(a)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM members_person")  # warm the connection
        timings, retired, inserted = [], 0, 0
        for _ in range(a.repeat):
            cur.execute("BEGIN")
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            started = time.perf_counter()
            counts = []
            for sql in bench_sql.RAW_RENEWAL_SQL:
                cur.execute(sql, params)
                counts.append(cur.rowcount)
            timings.append(time.perf_counter() - started)
            _, retired, inserted = counts
            cur.execute("ROLLBACK")
    emit({"seconds": min(timings), "all_seconds": timings, "retired": retired, "count": inserted})


def run_facts(a) -> None:
    """What a renewal run did: its certificates by 交付事由 and what it retired, by note."""
    from certificates.models import Certificate, IssuanceRun

    run = IssuanceRun.objects.get(pk=a.run)
    issued = Counter(Certificate.objects.filter(run=run).values_list("reason", flat=True))
    retired = Counter(
        Certificate.objects.filter(replaced_by__run=run).values_list("state_note", flat=True)
    )
    expired_at_issue = Certificate.history.filter(
        history_type="~", history_change_reason=f"一括交付 #{run.pk}"
    ).count()
    emit(
        {
            "issued_by_reason": dict(issued),
            "renewed_by_note": dict(retired),
            "retired_with_history": expired_at_issue,
        }
    )


def delete_run(a) -> None:
    """Remove a created (never approved) run and its frozen list, so the next create is again a
    first run (first_run_after_import). Plain SQL: bench bookkeeping, not a project path."""
    with connection.cursor() as cur:
        cur.execute("DELETE FROM certificates_runtarget WHERE run_id = %s", [a.run])
        cur.execute(
            "DELETE FROM certificates_issuancerun WHERE id = %s AND state = '作成'", [a.run]
        )
        emit({"deleted": cur.rowcount})


def nightly_prepare(a) -> None:
    """Give the nightly jobs work on `--registered-on`: a registration file (as of that day) that
    shows 登録済 for every 10th holder of a 有効 certificate, and every 100th other certificate
    put to 返却待ち, due `--due` (overdue by then). Plain SQL (data, not the project's paths)."""
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO members_registrationsnapshot (as_of, source_name, row_count, created_at) "
            "VALUES (%s, 'bench', 0, now()) RETURNING id",
            [a.registered_on],
        )
        snap = cur.fetchone()[0]
        cur.execute(
            """
            INSERT INTO members_registrationstatus (snapshot_id, person_id, as_of, status, ec_expiry)
            SELECT %s, c.person_id, %s, '登録済', NULL FROM certificates_certificate c
            WHERE c.state = '有効' AND c.id %% 10 = 0
            """,
            [snap, a.registered_on],
        )
        registered = cur.rowcount
        cur.execute(
            """
            UPDATE certificates_certificate SET state = '返却待ち', return_due = %s,
                   return_route = route, state_note = '資格喪失(bench)'
            WHERE state = '有効' AND id %% 100 = 1
            """,
            [a.due],
        )
        pending = cur.rowcount
        cur.execute("ANALYZE")
    emit({"registered": registered, "pending": pending})


def raw_nightly(a) -> None:
    """The nightly statements by hand (bench_sql.RAW_NIGHTLY_SQL), timed per step, rolled back;
    best of `--repeat` per step."""
    steps: dict[str, dict] = {}
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM certificates_certificate")
        for name in bench_sql.RAW_NIGHTLY_SQL:
            steps[name] = {"seconds": None, "rows": 0}
        for _ in range(a.repeat):
            cur.execute("BEGIN")
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for name, statements in bench_sql.RAW_NIGHTLY_SQL.items():
                started = time.perf_counter()
                rows = 0
                for sql in statements:
                    cur.execute(sql, {"today": date.fromisoformat(a.date)})
                    rows += cur.rowcount
                seconds = time.perf_counter() - started
                best = steps[name]["seconds"]
                steps[name] = {
                    "seconds": seconds if best is None else min(best, seconds),
                    "rows": rows,
                }
            cur.execute("ROLLBACK")
    emit({"steps": steps, "seconds": sum(v["seconds"] for v in steps.values())})


def nightly(a) -> None:
    """The nightly jobs of daily_jobs_run, step by step in its order, each timed (its own
    transaction, as in daily_jobs_run); `--steps` runs only the named ones."""
    from certificates import lifecycle
    from members.services import persons_apply_75th_birthday

    today = date.fromisoformat(a.date)
    steps = {}
    jobs = (
        ("75歳到達", lambda: persons_apply_75th_birthday(on=today)),
        ("有効期限切れ", lambda: lifecycle.certificates_expire(today=today)),
        ("マイナ保険証登録", lambda: lifecycle.certificates_apply_registration_status(today=today)),
        ("返却期限超過", lambda: lifecycle.certificates_mark_overdue(today=today)),
    )
    for name, job in jobs:
        if a.steps and name not in a.steps.split(","):
            continue
        started = time.perf_counter()
        rows = len(job())
        steps[name] = {"seconds": time.perf_counter() - started, "rows": rows}
    emit({"steps": steps, "seconds": sum(v["seconds"] for v in steps.values())})


def monthly_lapses(a) -> None:
    """One month's lapses: every `--every`-th qualified 本人 (with their dependents) loses cover
    on `--lost-on`. Plain SQL: the registry as the month's import leaves it; the run is timed."""
    with connection.cursor() as cur:
        cur.execute(
            """
            UPDATE members_person p SET lost_on = %(lost_on)s, loss_reason = '退職'
            WHERE p.lost_on IS NULL AND p.acquired_on < %(lost_on)s
              AND coalesce(p.member_id, p.id) %% %(every)s = 0
            """,
            {"lost_on": a.lost_on, "every": a.every},
        )
        emit({"lapsed": cur.rowcount})


def reissue(a) -> None:
    """A 記載事項変更 reissue through fees.services (as the admin calls it), with every certificate of
    the table in place; the documents are only enqueued (CELERY_BROKER_URL). Timed per call."""
    from django.utils import timezone

    from certificates.models import Certificate
    from core.roles import CLERK, user_for_role
    from fees.services import expected_route, reissue_application_receive_change

    clerk = user_for_role("clerk", CLERK)
    today = date.fromisoformat(a.date)
    # 有効 today and on the real date (effective_state reads the clock), holders still covered;
    # `count` of them spread evenly over the table
    usable = Certificate.objects.filter(
        state="有効",
        valid_until__gt=max(today, timezone.localdate()),
        person__lost_on__isnull=True,
    )
    ids = list(usable.order_by("pk").values_list("pk", flat=True))
    picked = ids[:: max(1, len(ids) // a.count)][: a.count]
    certs = list(Certificate.objects.filter(pk__in=picked).select_related("person").order_by("pk"))
    timings = []
    for cert in certs:
        started = time.perf_counter()
        reissue_application_receive_change(
            certificate=cert,
            route=expected_route(cert.person),  # the 届出経路 the household uses
            received_on=today,
            issue_date=today,
            acting_user=clerk,
        )
        timings.append(time.perf_counter() - started)
    emit(
        {
            "certificates": Certificate.objects.count(),
            "seconds": timings,
            "max_seconds": max(timings),
            "median_seconds": sorted(timings)[len(timings) // 2],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="step", required=True)

    def dates(p):
        p.add_argument("--as-of", required=True)
        p.add_argument("--issue-date", required=True)
        p.add_argument("--valid-until", required=True)

    p = sub.add_parser("raw-issue")
    dates(p)
    p.add_argument("--repeat", type=int, default=2)
    dates(sub.add_parser("save-selection"))
    sub.add_parser("verify-issue").add_argument("--run", type=int, required=True)
    p = sub.add_parser("issue-phase")
    dates(p)
    p.add_argument("phase", choices=["create", "execute"])
    p.add_argument("--run", type=int)
    sub.add_parser("topup-certificates").add_argument("--total", type=int, required=True)
    sub.add_parser("pipeline-facts").add_argument("--run", type=int, required=True)
    p = sub.add_parser("raw-render")
    p.add_argument("--run", type=int, required=True)
    p.add_argument("--count-pages", action="store_true")
    p = sub.add_parser("sheets-per-household")
    p.add_argument("--run", type=int, required=True)
    p.add_argument("--chunks", type=int, default=20)
    p = sub.add_parser("members-csv")
    p.add_argument("--output", required=True)
    p.add_argument("--rows", type=int, required=True)
    sub.add_parser("raw-import").add_argument("path")
    sub.add_parser("project-import").add_argument("path")
    p = sub.add_parser("raw-renewal")
    dates(p)
    p.add_argument("--repeat", type=int, default=2)
    sub.add_parser("run-facts").add_argument("--run", type=int, required=True)
    sub.add_parser("delete-run").add_argument("--run", type=int, required=True)
    p = sub.add_parser("nightly-prepare")
    p.add_argument("--registered-on", required=True)
    p.add_argument("--due", required=True)
    p = sub.add_parser("raw-nightly")
    p.add_argument("--date", required=True)
    p.add_argument("--repeat", type=int, default=2)
    p = sub.add_parser("nightly")
    p.add_argument("--date", required=True)
    p.add_argument("--steps", default="", help="comma-separated step names (default: all)")
    p = sub.add_parser("monthly-lapses")
    p.add_argument("--lost-on", required=True)
    p.add_argument("--every", type=int, default=100)
    p = sub.add_parser("reissue")
    p.add_argument("--date", required=True)
    p.add_argument("--count", type=int, default=5)
    a = parser.parse_args()
    {
        "raw-issue": raw_issue,
        "save-selection": save_selection,
        "verify-issue": verify_issue,
        "issue-phase": issue_phases,
        "topup-certificates": topup_certificates,
        "pipeline-facts": pipeline_facts,
        "raw-render": raw_render,
        "sheets-per-household": sheets_per_household,
        "members-csv": members_csv,
        "raw-import": raw_import,
        "project-import": project_import,
        "raw-renewal": raw_renewal,
        "run-facts": run_facts,
        "delete-run": delete_run,
        "nightly-prepare": nightly_prepare,
        "raw-nightly": raw_nightly,
        "nightly": nightly,
        "monthly-lapses": monthly_lapses,
        "reissue": reissue,
    }[a.step](a)


if __name__ == "__main__":
    main()
