"""Label Studio for ``bench.assignment``: installed from PyPI into a virtualenv of its own
(pinned, once), started on a loopback port with a fresh data directory, loaded by
``bench/label_studio_side.py`` (which runs with that virtualenv's Python), then stopped
and its data directory deleted.

    .venv/bin/python -m bench.label_studio_runner --tasks 20000 --levels 1,16,64 --seconds 20

runs the Label Studio half alone and prints its JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VERSION = "1.23.2"
CACHE = Path(os.environ.get("LABELOPS_BENCH_CACHE",
                            Path.home() / ".cache" / "labelops" / "bench"))
VENV = CACHE / "label-studio-venv"
SIDE = Path(__file__).with_name("label_studio_side.py")
START_TIMEOUT = 300.0  # first start applies every migration to the fresh SQLite database


def python() -> Path:
    return VENV / "bin" / "python"


def ensure_installed(say: Any = print) -> str:
    """The pinned Label Studio in its own virtualenv; nothing is done when it is there.
    Returns the version installed."""
    marker = VENV / ".labelops-installed"
    if marker.exists() and marker.read_text().strip() == VERSION and python().exists():
        return VERSION
    say(f"installing label-studio=={VERSION} into {VENV} (once)")
    CACHE.mkdir(parents=True, exist_ok=True)
    if not python().exists():
        base = Path(sys.base_prefix) / "bin" / "python3"
        subprocess.run([str(base if base.exists() else sys.executable), "-m", "venv",
                        str(VENV)], check=True)
    subprocess.run([str(python()), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", f"label-studio=={VERSION}", "httpx"],
                   check=True)
    marker.write_text(VERSION + "\n")
    return VERSION


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    token: str
    env: dict[str, str]
    data_dir: Path
    log: Path


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LABEL_STUDIO_", "DJANGO_")) and k not in (
               "USERNAME", "PASSWORD", "USER_TOKEN", "DEBUG")}
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        # what a deployment sets: no debug bookkeeping, no calls out (no network here)
        LABEL_STUDIO_DEBUG="false", LABEL_STUDIO_LOG_LEVEL="WARNING",
        LABEL_STUDIO_LATEST_VERSION_CHECK="false", LABEL_STUDIO_COLLECT_ANALYTICS="false",
    )
    return env


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def running(say: Any = print) -> Iterator[Server]:
    """Label Studio started with ``label-studio start`` on a free loopback port, a fresh data
    directory, an admin user with a legacy API token; stopped (this process only) and its data
    deleted on the way out."""
    data_dir = Path(tempfile.mkdtemp(prefix="label-studio-data-", dir=CACHE))
    port = _free_port()
    token = os.urandom(20).hex()
    env = _env(data_dir)
    log = data_dir / "server.log"
    command = [str(VENV / "bin" / "label-studio"), "start", "--no-browser",
               "--internal-host", "127.0.0.1", "--port", str(port),
               "--username", "admin@bench.local", "--password", os.urandom(9).hex(),
               "--user-token", token, "--enable-legacy-api-token"]
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        started = time.monotonic()
        while not _answers(url):
            if process.poll() is not None:
                raise RuntimeError(f"label-studio exited with {process.returncode}: "
                                   f"{log.read_text()[-2000:]}")
            if time.monotonic() - started > START_TIMEOUT:
                raise TimeoutError(f"label-studio did not answer in {START_TIMEOUT:.0f}s")
            time.sleep(0.5)
        say(f"label-studio {VERSION} up on {url} in {time.monotonic() - started:.0f}s")
        yield Server(url, token, env, data_dir, log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # its own session: the server and children
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


def side(server: Server, *args: str, timeout: float = 7200) -> Any:
    """Run a subcommand of label_studio_side.py with Label Studio's Python; its JSON."""
    done = subprocess.run([str(python()), str(SIDE), *args], env=server.env, timeout=timeout,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"label_studio_side {args[0]} failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(tasks: int, levels: list[int], seconds: float, say: Any = print,
        think_ms: list[float] | None = None) -> dict[str, Any]:
    """Install (once), start, create the labelers and the project, import ``tasks`` tasks and
    run the load at each concurrency. Everything measured is in the returned dict."""
    version = ensure_installed(say)
    with running(say) as server:
        users = side(server, "users", "--count", str(max(levels)), "--prefix", "labeler")
        say(f"label-studio: importing {tasks:,} tasks")
        project = side(server, "setup", "--url", server.url, "--token", server.token,
                       "--tasks", str(tasks))
        say(f"label-studio: {project['tasks']:,} tasks imported in {project['import_s']:.1f}s;"
            f" load at {', '.join(map(str, levels))} labelers, {seconds:.0f}s each")
        tokens_file = server.data_dir / "tokens.json"
        tokens_file.write_text(json.dumps(users))
        loaded = side(server, "load", "--url", server.url, "--project",
                      str(project["project"]), "--tokens-file", str(tokens_file),
                      "--levels", ",".join(map(str, levels)), "--seconds", str(seconds),
                      "--think-ms", ",".join(f"{t:g}" for t in think_ms or [0.0]))
        if any(lv["errors"] for lv in loaded["levels"]):
            # the server's account of its errors, before its data directory goes
            lines = server.log.read_text(errors="replace").splitlines()
            loaded["server_log_errors"] = [line for line in lines if any(
                word in line for word in ("ERROR", "Error", "error", "Traceback"))][-40:]
    return {"version": version, "server": "label-studio start (Django runserver, SQLite)",
            "tasks": project["tasks"], "import_s": project["import_s"],
            "import_tasks_per_s": project["tasks"] / project["import_s"], **loaded}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--levels", default="1,16,64")
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    result = run(args.tasks, [int(x) for x in args.levels.split(",")], args.seconds)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
