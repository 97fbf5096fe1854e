"""Pre-labeling throughput in process: the built-in text and image models of auto labeling
and the online path against the reference model server, on ``--items`` items.

    nice -n 10 .venv/bin/python -m bench.prelabel              # 100,000 items each
    nice -n 10 .venv/bin/python -m bench.prelabel --quick      # 5,000 items, a smoke run

Nothing of the running platform is used: no database, no Kafka, no object storage.

- ``text``: ``--train`` labeled synthetic support tickets (four classes of unequal size) and
  ``--items`` unlabeled ones go through the service's ``learn()`` (TF-IDF + logistic
  regression: a model measured on held-out labeled items, then one trained on all of them,
  then every unlabeled item predicted with its confidence and hard-example flag). The
  model's ``fit`` and ``predict_proba`` are timed from inside ``learn()``: train time is the
  final fit, predictions/s counts from the end of that fit to ``learn()``'s return. The raw
  reference is the fitted pipeline's bare ``predict_proba`` over the same items.
- ``image``: synthetic PNGs (``--image-side`` pixels square; red or blue, disc or stripes:
  four classes of unequal size) read through the auto-labeler's own input path
  (``AutoLabeler._inputs``: blocks of 1,000 items, ``image_concurrency`` images at once,
  ``image_features`` in threads) from an in-memory dataset and media store, then ``learn()``
  as for text. Predictions/s end to end = unlabeled items / (their feature time + the
  prediction time); the features and the model are also reported apart.
- ``online``: the reference model server (``python -m services.prelabel.reference_model``)
  as a subprocess on loopback ports; the online worker's client steps per unit of 1,000
  items: content, batches of ``model_batch_size``, all of a unit's batches gathered through
  the endpoint's ``ModelCaller`` (``model_concurrency`` calls in flight, deadline, retries,
  circuit breaker), every reply judged against the job's topics. Over HTTP/JSON and gRPC.
  Latency is per batch round trip (the transport's call, retries apart) and per unit. The
  raw reference sends the same request bodies straight through the transport with the same
  number of calls in flight, no units, no breaker, no judging. The worker's database
  commit (outbox) is not part of it.

Peak RSS is the bench process's VmHWM over each phase (reset through
``/proc/self/clear_refs``); the inputs of a phase are in it, and so is what earlier phases
left (the phases run text, online, image: the image phase's heap is the largest). Every
run is appended to bench/results/prelabel.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import math
import os
import platform
import random
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

from bench import append_run
from labelops_shared.annotations import compile_topics
from labelops_shared.contracts import Prediction
from services.prelabel.adapters.model_client import CallFailed, Models, Transport, transport_for
from services.prelabel.domain import learning
from services.prelabel.domain.autolabel import Target
from services.prelabel.domain.contract import ModelItem, RawReply, content_of, judge, request_json
from services.prelabel.online import UNIT
from services.prelabel.runs import AutoLabeler
from services.prelabel.settings import PrelabelSettings

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parents[1]
QUICK_ITEMS = 5_000
console = Console(width=None if sys.stdout.isatty() else 120)

# -- synthetic data -----------------------------------------------------------------------

TICKETS = {  # class: (share, its words)
    "billing": (0.40, "invoice charge refund payment card billed price receipt vat plan "
                      "discount overcharged".split()),
    "delivery": (0.25, "parcel courier shipping tracking arrived late address package "
                       "warehouse dispatch delayed".split()),
    "product": (0.20, "broken screen battery size colour quality defect manual charger "
                      "warranty fits".split()),
    "account": (0.15, "password login email username locked profile verify settings "
                      "delete signup".split()),
}
FILLER = ("hello hi i my the a an it is was this that and but with for on to please thanks "
          "again today yesterday still not any help can you".split())


def synthetic_tickets(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Short support messages: of 6-18 words, a quarter are the class's own, one in ten is
    another class's, the rest filler; classes drawn with unequal shares."""
    rng = random.Random(seed)
    names = sorted(TICKETS)
    labels = rng.choices(names, weights=[TICKETS[c][0] for c in names], k=n)
    texts = []
    for label in labels:
        words = []
        for _ in range(rng.randint(6, 18)):
            roll = rng.random()
            pool = (TICKETS[label][1] if roll < 0.25
                    else TICKETS[rng.choice(names)][1] if roll < 0.35 else FILLER)
            words.append(rng.choice(pool))
        texts.append(" ".join(words))
    return texts, labels


