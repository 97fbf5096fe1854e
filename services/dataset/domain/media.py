"""Which files fit which dataset kind, object keys that are safe, and image sizes read from
the file header. Pure: names and bytes in, answers out."""

from __future__ import annotations

import io
import posixpath
import warnings
from typing import Any

from PIL import Image, UnidentifiedImageError

from labelops_shared.storage import foreign_uri
from services.dataset.domain.manifest import LineError, Record
from services.dataset.domain.model import Kind

CONTENT_TYPES: dict[str, tuple[Kind, str]] = {
    ".jpg": (Kind.IMAGE, "image/jpeg"),
    ".jpeg": (Kind.IMAGE, "image/jpeg"),
    ".png": (Kind.IMAGE, "image/png"),
    ".bmp": (Kind.IMAGE, "image/bmp"),
    ".webp": (Kind.IMAGE, "image/webp"),
    ".gif": (Kind.IMAGE, "image/gif"),
    ".mp4": (Kind.VIDEO, "video/mp4"),
    ".wav": (Kind.AUDIO, "audio/wav"),
    ".mp3": (Kind.AUDIO, "audio/mpeg"),
    ".flac": (Kind.AUDIO, "audio/flac"),
    ".m4a": (Kind.AUDIO, "audio/mp4"),
}
MEDIA_KINDS = frozenset({Kind.IMAGE, Kind.VIDEO, Kind.AUDIO})
HEADER_BYTES = 128 * 1024  # enough for the size of nearly every image, EXIF included
URI_SCHEMES = ("s3://", "http://", "https://", "oss://", "obs://")


def extension(name: str) -> str:
    return posixpath.splitext(name.rsplit("?", 1)[0])[1].lower()


def media_kind(name: str) -> Kind | None:
    found = CONTENT_TYPES.get(extension(name))
    return found[0] if found else None


def content_type(name: str) -> str:
    found = CONTENT_TYPES.get(extension(name))
    return found[1] if found else "application/octet-stream"


def extensions_of(kind: Kind) -> list[str]:
    return sorted(ext for ext, (k, _) in CONTENT_TYPES.items() if k == kind)


def unsafe_key(key: str) -> str | None:
    """Why an object name must not be used: absolute, or climbing out with ``..``."""
    if key.startswith("/") or key.startswith("\\"):
        return "is an absolute path"
    parts = key.replace("\\", "/").split("/")
    if ".." in parts:
        return "contains a '..' segment"
    if any(ord(c) < 32 for c in key):
        return "contains a control character"
    return None


def check_kind(kind: Kind, record: Record, file: str) -> Record | LineError:
    """A media dataset's items name an object of its kind: a video is not an image."""
    if kind not in MEDIA_KINDS:
        return record
    source = record.data.get("source")
    if source is None:
        return LineError(file, record.line, "data.source", f"required: the {kind} file's URI")
    assert isinstance(source, str)
    if not source.startswith(URI_SCHEMES):
        return LineError(file, record.line, "data.source",
                         f"must be an object URI ({', '.join(URI_SCHEMES)}), not {source[:80]!r}")
    path = source.split("://", 1)[1]
    problem = unsafe_key(path.split("/", 1)[1] if "/" in path else "")
    if problem:
        return LineError(file, record.line, "data.source", f"object name {problem}")
    found = media_kind(source)
    if found != kind:
        what = f"a {found} file" if found else f"a '{extension(source) or 'extensionless'}' file"
        return LineError(file, record.line, "data.source",
                         f"{what} cannot be an item of this {kind} dataset "
                         f"(accepted: {', '.join(extensions_of(kind))})")
    return record


def check_objects(record: Record, file: str, workspace: str) -> Record | LineError:
    """No field of an item names an object its workspace may not use (another workspace's
    export or upload, the platform's own files): services later read or hand out a URL to
    every object an item names. Fields hold an object as an ``s3://`` URI at the top level
    (a template's media field, ``source``)."""
    for name, value in record.data.items():
        if isinstance(value, str) and value.startswith("s3://") and foreign_uri(value,
                                                                                 workspace):
            return LineError(file, record.line, f"data.{name}",
                             f"{value[:80]!r} is not an object of this workspace (another "
                             "workspace's files and the platform's own cannot be items)")
    return record


def image_size(head: bytes) -> tuple[int, int] | None:
    """Width and height from the first bytes of an image, or None when they are not there
    (or it is not an image). Only the header is parsed; no pixel is decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: we never decode
            with Image.open(io.BytesIO(head)) as image:
                width, height = image.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError,
            ValueError):
        return None
    return (int(width), int(height)) if width > 0 and height > 0 else None


def scanned_item(uri: str, size: int, dimensions: tuple[int, int] | None) -> dict[str, Any]:
    data: dict[str, Any] = {"source": uri, "size": size, "content_type": content_type(uri)}
    if dimensions:
        data["width"], data["height"] = dimensions
    return data
