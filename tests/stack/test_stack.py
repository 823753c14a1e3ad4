"""The production stack, really run: `docker compose up -d --build` with the repository's own
docker-compose.yml and Dockerfile, then every step of README "Production with docker compose" as an
operator does it, each checked.

Run by `make test` as its own pass (scripts/test.sh, marker `stack`), after the image stand-ins are
built or reused (scripts/stack-images.sh) and dockerd is running. The steps share one stack and run
in file order; the stack, its volumes and its application images are removed at the end (the cached
stand-in base images are kept)."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import subprocess
import threading
import time

import pytest

from tests.members.builders import (
    MEMBERS_HEADER,
    STATUS_HEADER,
    csv_text,
    dependent_row,
    member_row,
    status_row,
)
from tests.stack.stack import (
    ROOT,
    Browser,
    Stack,
    StackError,
    copy_checkout,
    docker_usable,
    form_options,
    new_stack,
    run,
    static_css_paths,
)

pytestmark = pytest.mark.stack

HOUSEHOLDS = 6  # per batch; PERSONS each, every one a target (one PDF chunk per household)
PERSONS = (
    4  # a 本人 and three 家族: four cards per chunk, so a chunk renders long enough to interrupt
)
ISSUE = ["--issue-date", "2025-12-01", "--valid-until", "2027-11-30"]
ADMIN_PASSWORD = secrets.token_urlsafe(16)
STAFF_PASSWORD = secrets.token_urlsafe(16)


def _require_docker() -> None:
    if docker_usable():
        return
    if os.environ.get("STACK_TEST") == "1":  # scripts/test.sh started dockerd: it must work
        pytest.fail("docker is not usable (dockerd not running?)")
    pytest.skip("no Docker engine here (make test starts one for this pass)")


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    """Local stand-ins for the Docker Hub images (built once, then reused from the cache)."""
    _require_docker()
    out = run([str(ROOT / "scripts" / "stack-images.sh")], timeout=1500, text=True).stdout
    pairs = dict(line.split("=", 1) for line in out.split() if "=" in line)
    assert set(pairs) == {"PYTHON_IMAGE", "POSTGRES_IMAGE", "REDIS_IMAGE"}, out
    return pairs


@pytest.fixture(scope="module")
def stack(images, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("checkout")
    copy_checkout(workdir)
    s = new_stack(workdir, images)
    s.extra_images = []  # type: ignore[attr-defined]  # images built by the upgrade step
    s.restored = None  # type: ignore[attr-defined]  # the stack restored from the backup
    try:
        yield s
    finally:
        for other in (s.restored, s):  # type: ignore[attr-defined]
            if other is not None:
                other.compose("down", "-v", "--remove-orphans", timeout=300, check=False)
        built = {s.settings["APP_IMAGE"], *s.extra_images}  # type: ignore[attr-defined]
        subprocess.run(["docker", "image", "rm", "-f", *built], capture_output=True, timeout=300)
        still = [
            i
            for i in built
            if subprocess.run(
                ["docker", "image", "inspect", i], capture_output=True, timeout=60
            ).returncode
            == 0
        ]
        assert not still, f"images of {s.project} left behind: {still}"
        left = run(
            ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={s.project}"],
            timeout=60,
            text=True,
        ).stdout.split()
        assert not left, f"containers of {s.project} left behind: {left}"


def _households(batch: int) -> tuple[list[dict], list[dict], int]:
    """Members and status rows of one batch: HOUSEHOLDS households of a 本人 and PERSONS - 1 家族,
    all 未登録 (targets), each at its own 事業所 (its own PDF chunk), plus one 登録済 household that
    is not a target. One name carries 𠮷 (IPAmj明朝 only)."""
    members, status = [], []
    for i in range(HOUSEHOLDS + 1):
        bango = f"{batch}{i:03d}"
        name = "𠮷田 太郎" if i == 0 else f"山田 太{i}"
        members.append(
            member_row(
                事業所記号=f"E{batch}{i:02d}",
                事業所名称=f"丸の内商事{batch}-{i}株式会社",
                番号=bango,
                氏名=name,
                資格取得年月日="2020-04-01",
            )
        )
        edabans = [f"{n:02d}" for n in range(PERSONS)]
        for edaban in edabans[1:]:
            members.append(dependent_row(番号=bango, 枝番=edaban, 資格取得年月日="2020-04-01"))
        registered = i == HOUSEHOLDS
        for edaban in edabans:
            status.append(
                status_row(
                    番号=bango,
                    枝番=edaban,
                    登録状況="登録済" if registered else "未登録",
                )
            )
    return members, status, PERSONS * HOUSEHOLDS


def _put(stack: Stack, name: str, text: str) -> str:
    """Copy a file into the web container as README step 6 says (works with compose v1 and v2)."""
    path = f"/app/var/{name}"
    stack.exec("web", "sh", "-c", f"cat > {path}", input=text.encode("utf-8"), timeout=60)
    return path


def _import_batch(stack: Stack, batch: int) -> int:
    status_rows = []
    members, _, targets = _households(batch)
    for b in range(1, batch + 1):  # every snapshot lists everybody, as the monthly data does
        status_rows += _households(b)[1]
    members_csv = _put(stack, f"members-{batch}.csv", csv_text(MEMBERS_HEADER, members))
    out = stack.manage("import_members", members_csv, "--by", "clerk")
    assert f"{len(members)}行 / 新規 {len(members)} / 更新 0" in out, out
    as_of = f"2025-11-0{batch}"
    out = stack.manage(
        "import_registration_status",
        _put(stack, f"status-{batch}.csv", csv_text(STATUS_HEADER, status_rows)),
        "--as-of",
        as_of,
        "--by",
        "clerk",
    )
    assert f"（基準日 {as_of}）: {len(status_rows)}行" in out, out
    return targets


def _create_and_approve(stack: Stack, batch: int) -> int:
    out = stack.manage(
        "issuance_run", "create", "--as-of", f"2025-11-0{batch}", *ISSUE, "--by", "clerk"
    )
    run_id = int(out.strip().splitlines()[-1].split()[-1].strip("#"))
    stack.manage("issuance_run", "approve", str(run_id), "--by", "boss")
    return run_id


def _outcome(stack: Stack, run_id: int) -> dict:
    """tests/integration/outcome.py's check, run inside the web container on the documents volume:
    every target one certificate, every chunk stored once with its sha256, every certificate printed
    on exactly one card."""
    return stack.python(
        "import json; from pathlib import Path; from django.conf import settings;"
        "from tests.integration.outcome import assert_run_complete;"
        f"print(json.dumps(assert_run_complete({run_id}, Path(settings.MEDIA_ROOT))))"
    )


def _chunk_states(stack: Stack, run_id: int) -> dict[str, int]:
    rows = stack.psql_fast(
        f"SELECT state, count(*) FROM documents_generateddocument WHERE run_id = {run_id:d} GROUP BY state"  # noqa: S608
    )
    return {state: int(n) for state, n in (line.split("|") for line in rows.splitlines() if line)}


def _execute_in_background(stack: Stack, run_id: int) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def target():
        try:
            result["out"] = stack.manage(
                "issuance_run", "execute", str(run_id), "--wait", "--by", "boss", timeout=900
            )
        except Exception as exc:  # reported by the test, not lost in the thread
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, result


def _wait_mid_run(stack: Stack, run_id: int, *, rendering: int, timeout: float = 300) -> dict:
    """Until at least `rendering` chunks are being rendered at once while others still wait."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = _chunk_states(stack, run_id)
        if states.get("処理中", 0) >= rendering and states.get("待機", 0) >= 1:
            return states
        if states and set(states) == {"完了"}:
            raise StackError(f"run {run_id} finished before it could be interrupted: {states}")
        time.sleep(0.3)
    raise StackError(
        f"run {run_id} never got {rendering} chunks rendering: {_chunk_states(stack, run_id)}"
    )


