"""docs/performance.md from the figures of scripts/bench.py (one run: every number in it is measured
in that run; the explanations are fixed text chosen by whether each goal held)."""

from __future__ import annotations

from pathlib import Path

GOALS = {
    # issue 17: not below the figure it had before the documents of this round (1.6–1.7)
    "pdf_pipeline_vs_raw_weasyprint": (">=", 1.6),
    "two_workers_vs_one": (">=", 1.7),
    "issuance_vs_raw_sql": ("<=", 3.0),
    # issue 19: at the largest size measured (scripts/bench_import.py, 1,200,000 rows by default)
    "import_vs_bulk_create": ("<=", 1.5),
    "renewal_vs_raw_sql": ("<=", 3.0),
    "first_run_after_import": ("<=", 1.5),
    "nightly_vs_raw_sql": ("<=", 3.0),
}
EXPORT_RSS_GOAL_MB = 200

# What closes each gap when a goal does not hold (from profiling on these machines).
CLOSE_IT = {
    "pdf_pipeline_vs_raw_weasyprint": (
        "The pipeline's own cost per chunk is the claim and store transactions, reading the data "
        "(a few queries per chunk), re-reading the PDF with pypdf for its page count, writing the "
        "file, and the Celery round trip. What else remains is the renderer process being "
        "recycled (CELERY_WORKER_MAX_TASKS_PER_CHILD) and laying out its fonts and leaflet again, "
        "and the last chunks of a run (a tail where one worker waits). Raising "
        "PDF_CHUNK_HOUSEHOLDS or CELERY_WORKER_MAX_TASKS_PER_CHILD closes most of it."
    ),
    "two_workers_vs_one": (
        "On two cores the second renderer shares the machine with PostgreSQL, Redis, the Celery "
        "parent process and the issuing step (serial), so the ceiling is below 2; and a run of "
        "few chunks of very different sizes ends with one worker rendering alone. A busy machine "
        "(other processes on the cores: see the load average above) takes the rest. Rendering "
        "chunks largest first, or splitting large 事業所 bundles further, shortens the tail; "
        "a dedicated rendering host removes the competition."
    ),
    "issuance_vs_raw_sql": (
        "Both sides now select in one SQL statement; the gap is what the project writes and checks "
        "beyond the raw statement's one row per target. The project also freezes the target list "
        "the approver signs off (one RunTarget row per target, four foreign keys each, checked by "
        "PostgreSQL at commit), writes a django-simple-history row per certificate, locks each "
        "batch's persons (so a reissue or a loss recorded meanwhile waits and is seen), checks "
        "them for an active certificate, and commits in batches with audit events so that a crash "
        "loses at most one batch. The step table above splits each phase into its SQL "
        "statements, its commits (PostgreSQL checking the foreign keys Django creates deferred: "
        "four per frozen target, three per certificate with its history row) and the rest "
        "(Python). What would close the rest: dropping the database's foreign keys from the "
        "frozen list and the history rows (most of the commit time), or not keeping the history "
        "rows and the frozen list at all. Neither is done: the list is what the second person approves, and the history and "
        "the foreign keys are what auditors and the database rely on."
    ),
}


