"""Object storage behind the S3 API (MinIO locally; any S3 server can replace it).

The minio client is synchronous; async callers use :func:`asyncio.to_thread`.
"""

from __future__ import annotations

import os
from datetime import timedelta

import certifi
import urllib3
from minio import Minio

from labelops_shared.settings import ServiceSettings

DATASETS_BUCKET = "labelops-datasets"
EXPORTS_BUCKET = "labelops-exports"
UPLOADS_BUCKET = "labelops-uploads"
BUCKETS = (DATASETS_BUCKET, EXPORTS_BUCKET, UPLOADS_BUCKET)

PRESIGN_TTL = timedelta(minutes=15)
# What the platform keeps for itself in the datasets bucket (item fingerprints, reports of
# rejected lines): never named by a request. Exports and uploads are kept under their
# workspace's folder (``<workspace>/<job>/...``, ``<workspace>/<upload>/...``).
PLATFORM_PREFIXES = ("fingerprints/", "reports/")
CONNECTIONS = 32  # per client: folder scans read headers 16 at a time, uploads run beside


def connect(settings: ServiceSettings) -> Minio:
    # minio's default pool keeps 10 connections; more concurrent calls would open and
    # discard one per call.
    pool = urllib3.PoolManager(
        maxsize=CONNECTIONS, timeout=urllib3.Timeout(connect=10, read=300),
        cert_reqs="CERT_REQUIRED", ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=5, backoff_factor=0.2,
                              status_forcelist=[500, 502, 503, 504]),
    )
    return Minio(
        settings.minio_endpoint,
        access_key=settings.minio_access_key.get_secret_value(),
        secret_key=settings.minio_secret_key.get_secret_value(),
        secure=settings.minio_secure,
        http_client=pool,
    )


def ensure_buckets(client: Minio, buckets: tuple[str, ...] = BUCKETS) -> None:
    """Create the private buckets that are missing (no public policy is ever set)."""
    for bucket in buckets:
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)


def _irregular(key: str) -> bool:
    """A key a server or a URL could resolve to another name: absolute, with a backslash,
    an empty, ``.`` or ``..`` segment (a trailing ``/`` names a folder and is fine)."""
    parts = key.split("/")
    return (key.startswith("/") or "\\" in key
            or any(p in ("", ".", "..") for p in parts[:-1]) or parts[-1] in (".", ".."))


def foreign_object(bucket: str, key: str, workspace: str) -> bool:
    """Whether a request of this workspace must not name the object (or the folder ``key``
    ends with ``/``): a file the platform keeps for itself, or another workspace's export
    or upload. The platform's own services (workspace ``*``) may name any export or upload.
    In the platform's buckets a key that is not in plain form (``a/../b``, ``/a``, ``a//b``)
    is refused too: it could resolve to a name the rules below would refuse."""
    if bucket in BUCKETS and _irregular(key):
        return True
    if bucket == DATASETS_BUCKET:
        return any(key.startswith(p) or p.startswith(key) for p in PLATFORM_PREFIXES)
    if bucket in (EXPORTS_BUCKET, UPLOADS_BUCKET):
        return workspace != "*" and not (_folder_name(workspace)
                                         and key.startswith(f"{workspace}/"))
    return False


def _folder_name(workspace: str) -> bool:
    """Whether the workspace can own a folder: one plain path segment (a workspace named
    ``a/b`` would otherwise share ``a``'s folder)."""
    return (bool(workspace) and "/" not in workspace and "\\" not in workspace
            and workspace not in (".", ".."))


def upload_key(workspace: str, *names: str) -> str:
    """Where an upload of the workspace goes in the uploads bucket: under the workspace's
    folder, the only uploads its imports may name (``<workspace>/<names...>``)."""
    if not _folder_name(workspace):
        raise ValueError(f"workspace {workspace!r}: cannot own a folder of uploads")
    return "/".join((workspace, *names))


def foreign_uri(uri: str, workspace: str) -> bool:
    """Whether an ``s3://bucket/key`` URI names an object this workspace must not use (see
    :func:`foreign_object`); any other string names nothing in the platform's storage."""
    try:
        bucket, key = parse_s3_uri(uri)
    except ValueError:
        return False
    return foreign_object(bucket, key, workspace)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key), with a clear error naming what is wrong."""
    if not uri.startswith("s3://"):
        raise ValueError(f"source_uri {uri!r}: expected s3://bucket/key")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise ValueError(f"source_uri {uri!r}: expected s3://bucket/key")
    return bucket, key