def _join(thread: threading.Thread, result: dict, timeout: float = 900) -> str:
    thread.join(timeout)
    assert not thread.is_alive(), "execute --wait did not finish"
    if "error" in result:
        raise result["error"]
    return result["out"]


# --- the steps, in the order of README "Production with docker compose" -------------------------


def test_compose_config_and_up_bring_every_service_to_healthy(stack):
    stack.compose("config", "--quiet", timeout=60)
    stack.up("--build")
    states = stack.wait_healthy()
    assert states["worker"] == ["healthy"] and states["web"] == ["healthy"]
    ps = stack.compose("ps", timeout=60, text=True).stdout
    assert "healthy" in ps and "unhealthy" not in ps


def test_web_applied_every_migration_once(stack):
    applied = re.findall(r"Applying (\S+)\.\.\. OK", stack.logs("web"))
    assert applied, "the web service did not migrate"
    assert len(applied) == len(set(applied))
    rows = int(stack.psql("SELECT count(*) FROM django_migrations"))
    assert rows == len(applied)
    plan = stack.manage("showmigrations", "--plan")
    assert "[ ]" not in plan and plan.count("[X]") == rows
    stack.migrations = rows  # type: ignore[attr-defined]


def test_image_runs_unprivileged_and_carries_ipamj_mincho(stack):
    for service in ("web", "worker", "beat"):
        uid = stack.exec(service, "id", "-u", text=True, timeout=60).stdout.strip()
        assert uid != "0" and uid == "10001", (service, uid)
    fonts = stack.exec("worker", "fc-list", ":", "family", text=True, timeout=60).stdout
    assert "IPAmj明朝" in fonts
    # the documents volume is writable by that user, the code is not
    stack.exec(
        "worker", "sh", "-c", "touch /data/documents/.w && rm /data/documents/.w", timeout=60
    )
    assert (
        stack.exec("worker", "sh", "-c", "touch /app/manage.py", check=False, timeout=60).returncode
        != 0
    )


