"""A deny-by-default URL fetcher for WeasyPrint (issue 4, "Safety").

As any web renderer, WeasyPrint resolves <img src>, url() and attachments through its URL fetcher, and
the default one reads any file:// path and any http(s):// URL. Our templates reference nothing but the
font files, and member data is escaped, but a missed escape must still not be able to read
/etc/passwd into a PDF or reach the network. So this fetcher serves exactly two kinds of file:
the project's own static files (documents/ under STATICFILES_DIRS) and the font files of
documents.fonts, each checked by its *resolved* real path (no ../ or symlink escapes). Everything else
— other file:// paths, http(s)://, data:, ftp: — raises, and WeasyPrint renders without it.
"""

import mimetypes
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from weasyprint.urls import URLFetcher, URLFetcherResponse

from .fonts import font_paths


class RefusedURL(ValueError):
    """The renderer asked for a resource outside the allow-list."""


def _static_roots() -> list[Path]:
    return [Path(d).resolve() / "documents" for d in settings.STATICFILES_DIRS]


class LocalOnlyURLFetcher(URLFetcher):
    def __init__(self) -> None:
        # allow_redirects=False: even if a URL ever got through, no redirect could lead elsewhere
        # (CVE-2025-68616 was a redirect bypassing custom fetchers).
        super().__init__(timeout=1, allowed_protocols=("file",), allow_redirects=False)
        self._files = {p.resolve() for p in font_paths()}
        self._dirs = _static_roots()

    def allowed_path(self, url: str) -> Path:
        """The real path behind a file:// URL when it is on the allow-list; RefusedURL otherwise."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "file":
            raise RefusedURL(f"帳票の描画で外部リソースは読み込みません: {parts.scheme}:")
        if parts.netloc not in ("", "localhost"):
            raise RefusedURL("帳票の描画で他ホストのファイルは読み込みません")
        real = Path(os.path.realpath(unquote(parts.path)))
        if real in self._files:
            return real
        if any(real.is_relative_to(d) for d in self._dirs) and real.is_file():
            return real
        raise RefusedURL(f"帳票の描画で許可されていないファイルです: {real}")

    def fetch(self, url, headers=None):
        path = self.allowed_path(url)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(
            url=path.as_uri(), body=path.read_bytes(), headers={"Content-Type": content_type}
        )
