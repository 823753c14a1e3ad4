"""Small strict helpers that read settings from the environment.

A wrong value stops the process at start-up with a message naming the variable, rather than
running with a silently different configuration.
"""

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}") from exc
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def luhn_check_digit(digits: str) -> int:
    """Check digit of the 保険者番号 (厚労省 保険者番号設定要領): weights 2,1,2,1… from the right,
    two-digit products counted as the sum of their digits — i.e. the Luhn algorithm."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        product = int(ch) * (2 if i % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def validate_insurer_number(value: str) -> str:
    """保険者番号: 8 digits, 法別番号 06 (組合管掌健康保険), Luhn check digit last."""
    if len(value) != 8 or not value.isascii() or not value.isdigit():
        raise ImproperlyConfigured(f"INSURER_NUMBER must be 8 digits, got {value!r}")
    if not value.startswith("06"):
        raise ImproperlyConfigured(
            f"INSURER_NUMBER must start with 06 (健康保険組合), got {value!r}"
        )
    if luhn_check_digit(value[:7]) != int(value[7]):
        raise ImproperlyConfigured(f"INSURER_NUMBER {value!r} has a wrong check digit")
    return value
