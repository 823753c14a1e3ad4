"""Settings from the environment: a wrong 保険者番号 stops the app at start-up, and production
variables pass `manage.py check --deploy` without a warning. Each case runs manage.py in a fresh
process, as a deployment would start it."""

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

from config.env import luhn_check_digit

PRODUCTION_ENV = {
    "PRODUCTION": "1",
    "DEBUG": "0",
    "ALLOWED_HOSTS": "shikaku.example.jp",
    "CSRF_TRUSTED_ORIGINS": "https://shikaku.example.jp",
}


def manage(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    base.update({"VAR_DIR": str(tmp_path), **env})
    for name in ("PRODUCTION", "DEBUG", "SECRET_KEY", "INSURER_NUMBER"):
        if name not in env:
            base.pop(name, None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def with_check_digit(first7: str) -> str:
    return first7 + str(luhn_check_digit(first7))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0613901", "8 digits"),  # too short
        ("061390180", "8 digits"),  # too long
        ("O6139018", "8 digits"),  # letter O, not zero
        ("０６１３９０１８", "8 digits"),  # full-width digits
        (with_check_digit("0113901"), "start with 06"),  # 協会けんぽ's 法別番号, valid check digit
        ("06139017", "check digit"),  # wrong Luhn digit
    ],
)
def test_app_refuses_to_start_with_a_wrong_insurer_number(tmp_path, value, reason):
    result = manage(tmp_path, "check", INSURER_NUMBER=value)
    assert result.returncode != 0
    assert "INSURER_NUMBER" in result.stderr
    assert reason in result.stderr


def test_app_starts_with_a_valid_insurer_number(tmp_path):
    result = manage(tmp_path, "check", INSURER_NUMBER="06139018")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_without_a_secret_key_refuses_to_start(tmp_path):
    result = manage(tmp_path, "check", **PRODUCTION_ENV)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_a_malformed_boolean_refuses_to_start(tmp_path):
    result = manage(tmp_path, "check", DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


def test_deploy_check_passes_without_warnings_with_production_variables(tmp_path):
    result = manage(
        tmp_path,
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY=secrets.token_urlsafe(50),
        **PRODUCTION_ENV,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


def test_deploy_check_warns_about_the_development_defaults(tmp_path):
    # The same check does catch an unsafe configuration: DEBUG on and no PRODUCTION hardening.
    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", DEBUG="1")
    assert result.returncode != 0
    assert "security.W018" in result.stdout + result.stderr  # DEBUG=True in deployment


def test_production_with_debug_refuses_to_start(tmp_path):
    import secrets

    env = {**PRODUCTION_ENV, "DEBUG": "1", "SECRET_KEY": secrets.token_urlsafe(50)}
    result = manage(tmp_path, "check", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "DEBUG=1 is not allowed" in result.stderr


def test_production_with_the_development_secret_key_refuses_to_start(tmp_path):
    from config.settings import _DEV_SECRET

    result = manage(tmp_path, "check", SECRET_KEY=_DEV_SECRET, **PRODUCTION_ENV)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "development key" in result.stderr
