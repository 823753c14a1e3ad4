"""No side door (issue 12): every URL the project serves, as every role, GET and POST, changes no table
except where that role is meant to write.

The URLs come from the URL resolver itself (get_resolver(), every include, every ModelAdmin's
get_urls() — simple-history's record views included), filled with real object ids and history ids of
a seeded database; every admin action of every changelist is posted too. Each POST carries a valid
CSRF token (the client enforces CSRF checks) and plausible data: the page's own form as served,
then the same form with its text fields changed; a form an action answers with (a confirmation
step) is submitted as well. After each request a fingerprint of every table (a checksum over all
rows of every model, history tables and through tables included) is compared with the one before;
the request runs in a savepoint that is rolled back, so each starts from the same data.

Where a role is meant to write, the URL's name is listed below (WRITES); nowhere else may a row
change. Read logs (download/export events in the audit trail, an export job) are the only other
writes and are named as such."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from core.models import AuditEvent, ExportJob
from documents.models import GeneratedDocument
from tests.core.test_admin_roles import everything  # noqa: F401 (the seeded database)

ROLES = ("anonymous", "outsider", "auditor", "clerk", "supervisor")

# Tables a request may always change: the session of the logged-in user.
NOT_FINGERPRINTED = {"sessions.Session"}
# Audit events that record a read (a download, an export, a manifest): written for every role that
# may read; the fingerprint of the audit trail leaves them out, every other event counts.
READ_EVENT = re.compile(r"download|export")

# Where each role is meant to write: URL names (and "changelist action" names as
# "<changelist url name>:<action>"). A name not listed here must leave every table unchanged.
_CLERK_WRITES = {
    # their own account
    "admin:password_change",
    # the register
    "admin:members_employer_add",
    "admin:members_employer_change",
    "admin:members_person_add",
    "admin:members_person_change",
    "admin:members_person_import",
    "admin:members_person_process_import",
    "admin:members_registrationsnapshot_import",
    "admin:members_registrationsnapshot_process_import",
    # bulk runs: create only
    "admin:certificates_issuancerun_add",
    # certificates and the after-issue work
    "admin:certificates_certificate_change",
    "admin:fees_reissueapplication_add",
    "admin:fees_reissueapplication_issue",
    "admin:fees_reissueapplication_cancel",
    "admin:fees_reissueapplication_changelist:issue_selected",
    "admin:fees_reissueapplication_changelist:rerender_documents",
    "admin:fees_invoice_changelist:confirm_payment",
    "admin:fees_invoice_changelist:rerender_documents",
    "admin:fees_paymentimport_add",
    "admin:certificates_returnpendingcertificate_receive",
    "admin:certificates_returnpendingcertificate_changelist:generate_reminders",
    "admin:certificates_returnpendingcertificate_changelist:mark_returned_today",
    "admin:certificates_heldcertificate_record",
    "admin:certificates_heldcertificate_correct",
    "admin:documents_generateddocument_changelist:retry_failed",
    # from the 加入者カルテ: a person's reprint (recorded in the audit trail), a single payment
    "admin:members_person_reprint",
    "admin:fees_invoice_pay",
    # 基準収入額適用: recorded by a clerk (its end date stays changeable)
    "admin:members_incomebasisapplication_add",
    "admin:members_incomebasisapplication_change",
}
WRITES = {
    "anonymous": {"admin:login"},  # a failed login is recorded (django-axes)
    "outsider": {"admin:login", "admin:logout"},
    "auditor": {"admin:password_change", "admin:logout"},
    "clerk": _CLERK_WRITES | {"admin:logout"},
    "supervisor": _CLERK_WRITES
    | {
        "admin:logout",
        "admin:certificates_run_approve",
        "admin:certificates_run_execute",
        "admin:fees_invoice_changelist:waive",
        "admin:fees_invoice_waive",
        # the day's 高齢受給者証 list, approved by a second person
        "admin:elderly_batch_approve",
    },
}
# Never a writer for anyone, whatever the lists above say: the record of what happened.
NEVER = re.compile(r"_simple_history$|_history$|^admin:core_auditevent|^admin:\w+_historical")
# Export actions write an export job and a read event (for the roles that may export).
EXPORT_ACTIONS = {"export_csv", "export_csv_cp932"}


# --- fingerprint ---------------------------------------------------------------------------------


def _tables():
    seen = set()
    for model in apps.get_models(include_auto_created=True):
        opts = model._meta
        if opts.proxy or not opts.managed or opts.label in NOT_FINGERPRINTED:
            continue
        if opts.db_table in seen:
            continue
        seen.add(opts.db_table)
        yield model


def fingerprint() -> dict[str, str]:
    """A checksum over every row of every table (all columns), by model label."""
    prints = {}
    for model in _tables():
        qs = model._base_manager.order_by("pk")
        if model is AuditEvent:
            qs = qs.exclude(action__regex=READ_EVENT.pattern)
        columns = [f.attname for f in model._meta.concrete_fields]
        digest = hashlib.sha256()
        for row in qs.values_list(*columns).iterator():
            digest.update(repr(row).encode())
        prints[model._meta.label] = digest.hexdigest()
    return prints


def _changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {label for label in before if before[label] != after.get(label)}


# --- the URLs, from the resolver -----------------------------------------------------------------


@dataclass
class Target:
    name: str
    url: str
    model: type | None = None
    actions: list[str] = field(default_factory=list)


def _superuser_request():
    request = RequestFactory().get("/")
    request.user = get_user_model()(is_superuser=True, is_staff=True, is_active=True)
    return request


def _admin_prefixes() -> dict[str, object]:
    return {
        f"admin/{m._meta.app_label}/{m._meta.model_name}/": ma
        for m, ma in admin.site._registry.items()
    }


def _walk(resolver, prefix="", namespace=()):
    for p in resolver.url_patterns:
        if isinstance(p, URLResolver):
            ns = (*namespace, p.namespace) if p.namespace else namespace
            yield from _walk(p, prefix + str(p.pattern), ns)
        else:
            assert isinstance(p, URLPattern)
            if p.name:
                yield prefix, p, ":".join((*namespace, p.name))
            else:  # an unnamed route (the redirect at /, the admin's old object URL)
                yield prefix, p, "/" + prefix + str(p.pattern)


# Non-admin views with an object id: which model's ids they take. A new one fails the test below
# until it is named here.
PROJECT_OBJECT_URLS = {
    "core:export_job_download": ExportJob,
    "core:export_job_report": ExportJob,
    "documents:download": GeneratedDocument,
    "documents:view": GeneratedDocument,
}


def _object(model_admin, model=None):
    model = model or model_admin.model
    if model_admin is not None:
        obj = model_admin.get_queryset(_superuser_request()).order_by("pk").first()
    else:
        obj = model._default_manager.order_by("pk").first()
    assert obj is not None, f"the seeded database has no {model._meta.label}: add one"
    return obj


def _params(pattern: URLPattern) -> tuple[list[str], int]:
    regex = pattern.pattern.regex
    return list(regex.groupindex), regex.groups - len(regex.groupindex)


def _reverse(name: str, args=(), kwargs=None) -> str:
    """reverse() for a named URL; for an unnamed route (its name is its path), the route with its
    parameters filled in order."""
    if not name.startswith("/"):
        return reverse(name, args=args, kwargs=kwargs)
    values = iter([*args, *(kwargs or {}).values()])
    return re.sub(r"<(?:\w+:)?\w+>", lambda m: str(next(values)), name)


def enumerate_targets() -> list[Target]:
    prefixes = _admin_prefixes()
    targets: list[Target] = []
    for prefix, pattern, name in _walk(get_resolver()):
        model_admin = prefixes.get(prefix)
        named, positional = _params(pattern)
        if model_admin is not None:
            model = model_admin.model
            if not named and not positional:
                actions = []
                if name.endswith("_changelist"):
                    offered = model_admin.get_actions(_superuser_request())
                    actions = sorted(set(offered) | {"delete_selected"})
                targets.append(Target(name, _reverse(name), model, actions))
                continue
            obj = _object(model_admin)
            if positional == 2 and not named:  # simple-history's record view: (object, record)
                record = (
                    model.history.filter(**{model._meta.pk.attname: obj.pk})
                    .order_by("history_id")
                    .first()
                )
                assert record is not None, f"{model._meta.label} #{obj.pk} has no history"
                targets.append(
                    Target(name, _reverse(name, args=[obj.pk, record.history_id]), model)
                )
                continue
            assert len(named) == 1 and not positional, (name, pattern.pattern)
            targets.append(Target(name, _reverse(name, kwargs={named[0]: obj.pk}), model))
            continue
        if name == "admin:app_list":
            labels = sorted({m._meta.app_label for m in admin.site._registry})
            targets += [Target(name, _reverse(name, args=[label])) for label in labels]
        elif name == "admin:view_on_site":
            from django.contrib.contenttypes.models import ContentType

            from members.models import Person

            person = Person.objects.order_by("pk").first()
            ct = ContentType.objects.get_for_model(Person)
            targets.append(Target(name, _reverse(name, args=[ct.pk, person.pk])))
        elif named == ["url"]:  # the admin's catch-all
            targets.append(Target(name, "/admin/no-such-page/"))
        elif name in PROJECT_OBJECT_URLS:
            obj = _object(None, PROJECT_OBJECT_URLS[name])
            targets.append(Target(name, _reverse(name, kwargs={named[0]: obj.pk})))
        else:
            assert not named and not positional, (
                f"{name} ({pattern.pattern}) takes parameters the side-door test cannot fill: "
                "add it to PROJECT_OBJECT_URLS"
            )
            targets.append(Target(name, _reverse(name)))
    return targets


# --- forms on a page -----------------------------------------------------------------------------


class _Forms(HTMLParser):
    """The POST forms of a page: their action and fields as a browser would submit them."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._form = None
        self._select = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            if (a.get("method") or "get").lower() == "post":
                self._form = {"action": a.get("action") or "", "id": a.get("id") or "", "data": []}
                self.forms.append(self._form)
            return
        if self._form is None:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                if kind == "submit" and name:
                    self._form["data"].append((name, a.get("value") or "", "submit"))
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self._form["data"].append(
                (name, a.get("value") or ("on" if kind == "checkbox" else ""), kind)
            )
        elif tag == "select" and name:
            self._select = {"name": name, "first": None, "chosen": None}
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if self._select["first"] is None:
                self._select["first"] = value
            if "selected" in a:
                self._select["chosen"] = value
        elif tag == "textarea" and name:
            self._textarea = [name, ""]

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None:
            s = self._select
            value = s["chosen"] if s["chosen"] is not None else s["first"]
            if value is not None and self._form is not None:
                self._form["data"].append((s["name"], value, "select"))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            if self._form is not None:
                self._form["data"].append(
                    (self._textarea[0], self._textarea[1].lstrip("\n"), "textarea")
                )
            self._textarea = None