PICTURES = {"red disc": 0.4, "red stripes": 0.3, "blue disc": 0.2, "blue stripes": 0.1}
HUES = {"red": (200, 50, 40), "blue": (40, 70, 200)}


def synthetic_pictures(n: int, side: int, seed: int) -> tuple[list[bytes], list[str]]:
    """PNGs on a noisy grey-ish background: a disc or a band of stripes (horizontal or
    vertical) of a jittered red or blue, at a random place and size."""
    rng = np.random.default_rng(seed)
    names = sorted(PICTURES)
    shares = np.array([PICTURES[c] for c in names])
    labels = [names[i] for i in rng.choice(len(names), size=n, p=shares / shares.sum())]
    ys, xs = np.mgrid[0:side, 0:side]
    images = []
    for label in labels:
        hue, shape = label.split()
        background = rng.integers(90, 170, size=3)
        pixels = background + rng.normal(0, 12, (side, side, 3))
        if shape == "disc":
            r = rng.uniform(side * 0.2, side * 0.4)
            cy, cx = rng.uniform(r, side - r, size=2)
            mask = (ys - cy) ** 2 + (xs - cx) ** 2 <= r * r
        else:
            period = int(rng.integers(4, 8))
            axis = ys if rng.random() < 0.5 else xs
            mask = (axis // (period // 2)) % 2 == 0
        colour = np.array(HUES[hue]) + rng.normal(0, 20, 3)
        pixels[mask] = colour + rng.normal(0, 12, (int(mask.sum()), 3))
        buffer = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "PNG")
        images.append(buffer.getvalue())
    return images, labels


# -- measuring ----------------------------------------------------------------------------


def reset_peak_rss() -> None:
    """VmHWM starts again from the current RSS (Linux: clear_refs 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def rss_mb(key: str = "VmHWM") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return math.nan


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50 / p99 / max by nearest rank, in ms (values in seconds)."""
    if not values:
        return {"count": 0, "p50_ms": math.nan, "p99_ms": math.nan, "max_ms": math.nan}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000

    return {"count": len(ordered), "p50_ms": rank(0.5), "p99_ms": rank(0.99),
            "max_ms": ordered[-1] * 1000}


class _TimedModel:
    """A model of ``learning.make_model`` whose fits are timed (the rest passes through)."""

    def __init__(self, model: Any, fits: list[tuple[float, float]]) -> None:
        self.model, self._fits = model, fits

    def fit(self, x: Any, y: Any) -> _TimedModel:
        started = time.perf_counter()
        self.model.fit(x, y)
        self._fits.append((started, time.perf_counter()))
        return self

    def predict(self, x: Any) -> Any:
        return self.model.predict(x)

    def predict_proba(self, x: Any) -> Any:
        return self.model.predict_proba(x)

    @property
    def classes_(self) -> Any:
        return self.model.classes_


@contextmanager
def timed_fits() -> Iterator[tuple[list[tuple[float, float]], list[_TimedModel]]]:
    """While open, ``learn()`` builds its models through a wrapper that times each fit; the
    models made are kept (the last one is the final model)."""
    fits: list[tuple[float, float]] = []
    made: list[_TimedModel] = []
    original = learning.make_model

    def make(kind: str) -> Any:
        made.append(_TimedModel(original(kind), fits))
        return made[-1]

    learning.make_model = make
    try:
        yield fits, made
    finally:
        learning.make_model = original


