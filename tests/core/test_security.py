"""Security basics: login everywhere, throttled logins, a content security policy, sessions that
expire, no My Number in logs."""

import io
import logging
import logging.config
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.sessions.models import Session
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from core.logging import MASK, MaskingFormatter, mask_my_numbers
from tests.conftest import PASSWORD

LOGIN = "/admin/login/"
VALID_MY_NUMBER = "123456789018"  # passes the check digit (stdnum.jp.in_)


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        else:
            yield prefix + str(p.pattern), p


def all_urls() -> list[str]:
    """Every URL of the project, with sample values for the parameters: the project's own views,
    every admin page of every registered model, the admin's app pages and its catch-all."""
    urls = set()
    for route, pattern in _walk(get_resolver().url_patterns):
        if isinstance(pattern, URLPattern) and "(?P<" in route:
            continue  # regex routes of the admin: expanded below
        urls.add("/" + re.sub(r"<(?:\w+:)?\w+>", "1", route))
    app_labels = {m._meta.app_label for m in admin.site._registry}
    urls |= {reverse("admin:app_list", args=[label]) for label in app_labels}
    urls.add("/admin/no-such-page/")
    for model in admin.site._registry:
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        urls |= {reverse(f"{info}_changelist"), reverse(f"{info}_add")}
        urls |= {reverse(f"{info}_{view}", args=[1]) for view in ("change", "delete", "history")}
    return sorted(urls)


PUBLIC = {LOGIN}


@pytest.mark.parametrize("url", all_urls())
def test_an_anonymous_request_is_sent_to_the_login_page(client, db, url):
    if url in PUBLIC:
        assert client.get(url).status_code == 200
        return
    for response in (client.get(url), client.post(url, {"x": "1"})):
        assert response.status_code == 302, (url, response.status_code)
        assert response["Location"].startswith(LOGIN), (url, response["Location"])


def test_the_sixth_wrong_password_locks_the_account_out(client, clerk):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(LOGIN, {"username": "clerk", "password": "wrong", "next": "/admin/"})
    # even the right password is refused now
    locked = client.post(LOGIN, {"username": "clerk", "password": PASSWORD, "next": "/admin/"})
    assert settings.AXES_FAILURE_LIMIT == 5
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_the_right_password_logs_in_before_the_limit(client, clerk):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(LOGIN, {"username": "clerk", "password": "wrong", "next": "/admin/"})
    ok = client.post(LOGIN, {"username": "clerk", "password": PASSWORD, "next": "/admin/"})
    assert ok.status_code == 302 and ok["Location"] == "/admin/"


def test_pages_carry_a_content_security_policy(client, auditor):
    policy = client.get(LOGIN)["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "object-src 'none'" in policy
    client.force_login(auditor)
    assert "Content-Security-Policy" in client.get("/admin/")


def test_sessions_expire(client, auditor):
    assert 0 < settings.SESSION_COOKIE_AGE <= 12 * 3600
    client.force_login(auditor)
    assert client.get("/admin/").status_code == 200
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE
    # once the session's age has passed, the next request is sent to the login page
    Session.objects.filter(session_key=client.session.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


@pytest.mark.parametrize(
    "text",
    [
        f"row 3: {VALID_MY_NUMBER}",
        "row 3: 1234 5678 9018",
        "row 3: １２３４５６７８９０１８",
        f"個人番号={VALID_MY_NUMBER}です",
    ],
)
def test_my_numbers_are_masked(text):
    masked = mask_my_numbers(text)
    assert MASK in masked
    assert "9018" not in masked and "９０１８" not in masked


def test_other_numbers_are_left_alone():
    # a wrong check digit, a 13-digit number, a date and a certificate number
    text = "123456789012 1234567890180 2025-12-02 2025-0000001"
    assert mask_my_numbers(text) == text


def test_log_lines_and_tracebacks_never_carry_a_my_number():
    # the handler configured by settings.LOGGING (pytest adds its own capture handlers); applied
    # afresh, since other tests (Celery, commands) may have reconfigured logging in this process
    logging.config.dictConfig(settings.LOGGING)
    handler = next(
        h for h in logging.getLogger().handlers if isinstance(h.formatter, MaskingFormatter)
    )
    buffer = io.StringIO()
    old = handler.setStream(buffer)
    try:
        log = logging.getLogger("tests.core")
        log.warning("取込エラー 行2: %s", VALID_MY_NUMBER)
        try:
            raise ValueError(f"bad value {VALID_MY_NUMBER}")
        except ValueError:
            log.exception("failed")
    finally:
        handler.setStream(old)
    output = buffer.getvalue()
    assert "取込エラー 行2" in output and "ValueError" in output
    assert VALID_MY_NUMBER not in output
    assert output.count(MASK) == 2


def test_a_lockout_is_by_the_user_name_and_ip_pair(client, clerk, clerk2):
    """Five wrong passwords for one user lock that user at that address, not the other users behind
    the same address (issue 12)."""
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(LOGIN, {"username": "clerk", "password": "wrong", "next": "/admin/"})
    locked = client.post(LOGIN, {"username": "clerk", "password": PASSWORD, "next": "/admin/"})
    assert locked.status_code == 429
    other = client.post(LOGIN, {"username": "clerk2", "password": PASSWORD, "next": "/admin/"})
    assert other.status_code == 302 and other["Location"] == "/admin/"
    assert client.session["_auth_user_id"] == str(clerk2.pk)
    # the same user from another address is not locked either
    client.logout()
    elsewhere = client.post(
        LOGIN,
        {"username": "clerk", "password": PASSWORD, "next": "/admin/"},
        REMOTE_ADDR="10.0.0.9",
    )
    assert elsewhere.status_code == 302


def test_the_lockout_page_is_in_japanese_with_the_wait(client, clerk):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(LOGIN, {"username": "clerk", "password": "wrong", "next": "/admin/"})
    page = client.post(LOGIN, {"username": "clerk", "password": "wrong", "next": "/admin/"})
    text = page.content.decode()
    assert page.status_code == 429
    # the page (templates/admin/lockout.html) says why and how long to wait, in Japanese
    assert "ログインを一時的に停止しました" in text and "15分</strong>待ってから" in text
    assert "Account locked" not in text


def test_scripts_run_only_from_static_files(admin_client, db):
    """script-src has no 'unsafe-inline', and no page the admin serves carries an inline script or
    an event-handler attribute that the policy would then block (issue 12)."""
    policy = admin_client.get("/admin/")["Content-Security-Policy"]
    script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'self'" in script_src
    pages = ["/admin/", LOGIN]
    for model in admin.site._registry:
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        pages += [reverse(f"{info}_changelist"), reverse(f"{info}_add")]
    inline = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
    handler = re.compile(r"<[^>]+\son(click|change|submit|load|input)=", re.I)
    for url in pages:
        response = admin_client.get(url, follow=True)
        html = response.content.decode()
        assert not inline.search(html), (url, inline.search(html).group(0))
        assert not handler.search(html), url