def page_forms(html: str, url: str) -> list[dict]:
    parser = _Forms()
    parser.feed(html)
    return [
        f
        for f in parser.forms
        if f["id"] != "logout-form"
        and f["action"] in ("", url, ".", "./")
        or f["action"].startswith(url + "?")
    ]


def _payloads(form: dict) -> list[dict[str, list[str]]]:
    """The form as served, then with every non-empty text field changed."""
    plain: dict[str, list[str]] = {}
    changed: dict[str, list[str]] = {}
    submitted = False
    for name, value, kind in form["data"]:
        if kind == "submit":
            if submitted:
                continue
            submitted = True
        plain.setdefault(name, []).append(value)
        if kind in ("text", "textarea", "search") and value and name != "csrfmiddlewaretoken":
            value = value + "改"
        changed.setdefault(name, []).append(value)
    return [plain] if plain == changed else [plain, changed]


# --- the requests --------------------------------------------------------------------------------


class _Rollback(Exception):
    pass


_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|MERGE|TRUNCATE|ALTER|DROP|CREATE)\b", re.I)
_CTE_WRITE = re.compile(r"^\s*WITH\b.*\b(INSERT|UPDATE|DELETE)\b", re.I | re.S)


class _WriteSpy:
    """Notes every SQL statement that may change data."""

    def __init__(self, writes: list[str]):
        self.writes = writes

    def __call__(self, execute, sql, params, many, context):
        if _WRITE.match(sql) or _CTE_WRITE.match(sql):
            self.writes.append(sql)
        return execute(sql, params, many, context)