def scale_paths(r: dict, add) -> None:
    """Issue 18: the renewal, the first run after an import, the nightly jobs, the monthly run and
    a reissue, each at the size of this run."""
    raw = r["raw"]
    persons = r["sizes"]["persons"]
    if "first_run_after_import" in raw:
        f = raw["first_run_after_import"]
        add("### The first run after an import (`first_run_after_import`)")
        add("")
        add(
            f"`seed_demo --persons {persons:,}` into a fresh database, then `run_create` (what "
            "`issuance_run create` calls, timed inside its process) straight away: nothing but the "
            "project itself has analyzed the tables (seed_demo and run_create call "
            "core.db.analyze_if_stale, which ANALYZEs a table when pg_stat_user_tables counts more "
            "changes since its last analyze than 50 rows + 10% of pg_class.reltuples). The run "
            "and its list are deleted (SQL), the database gets a manual VACUUM ANALYZE, and the "
            "same create is timed again; the ratio is the first over the second."
        )
        add("")
        add(
            f"Straight after the import: {f['straight_seconds']:.1f} s; after a manual ANALYZE: "
            f"{f['analyzed_seconds']:.1f} s."
        )
        add("")
    if "renewal" in raw:
        rn = raw["renewal"]
        sel, exe, rq = rn["select"], rn["execute"], rn["raw_sql"]
        first = rn["first"]["execute"]
        add("### A renewal of the whole population (`renewal_vs_raw_sql`)")
        add("")
        add(
            f"A copy of the seeded society ({persons:,} persons) gets a first run with a short "  # noqa: S608
            f"validity (issued 2025-12-01, valid until 2026-01-31: {first['issued']:,} "
            "certificates), then a renewal run issued 2026-01-05 (inside the 60-day window: those "
            "still valid that day are renewed, 更新). The baseline (scripts/bench_sql.py RAW_RENEWAL_SQL) is "
            "the same selection kept once in a temporary table, one `UPDATE … FROM` retiring the "
            "certificates it supersedes and one `INSERT … SELECT` of the new ones, with its foreign "
            "keys checked inside the timed statements, rolled back, best of two; like the issuance "
            "baseline it writes no history, audit or frozen list. The project: run_create, then "
            "run_approve + run_execute, whose batches retire the superseded certificates with "
            "certificates.retire_sql (one UPDATE per note over the locked set and one INSERT … "
            "SELECT of their history rows) before issuing."
        )
        add("")
        add("| step | seconds | rows |")
        add("| --- | ---: | ---: |")
        add(
            f"| raw: selection + UPDATE … FROM + INSERT … SELECT | {rq['seconds']:.1f} | "
            f"{rq['retired']:,} retired, {rq['count']:,} issued |"
        )
        add(
            f"| project: select (`run_create`) | {sel['select_seconds']:.1f} | {sel['targets']:,} |"
        )
        add(
            f"| project: issue (`run_execute`, retiring included) | {exe['issue_seconds']:.1f} | "
            f"{exe['issued']:,} issued; retired by note: {rn['facts']['renewed_by_note']} |"
        )
        add("")
    if "nightly" in raw:
        ng = raw["nightly"]
        prep = ng["prepared"]
        add("### The nightly jobs (`nightly_vs_raw_sql`)")
        add("")
        add(
            "On the society after the short first run: a registration file as of 2026-01-10 "
            f"showing 登録済 for every 10th holder ({prep['registered']:,}) and every 100th "
            f"other certificate put to 返却待ち due 2026-01-15 ({prep['pending']:,}), written with "
            "SQL. Night 1 (2026-01-20) applies the registrations and flags the overdue returns; "
            "night 2 (2026-02-01) expires every remaining certificate of the run at once. Each "
            "step of daily_jobs_run is timed in its process, in its order: the 75th birthdays "
            "first (their losses change certificates the later steps then find), then the "
            "baseline "
            "(scripts/bench_sql.py RAW_NIGHTLY_SQL) writes the same rows by hand, each change one "
            "statement (an UPDATE … RETURNING feeding the history and audit INSERTs), rolled back, "
            "best of two, before the project runs on the same data. The 75th birthdays' twin "
            "(RAW_LATE_ELDERLY_SQL) stages the losses with the dependents following their member, "
            "updates the persons and writes their history and audit rows in one statement, then "
            "puts their certificates up for return with their history and audit rows in another; "
            "the project's job (members.services.persons_apply_75th_birthday) is set-wise too and "
            "is in the ratio."
        )
        add("")
        add("| night | step | rows | project s | raw s |")
        add("| --- | --- | ---: | ---: | ---: |")
        for night, n in ng["nights"].items():
            for name, step in n["project"]["steps"].items():
                base = n["raw"]["steps"].get(name)
                add(
                    f"| {night} | {name} | {step['rows']:,} | {step['seconds']:.2f} | "
                    f"{base['seconds']:.2f} |"
                    if base
                    else f"| {night} | {name} | {step['rows']:,} | {step['seconds']:.2f} | — |"
                )
        add("")
    if "monthly" in raw:
        mo = raw["monthly"]
        sel, exe = mo["select"], mo["execute"]
        add("### A monthly run on top of the full register")
        add("")
        add(
            f"After the first run and the export's top-up of past certificates: {mo['joiners']:,} "
            f"new joiners (`seed_demo --append`) and {mo['lapsed']:,} persons losing cover on "
            "2025-12-20 (SQL), then a run issued 2026-01-01 (run_create, approve, run_execute)."
        )
        add("")
        add(
            f"Select: {sel['targets']:,} targets in {sel['select_seconds']:.1f} s; issue: "
            f"{exe['issued']:,} certificates in {exe['issue_seconds']:.1f} s."
        )
        add("")
    if "reissue" in raw:
        ri = raw["reissue"]
        add("### A reissue with the whole certificates table")
        add("")
        add(
            f"`fees.services.reissue_application_receive_change` (記載事項変更, as the admin calls "
            f"it) for {len(ri['seconds'])} random 有効 certificates, with "
            f"{ri['certificates']:,} certificates in the table; the documents are only enqueued. "
            f"Median {ri['median_seconds']:.3f} s, slowest {ri['max_seconds']:.3f} s (goal: under "
            "a second)."
        )
        add("")


