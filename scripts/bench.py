"""`make bench`: the project at scale, side by side with the raw tools, in one run.

Starts its own PostgreSQL and Redis (scripts/with-services.sh, as `make test` does) unless it already
runs under them, then measures, prints one `RATIO <name> <value>` line per figure plus the raw numbers
and the machine, and writes everything with the method to docs/performance.md (raw JSON beside it in
docs/bench-results.json, not committed).

Sizes (environment):
    BENCH_PERSONS        persons seeded for issuance and export         (default 1,200,000)
    BENCH_PDF_PERSONS    persons of the society whose run is rendered    (default 5,000)
    BENCH_IMPORT_ROWS    rows of the members CSV imported                (default 100,000)
    BENCH_IMPORT_SIZES   members file sizes of scripts/bench_import.py   (default 100,000,1,200,000)
    BENCH_OUTPUT         the report                                      (default docs/performance.md)
    BENCH_KEEP=1         keep the work directory (logs, PDFs, CSVs) under /tmp
    BENCH_PROFILE_SQL=1  the issuing steps' logs list their slowest statements (seconds, count)
    BENCH_SKIP           sections left out, comma-separated: import, import_scale, pdf (a partial
                         run prints its figures and writes only bench-results.json, no report)
    BENCH_ONLY=pdf       only the PDF pipeline and its baselines (no issuance, renewal, nightly or
                         import; a partial run like BENCH_SKIP)

Every step that runs Django is its own process (scripts/bench_child.py or manage.py), so the peak
RSS of each is measured separately (os.wait4's rusage of that child).

    .venv/bin/python scripts/bench.py --report-only docs/bench-results.json
        writes docs/performance.md again from a run's saved figures, measuring nothing.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
CELERY = ROOT / ".venv" / "bin" / "celery"

AS_OF = "2025-11-01"  # status date of the seeded registration snapshot
ISSUE_DATE = "2025-12-01"
VALID_UNTIL = "2030-11-30"  # the longest a run allows: exercises every validity cut-off
DATES = ["--as-of", AS_OF, "--issue-date", ISSUE_DATE, "--valid-until", VALID_UNTIL]
# issue 18: a first run with a short validity, then the renewal of the whole population (27 days
# before the first certificates end: inside the 60-day renewal window)
SHORT_UNTIL = "2026-01-31"
SHORT_DATES = ["--as-of", AS_OF, "--issue-date", ISSUE_DATE, "--valid-until", SHORT_UNTIL]
RENEWAL_DATES = ["--as-of", AS_OF, "--issue-date", "2026-01-05", "--valid-until", "2030-12-31"]
# the nightly jobs: a night of registrations and overdue returns, then the night all expire
NIGHT_1, NIGHT_2 = "2026-01-20", "2026-02-01"
# one month after the first run: ~1% new joiners (seed_demo --append) and ~1% lapses
MONTHLY_DATES = ["--as-of", AS_OF, "--issue-date", "2026-01-01", "--valid-until", VALID_UNTIL]

# The goals and their report: scripts/bench_report.py (GOALS).


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value.replace("_", "")) if value else default


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- processes -----------------------------------------------------------------------------------


@dataclass
class Finished:
    rc: int
    seconds: float
    peak_rss_mb: float
    out: str

    def json(self) -> dict:
        for line in reversed(self.out.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"no JSON in output:\n{self.out[-3000:]}")


class Bench:
    def __init__(self, work: Path):
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        cluster = urlsplit(os.environ["DATABASE_URL"])
        self.cluster = cluster
        self.redis_url = os.environ["TEST_REDIS_URL"]
        self.results: dict = {"sizes": {}, "raw": {}, "ratios": {}, "notes": []}
        self._step = 0

    # database URLs on the throwaway cluster
    def db_url(self, name: str) -> str:
        return urlunsplit((self.cluster.scheme, self.cluster.netloc, f"/{name}", "", ""))

    def broker(self, db: int) -> str:
        parts = urlsplit(self.redis_url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{db}", "", ""))

    def admin_sql(self, sql: str, db: str = "postgres"):
        import psycopg

        with psycopg.connect(self.db_url(db), autocommit=True) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else None

    def create_db(self, name: str, template: str | None = None) -> None:
        self.admin_sql(f'DROP DATABASE IF EXISTS "{name}"')
        tmpl = f' TEMPLATE "{template}"' if template else ""
        self.admin_sql(f'CREATE DATABASE "{name}"{tmpl}')

    def env(self, db: str, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
        if os.environ.get("BENCH_PROFILE_SQL") == "1":  # per-statement times in the step logs
            env["BENCH_PROFILE_SQL"] = "1"
        env.pop("CELERY_BROKER_URL", None)  # eager unless a step says otherwise
        env.update(
            DATABASE_URL=self.db_url(db),
            MEDIA_ROOT=str(self.work / "media" / db),
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def run(self, args: list[str], env: dict[str, str], label: str) -> Finished:
        """Run a process to its end; wall time and its own peak RSS (wait4 rusage)."""
        self._step += 1
        path = self.logs / f"{self._step:02d}-{label}.log"
        with open(path, "wb") as fh:
            started = time.perf_counter()
            proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
        out = path.read_text(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(
                f"{label} failed (exit {proc.returncode}), log {path}:\n{out[-4000:]}"
            )
        return Finished(proc.returncode, seconds, usage.ru_maxrss / 1024, out)

    def manage(self, db: str, *args: str, label: str, **extra: str) -> Finished:
        return self.run([str(PYTHON), "manage.py", *args], self.env(db, **extra), label)

    def child(self, db: str, *args: str, label: str, **extra: str) -> Finished:
        return self.run(
            [str(PYTHON), str(ROOT / "scripts" / "bench_child.py"), *args],
            self.env(db, **extra),
            label,
        )

    def query_one(self, db: str, sql: str):
        rows = self.admin_sql(sql, db)
        return rows[0] if rows else None


class Worker:
    """`celery -A config worker --pool prefork --concurrency N`, as production runs it."""

    def __init__(self, bench: Bench, db: str, concurrency: int, broker: str):
        self.log_path = bench.logs / f"worker-{db}-c{concurrency}.log"
        self.concurrency = concurrency
        env = bench.env(db, CELERY_BROKER_URL=broker)
        args = [str(CELERY), "-A", "config", "worker", "--pool", "prefork"]
        args += ["--concurrency", str(concurrency), "--prefetch-multiplier", "1", "-Q", "celery"]
        args += ["--hostname", f"bench-{db}@%h", "--loglevel", "INFO"]
        args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        self.fh = open(self.log_path, "wb")  # noqa: SIM115 (kept open by the child)
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=self.fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while " ready." not in self.log_path.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        # the pool children warm WeasyPrint after fork (documents/tasks.py); let them finish
        time.sleep(3)

    def children(self) -> list[int]:
        pids = []
        for tid in os.listdir(f"/proc/{self.proc.pid}/task"):
            try:
                pids += [
                    int(p)
                    for p in Path(f"/proc/{self.proc.pid}/task/{tid}/children").read_text().split()
                ]
            except FileNotFoundError:
                pass
        return pids

    def peak_rss_mb(self) -> float:
        """Largest VmHWM of the pool processes now alive (each renders one chunk at a time)."""
        peak = 0.0
        for pid in self.children():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) / 1024)
            except FileNotFoundError:
                pass
        return peak

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.fh.close()


# --- the measurements ----------------------------------------------------------------------------


def machine() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    pg = subprocess.run(
        [os.environ.get("TEST_PG_BIN", "/usr/lib/postgresql/15/bin") + "/postgres", "--version"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    redis = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    weasy = subprocess.run(
        [
            str(PYTHON),
            "-c",
            "import weasyprint, django, celery; print(weasyprint.__version__,"
            " django.__version__, celery.__version__)",
        ],
        capture_output=True,
        text=True,
    ).stdout.split()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "postgres": pg,
        "redis": (re.search(r"v=(\S+)", redis) or [None, "?"])[1],
        "weasyprint": weasy[0] if weasy else "?",
        "django": weasy[1] if len(weasy) > 1 else "?",
        "celery": weasy[2] if len(weasy) > 2 else "?",
        "kernel": platform.release(),
        "load_before": os.getloadavg(),
    }


def prepare_template(b: Bench) -> None:
    log("template database: migrate + demo users")
    b.create_db("bench_template")
    b.manage("bench_template", "migrate", "-v0", label="migrate")
    b.manage("bench_template", "create_demo_users", label="users")


def seed(b: Bench, db: str, persons: int, analyze: bool = True) -> float:
    b.create_db(db, template="bench_template")
    f = b.manage(db, "seed_demo", "--persons", str(persons), "--as-of", AS_OF, label=f"seed-{db}")
    if analyze:
        b.admin_sql("ANALYZE", db)
    return f.seconds


def create_and_approve(b: Bench, db: str) -> int:
    f = b.manage(db, "issuance_run", "create", *DATES, "--by", "clerk", label=f"create-{db}")
    run_id = int(f.out.strip().splitlines()[-1])
    b.manage(
        db, "issuance_run", "approve", str(run_id), "--by", "supervisor", label=f"approve-{db}"
    )
    return run_id


def pipeline(b: Bench, source_db: str, concurrency: int, broker_db: int) -> dict:
    """One run of the seeded society through the real pipeline with `concurrency` renderers."""
    db = f"{source_db}_c{concurrency}"
    b.create_db(db, template=source_db)
    run_id = create_and_approve(b, db)
    broker = b.broker(broker_db)
    import redis

    redis.Redis.from_url(broker).flushdb()
    worker = Worker(b, db, concurrency, broker)
    try:
        log(f"pipeline with {concurrency} worker process(es): executing run #{run_id}")
        b.manage(
            db,
            "issuance_run",
            "execute",
            str(run_id),
            "--by",
            "supervisor",
            label=f"execute-{db}",
            CELERY_BROKER_URL=broker,
        )
        deadline = time.monotonic() + 6 * 3600
        while True:
            state, error = b.query_one(
                db,
                f"SELECT state, error FROM certificates_issuancerun WHERE id = {int(run_id)}",  # noqa: S608
            )
            if state == "完了":
                break
            if state == "失敗" or time.monotonic() > deadline:
                raise RuntimeError(f"run #{run_id} in {db}: {state} {error}")
            time.sleep(0.5)
        worker_rss = worker.peak_rss_mb()
    finally:
        worker.stop()
    facts = b.child(db, "pipeline-facts", "--run", str(run_id), label=f"facts-{db}").json()
    facts.update(db=db, run=run_id, concurrency=concurrency, worker_peak_rss_mb=worker_rss)
    facts["households_per_second"] = facts["households"] / facts["seconds"]
    log(
        f"  {facts['households']} households, {facts['chunks']} chunks in {facts['seconds']:.1f}s"
        f" = {facts['households_per_second']:.2f}/s"
    )
    return facts


def bench_pdf(b: Bench, persons: int) -> None:
    log(f"PDF pipeline: seeding {persons} persons")
    seed(b, "bench_pdf", persons)
    one = pipeline(b, "bench_pdf", 1, broker_db=7)
    raw = b.child(
        one["db"], "raw-render", "--run", str(one["run"]), "--count-pages", label="raw-render"
    ).json()
    raw["households"] = one["households"]
    raw["households_per_second"] = one["households"] / raw["seconds"]
    raw["render_chunk_households_per_second"] = one["households"] / raw["render_chunk_seconds"]
    log(
        f"  plain WeasyPrint: {raw['documents']} documents in {raw['seconds']:.1f}s"
        f" = {raw['households_per_second']:.2f} households/s"
    )
    sheets = b.child(
        one["db"], "sheets-per-household", "--run", str(one["run"]), label="sheets-per-household"
    ).json()
    log(
        f"  pages/sheets per household: card sheets {sheets['before']['pages_per_household']:.2f}"
        f"/{sheets['before']['sheets_per_household']:.2f}, cards on the letter"
        f" {sheets['after']['pages_per_household']:.2f}/{sheets['after']['sheets_per_household']:.2f}"
    )
    two = pipeline(b, "bench_pdf", 2, broker_db=8)
    for label, pages in (
        ("plain WeasyPrint", raw["pages"]),
        ("render_chunk", raw["render_chunk_pages"]),
    ):
        if pages != one["pages"]:
            b.results["notes"].append(
                f"page counts differ: pipeline {one['pages']}, {label} {pages}"
            )
        log(f"  pages: pipeline {one['pages']}, {label} {pages}")
    b.results["raw"]["pdf"] = {
        "one_worker": one,
        "two_workers": two,
        "raw_weasyprint": raw,
        "sheets": sheets,
    }
    b.results["sizes"]["pdf_persons"] = persons
    ratio(
        "pdf_pipeline_vs_raw_weasyprint",
        one["households_per_second"] / raw["households_per_second"],
        b,
    )
    ratio("two_workers_vs_one", two["households_per_second"] / one["households_per_second"], b)


def bench_issuance(b: Bench, persons: int) -> None:
    log(f"issuance: seeding {persons} persons")
    seconds = seed(b, "bench_big", persons, analyze=False)
    b.results["raw"]["seed_seconds"] = seconds
    bench_first_run_after_import(b)
    b.create_db("bench_seeded", template="bench_big")  # the seeded society, for the renewal
    log(f"  seeded in {seconds:.0f}s; raw selection kept for the comparison")
    b.child("bench_big", "save-selection", *DATES, label="save-selection")
    log("  raw INSERT … SELECT (best of 2, rolled back)")
    raw = b.child("bench_big", "raw-issue", *DATES, label="raw-issue").json()
    log(f"  raw: {raw['count']} certificates in {raw['seconds']:.1f}s")
    # The rolled-back raw inserts leave debris behind: dead certificate rows and index entries, and
    # the person rows their foreign-key checks locked under a transaction that then aborted (the
    # next writer of those rows pays to clean them up). The project must find the database as a
    # society would, never with a baseline's debris, so it is vacuumed first.
    b.admin_sql("VACUUM ANALYZE", "bench_big")
    log("  project: run_create (select)")
    create = b.child("bench_big", "issue-phase", "create", *DATES, label="issue-create")
    c = create.json()
    log(
        f"  select: {c['targets']} targets in {c['select_seconds']:.1f}s, peak RSS"
        f" {create.peak_rss_mb:.0f} MB"
    )
    log("  project: approve + run_execute (issue; PDF chunks only enqueued)")
    broker = b.broker(9)
    execute = b.child(
        "bench_big",
        "issue-phase",
        "execute",
        "--run",
        str(c["run"]),
        *DATES,
        label="issue-execute",
        CELERY_BROKER_URL=broker,
    )
    e = execute.json()
    import redis

    redis.Redis.from_url(broker).flushdb()  # the chunks nobody renders here
    log(
        f"  issue: {e['issued']} certificates in {e['issue_seconds']:.1f}s (+ planning the PDF"
        f" chunks {e['schedule_seconds']:.1f}s), peak RSS {execute.peak_rss_mb:.0f} MB"
    )
    verify = b.child("bench_big", "verify-issue", "--run", str(c["run"]), label="verify").json()
    if not verify["equal"]:
        raise RuntimeError(f"the raw SQL and the project disagree: {verify}")
    log(f"  same selection: {verify['project_by_reason']}")
    b.results["sizes"]["persons"] = persons
    b.results["raw"]["issuance"] = {
        "raw_sql": raw,
        "select": {**c, "process_peak_rss_mb": create.peak_rss_mb},
        "execute": {**e, "process_peak_rss_mb": execute.peak_rss_mb},
        "verify": verify,
    }
    project = c["select_seconds"] + e["issue_seconds"]
    ratio("issuance_vs_raw_sql", project / raw["seconds"], b)
    bench_export(b, persons, c["targets"])
    bench_monthly(b, persons)
    bench_reissue(b)


def export_rss(b: Bench, label: str) -> dict:
    out = b.work / f"{label}.csv"
    f = b.manage("bench_big", "export_csv", "certificates", "--output", str(out), label=label)
    rows = sum(1 for _ in open(out, "rb")) - 1
    size = out.stat().st_size
    out.unlink()
    return {"rows": rows, "seconds": f.seconds, "peak_rss_mb": f.peak_rss_mb, "bytes": size}


def bench_export(b: Bench, persons: int, issued: int) -> None:
    log(f"export_csv certificates over the run's {issued} certificates")
    small = export_rss(b, "export-run")
    log(
        f"  {small['rows']} rows in {small['seconds']:.1f}s, peak RSS {small['peak_rss_mb']:.0f} MB"
    )
    total = max(persons, issued)
    top = b.child("bench_big", "topup-certificates", "--total", str(total), label="topup").json()
    log(f"export_csv certificates over {top['certificates']} certificates")
    big = export_rss(b, "export-all")
    log(f"  {big['rows']} rows in {big['seconds']:.1f}s, peak RSS {big['peak_rss_mb']:.0f} MB")
    b.results["raw"]["export"] = {"run_only": small, "all": big}


def bench_import(b: Bench, rows: int) -> None:
    source = "bench_big" if "issuance" in b.results["raw"] else None
    if source is None:
        source = "bench_import_source"
        seed(b, source, int(rows * 1.05) + 10)
    csv_path = b.work / "members.csv"
    made = b.child(
        source, "members-csv", "--output", str(csv_path), "--rows", str(rows), label="members-csv"
    ).json()
    log(f"import: {made['rows']}-row members CSV through import_members and through bulk_create")
    b.create_db("bench_import_project", template="bench_template")
    b.create_db("bench_import_raw", template="bench_template")
    raw = b.child("bench_import_raw", "raw-import", str(csv_path), label="import-raw").json()
    project = b.child(
        "bench_import_project", "project-import", str(csv_path), label="import-project"
    )
    p = project.json()
    log(
        f"  import_members {p['seconds']:.1f}s (peak RSS {project.peak_rss_mb:.0f} MB),"
        f" csv + bulk_create {raw['seconds']:.1f}s"
    )
    b.results["raw"]["import"] = {
        "rows": made["rows"],
        "project": {**p, "process_peak_rss_mb": project.peak_rss_mb},
        "raw": raw,
    }
    b.results["sizes"]["import_rows"] = made["rows"]
    ratio("import_vs_bulk_create", p["seconds"] / raw["seconds"], b)


# --- issue 18: the other paths at the same scale -------------------------------------------------


def _create_seconds(b: Bench, db: str, label: str) -> tuple[float, int]:
    """run_create in its own process, timed inside it (as the issuance bench's select)."""
    c = b.child(db, "issue-phase", "create", *DATES, label=label).json()
    return c["select_seconds"], c["run"]


def bench_first_run_after_import(b: Bench) -> None:
    """run_create (what `issuance_run create` calls) straight after seed_demo (nothing but the project itself has
    analyzed), then the same after a manual VACUUM ANALYZE; each run is deleted after (SQL) so
    both are first runs, and the issuance bench that follows finds the society as seeded."""
    log("first run after the import: issuance_run create straight after seed_demo")
    straight, run = _create_seconds(b, "bench_big", "create-after-import")
    b.child("bench_big", "delete-run", "--run", str(run), label="delete-run")
    b.admin_sql("VACUUM ANALYZE", "bench_big")
    log("  the same after a manual VACUUM ANALYZE")
    analyzed, run = _create_seconds(b, "bench_big", "create-after-analyze")
    b.child("bench_big", "delete-run", "--run", str(run), label="delete-run")
    b.admin_sql("VACUUM ANALYZE", "bench_big")
    log(f"  straight after the import {straight:.1f}s, after ANALYZE {analyzed:.1f}s")
    b.results["raw"]["first_run_after_import"] = {
        "straight_seconds": straight,
        "analyzed_seconds": analyzed,
    }
    ratio("first_run_after_import", straight / analyzed, b)


def _phases(b: Bench, db: str, dates: list[str], label: str, broker: int) -> dict:
    """run_create, then approve + run_execute (issue-phase steps); PDF chunks only enqueued."""
    create = b.child(db, "issue-phase", "create", *dates, label=f"{label}-create").json()
    url = b.broker(broker)
    execute = b.child(
        db,
        "issue-phase",
        "execute",
        "--run",
        str(create["run"]),
        *dates,
        label=f"{label}-execute",
        CELERY_BROKER_URL=url,
    ).json()
    import redis

    redis.Redis.from_url(url).flushdb()
    return {"select": create, "execute": execute, "run": create["run"]}


def bench_renewal(b: Bench) -> None:
    """A first run with a short validity over the seeded society, then the renewal of the whole
    population, against the renewal by hand (one UPDATE … FROM + INSERT … SELECT)."""
    log("renewal: first run with a short validity (until 2026-01-31)")
    b.create_db("bench_renew", template="bench_seeded")
    first = _phases(b, "bench_renew", SHORT_DATES, "first-short", broker=10)
    log(f"  first run: {first['execute']['issued']} certificates")
    b.create_db("bench_nightly", template="bench_renew")  # the state the nightly jobs start from
    log("  raw renewal: UPDATE … FROM + INSERT … SELECT (best of 2, rolled back)")
    raw = b.child("bench_renew", "raw-renewal", *RENEWAL_DATES, label="raw-renewal").json()
    b.admin_sql("VACUUM ANALYZE", "bench_renew")
    log(f"  raw: {raw['retired']} retired, {raw['count']} issued in {raw['seconds']:.1f}s")
    renewal = _phases(b, "bench_renew", RENEWAL_DATES, "renewal", broker=10)
    facts = b.child("bench_renew", "run-facts", "--run", str(renewal["run"]), label="facts").json()
    sel, exe = renewal["select"], renewal["execute"]
    log(
        f"  renewal: {sel['targets']} targets selected in {sel['select_seconds']:.1f}s, "
        f"{exe['issued']} issued in {exe['issue_seconds']:.1f}s; retired {facts['renewed_by_note']}"
    )
    if exe["issued"] != raw["count"]:
        b.results["notes"].append(
            f"renewal: the project issued {exe['issued']}, the raw SQL {raw['count']}"
        )
    b.results["raw"]["renewal"] = {"first": first, "raw_sql": raw, **renewal, "facts": facts}
    ratio("renewal_vs_raw_sql", (sel["select_seconds"] + exe["issue_seconds"]) / raw["seconds"], b)


def bench_nightly(b: Bench) -> None:
    """run_daily_jobs' steps on the society after the short first run: night 1 (2026-01-20) with a
    registration file for every 10th holder and every 100th certificate overdue for return,
    night 2 (2026-02-01) when every remaining certificate expires; each night against the same
    statements by hand, rolled back, on the same data."""
    prep = b.child(
        "bench_nightly",
        "nightly-prepare",
        "--registered-on",
        "2026-01-10",
        "--due",
        "2026-01-15",
        label="nightly-prepare",
    ).json()
    nights = {}
    for night in (NIGHT_1, NIGHT_2):
        log(f"nightly jobs of {night}: raw statements (rolled back), then the project")
        # every step, the 75th birthdays first as daily_jobs_run does (their losses change
        # certificates the later steps then find), on both sides
        raw = b.child("bench_nightly", "raw-nightly", "--date", night, label="raw-nightly").json()
        b.admin_sql("VACUUM ANALYZE", "bench_nightly")
        project = b.child(
            "bench_nightly",
            "nightly",
            "--date",
            night,
            "--steps",
            ",".join(raw["steps"]),
            label="nightly",
        ).json()
        for name, step in project["steps"].items():
            base = raw["steps"].get(name)
            vs = f" (raw {base['seconds']:.1f}s, {base['rows']} rows)" if base else " (no raw)"
            log(f"  {name}: {step['rows']} in {step['seconds']:.1f}s{vs}")
        nights[night] = {"raw": raw, "project": project}
    b.results["raw"]["nightly"] = {"prepared": prep, "nights": nights}
    # the steps with a raw twin (all of daily_jobs_run's certificate and registry steps)
    project_s = sum(
        step["seconds"]
        for n in nights.values()
        for name, step in n["project"]["steps"].items()
        if name in n["raw"]["steps"]
    )
    raw_s = sum(n["raw"]["seconds"] for n in nights.values())
    ratio("nightly_vs_raw_sql", project_s / raw_s, b)


def bench_monthly(b: Bench, persons: int) -> None:
    """A month after the first run, on the full register with all its certificates: ~1% new
    joiners (seed_demo --append) and ~1% lapses (SQL), then a run: select and issue timed."""
    joiners = max(1, persons // 100)
    log(f"monthly run: {joiners} new joiners, ~1% lapses, on top of the full register")
    b.manage(
        "bench_big", "seed_demo", "--persons", str(joiners), "--as-of", AS_OF, "--append",
        "--seed", "2", label="seed-joiners",
    )  # fmt: skip
    lapses = b.child(
        "bench_big", "monthly-lapses", "--lost-on", "2025-12-20", label="monthly-lapses"
    ).json()
    monthly = _phases(b, "bench_big", MONTHLY_DATES, "monthly", broker=11)
    sel, exe = monthly["select"], monthly["execute"]
    log(
        f"  {sel['targets']} targets {sel['by_reason']} in {sel['select_seconds']:.1f}s, issued "
        f"{exe['issued']} in {exe['issue_seconds']:.1f}s"
    )
    b.results["raw"]["monthly"] = {"joiners": joiners, **lapses, **monthly}


def bench_reissue(b: Bench) -> None:
    """A 記載事項変更 reissue through fees.services with the whole certificates table in place."""
    f = b.child(
        "bench_big",
        "reissue",
        "--date",
        "2026-01-10",
        label="reissue",
        CELERY_BROKER_URL=b.broker(12),
    )
    r = f.json()
    import redis

    redis.Redis.from_url(b.broker(12)).flushdb()
    log(
        f"reissue with {r['certificates']} certificates: median {r['median_seconds']:.2f}s, "
        f"max {r['max_seconds']:.2f}s"
    )
    b.results["raw"]["reissue"] = r


def ratio(name: str, value: float, b: Bench) -> None:
    b.results["ratios"][name] = value
    log(f"ratio {name} = {value:.2f}")


# --- the report ----------------------------------------------------------------------------------


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--report-only":
        # docs/performance.md again from a run's saved figures (no measuring)
        from bench_report import write_report

        results = json.loads(Path(sys.argv[2]).read_text())
        output = Path(os.environ.get("BENCH_OUTPUT", ROOT / "docs" / "performance.md"))
        write_report(results, output)
        print_summary(results)
        return 0
    if os.environ.get("BENCH_UNDER_SERVICES") != "1":
        # Own throwaway PostgreSQL + Redis, always stopped afterwards (scripts/with-services.sh).
        env = {**os.environ, "BENCH_UNDER_SERVICES": "1"}
        script = str(ROOT / "scripts" / "with-services.sh")
        os.execve(script, [script, str(PYTHON), str(Path(__file__).resolve())], env)  # noqa: S606

    persons = env_int("BENCH_PERSONS", 1_200_000)
    pdf_persons = env_int("BENCH_PDF_PERSONS", 5_000)
    import_rows = env_int("BENCH_IMPORT_ROWS", 100_000)
    output = Path(os.environ.get("BENCH_OUTPUT", ROOT / "docs" / "performance.md"))
    skip = {s.strip() for s in os.environ.get("BENCH_SKIP", "").split(",") if s.strip()}
    unknown = skip - {"import", "import_scale", "pdf"}
    if unknown:
        raise SystemExit(f"BENCH_SKIP: unknown sections {sorted(unknown)}")
    only = os.environ.get("BENCH_ONLY", "")
    if only not in ("", "pdf"):
        raise SystemExit(f"BENCH_ONLY: unknown section {only!r} (only 'pdf')")
    work = Path(tempfile.mkdtemp(prefix="shikaku-bench-"))
    b = Bench(work)
    started = time.monotonic()
    b.results["machine"] = machine()
    b.results["started"] = datetime.now().astimezone().isoformat(timespec="seconds")
    m = b.results["machine"]
    log(
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']},"
        f" {m['postgres']}, load {m['load_before'][0]:.2f}"
    )
    try:
        prepare_template(b)
        if only != "pdf":
            bench_issuance(b, persons)
            bench_renewal(b)
            bench_nightly(b)
        if "import" not in skip and not only:
            bench_import(b, import_rows)
        if "import_scale" not in skip and not only:
            from bench_import import bench_import_scale  # the imports at register size

            bench_import_scale(b)
        if "pdf" not in skip:
            # last: the two-worker figure needs both cores, and the part a busy machine hurts
            bench_pdf(b, pdf_persons)
    finally:
        b.results["seconds"] = time.monotonic() - started
        b.results["load_after"] = os.getloadavg()
        (output.parent / "bench-results.json").write_text(
            json.dumps(b.results, ensure_ascii=False, indent=2, default=str)
        )
        if os.environ.get("BENCH_KEEP") == "1":
            log(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if skip or only:
        print_summary(b.results)
        log(
            f"partial run (BENCH_SKIP={','.join(sorted(skip))} BENCH_ONLY={only}): no report written"
        )
        return 0
    from bench_report import write_report

    write_report(b.results, output)
    print_summary(b.results)
    log(f"report written to {output} ({b.results['seconds'] / 60:.0f} min)")
    return 0


def print_summary(r: dict) -> None:
    m = r["machine"]
    print(
        f"MACHINE cpu={m['cpu']!r} cores={m['cores']} memory_gb={m['memory_gb']}"
        f" python={m['python']} postgres={m['postgres']!r}"
    )
    raw = r["raw"]
    if "issuance" in raw:
        print_issuance(r)
    if "pdf" in raw:
        print_pdf(raw["pdf"])
    print_rest(raw)
    for name, value in r["ratios"].items():
        print(f"RATIO {name} {value:.2f}")


def print_issuance(r: dict) -> None:
    raw = r["raw"]
    iss = raw["issuance"]
    print(
        f"RAW issuance persons={r['sizes']['persons']} targets={iss['select']['targets']}"
        f" raw_sql_s={iss['raw_sql']['seconds']:.1f} select_s={iss['select']['select_seconds']:.1f}"
        f" issue_s={iss['execute']['issue_seconds']:.1f}"
        f" plan_chunks_s={iss['execute']['schedule_seconds']:.1f}"
        f" select_peak_rss_mb={iss['select']['process_peak_rss_mb']:.0f}"
        f" execute_peak_rss_mb={iss['execute']['process_peak_rss_mb']:.0f}"
    )


def print_rest(raw: dict) -> None:
    if "export" not in raw:
        return
    ex = raw["export"]
    print(
        f"RAW export rows={ex['all']['rows']} peak_rss_mb={ex['all']['peak_rss_mb']:.0f}"
        f" (at {ex['run_only']['rows']} rows: {ex['run_only']['peak_rss_mb']:.0f})"
        f" seconds={ex['all']['seconds']:.1f}"
    )
    if "import" in raw:
        imp = raw["import"]
        print(
            f"RAW import rows={imp['rows']} import_members_s={imp['project']['seconds']:.1f}"
            f" bulk_create_s={imp['raw']['seconds']:.1f}"
        )
    if "renewal" in raw:
        rn = raw["renewal"]
        print(
            f"RAW renewal targets={rn['select']['targets']} raw_sql_s={rn['raw_sql']['seconds']:.1f}"
            f" select_s={rn['select']['select_seconds']:.1f}"
            f" issue_s={rn['execute']['issue_seconds']:.1f}"
        )
    if "nightly" in raw:
        for night, n in raw["nightly"]["nights"].items():
            steps = " ".join(
                f"{name}={step['rows']}/{step['seconds']:.1f}s"
                for name, step in n["project"]["steps"].items()
            )
            print(f"RAW nightly {night} {steps} raw_s={n['raw']['seconds']:.1f}")
    if "monthly" in raw:
        mo = raw["monthly"]
        print(
            f"RAW monthly targets={mo['select']['targets']}"
            f" select_s={mo['select']['select_seconds']:.1f}"
            f" issue_s={mo['execute']['issue_seconds']:.1f}"
        )
    if "reissue" in raw:
        ri = raw["reissue"]
        print(
            f"RAW reissue certificates={ri['certificates']} median_s={ri['median_seconds']:.3f}"
            f" max_s={ri['max_seconds']:.3f}"
        )


def print_pdf(pdf: dict) -> None:
    print(
        f"RAW pdf households={pdf['one_worker']['households']}"
        f" one_worker_hh_s={pdf['one_worker']['households_per_second']:.2f}"
        f" two_workers_hh_s={pdf['two_workers']['households_per_second']:.2f}"
        f" raw_weasyprint_hh_s={pdf['raw_weasyprint']['households_per_second']:.2f}"
        f" bytes_per_household={pdf['one_worker']['bytes'] / pdf['one_worker']['households']:.0f}"
    )
    if "sheets" in pdf:  # pages and duplex sheets per household, before/after cards on the letter
        sh = pdf["sheets"]
        print(
            f"RAW pdf_sheets households={sh['households']}"
            f" before_pages_per_household={sh['before']['pages_per_household']:.2f}"
            f" before_sheets_per_household={sh['before']['sheets_per_household']:.2f}"
            f" after_pages_per_household={sh['after']['pages_per_household']:.2f}"
            f" after_sheets_per_household={sh['after']['sheets_per_household']:.2f}"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