@dataclass
class Outcome:
    role: str
    name: str
    method: str
    url: str
    status: int
    changed: set[str]


def _client(role: str, users: dict) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.raise_request_exception = False
    if role != "anonymous":
        client.force_login(users[role])
    client.get("/admin/login/", follow=True)  # the CSRF cookie
    return client


def _csrf(client: Client) -> str:
    return client.cookies["csrftoken"].value


def _consume(response) -> None:
    # A streamed body (CSV exports) writes its read event when consumed. The client closes the
    # response itself with close_old_connections disconnected: closing it here would close the
    # test's database connection inside its transaction (PostgreSQL).
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)


def _send(client, method: str, url: str, data=None):
    if method == "GET":
        response = client.get(url)
    else:
        data = dict(data or {})
        data.setdefault("csrfmiddlewaretoken", [_csrf(client)])
        response = client.post(url, data)
    _consume(response)
    return response


def _try(client, role, users, before, name, method, url, data=None, outcomes=None, follow=None):
    """One request in a savepoint rolled back afterwards; returns its outcome."""
    result = {}
    writes: list[str] = []
    try:
        with transaction.atomic():
            with connection.execute_wrapper(_WriteSpy(writes)):
                response = _send(client, method, url, data)
            result["status"] = response.status_code
            # No data-changing statement ran: no table can differ (the fingerprint, the slow part,
            # is taken only after a statement that may have written).
            if writes:
                result["changed"] = _changed(before["tables"], fingerprint())
            if (
                follow is not None
                and response.status_code == 200
                and "text/html" in response.get("Content-Type", "")
            ):
                result["html"] = response.content.decode()
            raise _Rollback
    except _Rollback:
        pass
    # a logout (or a password change) ends the session: log in again for the next request
    session = client.cookies.get("sessionid")
    relogin = role != "anonymous" and (session is None or not session.value)
    if relogin:
        client.force_login(users[role])
    token = client.cookies.get("csrftoken")
    if token is None or not token.value:
        client.get("/admin/login/", follow=True)
    if relogin:  # the login itself is recorded (last_login, the login log)
        before["tables"] = fingerprint()
    outcome = Outcome(
        role, name, method, url, result.get("status", 0), result.get("changed", set())
    )
    outcomes.append(outcome)
    return outcome, result.get("html")


