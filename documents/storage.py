"""Where stored files (rendered PDFs, export files) live: Django's default storage.

Two layouts (README "Production", "Workers on several hosts"), chosen by DOCUMENT_STORAGE in
config/settings.py:

- `filesystem` (the default): MEDIA_ROOT, the `documents` volume on one host, or a shared filesystem
  (NFS…) mounted at the same path on every host. `AtomicFileSystemStorage` below.
- `s3`: an S3-compatible bucket through django-storages; a PUT is atomic, so an object is either
  there whole or not at all.

A worker killed while writing must never leave a half-written PDF under the final name (a reader
on another host, or the download view, would hand it out). Django's FileSystemStorage writes the
final name directly, so this one writes to a temporary file first.
"""

from __future__ import annotations

import errno
import os
import tempfile

from django.core.files.storage import FileSystemStorage

# Beside MEDIA_ROOT's own files, on the same filesystem (a rename/link is atomic only there); a
# temporary file a killed worker left behind stays here and is never taken for a stored one.
INCOMING_DIR = ".incoming"


class AtomicFileSystemStorage(FileSystemStorage):
    """FileSystemStorage whose files appear whole or not at all: written and flushed under a
    temporary name in MEDIA_ROOT/.incoming/, then hard-linked under the final name, which is never
    replaced (a name already taken gets Django's usual alternative name). Where the filesystem has
    no hard links, an atomic rename onto a free name is used instead."""

    def _save(self, name, content):
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        incoming = os.path.join(self.location, INCOMING_DIR)
        for path in (directory, incoming):
            self._makedirs(path)
        fd, tmp = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=incoming)
        try:
            with os.fdopen(fd, "wb") as handle:
                if hasattr(content, "seek"):
                    content.seek(0)
                for chunk in content.chunks():
                    handle.write(chunk.encode() if isinstance(chunk, str) else chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, self._file_mode())
            while True:
                try:
                    if getattr(self, "_allow_overwrite", False):  # Django's allow_overwrite option
                        os.replace(tmp, full_path)
                    else:
                        self._publish(tmp, full_path)
                    break
                except FileExistsError:
                    # Another process took the name meanwhile: as FileSystemStorage does.
                    name = self.get_available_name(name)
                    full_path = self.path(name)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        _fsync_directory(os.path.dirname(full_path))
        return str(name).replace("\\", "/")

    @staticmethod
    def _publish(tmp: str, full_path: str) -> None:
        try:
            os.link(tmp, full_path)  # FileExistsError when the name is taken
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK):
                raise
            if os.path.exists(full_path):
                raise FileExistsError(errno.EEXIST, "exists", full_path) from exc
            os.rename(tmp, full_path)

    def _file_mode(self) -> int:
        if self.file_permissions_mode is not None:
            return self.file_permissions_mode
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask

    def _makedirs(self, path: str) -> None:
        if self.directory_permissions_mode is None:
            os.makedirs(path, exist_ok=True)
            return
        old = os.umask(0o777 & ~self.directory_permissions_mode)
        try:
            os.makedirs(path, self.directory_permissions_mode, exist_ok=True)
        finally:
            os.umask(old)


def _fsync_directory(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. a filesystem that cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