def run_learn(kind: str, labeled: Any, labels: list[str], unlabeled: Any,
              truth: list[str]) -> dict[str, Any]:
    """``learn()`` as a run calls it, with its phases timed; then the raw reference."""
    with timed_fits() as (fits, made):
        started = time.perf_counter()
        learned = learning.learn(kind, labeled, labels, unlabeled, seed=1)
        ended = time.perf_counter()
    (holdout_start, holdout_end), (fit_start, fit_end) = fits[0], fits[-1]
    predict_s = ended - fit_end
    final = made[-1].model
    raw_started = time.perf_counter()
    for start in range(0, len(truth), learning.PREDICT_BATCH):
        final.predict_proba(learning._take(unlabeled, range(
            start, min(start + learning.PREDICT_BATCH, len(truth)))))
    raw_s = time.perf_counter() - raw_started
    majority = Counter(truth).most_common(1)[0][1] / len(truth)
    correct = sum(g.label == t for g, t in zip(learned.guesses, truth, strict=True))
    return {
        "labeled": len(labels), "predicted": len(learned.guesses),
        "learn_s": ended - started, "holdout_fit_s": holdout_end - holdout_start,
        "train_s": fit_end - fit_start, "predict_s": predict_s,
        "predictions_per_s": len(truth) / predict_s,
        "raw_predict_proba_per_s": len(truth) / raw_s,
        "held_out_items": learned.held_out_items,
        "held_out_accuracy": learned.accuracy, "majority_baseline": learned.baseline_accuracy,
        "accuracy_on_predicted": correct / len(truth), "majority_on_predicted": majority,
        "hard_examples": sum(g.hard for g in learned.guesses),
    }


# -- phases -------------------------------------------------------------------------------


def text_phase(items: int, train: int, seed: int) -> dict[str, Any]:
    texts, labels = synthetic_tickets(train + items, seed)
    gc.collect()
    reset_peak_rss()
    rss_before = rss_mb("VmRSS")
    found = run_learn(learning.TEXT, texts[:train], labels[:train], texts[train:],
                      labels[train:])
    return {**found, "rss_before_mb": rss_before, "peak_rss_mb": rss_mb()}


class _MemoryItems:
    """The dataset service's GetItems, in memory: every item names its image object."""

    def __init__(self, uris: dict[str, str]) -> None:
        self.uris = uris

    async def get_items(self, dataset_id: str, item_ids: Sequence[str]
                        ) -> dict[str, dict[str, Any]]:
        return {i: {"image": self.uris[i]} for i in item_ids if i in self.uris}