def exercise(role: str, users: dict, targets: list[Target]) -> list[Outcome]:
    client = _client(role, users)
    before = {"tables": fingerprint()}
    outcomes: list[Outcome] = []
    for t in targets:
        _, html = _try(
            client, role, users, before, t.name, "GET", t.url, outcomes=outcomes, follow=True
        )
        _try(client, role, users, before, t.name, "POST", t.url, {"post": ["yes"]}, outcomes)
        for form in page_forms(html or "", t.url):
            for data in _payloads(form):
                _try(client, role, users, before, t.name, "POST", t.url, data, outcomes)
        for action in t.actions:
            name = f"{t.name}:{action}"
            pk = str(_object(admin.site._registry[t.model]).pk)
            data = {"action": [action], "index": ["0"], "_selected_action": [pk]}
            _, html = _try(
                client, role, users, before, name, "POST", t.url, data, outcomes, follow=True
            )
            for form in page_forms(html or "", t.url):  # a confirmation step
                for payload in _payloads(form):
                    _try(client, role, users, before, name, "POST", t.url, payload, outcomes)
    return outcomes


def _allowed(role: str, outcome: Outcome) -> set[str]:
    action = outcome.name.rsplit(":", 1)[-1]
    if outcome.name.endswith("_changelist:" + action) and action in EXPORT_ACTIONS:
        return {"core.ExportJob"}  # a read: the export job (for the roles that may export)
    if NEVER.search(":".join(outcome.name.split(":")[:2])):
        return set()
    if outcome.name in WRITES[role]:
        return {"*"}
    return set()