def _fmt(v: float, digits: int = 2) -> str:
    return f"{v:,.{digits}f}"


def _held(name: str, value: float) -> str:
    op, goal = GOALS[name]
    if op is None:
        return "no goal set"
    ok = value >= goal if op == ">=" else value <= goal
    if ok:
        return f"goal {op} {goal}: **held**"
    if op == ">=":
        return f"goal {op} {goal}: **not held** ({(goal - value) / goal:.0%} short)"
    return f"goal {op} {goal}: **not held** ({value / goal:.1f}× the goal)"


def sizing(r: dict) -> dict:
    pdf = r["raw"]["pdf"]
    one, two = pdf["one_worker"], pdf["two_workers"]
    iss = r["raw"]["issuance"]
    persons = r["sizes"]["persons"]
    targets = iss["select"]["targets"]
    certs_per_household = one["targets"] / one["households"]
    bytes_per_household = one["bytes"] / one["households"]
    per_renderer = one["households_per_second"]
    # measured scaling of one machine's second core; assumed to hold per added core
    scaling = two["households_per_second"] / one["households_per_second"] / 2
    select_per_person = iss["select"]["select_seconds"] / persons
    issue_per_target = iss["execute"]["issue_seconds"] / max(targets, 1)
    plan_per_target = iss["execute"]["schedule_seconds"] / max(targets, 1)
    return {
        "certs_per_household": certs_per_household,
        "bytes_per_household": bytes_per_household,
        "bytes_per_certificate": one["bytes"] / one["targets"],
        "per_renderer": per_renderer,
        "scaling": scaling,
        "target_share": targets / persons,
        "select_per_person": select_per_person,
        "issue_per_target": issue_per_target,
        "plan_per_target": plan_per_target,
    }


def run_hours(s: dict, certificates: int, renderers: int) -> tuple[float, float, float]:
    """(hours to select + issue, hours to render, total) for a run of `certificates`."""
    persons = certificates / s["target_share"]
    issue = (
        persons * s["select_per_person"]
        + certificates * (s["issue_per_target"] + s["plan_per_target"])
    ) / 3600
    households = certificates / s["certs_per_household"]
    rate = s["per_renderer"] * (1 if renderers == 1 else renderers * s["scaling"])
    render = households / rate / 3600
    return issue, render, issue + render