class _MemoryMedia:
    """Object storage, in memory (the bytes are already read)."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    async def read(self, uri: str, *, workspace: str) -> bytes:
        return self.objects[uri]

    async def url(self, uri: str, *, workspace: str) -> str:
        return ""


async def _features(ids: list[str], objects: dict[str, bytes],
                    settings: PrelabelSettings) -> tuple[Any, dict[str, str]]:
    uris = {i: f"s3://uploads/bench/{i}.png" for i in ids}
    media = {uris[i]: objects[i] for i in ids}
    labeler = AutoLabeler(cast(Any, None), cast(Any, None), cast(Any, _MemoryItems(uris)),
                          _MemoryMedia(media), settings, "/labelops/bench")
    job = cast(Any, SimpleNamespace(dataset_id="bench", workspace="bench"))
    target = Target("label", tuple(PICTURES), "image", learning.IMAGE)
    read, rows, unread = await labeler._inputs(job, target, ids)  # the run's own input path
    assert read == ids, "every image is read, in order"
    return rows, unread


def image_phase(items: int, train: int, side: int, seed: int,
                settings: PrelabelSettings) -> dict[str, Any]:
    started = time.perf_counter()
    images, labels = synthetic_pictures(train + items, side, seed)
    made_s = time.perf_counter() - started
    size = sum(map(len, images)) / len(images)
    ids = [f"img-{n:07d}" for n in range(len(images))]
    objects = dict(zip(ids, images, strict=True))
    del images
    gc.collect()
    reset_peak_rss()
    rss_before = rss_mb("VmRSS")
    started = time.perf_counter()
    labeled_x, unread = asyncio.run(_features(ids[:train], objects, settings))
    labeled_features_s = time.perf_counter() - started
    started = time.perf_counter()
    unlabeled_x, unread = asyncio.run(_features(ids[train:], objects, settings))
    features_s = time.perf_counter() - started
    found = run_learn(learning.IMAGE, labeled_x, labels[:train], unlabeled_x, labels[train:])
    end_to_end = items / (features_s + found["predict_s"])
    return {**found, "image_side": side, "png_bytes_mean": size, "generate_s": made_s,
            "feature_dims": int(unlabeled_x.shape[1]),
            "labeled_features_s": labeled_features_s, "features_s": features_s,
            "features_per_s": items / features_s, "model_predictions_per_s":
            found["predictions_per_s"], "predictions_per_s": end_to_end,
            "image_concurrency": settings.image_concurrency,
            "rss_before_mb": rss_before, "peak_rss_mb": rss_mb()}


class _TimedTransport:
    """A transport whose round trips are timed (one per attempt)."""

    def __init__(self, inner: Transport, times: list[float]) -> None:
        self.inner, self.times, self.name = inner, times, inner.name

    async def predict(self, body: dict[str, Any], deadline: float) -> RawReply:
        started = time.perf_counter()
        try:
            return await self.inner.predict(body, deadline)
        finally:
            self.times.append(time.perf_counter() - started)

    async def close(self) -> None:
        await self.inner.close()


TOPICS = [{"name": "label", "kind": "single_choice", "options": sorted(TICKETS)}]
CONTENT = [{"kind": "text", "field": "source"}]


async def _service_path(endpoint: str, data: dict[str, dict[str, Any]],
                        settings: PrelabelSettings) -> dict[str, Any]:
    """The online worker's client steps, unit after unit, as ``OnlineWorker.process`` does
    them (the dataset read is a dict here; the commit is left out)."""
    round_trips: list[float] = []
    models = Models(settings, factory=lambda e: _TimedTransport(transport_for(e), round_trips))
    caller = models.get(endpoint)
    checker = compile_topics(TOPICS)
    labels = list(TOPICS[0]["options"])
    ids = list(data)
    count = {"predictions": 0, "call_failed": 0, "item_failed": 0, "refused": 0}
    units: list[float] = []

    async def batch(items: list[ModelItem]) -> None:
        try:
            reply = await caller.call(request_json("bench", TOPICS, labels, items))
        except CallFailed:
            count["call_failed"] += len(items)
            return
        judged = judge(reply, items, checker)
        predictions = [Prediction(item_id=item_id, topic=p.topic, answer=p.answer,
                                  confidence=p.confidence)
                       for item_id, found in judged.predictions.items() for p in found]
        count["predictions"] += len(predictions)
        count["item_failed"] += len(judged.failed)
        count["refused"] += len(judged.refused)

    size = settings.model_batch_size
    try:
        started = time.perf_counter()
        for first in range(0, len(ids), UNIT):
            unit_started = time.perf_counter()
            items = [ModelItem(i, data[i], content_of(data[i], CONTENT))
                     for i in ids[first:first + UNIT]]
            await asyncio.gather(*(batch(items[s:s + size]) for s in range(0, len(items), size)))
            units.append(time.perf_counter() - unit_started)
        seconds = time.perf_counter() - started
    finally:
        await models.close()
    errors = count["call_failed"] + count["item_failed"] + count["refused"]
    return {"seconds": seconds, "predictions_per_s": count["predictions"] / seconds,
            **count, "errors": errors, "calls": caller.calls,
            "attempts": len(round_trips), "round_trip": percentiles(round_trips),
            "unit": percentiles(units), "breaker": caller.breaker.state.value}


async def _raw_path(endpoint: str, data: dict[str, dict[str, Any]],
                    settings: PrelabelSettings) -> dict[str, Any]:
    """The same request bodies through the bare transport, as many in flight."""
    labels = list(TOPICS[0]["options"])
    ids, size = list(data), settings.model_batch_size
    bodies = [request_json("bench", TOPICS, labels,
                           [ModelItem(i, data[i], content_of(data[i], CONTENT))
                            for i in ids[s:s + size]])
              for s in range(0, len(ids), size)]
    transport = transport_for(endpoint)
    limit = asyncio.Semaphore(settings.model_concurrency)
    answered = 0

    async def send(body: dict[str, Any]) -> None:
        nonlocal answered
        async with limit:
            reply = await transport.predict(body, settings.model_timeout_seconds)
        answered += len(reply.items)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(send(b) for b in bodies))
        seconds = time.perf_counter() - started
    finally:
        await transport.close()
    return {"seconds": seconds, "answered": answered, "items_per_s": answered / seconds}


@contextmanager
def reference_server() -> Iterator[tuple[dict[str, str], int]]:
    """The reference model as its own process, HTTP and gRPC on free loopback ports."""
    process = subprocess.Popen(
        [sys.executable, "-m", "services.prelabel.reference_model", "--http", "0",
         "--grpc", "0"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"HTTP (\S+), gRPC (\S+)", line)
        if found is None:
            raise RuntimeError(f"the reference model did not start: {line!r}")
        yield {"http": found[1], "grpc": found[2]}, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def online_phase(items: int, seed: int, settings: PrelabelSettings,
                 transports: Sequence[str], say: Callable[[str], None]) -> dict[str, Any]:
    texts, _ = synthetic_tickets(items, seed)
    data = {f"item-{n:07d}": {"source": text} for n, text in enumerate(texts)}
    found: dict[str, Any] = {"batch_size": settings.model_batch_size,
                             "concurrency": settings.model_concurrency, "unit": UNIT}
    with reference_server() as (endpoints, pid):
        for name in transports:
            say(f"online {name}: {endpoints[name]}, {items:,} items")
            gc.collect()
            reset_peak_rss()
            rss_before = rss_mb("VmRSS")
            cpu, server_cpu = time.process_time(), cpu_seconds(pid)
            result = asyncio.run(_service_path(endpoints[name], data, settings))
            result["client_cpu_cores"] = (time.process_time() - cpu) / result["seconds"]
            result["server_cpu_cores"] = (cpu_seconds(pid) - server_cpu) / result["seconds"]
            result["rss_before_mb"], result["peak_rss_mb"] = rss_before, rss_mb()
            say(f"online {name}: raw transport reference")
            result["raw"] = asyncio.run(_raw_path(endpoints[name], data, settings))
            found[name] = result
    return found


# -- report -------------------------------------------------------------------------------


def _rate(value: float) -> str:
    return f"{value:,.0f}/s"


def print_table(run: dict[str, Any]) -> None:
    items = run["settings"]["items"]
    table = Table(title=f"Pre-labeling, {items:,} items per path (in process)")
    for column in ("path", "predictions/s", "raw reference", "ratio", "train (labeled)",
                   "held-out accuracy", "batch p50 / p99", "errors", "peak RSS"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for kind in ("text", "image"):
        r = run.get(kind)
        if not r:
            continue
        raw = r["raw_predict_proba_per_s"]
        if kind == "image":
            raw = items / (r["features_s"] + items / raw)
        table.add_row(
            f"{kind}, built-in", _rate(r["predictions_per_s"]),
            _rate(raw), f"{r['predictions_per_s'] / raw:.0%}",
            f"{r['train_s']:.2f} s ({r['labeled']:,})",
            f"{r['held_out_accuracy']:.0%} (majority {r['majority_baseline']:.0%})", "", "0",
            f"{r['peak_rss_mb']:,.0f} MB")
    for name, r in run.get("online", {}).items():
        if not isinstance(r, dict):
            continue
        trip = r["round_trip"]
        table.add_row(
            f"online, {'HTTP/JSON' if name == 'http' else 'gRPC'}",
            _rate(r["predictions_per_s"]), _rate(r["raw"]["items_per_s"]),
            f"{r['predictions_per_s'] / r['raw']['items_per_s']:.0%}", "", "",
            f"{trip['p50_ms']:,.1f} / {trip['p99_ms']:,.1f} ms",
            f"[{'green' if r['errors'] == 0 else 'red'}]{r['errors']}[/]",
            f"{r['peak_rss_mb']:,.0f} MB")
    console.print(table)
    notes = [f"{kind}: {learning.ALGORITHMS[kind]}, learn() of the prelabel service; the raw "
             "reference is the fitted model's bare predict_proba"
             for kind in ("text", "image") if run.get(kind)]
    if run.get("image"):
        r = run["image"]
        notes.append(f"image: {r['image_side']}×{r['image_side']} PNG (~{r['png_bytes_mean']:,.0f}"
                     f" B), features {_rate(r['features_per_s'])} with "
                     f"{r['image_concurrency']} at once, model alone "
                     f"{_rate(r['model_predictions_per_s'])}; predictions/s and the raw "
                     "reference include the features")
    for kind in ("text", "image"):
        if run.get(kind):
            r = run[kind]
            notes.append(f"{kind}: accuracy on the {r['predicted']:,} predicted items "
                         f"{r['accuracy_on_predicted']:.1%} (majority "
                         f"{r['majority_on_predicted']:.1%}); {r['hard_examples']:,} hard")
    for name, r in run.get("online", {}).items():
        if isinstance(r, dict):
            unit = r["unit"]
            notes.append(f"online {name}: {r['calls']:,} batches of {run['online']['batch_size']}"
                         f", {run['online']['concurrency']} in flight; unit of "
                         f"{run['online']['unit']:,} p50 / p99 {unit['p50_ms']:,.0f} / "
                         f"{unit['p99_ms']:,.0f} ms; CPU cores client "
                         f"{r['client_cpu_cores']:.2f}, server {r['server_cpu_cores']:.2f}")
    for note in notes:
        console.print(f"  {note}", style="dim", markup=False)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.prelabel",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=None,
                        help="items predicted per path (default 100,000; --quick 5,000)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run: {QUICK_ITEMS:,} items, 500 labeled")
    parser.add_argument("--train", type=int, default=None,
                        help="labeled items the built-in models learn from (default 2,000)")
    parser.add_argument("--image-side", type=int, default=32, help="pixels of the PNGs")
    parser.add_argument("--only", default="text,image,online",
                        help="paths to run, comma-separated: text, image, online")
    parser.add_argument("--transports", default="http,grpc", help="online transports")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="items per model call (default: the service's setting)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="model calls in flight (default: the service's setting)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    args.items = args.items or (QUICK_ITEMS if args.quick else 100_000)
    args.train = args.train or (500 if args.quick else 2_000)
    args.only = [p.strip() for p in args.only.split(",") if p.strip()]
    args.transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    unknown = set(args.only) - {"text", "image", "online"}
    if unknown or set(args.transports) - {"http", "grpc"}:
        parser.error(f"unknown path or transport: {sorted(unknown) or args.transports}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    overrides = {k: v for k, v in (("model_batch_size", args.batch_size),
                                   ("model_concurrency", args.concurrency)) if v}
    settings = PrelabelSettings(**overrides)

    def say(text: str) -> None:
        console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {text}")

    began = time.perf_counter()
    run: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "nice": os.nice(0)},
        "settings": dict(vars(args)),
    }
    if "text" in args.only:
        say(f"text: {args.train:,} labeled, {args.items:,} to predict")
        run["text"] = text_phase(args.items, args.train, args.seed)
        say(f"text: {run['text']['predictions_per_s']:,.0f} predictions/s")
    if "online" in args.only:
        run["online"] = online_phase(args.items, args.seed, settings, args.transports, say)
    if "image" in args.only:
        say(f"image: {args.train:,} labeled, {args.items:,} to predict "
            f"({args.image_side}×{args.image_side} PNG)")
        run["image"] = image_phase(args.items, args.train, args.image_side, args.seed,
                                   settings)
        say(f"image: {run['image']['predictions_per_s']:,.0f} predictions/s end to end")
    run["total_s"] = round(time.perf_counter() - began, 1)
    print_table(run)
    console.print(f"total {run['total_s']:.0f}s")
    path = append_run("prelabel", run)
    console.print(f"appended to {path}")
    failed = sum(r["errors"] for r in run.get("online", {}).values() if isinstance(r, dict))
    if failed:
        raise SystemExit(f"online path: {failed} items without a prediction")


if __name__ == "__main__":
    main()