def test_http_on_loopback_login_static_files_and_staff_with_groups(stack):
    ports = stack.inspect(stack.container_ids("web")[0])["NetworkSettings"]["Ports"]["8000/tcp"]
    assert [p["HostIp"] for p in ports] == ["127.0.0.1"], ports

    web = Browser(stack.web_port)
    page = web.request("/admin/login/")
    assert page.status == 200 and "ログイン" in page.text and "Log in" not in page.text
    css = static_css_paths(page.text)
    assert css and all(re.search(r"\.[0-9a-f]{12}\.css$", p) for p in css), css  # hashed names
    sheet = web.request(css[0])
    assert sheet.status == 200 and sheet.headers["content-type"].startswith("text/css")
    assert "immutable" in sheet.headers.get("cache-control", "")  # WhiteNoise, hashed file
    assert len(sheet.body) > 100
    # plain HTTP (no proxy in front saying it was HTTPS) is redirected to HTTPS
    plain = web.raw("/admin/login/")
    assert plain.status == 301 and plain.headers["location"].startswith("https://"), plain.status

    stack.exec(
        "web",
        "env",
        f"DJANGO_SUPERUSER_PASSWORD={ADMIN_PASSWORD}",
        "python",
        "manage.py",
        "createsuperuser",
        "--noinput",
        "--username",
        "operator",
        "--email",
        "operator@example.jp",
        timeout=120,
    )
    assert web.login("operator", "wrong").status == 200  # the form again, with an error
    resp = web.login("operator", ADMIN_PASSWORD)
    assert resp.status == 302 and resp.headers["location"] == "/admin/", resp.status
    index = web.request("/admin/")
    assert index.status == 200, index.status
    # the admin in Japanese (Django's own strings, translated): not a word of the English default
    japanese = ('lang="ja"' in index.text, "ログアウト" in index.text, "Log out" not in index.text)
    assert japanese == (True, True, True), japanese

    # Staff accounts in the admin: add the user, then staff status and exactly one group.
    for username, group in (("clerk", "事務担当"), ("boss", "承認者")):
        _, fields = web.form("/admin/auth/user/add/")
        data = dict(fields)
        data.update(
            username=username,
            password1=STAFF_PASSWORD,
            password2=STAFF_PASSWORD,
            usable_password="true",
        )
        added = web.request("/admin/auth/user/add/", data)
        assert added.status == 302, added.text[-2000:]
        change_url = added.headers["location"]
        page, fields = web.form(change_url)
        groups = form_options(page.text)["groups"]
        data = [
            (k, v) for k, v in fields if k not in {"is_staff", "groups", "_continue", "_addanother"}
        ]
        data += [("is_staff", "on"), ("groups", groups[group]), ("_save", "保存")]
        saved = web.request(change_url, data)
        assert saved.status == 302, saved.text[-3000:]
    rows = stack.psql(
        "SELECT u.username || ':' || u.is_staff::text || ':' || g.name FROM auth_user u "
        "JOIN auth_user_groups ug ON ug.user_id = u.id JOIN auth_group g ON g.id = ug.group_id "
        "ORDER BY u.username"
    )
    assert rows.splitlines() == ["boss:true:承認者", "clerk:true:事務担当"]
    clerk = Browser(stack.web_port)
    assert clerk.login("clerk", STAFF_PASSWORD).status == 302
    stack.browser_clerk = clerk  # type: ignore[attr-defined]


