"""Archives written as a stream: members go out as they are added, nothing is seeked back,
and every member carries the same fixed time so equal inputs give equal bytes. Pure (the
archive writes into an in-memory buffer that the caller drains).

ZIP is written here rather than with ``zipfile``, whose writer keeps one ``ZipInfo`` per
member in memory until the central directory is written (hundreds of bytes per member: a
million label files would hold hundreds of megabytes). This writer appends each member's
central directory record to a spool (memory, then a temporary file) and copies it out at the
end, with ZIP64 records when there are more than 65,535 members or more than 4 GiB; members
are deflated, or stored when deflating does not make them smaller. Tar (POSIX pax) has no
directory and goes through ``tarfile``'s stream mode."""

from __future__ import annotations

import io
import struct
import tarfile
import zlib
from collections.abc import Iterator
from typing import IO, Literal

from services.export.domain.formats.model import CHUNK_BYTES, SpoolFactory, memory_spool

ArchiveKind = Literal["zip", "tar"]
# 1980-01-01 00:00:00, the earliest time ZIP can store, in MS-DOS form.
_DOS_TIME, _DOS_DATE = 0, (0 << 9) | (1 << 5) | 1
_UTF8_NAMES = 0x0800
_STORED, _DEFLATED = 0, 8
_MAX16, _MAX32 = 0xFFFF, 0xFFFFFFFF


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


class _ZipWriter:
    def __init__(self, sink: _Sink, spool: IO[bytes]) -> None:
        self._sink = sink
        self._directory = spool
        self._offset = 0
        self._count = 0

    def add(self, name: str, data: bytes) -> None:
        encoded = name.encode()
        crc = zlib.crc32(data)
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = packer.compress(data) + packer.flush()
        method = _DEFLATED
        if len(packed) >= len(data):
            packed, method = data, _STORED
        local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, _UTF8_NAMES, method, _DOS_TIME,
                            _DOS_DATE, crc, len(packed), len(data), len(encoded), 0)
        self._sink.write(local + encoded + packed)
        self._record(encoded, _UTF8_NAMES, method, crc, len(packed), len(data))
        self._offset += len(local) + len(encoded) + len(packed)
        self._count += 1

    def _record(self, encoded: bytes, flags: int, method: int, crc: int, packed: int,
                size: int) -> None:
        """The member's central directory record, into the spool."""
        extra = b""
        offset = self._offset
        if offset > _MAX32:  # member sizes stay small; only the offset can need ZIP64
            extra = struct.pack("<HHQ", 0x0001, 8, offset)
            offset = _MAX32
        self._directory.write(struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, (3 << 8) | 45, 45 if extra else 20, flags,
            method, _DOS_TIME, _DOS_DATE, crc, packed, size, len(encoded),
            len(extra), 0, 0, 0, 0o100644 << 16, offset) + encoded + extra)

    def add_file(self, name: str, source: IO[bytes]) -> Iterator[None]:
        """A member read from ``source`` piece by piece (its sizes and checksum follow it in
        a data descriptor); yields after each piece so the caller can drain the sink."""
        encoded = name.encode()
        flags = _UTF8_NAMES | 0x0008
        local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, _DEFLATED, _DOS_TIME,
                            _DOS_DATE, 0, 0, 0, len(encoded), 0)
        self._sink.write(local + encoded)
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
        crc = size = packed = 0
        while piece := source.read(CHUNK_BYTES):
            crc, size = zlib.crc32(piece, crc), size + len(piece)
            out = packer.compress(piece)
            packed += len(out)
            self._sink.write(out)
            yield None
        out = packer.flush()
        packed += len(out)
        if size > _MAX32 or packed > _MAX32:
            raise ValueError(f"{name}: a streamed member is limited to 4 GiB")
        self._sink.write(out + struct.pack("<IIII", 0x08074B50, crc, packed, size))
        self._record(encoded, flags, _DEFLATED, crc, packed, size)
        self._offset += len(local) + len(encoded) + packed + 16
        self._count += 1

    def close(self) -> Iterator[None]:
        """The central directory copied out of its spool, yielding after each piece."""
        start, size = self._offset, self._directory.tell()
        self._directory.seek(0)
        while piece := self._directory.read(CHUNK_BYTES):
            self._sink.write(piece)
            yield None
        end = start + size
        if self._count > _MAX16 or start > _MAX32 or size > _MAX32:
            self._sink.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0,
                                         self._count, self._count, size, start))
            self._sink.write(struct.pack("<IIQI", 0x07064B50, 0, end, 1))
        self._sink.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, min(self._count, _MAX16),
                                     min(self._count, _MAX16), min(size, _MAX32),
                                     min(start, _MAX32), 0))


class StreamingArchive:
    """``add(name, data)`` then ``drain()`` for the bytes so far; ``finish()`` yields the
    end."""

    def __init__(self, kind: ArchiveKind = "zip", spool_factory: SpoolFactory = memory_spool
                 ) -> None:
        self.kind = kind
        self._sink = _Sink()
        self._spool: IO[bytes] | None = None
        self._zip: _ZipWriter | None = None
        self._tar: tarfile.TarFile | None = None
        if kind == "zip":
            self._spool = spool_factory()
            self._zip = _ZipWriter(self._sink, self._spool)
        else:
            self._tar = tarfile.open(fileobj=self._sink, mode="w|", format=tarfile.PAX_FORMAT)

    def add(self, name: str, data: bytes) -> None:
        if self._zip is not None:
            self._zip.add(name, data)
        elif self._tar is not None:
            entry = tarfile.TarInfo(name)
            entry.size, entry.mtime, entry.mode = len(data), 0, 0o644
            self._tar.addfile(entry, io.BytesIO(data))

    def add_file(self, name: str, source: IO[bytes], size: int) -> Iterator[bytes]:
        """A member of ``size`` bytes read from ``source`` in pieces (a spool), its bytes
        yielded as they are written: no member is ever held whole."""
        if self._zip is not None:
            for _ in self._zip.add_file(name, source):
                out = self.drain(at_least=CHUNK_BYTES)
                if out:
                    yield out
        elif self._tar is not None:
            entry = tarfile.TarInfo(name)
            entry.size, entry.mtime, entry.mode = size, 0, 0o644
            self._tar.addfile(entry, source)  # copies in blocks; tar needs the size first
        out = self.drain()
        if out:
            yield out

    def drain(self, at_least: int = 0) -> bytes:
        """The bytes written so far, when there are at least ``at_least`` of them."""
        return self._sink.drain() if self._sink.buffered >= at_least else b""

    def finish(self) -> Iterator[bytes]:
        """The end of the archive (the ZIP central directory, the tar end blocks), in
        pieces: the directory is never held whole."""
        try:
            if self._zip is not None:
                for _ in self._zip.close():
                    out = self.drain(at_least=CHUNK_BYTES)
                    if out:
                        yield out
            elif self._tar is not None:
                self._tar.close()
        finally:
            if self._spool is not None:
                self._spool.close()
        out = self.drain()
        if out:
            yield out
