"""Archives written as a stream: members go out as they are added, nothing is seeked back,
and every member carries the same fixed time so equal inputs give equal bytes. Pure (the
archive writes into an in-memory sink that the caller drains)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from typing import Literal

ArchiveKind = Literal["zip", "tar"]
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time ZIP can store; tar uses 0


class _Sink(io.RawIOBase):
    """A write-only, unseekable stream that keeps what was written until drained."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._buffer += data
        return len(data)

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def drain(self) -> bytes:
        out = bytes(self._buffer)
        self._buffer.clear()
        return out


class StreamingArchive:
    """``add(name, data)`` then ``drain()`` for the bytes so far; ``close()`` writes the end
    (the ZIP central directory, the tar end blocks) and returns the last bytes."""

    def __init__(self, kind: ArchiveKind = "zip") -> None:
        self.kind = kind
        self._sink = _Sink()
        self._zip: zipfile.ZipFile | None = None
        self._tar: tarfile.TarFile | None = None
        if kind == "zip":
            # An unseekable target makes zipfile write sizes in data descriptors.
            self._zip = zipfile.ZipFile(self._sink, "w", zipfile.ZIP_DEFLATED, compresslevel=6)
        else:
            self._tar = tarfile.open(fileobj=self._sink, mode="w|", format=tarfile.PAX_FORMAT)

    def add(self, name: str, data: bytes) -> None:
        if self._zip is not None:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            self._zip.writestr(info, data)
        elif self._tar is not None:
            entry = tarfile.TarInfo(name)
            entry.size, entry.mtime, entry.mode = len(data), 0, 0o644
            self._tar.addfile(entry, io.BytesIO(data))

    def drain(self, at_least: int = 0) -> bytes:
        """The bytes written so far, when there are at least ``at_least`` of them."""
        return self._sink.drain() if self._sink.buffered >= at_least else b""

    def close(self) -> bytes:
        if self._zip is not None:
            self._zip.close()
        elif self._tar is not None:
            self._tar.close()
        return self._sink.drain()