def test_import_and_bulk_run_rendered_by_the_worker_into_the_documents_volume(stack):
    targets = _import_batch(stack, 1)
    run_id = _create_and_approve(stack, 1)
    out = stack.manage(
        "issuance_run", "execute", str(run_id), "--wait", "--by", "boss", timeout=900
    )
    assert "完了" in out, out
    result = _outcome(stack, run_id)
    assert result["certificates"] == targets and result["chunks"] == HOUSEHOLDS
    files = stack.exec(
        "worker", "sh", "-c", f"ls /data/documents/documents/runs/{run_id}", text=True, timeout=60
    ).stdout.split()
    assert len(files) == HOUSEHOLDS and all(f.endswith(".pdf") for f in files)
    worker_log = stack.logs("worker")
    assert worker_log.count("succeeded") >= HOUSEHOLDS, worker_log[-3000:]
    assert "succeeded" not in stack.logs("web")

    # The permission-checked download over HTTP: the clerk gets the PDF, an anonymous client not.
    where = f"WHERE run_id = {run_id:d} ORDER BY chunk_no LIMIT 1"
    first_chunk = "SELECT id || '|' || sha256 FROM documents_generateddocument " + where  # noqa: S608
    doc_id, sha = stack.psql(first_chunk).split("|")
    pdf = stack.browser_clerk.request(f"/documents/{doc_id}/download/")  # type: ignore[attr-defined]
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(pdf.body).hexdigest() == sha
    anonymous = Browser(stack.web_port).request(f"/documents/{doc_id}/download/")
    assert anonymous.status == 302 and "/admin/login/" in anonymous.headers["location"]
    stack.runs = [run_id]  # type: ignore[attr-defined]


def test_two_workers_and_one_killed_mid_run_still_print_each_target_once(stack):
    targets = _import_batch(stack, 2)
    run_id = _create_and_approve(stack, 2)
    stack.up("--scale", "worker=2")
    stack.wait_healthy(workers=2)
    workers = stack.running_containers("worker")
    assert len(workers) == 2
    thread, result = _execute_in_background(stack, run_id)
    # Three chunks rendering at once on two workers of two processes each: both hold one.
    before = _wait_mid_run(stack, run_id, rendering=3)
    run(["docker", "kill", workers[0]], timeout=60)
    out = _join(thread, result)
    assert "完了" in out, out
    outcome = _outcome(stack, run_id)
    assert outcome["certificates"] == targets and outcome["chunks"] == HOUSEHOLDS
    assert sum(outcome["attempts"]) > HOUSEHOLDS, (before, outcome)  # the killed chunk came back
    stack.runs.append(run_id)  # type: ignore[attr-defined]


def test_redis_restarted_mid_run_still_prints_each_target_once(stack):
    stack.up("--scale", "worker=2")  # the killed one back
    stack.wait_healthy(workers=2)
    targets = _import_batch(stack, 3)
    run_id = _create_and_approve(stack, 3)
    thread, result = _execute_in_background(stack, run_id)
    _wait_mid_run(stack, run_id, rendering=1)
    stack.compose("restart", "redis", timeout=300)
    out = _join(thread, result)
    assert "完了" in out, out
    outcome = _outcome(stack, run_id)
    assert outcome["certificates"] == targets and outcome["chunks"] == HOUSEHOLDS
    stack.runs.append(run_id)  # type: ignore[attr-defined]


COUNTS = (
    "SELECT (SELECT count(*) FROM members_person) || '|' || (SELECT count(*) FROM certificates_certificate)"
    " || '|' || (SELECT count(*) FROM certificates_issuancerun) || '|' ||"
    " (SELECT count(*) FROM documents_generateddocument) || '|' || (SELECT count(*) FROM core_auditevent)"
)


