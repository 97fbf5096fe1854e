"""The streaming archives read back by Python's zipfile and tarfile (and Info-ZIP's unzip
where installed), ZIP64 included."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from services.export.domain.formats.archive import StreamingArchive


def _write(kind: str, members: dict[str, bytes]) -> bytes:
    archive = StreamingArchive(kind)  # type: ignore[arg-type]
    out = []
    for name, data in members.items():
        archive.add(name, data)
        out.append(archive.drain())
    out.extend(archive.finish())
    return b"".join(out)


MEMBERS = {"classes.txt": b"cat\ndog\n", "labels/a%3A1.txt": b"0 0.5 0.5 0.1 0.1\n" * 50,
           "labels/é.txt": b"", "big.bin": bytes(range(256)) * 4000}


def test_zip_members_read_back_and_equal_inputs_give_equal_bytes(tmp_path: Path) -> None:
    data = _write("zip", MEMBERS)
    assert data == _write("zip", MEMBERS)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert {n: archive.read(n) for n in archive.namelist()} == MEMBERS
        kinds = {i.filename: i.compress_type for i in archive.infolist()}
    assert kinds["labels/a%3A1.txt"] == zipfile.ZIP_DEFLATED
    assert kinds["labels/é.txt"] == zipfile.ZIP_STORED
    if shutil.which("unzip"):
        path = tmp_path / "a.zip"
        path.write_bytes(data)
        subprocess.run(["unzip", "-tq", str(path)], check=True, capture_output=True)


def test_tar_members_read_back() -> None:
    data = _write("tar", MEMBERS)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        found = {m.name: archive.extractfile(m).read()  # type: ignore[union-attr]
                 for m in archive.getmembers()}
    assert found == MEMBERS


@pytest.mark.timeout(120)
def test_more_members_than_plain_zip_can_count_use_zip64(tmp_path: Path) -> None:
    count = 70_000
    archive = StreamingArchive("zip")
    pieces = []
    for n in range(count):
        archive.add(f"labels/{n}.txt", b"0 0.5 0.5 0.1 0.1\n")
        if n % 5000 == 0:
            pieces.append(archive.drain())
    pieces.extend(archive.finish())
    data = b"".join(pieces)
    with zipfile.ZipFile(io.BytesIO(data)) as zipped:
        names = zipped.namelist()
        assert len(names) == count
        assert zipped.read(f"labels/{count - 1}.txt") == b"0 0.5 0.5 0.1 0.1\n"
    if shutil.which("unzip"):
        path = tmp_path / "many.zip"
        path.write_bytes(data)
        subprocess.run(["unzip", "-tq", str(path)], check=True, capture_output=True)


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_a_member_streamed_from_a_spool_reads_back(kind: str, tmp_path: Path) -> None:
    body = b"".join(b"labels/%d.txt,s3://b/%d.jpg,640,480,id%d\n" % (n, n, n)
                    for n in range(20_000))
    archive = StreamingArchive(kind)  # type: ignore[arg-type]
    archive.add("first.txt", b"1")
    pieces = [archive.drain()]
    pieces += list(archive.add_file("images.csv", io.BytesIO(body), len(body)))
    archive.add("last.txt", b"2")
    pieces.extend(archive.finish())
    assert len(pieces) > 3 or kind == "tar"
    data = b"".join(pieces)
    if kind == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as zipped:
            assert zipped.testzip() is None
            assert zipped.read("images.csv") == body and zipped.read("last.txt") == b"2"
        if shutil.which("unzip"):
            path = tmp_path / "s.zip"
            path.write_bytes(data)
            subprocess.run(["unzip", "-tq", str(path)], check=True, capture_output=True)
    else:
        with tarfile.open(fileobj=io.BytesIO(data)) as tarred:
            assert tarred.extractfile("images.csv").read() == body  # type: ignore[union-attr]