@pytest.fixture
def seeded(everything):  # noqa: F811
    """The roles' test database (test_admin_roles.everything) plus a row in each table it leaves
    empty, so every object URL is tried on a real row."""
    from axes.models import AccessFailureLog

    from certificates.models import ReturnedMail
    from fees.models import PaymentImport

    AccessFailureLog.objects.create(
        username="x", ip_address="10.0.0.1", user_agent="t", path_info="/admin/login/"
    )
    clerk = everything["run"].created_by
    PaymentImport.objects.create(source_name="furikomi.csv", sha256="0" * 64, imported_by=clerk)
    ReturnedMail.objects.create(
        certificate=everything["certificate"], returned_on=date(2025, 12, 10), recorded_by=clerk
    )
    return everything


@pytest.fixture
def users(clerk, supervisor, auditor, outsider):
    return {"clerk": clerk, "supervisor": supervisor, "auditor": auditor, "outsider": outsider}


def test_the_enumeration_reaches_every_kind_of_url(db, seeded):
    targets = enumerate_targets()
    names = {t.name for t in targets}
    # simple-history's record view of every model with history, the custom views, the project's
    # own views and the admin actions all come from the resolver
    assert {
        "admin:members_person_simple_history",
        "admin:certificates_issuancerun_simple_history",
        "admin:certificates_certificate_simple_history",
        "admin:certificates_run_approve",
        "admin:certificates_run_execute",
        "admin:certificates_heldcertificate_record",
        "core:export_job_download",
        "documents:download",
        "admin:login",
    } <= names
    history_urls = [t.url for t in targets if t.name.endswith("_simple_history")]
    assert all(re.fullmatch(r"/admin/\w+/\w+/\d+/history/\d+/", u) for u in history_urls)
    actions = {a for t in targets for a in t.actions}
    assert {"export_csv", "delete_selected", "retry_failed", "waive"} <= actions
    assert len(targets) > 150


@pytest.mark.parametrize("role", ROLES)
def test_no_url_changes_a_table_where_the_role_may_not_write(db, seeded, users, role):
    targets = enumerate_targets()
    outcomes = exercise(role, users, targets)
    errors = [
        f"{o.method} {o.url} ({o.name}) → {o.status}"
        for o in outcomes
        if o.status >= 500 or o.status == 0
    ]
    assert not errors, "\n".join(errors)
    breaches = [
        f"{o.method} {o.url} ({o.name}) changed {sorted(o.changed)}"
        for o in outcomes
        if o.changed and not ({"*"} <= _allowed(role, o) or o.changed <= _allowed(role, o))
    ]
    assert not breaches, f"{role}:\n" + "\n".join(breaches)
    # the requests were made as the role: staff see every record view of the change history (and
    # posted its form), the others are sent to the login page
    history = [o for o in outcomes if o.name.endswith("_simple_history")]
    assert len({o.name for o in history}) >= 3
    expected = 200 if role in ("auditor", "clerk", "supervisor") else 302
    assert {o.status for o in history if o.method == "GET"} == {expected}, history