def test_backup_and_restore_into_fresh_volumes(stack, tmp_path):
    backup = tmp_path / "backup"
    backup.mkdir()
    dump = stack.exec("postgres", "pg_dump", "-U", "shikaku", "-Fc", "shikaku", timeout=300).stdout
    (backup / "db.dump").write_bytes(dump)
    tar = stack.exec("web", "tar", "-C", "/data/documents", "-cf", "-", ".", timeout=300).stdout
    (backup / "documents.tar").write_bytes(tar)
    counts = stack.psql(COUNTS)
    name, sha = stack.psql(
        "SELECT file || '|' || sha256 FROM documents_generateddocument WHERE file <> '' "
        "ORDER BY id DESC LIMIT 1"
    ).split("|")

    # A second server: the same checkout and .env, another project (fresh volumes), another port.
    from tests.stack.stack import free_port

    restored = Stack(
        workdir=stack.workdir,
        project=stack.project + "r",
        compose_cmd=stack.compose_cmd,
        web_port=free_port(),
        env={**stack.env, "WEB_PORT": ""},
    )
    restored.env["WEB_PORT"] = str(restored.web_port)
    stack.restored = restored  # type: ignore[attr-defined]
    restored.up("postgres")
    deadline = time.monotonic() + 120
    while restored.states()["postgres"] != ["healthy"]:
        assert time.monotonic() < deadline, restored.states()
        time.sleep(2)
    restored.exec(
        "postgres",
        "pg_restore",
        "-U",
        "shikaku",
        "-d",
        "shikaku",
        "--no-owner",
        "--exit-on-error",
        input=(backup / "db.dump").read_bytes(),
        timeout=300,
    )
    restored.compose(
        "run",
        "--rm",
        "--no-deps",
        "-T",
        "web",
        "tar",
        "-C",
        "/data/documents",
        "-xf",
        "-",
        input=(backup / "documents.tar").read_bytes(),
        timeout=300,
    )
    restored.up("web")
    deadline = time.monotonic() + 300
    while restored.states()["web"] != ["healthy"]:
        assert time.monotonic() < deadline, restored.states()
        time.sleep(3)
    assert "No migrations to apply." in restored.logs("web")
    assert restored.psql(COUNTS) == counts
    copy = restored.exec(
        "web", "sha256sum", f"/data/documents/{name}", text=True, timeout=60
    ).stdout
    assert copy.split()[0] == sha
    restored.compose("down", "-v", timeout=300)
    stack.restored = None  # type: ignore[attr-defined]


def test_upgrade_rebuilds_and_keeps_every_row_without_migrating_again(stack):
    counts = stack.psql(COUNTS)
    history = stack.psql(
        "SELECT string_agg(id || ':' || state, ',' ORDER BY id) FROM certificates_issuancerun"
    )
    old_image = stack.inspect(stack.container_ids("web")[0])["Image"]
    old_web = stack.container_ids("web")
    # "git pull": a changed file in the checkout, so the rebuilt image differs.
    (stack.workdir / "RELEASE").write_text("upgrade test\n", encoding="utf-8")
    stack.up("--build", "--scale", "worker=2")  # as many workers as before
    stack.extra_images.append(old_image)  # type: ignore[attr-defined]
    stack.wait_healthy(workers=2)
    new_web = stack.container_ids("web")
    assert new_web != old_web, "web was not recreated from the new image"
    assert stack.inspect(new_web[0])["Image"] != old_image
    log = stack.logs("web")
    assert "No migrations to apply." in log
    assert int(stack.psql("SELECT count(*) FROM django_migrations")) == stack.migrations  # type: ignore[attr-defined]
    assert stack.psql(COUNTS) == counts
    assert (
        stack.psql(
            "SELECT string_agg(id || ':' || state, ',' ORDER BY id) FROM certificates_issuancerun"
        )
        == history
    )
    assert history.count("完了") == 3


def test_down_keeps_the_named_volumes(stack):
    stack.compose("down", timeout=300)
    volumes = run(
        [
            "docker",
            "volume",
            "ls",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={stack.project}",
        ],
        timeout=60,
        text=True,
    ).stdout.split()
    assert sorted(v.rsplit("_", 1)[-1] for v in volumes) == ["db", "documents", "redis"], volumes
    assert stack.container_ids("web") == []