def write_report(r: dict, output: Path) -> None:
    m = r["machine"]
    raw = r["raw"]
    ratios = r["ratios"]
    sizes = r["sizes"]
    pdf = raw["pdf"]
    one, two, rw = pdf["one_worker"], pdf["two_workers"], pdf["raw_weasyprint"]
    iss = raw["issuance"]
    ex = raw["export"]
    imp = raw["import"]
    s = sizing(r)
    full = sizes["persons"] >= 1_200_000
    lines: list[str] = []
    add = lines.append

    add("# Performance at scale")
    add("")
    add(
        "Produced by `make bench` (scripts/bench.py) on "
        f"{r['started']}; every figure below comes from that one run, each project figure measured "
        "side by side with its raw baseline on the same data, the same database and the same machine."
    )
    if not full:
        add("")
        add(
            f"**Size:** this run seeded {sizes['persons']:,} persons (BENCH_PERSONS), not the "
            "1,200,000 the issue asks for; the default of `make bench` is 1,200,000."
        )
    add("")
    add("## Figures")
    add("")
    add("| figure | value | goal |")
    add("| --- | --- | --- |")
    for name, value in ratios.items():
        add(f"| `RATIO {name}` | {_fmt(value)} | {_held(name, value)} |")
    rss = ex["all"]["peak_rss_mb"]
    add(
        f"| peak RSS, `export_csv certificates` over {ex['all']['rows']:,} certificates | "
        f"{rss:.0f} MB (over {ex['run_only']['rows']:,}: {ex['run_only']['peak_rss_mb']:.0f} MB) | "
        f"≤ {EXPORT_RSS_GOAL_MB} MB and flat: **{'held' if rss <= EXPORT_RSS_GOAL_MB else 'not held'}** |"
    )
    add(
        f"| peak RSS, selecting for {sizes['persons']:,} persons (`run_create`) | "
        f"{iss['select']['process_peak_rss_mb']:.0f} MB | flat (bounded by the chunk size) |"
    )
    add("")
    add("## Machine")
    add("")
    add(f"- CPU: {m['cpu']}, {m['cores']} cores; memory {m['memory_gb']} GB; Linux {m['kernel']}")
    add(
        f"- Python {m['python']}, Django {m['django']}, Celery {m['celery']}, WeasyPrint "
        f"{m['weasyprint']}; {m['postgres']}; Redis {m['redis']}"
    )
    add(
        "- PostgreSQL and Redis are the throwaway ones of `make test` (scripts/services.sh): "
        "default memory settings, `fsync=off`, `synchronous_commit=off` (both sides of every pair "
        "alike)."
    )
    la, lb = m["load_before"], r.get("load_after", ("?",) * 3)
    add(
        f"- Load average when the run started: {la[0]:.2f} (1 min), {la[1]:.2f} (5 min); at the "
        f"end: {lb[0]:.2f}. The run took {r['seconds'] / 60:.0f} minutes."
    )
    if max(la[0], la[1]) > 1.5:
        add(
            "- **The machine was busy** (other processes on its 2 cores during the run): every "
            "pair was still measured side by side, but timings that need both cores — "
            "`two_workers_vs_one` above all — are understated."
        )
    add("")

    add("## Method and raw numbers")
    add("")
    add("### PDF pipeline against plain WeasyPrint (`pdf_pipeline_vs_raw_weasyprint`)")
    add("")
    add(
        f"A society of {sizes['pdf_persons']:,} persons is seeded (`seed_demo`), copied into one "
        "database per measurement (`CREATE DATABASE … TEMPLATE`), and a run is created and approved "
        "with `manage.py issuance_run`. A real Celery worker (`celery -A config worker --pool "
        "prefork --concurrency N`, the project's settings: prefetch 1, late ack) listens on Redis; "
        "`manage.py issuance_run execute` issues the certificates and enqueues one task per chunk; "
        "the worker renders each chunk, stores the PDF under MEDIA_ROOT and records it in the "
        "database. The time is the run's own `started_at` → `finished_at` (state 完了), so it holds "
        "issuing, planning, the queue, rendering, storing and the database."
    )
    add("")
    add(
        "The baseline renders the same pages in one process with plain "
        "`weasyprint.HTML(string=…).write_pdf(stylesheets=[css], font_config=…)`, one document per "
        "chunk. Plain HTML cannot reuse laid-out pages, so each document holds every page the "
        "pipeline prints for the chunk: documents' own chunk HTML (`render.chunk_html`, the "
        "households as `chunk_render_data` reads them, the cards at a letter's foot only where "
        "the letter leaves them room: found as the pipeline finds it, by laying the chunk out "
        "once) with documents' own leaflet HTML "
        "(`render.leaflet_html`, the notice and checklist with the household's ★ marks) inserted "
        "after each letter, and `break-before: recto` for the duplex padding. Building the HTML is "
        "untimed; only the `write_pdf` calls are. Page counts are compared with what the pipeline "
        "stored (a note below says if they differ)."
    )
    add("")
    add("| | households | chunks | pages | seconds | households/s | peak RSS of a renderer |")
    add("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    add(
        f"| pipeline, 1 worker process | {one['households']:,} | {one['chunks']} | {one['pages']:,} "
        f"| {one['seconds']:.1f} | {one['households_per_second']:.2f} | "
        f"{one['worker_peak_rss_mb']:.0f} MB |"
    )
    add(
        f"| pipeline, 2 worker processes | {two['households']:,} | {two['chunks']} | "
        f"{two['pages']:,} | {two['seconds']:.1f} | {two['households_per_second']:.2f} | "
        f"{two['worker_peak_rss_mb']:.0f} MB |"
    )
    add(
        f"| plain WeasyPrint, 1 process | {rw['households']:,} | {rw['documents']} documents | "
        f"{rw['pages']:,} | {rw['seconds']:.1f} | {rw['households_per_second']:.2f} | |"
    )
    add(
        f"| the project's renderer alone (`render_chunk`), 1 process | {rw['households']:,} | "
        f"{one['chunks']} | {rw['render_chunk_pages']:,} | {rw['render_chunk_seconds']:.1f} | "
        f"{rw['render_chunk_households_per_second']:.2f} | |"
    )
    add("")
    overhead = one["households_per_second"] / rw["render_chunk_households_per_second"]
    add(
        "Plain WeasyPrint lays out every page of every envelope, the society's two-page leaflet "
        "(notice and checklist) included; documents/render.py lays the leaflet out once per "
        "process and reuses its pages in every envelope, which is why the pipeline outruns the "
        "plain baseline. The pipeline's own cost (Celery, Redis, the database, storage, the page "
        "count read back) is the pipeline against the project's renderer alone in one process: "
        f"**{overhead:.2f}** of its throughput is kept."
    )
    add("")
    add(
        f"{one['targets']:,} certificates in {one['households']:,} households "
        f"({s['certs_per_household']:.2f} per household); the stored PDFs take "
        f"{one['bytes']:,} bytes: **{s['bytes_per_household'] / 1024:.0f} KiB per household** "
        f"({s['bytes_per_certificate'] / 1024:.0f} KiB per certificate)."
    )
    add("")
    if "sheets" in pdf:  # scripts/bench_child.py sheets-per-household
        sh = pdf["sheets"]
        add(
            f"**Pages and duplex sheets per household** ({sh['households']:,} households of the "
            f"run's first {sh['chunks']} chunks, rendered by `render_chunk`, every part padded to "
            "an even page count): cards on a separate card sheet (`CARDS_ON_LETTER` off, before) "
            f"{sh['before']['pages_per_household']:.2f} pages / "
            f"{sh['before']['sheets_per_household']:.2f} sheets; cards at the letter's foot where "
            f"they fit (after) {sh['after']['pages_per_household']:.2f} pages / "
            f"{sh['after']['sheets_per_household']:.2f} sheets."
        )
        add("")
    add("### Two worker processes against one (`two_workers_vs_one`)")
    add("")
    add(
        "The same run on a fresh copy of the same database, the worker started with "
        "`--concurrency 2` instead of 1; households per second of the two divided."
    )
    if "busy_seconds" in one and "busy_seconds" in two:
        add("")
        add(
            f"The renderers were busy {one['busy_seconds']:.1f} s (summed over the chunks, claim to "
            f"stored) of the {one['seconds']:.1f} s with one process, and "
            f"{two['busy_seconds']:.1f} s of the {two['seconds']:.1f} s with two: with nothing "
            "else on the machine a chunk takes about as long on either core "
            f"({two['busy_seconds'] / one['busy_seconds'] - 1:+.0%}), so the second core nearly "
            "doubles the rate; what is left is the serial part (issuing, planning) and the last "
            "chunk rendering alone."
        )
    add("")
    add("### Selecting and issuing against one INSERT … SELECT (`issuance_vs_raw_sql`)")
    add("")
    sel, exe, rq = iss["select"], iss["execute"], iss["raw_sql"]
    add(
        f"`manage.py seed_demo --persons {sizes['persons']:,}` ({raw['seed_seconds'] / 60:.1f} "
        "min), then ANALYZE. The baseline is scripts/bench_sql.py: one hand-written `INSERT INTO "
        "certificates_certificate … SELECT` applying rules.md (qualified on the issue date, not "
        "75, dependents following their member, the latest registration status on or before the "
        "status date, the 電子証明書 lapse, 要配慮者, active certificates and renewals, validity "
        "cut at the 75th birthday and 任意継続満了日, 高齢受給者証 start and 一部負担金割合), "
        "numbering the rows; timed in a transaction that is then rolled back, best of two."
    )
    add("")
    add(
        "The project: `run_create` (select and freeze the target list) in one process, then "
        "`run_approve` and `run_execute` (issue in committed batches, with history and audit rows) "
        "in another; the broker is Redis so the PDF chunks are only planned and enqueued. The hand-"
        "over to documents (planning the chunks) is timed apart and not counted as issuing. Before "
        "the ratio is reported, the certificates of the run are compared row by row (person, "
        "交付事由, 有効期限, 送付先, 高齢受給者証発効日, 一部負担金割合) with the raw selection: "
        f"{iss['verify']['only_raw']} rows only in the raw SQL, {iss['verify']['only_project']} "
        "only in the project."
    )
    add("")
    add("| 交付事由 | project | raw SQL |")
    add("| --- | ---: | ---: |")
    for reason, n in sorted(iss["verify"]["project_by_reason"].items(), key=lambda x: -x[1]):
        add(f"| {reason} | {n:,} | {iss['verify']['raw_by_reason'].get(reason, 0):,} |")
    add("")
    add(
        "| step | seconds | of it in SQL statements | of it in COMMIT (foreign-key checks) "
        "| peak RSS of the process |"
    )
    add("| --- | ---: | ---: | ---: | ---: |")
    add(f"| raw INSERT … SELECT ({rq['count']:,} certificates) | {rq['seconds']:.1f} | all | | |")
    add(
        f"| project: select (`run_create`, {sel['targets']:,} targets of {sizes['persons']:,}) | "
        f"{sel['select_seconds']:.1f} | {sel.get('sql_seconds', 0):.1f} | "
        f"{sel.get('commit_seconds', 0):.1f} | {sel['process_peak_rss_mb']:.0f} MB |"
    )
    add(
        f"| project: issue (`run_execute` batches, {exe['issued']:,} certificates) | "
        f"{exe['issue_seconds']:.1f} | {exe.get('sql_seconds', 0):.1f} | "
        f"{exe.get('commit_seconds', 0):.1f} | {exe['process_peak_rss_mb']:.0f} MB |"
    )
    add(
        f"| project: planning the PDF chunks (not counted) | {exe['schedule_seconds']:.1f} "
        "| | | (the same process) |"
    )
    add("")
    add(
        "Issue 8 changed, each measured before and after: (1) selecting: the target list is "
        "frozen by one `INSERT … SELECT` instead of evaluating the rules in Python for each "
        "person (since the rules-once redesign the statement is built from the query "
        "expressions of certificates/rules.py, the rules' only definition; the separate SQL "
        "twin of issue 8 is gone): 28.6 s at 1,200,000 "
        f"persons in the previous run of this benchmark → {sel['select_seconds']:.1f} s here; "
        "(2) issuing: each batch's certificates and history rows are "
        "written by `INSERT … SELECT` from the frozen targets, and a high-water mark on the run "
        f"replaces the probe for targets already issued: 102.3 s → {exe['issue_seconds']:.1f} s; "
        "(3) plans that stay "
        "good at this size: the household join on the household id (the self-join on a "
        "member_id that is NULL for every 本人 made PostgreSQL's hash join split into a million "
        "batches: 165 s → 5.7 s for the statement), a (run, id) index to walk a run, and ANALYZE "
        "after freezing the list and as the certificates double while executing (with statistics "
        "from before the run, each batch's check of its persons read every 有効 certificate). "
        "The baseline changed too: it now checks its foreign keys (SET CONSTRAINTS ALL "
        "IMMEDIATE) as the project's commits do — rolled back, it never checked them (4.9 s "
        f"before, {rq['seconds']:.1f} s with them here) — and the database is vacuumed after it "
        "(its aborted inserts and row locks would otherwise be cleaned up at the project's "
        "expense). Earlier (session 1): the issuing batches' anti-join became keyset pages, and the "
        "PDF chunk planning reads plain tuples (319 MB → 97 MB and 8.6 s → 2.4 s at 30,000 "
        "targets)."
    )
    add("")
    add("### Export memory")
    add("")
    add(
        "`manage.py export_csv certificates --output …` as its own process; its peak RSS is the "
        "kernel's maximum resident set (`wait4` rusage). First over the run's certificates, then "
        "after adding past (返却不要) certificates with SQL until the table holds "
        f"{ex['all']['rows']:,} rows."
    )
    add("")
    add("| certificates | seconds | peak RSS | file |")
    add("| ---: | ---: | ---: | ---: |")
    for row in (ex["run_only"], ex["all"]):
        add(
            f"| {row['rows']:,} | {row['seconds']:.1f} | {row['peak_rss_mb']:.0f} MB | "
            f"{row['bytes'] / 1024 / 1024:.0f} MB |"
        )
    add("")
    add("### Members import against csv + bulk_create (`import_vs_bulk_create`)")
    add("")
    add(
        f"A {imp['rows']:,}-row members CSV (rules.md format, whole households) is written from the "
        "seeded society and imported into two empty databases: once with `import_members PATH --by "
        "clerk` (validation of every cell, My Number refusal, history rows, audit), once with "
        "`csv.DictReader` + `bulk_create` of employers, members and dependents (no validation, no "
        "history). Both timed inside their process."
    )
    add("")
    add(
        f"import_members: {imp['project']['seconds']:.1f} s (peak RSS "
        f"{imp['project']['process_peak_rss_mb']:.0f} MB); csv + bulk_create: "
        f"{imp['raw']['seconds']:.1f} s."
    )
    add("")

    scale_paths(r, add)

    add("## What a society needs")
    add("")
    add(
        f"From the figures above: a renderer process does {s['per_renderer']:.2f} households/s "
        f"(1 core); the second core added {s['scaling'] * 2:.2f}× here. Selection costs "
        f"{s['select_per_person'] * 1e6:.0f} µs per registered person, issuing "
        f"{s['issue_per_target'] * 1e3:.2f} ms per certificate (+ "
        f"{s['plan_per_target'] * 1e3:.2f} ms planning the PDFs). {s['target_share']:.0%} of the "
        f"seeded persons were targets; {s['certs_per_household']:.2f} certificates per household."
    )
    add("")
    add(
        "| certificates in the run | persons registered (≈) | select + issue + plan | "
        "render, 2 cores | render, 4 cores | render, 8 cores | cores to render in 8 h | PDF disk |"
    )
    add("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for certs in (50_000, 100_000, 400_000):
        persons = certs / s["target_share"]
        iss_h, r2, _ = run_hours(s, certs, 2)
        _, r4, _ = run_hours(s, certs, 4)
        _, r8, _ = run_hours(s, certs, 8)
        households = certs / s["certs_per_household"]
        cores = households / (s["per_renderer"] * max(s["scaling"], 0.5) * 8 * 3600)
        disk = households * s["bytes_per_household"] / 1024**3
        add(
            f"| {certs:,} | {persons:,.0f} | "
            f"{'< 1' if iss_h * 60 < 1 else f'{iss_h * 60:.0f}'} min | {r2:.1f} h | {r4:.1f} h |"
            f" {r8:.1f} h | {max(1, -(-cores // 1)):.0f} | {disk:.1f} GiB |"
        )
    add("")
    iss400, r2, t2 = run_hours(s, 400_000, 2)
    _, r4, _ = run_hours(s, 400_000, 4)
    disk400 = 400_000 / s["certs_per_household"] * s["bytes_per_household"] / 1024**3
    add(
        f"**A 400,000-certificate run** (the bulk run of the largest 健保組合, about 1.3 million "
        f"registered persons at this society's share of targets) takes about {t2:.1f} hours end to "
        f"end on a 2-core machine like this one: {iss400 * 60:.1f} minutes to select, issue and "
        f"plan, {r2:.1f} h to render; with 4 renderer cores about {r4:.1f} h. It needs "
        f"{disk400:.1f} GiB for the PDFs "
        f"({s['bytes_per_household'] / 1024:.0f} KiB per household, measured)."
    )
    add("")
    add(
        "- **Workers:** rendering is the whole cost; one Celery worker per machine with "
        "`--concurrency` = its cores. A renderer's peak RSS was "
        f"{max(one['worker_peak_rss_mb'], two['worker_peak_rss_mb']):.0f} MB, so memory is not "
        "the limit: 1 GB per renderer core is ample. Beyond two cores the table assumes "
        "PostgreSQL and Redis keep up from cores of their own (not measured here)."
    )
    add(
        "- **Issuing** (select, issue, plan) runs in one process: "
        f"{iss['select']['select_seconds'] + iss['execute']['execute_seconds']:.0f} s for "
        f"{iss['execute']['issued']:,} certificates of {sizes['persons']:,} persons here; its "
        f"process peaked at {iss['execute']['process_peak_rss_mb']:.0f} MB (planning a run's "
        "chunks)."
    )
    add(
        "- **Disk:** the PDFs of a run, plus the database (1.2 million persons with their "
        "certificates and history is a few GB). Keep the PDFs until the envelopes have gone out; "
        "multiply by the runs kept."
    )
    add("")
    add(
        "(The 4- and 8-core columns extrapolate the measured second-core scaling to further cores; "
        "they are estimates. The 1- and 2-core figures are measured.)"
    )
    add("")

    add("## Goals that do not hold")
    add("")
    missing = False
    for name, value in ratios.items():
        op, goal = GOALS[name]
        if op is None:
            continue
        ok = value >= goal if op == ">=" else value <= goal
        if not ok:
            missing = True
            add(f"- **{name} = {_fmt(value)}** ({_held(name, value)}). {CLOSE_IT.get(name, '')}")
    if rss > EXPORT_RSS_GOAL_MB:
        missing = True
        add(
            f"- **export peak RSS {rss:.0f} MB** (goal ≤ {EXPORT_RSS_GOAL_MB} MB): the export "
            "streams rows with `.iterator(chunk_size=…)`; memory that grows with rows means "
            "something is accumulated per row."
        )
    if not missing:
        add("All goals held in this run.")
    for note in r["raw"].get("notes", []) + r.get("notes", []):
        add(f"- Note: {note}")
    add("")
    add("## The admin at this scale")
    add("")
    add(
        "tests/scale/ (part of `make test`) holds what keeps the admin usable with a million "
        "persons, asserted rather than timed:"
    )
    add("")
    add(
        "- the changelists of 加入者, 資格確認書, 利用登録状況, 請求書 and 一括職権交付, the 加入者 and "
        "資格確認書 searches, and the run preview the approver reads run the same number of "
        "queries for a few rows as for 50 (no query per row);"
    )
    add(
        "- on PostgreSQL the changelist queries of the searches by 記号, 記号・番号(・枝番), 証明書番号, "
        "カナ (full-width, hiragana, half-width) and 氏名 are EXPLAINed over 30,000 extra rows with "
        "sequential scans disabled: every scan of members_person, members_registrationstatus and "
        "certificates_certificate must be driven by an index condition. 氏名 is searched by "
        "prefix (family name first, with or without the space), on the person's name and on the "
        "name printed on the certificate: a contains-search cannot use an index, and trigram "
        "indexes do not help with names of one or two kanji (measured: a trigram index read all "
        "200,000 entries for 佐藤, the prefix index 3 pages);"
    )
    add(
        "- the 業務イベント and 変更履歴 lists filter by a period (an indexed range on the event time) "
        "instead of Django's date_hierarchy, which reads every distinct date of the table on each "
        "page view; their user filters list the users from auth_user, the 操作 filter steps through "
        "the (action, at) index one value at a time, and facets are off. tests/scale/"
        "test_audit_lists.py EXPLAIN ANALYZEs every query of these pages over 60,000 rows and "
        "fails when one reads more than a tenth of the table (and shows that the old filters did);"
    )
    add(
        "- the big changelists (加入者, 利用登録状況, 資格確認書, 業務イベント, every 変更履歴) count "
        "with core.pagination.EstimatedCountPaginator — pg_class.reltuples for an unfiltered list "
        "above ADMIN_ESTIMATED_COUNT_THRESHOLD (100,000), an exact count when filtered or "
        "searched — and `show_full_result_count = False`: no page view counts a whole table."
    )
    add("")
    add(
        "There is no changelist of 交付対象者 (RunTarget): the approver reads the run preview "
        "(counts by 交付事由, 事業所 and 送付先, frozen at creation) and downloads the target list as "
        "a streamed CSV."
    )
    add("")
    if "import_scale" in raw:  # scripts/bench_import.py measures and words its own section
        from bench_import import report_section

        lines += ["", *report_section(raw["import_scale"])]
    output.write_text("\n".join(lines), encoding="utf-8")
