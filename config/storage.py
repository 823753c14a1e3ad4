"""The default storage of stored files (rendered PDFs, export files), from the environment.

README "Workers on several hosts": DOCUMENT_STORAGE=filesystem (the default) keeps them under
MEDIA_ROOT — the `documents` volume on one host, or a shared filesystem mounted at the same path on
every host — written atomically by documents.storage.AtomicFileSystemStorage. DOCUMENT_STORAGE=s3
puts them in an S3-compatible bucket (django-storages); a PUT is atomic.
"""

from django.core.exceptions import ImproperlyConfigured

from .env import env_str

BACKENDS = ("filesystem", "s3")


def document_storage() -> dict:
    """STORAGES["default"] for the current environment; a wrong value stops the process."""
    kind = env_str("DOCUMENT_STORAGE", "") or "filesystem"
    if kind not in BACKENDS:
        raise ImproperlyConfigured(
            f"DOCUMENT_STORAGE must be one of {', '.join(BACKENDS)}, got {kind!r}"
        )
    if kind == "filesystem":
        return {"BACKEND": "documents.storage.AtomicFileSystemStorage"}
    bucket = env_str("S3_BUCKET", "")
    if not bucket:
        raise ImproperlyConfigured("DOCUMENT_STORAGE=s3 needs S3_BUCKET (the bucket's name)")
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "location": env_str("S3_PREFIX", ""),
            # Empty: AWS itself; else the S3-compatible service (MinIO, Ceph, a cloud's S3 API…)
            "endpoint_url": env_str("S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("S3_REGION", "") or None,
            # Empty: boto3's own chain (instance role, AWS_* variables, ~/.aws/)
            "access_key": env_str("S3_ACCESS_KEY_ID", "") or None,
            "secret_key": env_str("S3_SECRET_ACCESS_KEY", "") or None,
            # Empty: boto3 decides; "path" for services without per-bucket host names
            "addressing_style": env_str("S3_ADDRESSING_STYLE", "") or None,
            "default_acl": None,  # private objects: downloads go through the permission check
            "file_overwrite": False,  # a taken name gets another one, as on the filesystem
        },
    }
