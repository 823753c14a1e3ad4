"""The production stack and the developer entry points, checked as files an operator relies on.

These machines have the docker client but no engine: the compose file is validated by
`docker compose config` (or Debian's `docker-compose config`, which `make install` installs), and read
with PyYAML to assert what production needs (services, health checks, volumes, commands)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
SET_BY_COMPOSE = {"DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_ROOT", "STATIC_ROOT", "VAR_DIR"}


def settings_variables() -> set[str]:
    """Every environment variable config/settings.py (and its storage part) reads through the env
    helpers."""
    source = "".join(
        (ROOT / "config" / name).read_text(encoding="utf-8")
        for name in ("settings.py", "storage.py")
    )
    return set(re.findall(r'env_(?:str|bool|int|list)\(\s*"([A-Z][A-Z0-9_]*)"', source))


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: not KEY=value: {line!r}"
            pairs[key.strip()] = value
    return pairs


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def command_text(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def compose_command() -> list[str] | None:
    """`docker compose` (the plugin) when present, else Debian's `docker-compose` (installed by
    `make install`); both parse and interpolate the file without a Docker engine."""
    if shutil.which("docker"):
        result = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if result.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


# --- docker compose -------------------------------------------------------------------------------


def _compose_config(directory: Path) -> subprocess.CompletedProcess:
    command = compose_command()
    if command is None:
        if os.environ.get("TEST_SERVICES_DIR"):  # under `make test`, make install provides it
            pytest.fail("neither `docker compose` nor `docker-compose` is installed")
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    return subprocess.run(
        [*command, "config", "--quiet"], cwd=directory, capture_output=True, text=True
    )


def test_docker_compose_config_accepts_the_file_with_the_example_environment(tmp_path):
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")
    result = _compose_config(tmp_path)
    assert result.returncode == 0, result.stderr


def test_docker_compose_config_refuses_a_missing_database_password(tmp_path):
    # The same check fails when the environment lacks what the file demands: it can fail.
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    env = ENV_EXAMPLE.read_text(encoding="utf-8")
    kept = [line for line in env.splitlines() if not line.startswith("POSTGRES_PASSWORD=")]
    assert len(kept) < len(env.splitlines())
    (tmp_path / ".env").write_text("\n".join(kept) + "\n", encoding="utf-8")
    result = _compose_config(tmp_path)
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def test_compose_has_the_five_services_with_health_checks(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "beat"}
    for name in ("postgres", "redis", "web", "worker"):
        check = services[name].get("healthcheck")
        assert check and check.get("test"), f"{name} has no health check"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "ping" in services["redis"]["healthcheck"]["test"]


def test_compose_keeps_the_database_and_the_documents_in_volumes(compose):
    assert {"db", "documents"} <= set(compose["volumes"])
    assert "db:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]
    for name in ("web", "worker"):
        service = compose["services"][name]
        media_root = service["environment"]["MEDIA_ROOT"]
        assert f"documents:{media_root}" in service["volumes"], name


def test_redis_never_evicts_the_broker_queue(compose):
    command = command_text(compose["services"]["redis"])
    assert re.search(r"--maxmemory-policy\s+noeviction", command)
    assert re.search(r"--appendonly\s+yes", command)  # the queue survives a Redis restart


def test_web_migrates_then_serves_gunicorn_with_collected_static_files(compose):
    web = compose["services"]["web"]
    command = command_text(web)
    assert "manage.py migrate" in command
    assert command.index("migrate") < command.index("gunicorn config.wsgi")
    assert web["depends_on"]["postgres"]["condition"] == "service_healthy"
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "collectstatic" in dockerfile
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE


def test_worker_is_celery_prefork_taking_one_task_at_a_time_and_beat_runs(compose):
    worker = command_text(compose["services"]["worker"])
    assert "celery -A config worker" in worker
    assert re.search(r"--prefetch-multiplier\s+1\b", worker)
    assert re.search(r"--pool\s+prefork", worker)
    assert "--concurrency" in worker
    assert "celery -A config beat" in " ".join(compose["services"]["beat"]["command"])
    for name in ("worker", "beat"):
        assert compose["services"][name]["depends_on"]["web"]["condition"] == "service_healthy"


def test_app_services_reach_postgres_and_redis_by_service_name(compose):
    env = compose["services"]["worker"]["environment"]
    assert (
        env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
    )
    assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    assert SET_BY_COMPOSE <= set(env)


def test_every_variable_the_compose_file_interpolates_is_in_the_example(compose):
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE.read_text(encoding="utf-8")))
    assert used, "expected ${VAR} interpolation"
    assert used <= set(env_example()), used - set(env_example())


# --- Dockerfile and the example environment --------------------------------------------------------


def test_dockerfile_installs_fonts_and_weasyprint_libraries_and_runs_unprivileged():
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    # the official image unless PYTHON_IMAGE names a stand-in (tests/stack)
    assert re.search(r"^FROM \$\{PYTHON_IMAGE:-python:3\.11-slim-bookworm\}$", text, re.M)
    for package in (
        "fonts-ipamj-mincho",
        "fonts-ipaexfont",
        "libpango-1.0-0",
        "libpangoft2-1.0-0",
        "libharfbuzz-subset0",
        "poppler-utils",
    ):
        assert package in text, package
    assert "pip install -r requirements.txt" in text
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in {"root", "0"}


def test_env_example_sets_every_setting_for_production():
    example = env_example()
    assert example["PRODUCTION"] == "1"
    assert example["DEBUG"] == "0"
    missing = settings_variables() - set(example) - SET_BY_COMPOSE
    assert not missing, f".env.example lacks {sorted(missing)}"


def test_env_example_is_a_valid_production_configuration(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(env_example())
    env["VAR_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image():
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".env", ".venv", ".git", "var"):
        assert entry in ignored, entry


# --- README and the developer entry points ---------------------------------------------------------


def test_readme_documents_every_environment_variable():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in sorted(settings_variables()) if f"`{name}`" not in readme]
    assert not missing, f"README.md does not document {missing}"


def test_readme_links_the_contracts_copied_verbatim_from_the_rules():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/contracts.md" in readme
    contracts = (ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")
    for command in ("import_members", "import_registration_status", "export_csv", "issuance_run"):
        assert command in contracts
    shared = ROOT.parent / "shared" / "docs" / "rules.md"
    if shared.exists():
        assert contracts == shared.read_text(encoding="utf-8"), (
            "docs/contracts.md differs from shared/docs/rules.md: copy it again"
        )


def test_makefile_offers_the_entry_points_and_ci_runs_make_test_only():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("install", "demo", "test", "lint", "bench"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    ci = ROOT / ".ci" / "run"
    assert os.access(ci, os.X_OK)
    commands = [
        line.strip()
        for line in ci.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert commands[-1] in {"make test", "exec make test"}
    assert not any("pytest" in line for line in commands)


@pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")
def test_make_bench_says_not_implemented_until_the_benchmark_exists(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")  # a tree without scripts/bench.py
    result = subprocess.run(
        ["make", "-o", "install", "bench"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "not yet implemented" in result.stderr


# --- make demo's logins ----------------------------------------------------------------------------


def test_create_demo_users_makes_one_staff_login_per_role_and_is_idempotent(db, monkeypatch):
    from io import StringIO

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from core.management.commands.create_demo_users import DEMO_USERS
    from core.roles import AUDITOR, CLERK, SUPERVISOR

    monkeypatch.delenv("PRODUCTION", raising=False)
    call_command("create_demo_users", stdout=StringIO())
    user = get_user_model().objects.get(username="clerk")
    user.set_password("changed-by-someone")
    user.save()
    out = StringIO()
    call_command("create_demo_users", stdout=out)  # again: resets, creates nothing new

    users = get_user_model().objects.filter(username__in=[u for u, *_ in DEMO_USERS])
    assert users.count() == len(DEMO_USERS) == 4
    roles = {}
    for username, password, role, _ in DEMO_USERS:
        assert username in out.getvalue() and password in out.getvalue()
        user = get_user_model().objects.get(username=username)
        assert user.check_password(password)
        assert user.is_active and user.is_staff and not user.is_superuser
        assert list(user.groups.values_list("name", flat=True)) == [role]
        roles.setdefault(role, []).append(username)
    assert len(roles[CLERK]) == 1 and len(roles[SUPERVISOR]) == 2 and len(roles[AUDITOR]) == 1


def test_create_demo_users_refuses_in_production(db, monkeypatch):
    from django.contrib.auth import get_user_model
    from django.core.management import CommandError, call_command

    monkeypatch.setenv("PRODUCTION", "1")
    with pytest.raises(CommandError, match="PRODUCTION"):
        call_command("create_demo_users")
    assert not get_user_model().objects.exists()
