"""The Label Studio half of ``bench.assignment``: runs with the Python of Label Studio's own
virtualenv (stdlib and httpx only, plus Label Studio's Django models for ``users``), and
prints one JSON document on stdout. ``bench.assignment`` installs that virtualenv, starts
the server and calls this file; it is not meant to be run by hand.

    python bench/label_studio_side.py users --count 64
    python bench/label_studio_side.py setup --url URL --token T --tasks 20000
    python bench/label_studio_side.py load --url URL --project 1 --tokens-file F \
        --levels 1,16,64 --seconds 20

- ``users``: creates the simulated labelers with Label Studio's own start-up code (the
  function behind ``label-studio start --username --password --user-token``), each with
  its own legacy API token, in the first organization (the server's data dir comes from
  LABEL_STUDIO_BASE_DATA_DIR, as for the server);
- ``setup``: a project with a text-classification labeling config and sequential sampling,
  then the tasks imported in batches through ``POST /api/projects/{id}/import``;
- ``load``: at each concurrency, that many labelers (one token and one HTTP connection
  each) loop ``GET /api/projects/{id}/next`` + ``POST /api/tasks/{id}/annotations/`` until
  the level's time is up; latencies of both calls and annotations/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import secrets
import sys
import time
from typing import Any

LABELS = ("positive", "negative", "neutral")
LABEL_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="positive"/>
    <Choice value="negative"/>
    <Choice value="neutral"/>
  </Choices>
</View>"""
IMPORT_BATCH = 5000


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100) of unsorted values; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary(values_ms: list[float]) -> dict[str, Any]:
    return {"count": len(values_ms), "p50_ms": percentile(values_ms, 50),
            "p99_ms": percentile(values_ms, 99),
            "max_ms": max(values_ms) if values_ms else math.nan}


def task_text(n: int) -> str:
    return f"review number {n}: the product was fine"


# -- users ----------------------------------------------------------------------------------


def create_users(count: int, prefix: str) -> list[str]:
    from types import SimpleNamespace

    # This file's folder (bench/) must not shadow the label_studio package.
    sys.path[:] = [p for p in sys.path if p and not p.rstrip("/").endswith("bench")]
    from label_studio import server

    server._setup_env()
    tokens = []
    for n in range(count):
        token = secrets.token_hex(20)
        args = SimpleNamespace(username=f"{prefix}-{n}@bench.local",
                               password=secrets.token_urlsafe(12), user_token=token,
                               quiet_mode=True, enable_legacy_api_token=True)
        server._create_user(args, {})
        tokens.append(token)
    return tokens


# -- setup ----------------------------------------------------------------------------------


async def setup(url: str, token: str, tasks: int) -> dict[str, Any]:
    import httpx

    headers = {"Authorization": f"Token {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=600) as http:
        created = await http.post("/api/projects/", json={
            "title": "labelops bench", "label_config": LABEL_CONFIG,
            "sampling": "Sequential sampling", "maximum_annotations": 1,
            "show_overlap_first": False})
        created.raise_for_status()
        project = created.json()["id"]
        started = time.perf_counter()
        for first in range(0, tasks, IMPORT_BATCH):
            batch = [{"data": {"text": task_text(n)}}
                     for n in range(first, min(tasks, first + IMPORT_BATCH))]
            answer = await http.post(f"/api/projects/{project}/import", json=batch)
            answer.raise_for_status()
        imported_s = time.perf_counter() - started
        info = (await http.get(f"/api/projects/{project}/")).json()
    return {"project": project, "tasks": info.get("task_number", tasks),
            "import_s": imported_s}


# -- load -----------------------------------------------------------------------------------


async def level(url: str, project: int, tokens: list[str], seconds: float,
                think_ms: float = 0.0) -> dict[str, Any]:
    """``think_ms``: a labeler's time per task between GET next and the POST, on average
    (uniformly 0.5-1.5 times; seeded per labeler), as the LabelOps side pauses before a save."""
    import httpx

    next_ms: list[float] = []
    post_ms: list[float] = []
    errors: dict[str, int] = {}
    done = 0
    out_of_tasks = False

    def error(what: str) -> None:
        errors[what] = errors.get(what, 0) + 1

    async def labeler(n: int, token: str, deadline: float) -> None:
        nonlocal done, out_of_tasks
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        rng = random.Random(f"labeler-{len(tokens)}-{think_ms:g}-{n}")
        async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits,
                                     headers={"Authorization": f"Token {token}"}) as http:
            while time.perf_counter() < deadline and not out_of_tasks:
                t = time.perf_counter()
                try:
                    got = await http.get(f"/api/projects/{project}/next")
                except httpx.TimeoutException:  # over 120 s: counted, the labeler asks again
                    error("next timeout")
                    continue
                took = (time.perf_counter() - t) * 1000
                if got.status_code == 404:
                    out_of_tasks = True
                    return
                if got.status_code != 200:
                    error(f"next {got.status_code}")
                    continue
                next_ms.append(took)
                task = got.json()["id"]
                body = {"project": project, "lead_time": 1.0, "result": [{
                    "from_name": "sentiment", "to_name": "text", "type": "choices",
                    "value": {"choices": [LABELS[(task + n) % 3]]}}]}
                if think_ms:
                    await asyncio.sleep(think_ms / 1000 * rng.uniform(0.5, 1.5))
                t = time.perf_counter()
                try:
                    posted = await http.post(f"/api/tasks/{task}/annotations/", json=body)
                except httpx.TimeoutException:
                    error("annotation timeout")
                    continue
                took = (time.perf_counter() - t) * 1000
                if posted.status_code != 201:
                    error(f"annotation {posted.status_code}")
                    continue
                post_ms.append(took)
                done += 1

    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(labeler(n, tok, deadline) for n, tok in enumerate(tokens)))
    elapsed = time.perf_counter() - started
    return {"concurrency": len(tokens), "think_ms": think_ms, "seconds": elapsed,
            "annotations": done,
            "annotations_per_s": done / elapsed, "next": summary(next_ms),
            "annotation": summary(post_ms), "errors": errors, "out_of_tasks": out_of_tasks}


async def load(url: str, project: int, tokens: list[str], levels: list[int],
               seconds: float, thinks: list[float]) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    for think_ms in thinks:
        for concurrency in levels:
            results.append(await level(url, project, tokens[:concurrency], seconds, think_ms))
            if results[-1]["out_of_tasks"]:
                return {"levels": results}
    return {"levels": results}


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    users = sub.add_parser("users")
    users.add_argument("--count", type=int, required=True)
    users.add_argument("--prefix", default="labeler")
    prepare = sub.add_parser("setup")
    prepare.add_argument("--url", required=True)
    prepare.add_argument("--token", required=True)
    prepare.add_argument("--tasks", type=int, required=True)
    run = sub.add_parser("load")
    run.add_argument("--url", required=True)
    run.add_argument("--project", type=int, required=True)
    run.add_argument("--tokens-file", required=True)
    run.add_argument("--levels", required=True)
    run.add_argument("--seconds", type=float, required=True)
    run.add_argument("--think-ms", default="0")
    args = parser.parse_args()

    if args.command == "users":
        result: Any = {"tokens": create_users(args.count, args.prefix)}
    elif args.command == "setup":
        result = asyncio.run(setup(args.url, args.token, args.tasks))
    else:
        with open(args.tokens_file) as fh:
            tokens = json.load(fh)["tokens"]
        levels = [int(x) for x in args.levels.split(",")]
        thinks = [float(x) for x in args.think_ms.split(",")]
        result = asyncio.run(load(args.url, args.project, tokens, levels, args.seconds,
                                  thinks))
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
