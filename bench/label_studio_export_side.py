"""The Label Studio half of ``bench.export``: runs with the Python of Label Studio's own
virtualenv (stdlib and httpx only) and prints one JSON document on stdout. ``bench.export``
installs that virtualenv and starts the server (``bench/label_studio_runner.py``) and calls
this file; it is not meant to be run by hand.

    python bench/label_studio_export_side.py setup --url URL --token T --tasks N --cap-s S
    python bench/label_studio_export_side.py export --url URL --token T --project P \
        --out FILE --timeout-s S

- ``setup``: a project with an object-detection labeling config (rectangles and polygons
  over an image), then tasks **with their annotations** (the same boxes as the LabelOps
  side's items, in Label Studio's percent coordinates) imported through
  ``POST /api/projects/{id}/import`` in batches, until ``--tasks`` are in or ``--cap-s``
  seconds have passed (the count reached is reported);
- ``export``: ``GET /api/projects/{id}/export?exportType=JSON`` streamed into a file,
  timed (first byte and last byte), ended after ``--timeout-s``; the tasks in the file are
  counted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

CLASSES = ("cat", "dog", "bird", "car", "person", "bike")
WIDTH, HEIGHT = 1920, 1080
LABEL_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="label" toName="image">
    {labels}
  </RectangleLabels>
  <PolygonLabels name="outline" toName="image">
    {labels}
  </PolygonLabels>
</View>""".format(labels="\n    ".join(f'<Label value="{c}"/>' for c in CLASSES))
IMPORT_BATCH = 1000


def task(n: int) -> dict[str, Any]:
    """Task n with one annotation: the five boxes and the polygon of ``bench.export``'s
    item n, in percent of the image."""
    result: list[dict[str, Any]] = []
    for i in range(5):
        result.append({
            "id": f"r{n}-{i}", "from_name": "label", "to_name": "image",
            "type": "rectanglelabels", "original_width": WIDTH, "original_height": HEIGHT,
            "image_rotation": 0, "value": {
                "x": (10.5 + i * 150) / WIDTH * 100, "y": (20.25 + i * 90) / HEIGHT * 100,
                "width": 120.0 / WIDTH * 100, "height": 80.5 / HEIGHT * 100, "rotation": 0,
                "rectanglelabels": [CLASSES[(n + i) % 6]]}})
    result.append({
        "id": f"r{n}-p", "from_name": "outline", "to_name": "image", "type": "polygonlabels",
        "original_width": WIDTH, "original_height": HEIGHT, "image_rotation": 0,
        "value": {"points": [[x / WIDTH * 100, y / HEIGHT * 100] for x, y in
                             ((900, 500), (1000, 520), (980, 700), (880, 650))],
                  "polygonlabels": ["person"]}})
    return {"data": {"image": f"s3://bench/images/{n:09d}.jpg"},
            "annotations": [{"result": result, "was_cancelled": False, "ground_truth": False,
                             "lead_time": 1.0}]}


def setup(url: str, token: str, tasks: int, cap_s: float) -> dict[str, Any]:
    import httpx

    headers = {"Authorization": f"Token {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=1800) as http:
        created = http.post("/api/projects/", json={"title": "labelops export bench",
                                                    "label_config": LABEL_CONFIG})
        created.raise_for_status()
        project = created.json()["id"]
        started = time.perf_counter()
        imported = 0
        capped = False
        for first in range(0, tasks, IMPORT_BATCH):
            if time.perf_counter() - started > cap_s:
                capped = True
                break
            batch = [task(n) for n in range(first, min(tasks, first + IMPORT_BATCH))]
            answer = http.post(f"/api/projects/{project}/import", json=batch)
            answer.raise_for_status()
            imported += len(batch)
        import_s = time.perf_counter() - started
        info = http.get(f"/api/projects/{project}/").json()
    return {"project": project, "tasks": info.get("task_number", imported),
            "annotations": info.get("total_annotations_number", imported),
            "import_s": import_s, "import_capped": capped}


def export(url: str, token: str, project: int, out: str, timeout_s: float) -> dict[str, Any]:
    import httpx

    headers = {"Authorization": f"Token {token}"}
    started = time.perf_counter()
    first_byte = None
    size = 0
    try:
        with httpx.Client(base_url=url, headers=headers,
                          timeout=httpx.Timeout(timeout_s)) as http, \
                http.stream("GET", f"/api/projects/{project}/export",
                            params={"exportType": "JSON"}) as response, \
                open(out, "wb") as sink:
            if response.status_code != 200:
                return {"finished": False, "error": f"HTTP {response.status_code}: "
                        f"{response.read()[:300]!r}", "seconds": time.perf_counter() - started}
            for chunk in response.iter_bytes(1 << 20):
                if first_byte is None:
                    first_byte = time.perf_counter() - started
                sink.write(chunk)
                size += len(chunk)
                if time.perf_counter() - started > timeout_s:
                    raise TimeoutError
    except (httpx.TimeoutException, TimeoutError):
        return {"finished": False, "error": f"not finished after {timeout_s:.0f} s",
                "seconds": time.perf_counter() - started, "bytes": size}
    seconds = time.perf_counter() - started
    tasks, annotations = count_tasks(out, size)
    return {"finished": True, "seconds": seconds, "first_byte_s": first_byte, "bytes": size,
            "tasks": tasks, "annotations": annotations}


def count_tasks(path: str, size: int) -> tuple[int, int]:
    """Tasks and annotations in the exported file: parsed when small; in a large one (a
    million tasks would take many GB as Python objects) the keys each task and each
    annotation has once are counted instead, streaming."""
    if size < 200_000_000:
        with open(path, "rb") as fh:
            exported = json.load(fh)
        return len(exported), sum(len(t.get("annotations", [])) for t in exported)
    counts = {b'"annotations":': 0, b'"result":': 0}
    tail = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 24):
            window = tail + chunk
            for key in counts:
                counts[key] += window.count(key) - tail.count(key)
            tail = window[-16:]
    return counts[b'"annotations":'], counts[b'"result":']


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    prepare = sub.add_parser("setup")
    prepare.add_argument("--url", required=True)
    prepare.add_argument("--token", required=True)
    prepare.add_argument("--tasks", type=int, required=True)
    prepare.add_argument("--cap-s", type=float, required=True)
    run = sub.add_parser("export")
    run.add_argument("--url", required=True)
    run.add_argument("--token", required=True)
    run.add_argument("--project", type=int, required=True)
    run.add_argument("--out", required=True)
    run.add_argument("--timeout-s", type=float, required=True)
    args = parser.parse_args()
    if args.command == "setup":
        result = setup(args.url, args.token, args.tasks, args.cap_s)
    else:
        result = export(args.url, args.token, args.project, args.out, args.timeout_s)
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
