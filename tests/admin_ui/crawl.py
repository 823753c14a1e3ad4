"""Every admin page a person can open, derived from the URL resolver of the registered ModelAdmins
(and the site's own views) with real ids, and the English words left on a page."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from django.contrib import admin
from django.urls import URLPattern, URLResolver, reverse

# Words that are not English prose: formats, units, identifiers a clerk reads as such.
ALLOWED = {
    "PDF",
    "CSV",
    "UTF",
    "BOM",
    "CP932",
    "ID",
    "SHA",
    "JST",
    "ISO",
    "YYYY",
    "MM",
    "DD",
    "NNNNNNN",
    "Excel",
    "Shift_JIS",
    "IP",
    # Django's password summary: the hash algorithm and the masked salt/hash (starred out)
    "pbkdf2_sha256",
    # django-axes stores this when a browser sends no User-Agent (a value, not a text)
    "unknown",
}
_MASKED = re.compile(r"\S+\*{3,}")
# The personas' login names appear in ようこそ、clerk and as 実行者.
USERNAMES = {"clerk", "clerk2", "supervisor", "supervisor2", "auditor", "outsider"}
_WORD = re.compile(r"[A-Za-z0-9_']*[A-Za-z][A-Za-z0-9_']*")
_HEX = re.compile(r"[0-9a-f]{6,}")
_VISIBLE_ATTRS = {"title", "placeholder", "alt", "aria-label"}


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "template"):
            self._skip += 1
        a = dict(attrs)
        for name in _VISIBLE_ATTRS:
            if a.get(name):
                self.parts.append(a[name])
        if tag == "input" and a.get("type") in ("submit", "button", "reset") and a.get("value"):
            self.parts.append(a["value"])

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return "\n".join(p.strip() for p in parser.parts if p.strip())


def english_words(html: str, *, extra_allowed=()) -> list[str]:
    allowed = ALLOWED | USERNAMES | set(extra_allowed)
    found = []
    for word in _WORD.findall(_MASKED.sub(" ", visible_text(html))):
        if word in allowed or word.upper() in ALLOWED or _HEX.fullmatch(word):
            continue
        found.append(word)
    return found


def _routes(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _routes(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p.name


_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def admin_urls(ids_for) -> list[tuple[str, str]]:
    """(url, label) for every GET-able admin page of every registered model with real ids:
    `ids_for(model, param)` gives the value for a path parameter (None: skip the page)."""
    urls = [(reverse("admin:index"), "index")]
    for app_label in sorted({m._meta.app_label for m in admin.site._registry}):
        urls.append((reverse("admin:app_list", args=[app_label]), f"app {app_label}"))
    for model, model_admin in sorted(admin.site._registry.items(), key=lambda i: i[0]._meta.label):
        base = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for route, name in _routes(model_admin.get_urls()):
            route = route.lstrip("^").rstrip("$")
            if route.endswith("autocomplete/"):
                continue
            values = {}
            for _conv, param in _PARAM.findall(route):
                values[param] = ids_for(model, param)
            if any(v is None for v in values.values()):
                continue
            url = base + _PARAM.sub(lambda m, v=values: str(v[m.group(2)]), route)
            urls.append((url, f"{model._meta.label} {name}"))
    seen, out = set(), []
    for url, label in urls:
        if url not in seen:
            seen.add(url)
            out.append((url, label))
    return out
