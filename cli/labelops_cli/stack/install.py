"""Idempotent installers: fetch Kafka's jars with Maven, build FerretDB and MinIO with Go.

Each writes a stamp naming what it installed; a run whose stamp matches the pins does
nothing. Failures end with one line naming what is missing and how to get it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from rich.console import Console

from labelops_cli.stack import paths

console = Console(stderr=True)
GO_PROXY = "https://proxy.golang.org"


class StackError(RuntimeError):
    """A set-up step failed; the message is one line saying what and how to fix it."""


def _require(tool: str, how: str) -> str:
    found = shutil.which(tool)
    if not found:
        raise StackError(f"{tool} not found: {how}")
    return found


def _run(step: str, args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> None:
    console.print(f"[cyan]•[/cyan] {step}")
    log = paths.cache_dir() / "logs" / f"{step.split()[0].lower()}-{args[0].rsplit('/', 1)[-1]}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out, console.status(f"{step} (log: {log})"):
        done = subprocess.run(args, cwd=cwd, env={**os.environ, **(env or {})},
                              stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
        raise StackError(f"{step} failed (exit {done.returncode}): {tail[0]} — see {log}")


def _stamp_ok(stamp: Path, want: str, *outputs: Path) -> bool:
    return stamp.exists() and stamp.read_text() == want and all(p.exists() for p in outputs)


def kafka_libs() -> Path:
    return paths.cache_dir() / "kafka" / "libs"


def ensure_kafka() -> Path:
    libs = kafka_libs()
    pom = paths.DEPLOY_LOCAL / "kafka" / "pom.xml"
    stamp = libs.parent / "installed"
    want = f"kafka {paths.KAFKA_VERSION} {_digest(pom)}"
    if _stamp_ok(stamp, want, libs / f"kafka_2.13-{paths.KAFKA_VERSION}.jar"):
        return libs
    _require("java", "install a JDK ≥ 17 (apt-get install openjdk-17-jre-headless)")
    mvn = _require("mvn", "install Maven (apt-get install maven)")
    if libs.exists():
        shutil.rmtree(libs)
    _run(f"fetching Kafka {paths.KAFKA_VERSION} from Maven Central",
         [mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies",
          "-DincludeScope=runtime", f"-DoutputDirectory={libs}"], cwd=pom.parent)
    stamp.write_text(want)
    return libs


def _digest(*files: Path) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _go_env() -> dict[str, str]:
    return {"GOBIN": str(paths.cache_dir() / "bin"), "GOFLAGS": "-mod=mod"}


def ensure_ferretdb() -> Path:
    src = paths.DEPLOY_LOCAL / "ferretdb"
    binary = paths.cache_dir() / "bin" / "ferretdb"
    stamp = paths.cache_dir() / "bin" / "ferretdb.installed"
    sources = _digest(src / "go.mod", src / "go.sum", src / "main.go")
    want = f"ferretdb {paths.FERRETDB_VERSION} {sources}"
    if _stamp_ok(stamp, want, binary):
        return binary
    go = _require("go", "install Go ≥ 1.24 (https://go.dev/dl/ or apt-get install golang)")
    _run(f"building FerretDB {paths.FERRETDB_VERSION} (go install, about 2 minutes)",
         [go, "install", "."], cwd=src, env=_go_env())
    stamp.write_text(want)
    return binary


def _seed_minio_module() -> str:
    """The Go proxy serves MinIO's pinned pseudo-version .mod and .zip but not its .info
    (the tag is not semver), which `go` needs; a file proxy in the cache supplies it. The
    zip is still verified against go.sum."""
    version = paths.MINIO_MODULE_VERSION
    folder = paths.cache_dir() / "goproxy" / "github.com" / "minio" / "minio" / "@v"
    folder.mkdir(parents=True, exist_ok=True)
    for ext in ("mod", "zip"):
        target = folder / f"{version}.{ext}"
        if target.exists() and target.stat().st_size > 0:
            continue
        url = f"{GO_PROXY}/github.com/minio/minio/@v/{version}.{ext}"
        console.print(f"[cyan]•[/cyan] downloading {url}")
        try:
            with urllib.request.urlopen(url, timeout=300) as response, open(
                f"{target}.part", "wb"
            ) as out:
                shutil.copyfileobj(response, out)
        except (urllib.error.URLError, OSError) as exc:
            raise StackError(f"downloading MinIO source failed: {url}: {exc}") from exc
        os.replace(f"{target}.part", target)
    (folder / f"{version}.info").write_text(
        json.dumps({"Version": version, "Time": paths.MINIO_COMMIT_TIME}))
    (folder / "list").write_text(version + "\n")
    return f"file://{paths.cache_dir() / 'goproxy'},{GO_PROXY}"


def ensure_minio() -> Path:
    src = paths.DEPLOY_LOCAL / "minio"
    binary = paths.cache_dir() / "bin" / "minio"
    stamp = paths.cache_dir() / "bin" / "minio.installed"
    want = f"minio {paths.MINIO_RELEASE} {_digest(src / 'go.mod', src / 'go.sum')}"
    if _stamp_ok(stamp, want, binary):
        return binary
    go = _require("go", "install Go ≥ 1.24 (https://go.dev/dl/ or apt-get install golang)")
    proxy = _seed_minio_module()
    _run(f"building MinIO {paths.MINIO_RELEASE} (go install, about 4 minutes)",
         [go, "install", "github.com/minio/minio"], cwd=src,
         env={**_go_env(), "GOPROXY": proxy, "GONOSUMDB": "github.com/minio/minio"})
    stamp.write_text(want)
    return binary


def ensure_all() -> None:
    ensure_kafka()
    ensure_ferretdb()
    ensure_minio()
