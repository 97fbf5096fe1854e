"""Auto labeling's models, on the CPU with scikit-learn (nothing downloaded): text by TF-IDF
over words and word pairs with a logistic regression; images by features computed from the
pixels (a joint colour histogram, a saturation-weighted hue histogram, colour moments and
histograms of gradient orientations over a 2 x 2 grid) with a standardised logistic
regression. Hard examples are the predictions with a low confidence or a small margin
between the two most probable labels. Pure computation: values in, values out."""

from __future__ import annotations

import io
import random
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

TEXT, IMAGE = "text", "image"
ALGORITHMS = {TEXT: "text-tfidf-logreg", IMAGE: "image-pixels-logreg"}
IMAGE_SIDE = 64  # pixels: images are resized to a square this big before features
PREDICT_BATCH = 10_000
Features = npt.NDArray[np.float64]


class UnreadableImage(ValueError):
    """The bytes are not an image the features can be computed from."""


def image_features(raw: bytes, side: int = IMAGE_SIDE) -> Features:
    """A fixed-length vector describing an image's colours and shapes (RGBA, palette and
    grey images are converted to RGB first)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as image:
                image.draft("RGB", (side * 2, side * 2))  # JPEG: decode at a reduced size
                rgb = image.convert("RGB").resize((side, side), Image.Resampling.BILINEAR)
                hsv = rgb.convert("HSV")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as exc:
        raise UnreadableImage(f"not a readable image: {exc}") from None
    pixels = np.asarray(rgb, dtype=np.float64) / 255.0
    levels = np.minimum((pixels * 4).astype(np.int64), 3)
    joint = levels[..., 0] * 16 + levels[..., 1] * 4 + levels[..., 2]
    colour = np.bincount(joint.ravel(), minlength=64) / joint.size
    hues = np.asarray(hsv, dtype=np.float64) / 255.0
    hue_bins = np.minimum((hues[..., 0] * 12).astype(np.int64), 11)
    weighted = np.bincount(hue_bins.ravel(), weights=hues[..., 1].ravel(), minlength=12)
    hue = weighted / max(float(weighted.sum()), 1e-9)
    moments = np.concatenate([pixels.mean(axis=(0, 1)), pixels.std(axis=(0, 1))])
    return np.concatenate([colour, hue, moments, _gradients(pixels.mean(axis=2))])


def _gradients(gray: Features, bins: int = 9) -> Features:
    """Histograms of unsigned gradient orientations, weighted by magnitude, per quarter of
    the image, each normalised; then the mean magnitude (how busy the image is)."""
    dy, dx = np.gradient(gray)
    magnitude = np.hypot(dx, dy)
    angle = np.mod(np.arctan2(dy, dx), np.pi)
    index = np.minimum((angle / np.pi * bins).astype(np.int64), bins - 1)
    half_y, half_x = gray.shape[0] // 2, gray.shape[1] // 2
    parts = []
    for ys in (slice(0, half_y), slice(half_y, None)):
        for xs in (slice(0, half_x), slice(half_x, None)):
            hist = np.bincount(index[ys, xs].ravel(), weights=magnitude[ys, xs].ravel(),
                               minlength=bins)
            parts.append(hist / (float(hist.sum()) + 1e-9))
    parts.append(np.array([magnitude.mean()]))
    return np.concatenate(parts)


def make_model(kind: str) -> Any:
    if kind == TEXT:
        return make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1,
                            max_features=200_000, strip_accents="unicode"),
            LogisticRegression(C=5.0, max_iter=2000))
    if kind == IMAGE:
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000))
    raise ValueError(f"no model for {kind!r} items")


def holdout_split(labels: Sequence[str], fraction: float, seed: int
                  ) -> tuple[list[int], list[int]]:
    """Indices to train on and to hold out, stratified: each label with at least five
    items gives ``fraction`` of them (at least one) to the held-out set; rarer labels are
    only trained on."""
    if not 0 < fraction < 1:
        raise ValueError("fraction: between 0 and 1")
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    train: list[int] = []
    test: list[int] = []
    for label in sorted(by_label):
        indices = by_label[label]
        rng.shuffle(indices)
        n_test = max(1, round(len(indices) * fraction)) if len(indices) >= 5 else 0
        test += indices[:n_test]
        train += indices[n_test:]
    return sorted(train), sorted(test)


def _take(values: Any, indices: Sequence[int]) -> Any:
    if isinstance(values, np.ndarray):
        return values[list(indices)]
    return [values[i] for i in indices]


def is_hard(probabilities: Sequence[float], confidence_threshold: float,
            margin_threshold: float) -> bool:
    """Low confidence (best probability below the threshold) or a small margin (the two
    best probabilities closer than the threshold)."""
    ranked = sorted((float(p) for p in probabilities), reverse=True)
    best = ranked[0] if ranked else 0.0
    second = ranked[1] if len(ranked) > 1 else 0.0
    return bool(best < confidence_threshold or best - second < margin_threshold)


@dataclass(frozen=True)
class Guess:
    label: str
    confidence: float
    hard: bool


@dataclass
class Learned:
    accuracy: float
    baseline_accuracy: float  # always answering the most frequent training label
    train_items: int
    held_out_items: int
    guesses: list[Guess]


def learn(kind: str, labeled: Any, labels: Sequence[str], unlabeled: Any, *,
          holdout: float = 0.2, seed: int = 0, confidence_threshold: float = 0.6,
          margin_threshold: float = 0.15) -> Learned:
    """Measure a model on held-out labeled items, then train on every labeled item and
    label the unlabeled ones. ``labeled``/``unlabeled``: texts (a list) or feature rows
    (an array)."""
    if len(set(labels)) < 2:
        raise ValueError("at least two labels are needed to learn")
    train, test = holdout_split(labels, holdout, seed)
    accuracy = baseline = 0.0
    if test:
        y_train = [labels[i] for i in train]
        y_test = [labels[i] for i in test]
        model = make_model(kind).fit(_take(labeled, train), y_train)
        predicted = model.predict(_take(labeled, test))
        accuracy = float(np.mean([p == t for p, t in zip(predicted, y_test, strict=True)]))
        majority = Counter(y_train).most_common(1)[0][0]
        baseline = sum(t == majority for t in y_test) / len(y_test)
    final = make_model(kind).fit(labeled, list(labels))
    classes = [str(c) for c in final.classes_]
    guesses: list[Guess] = []
    total = len(unlabeled)
    for start in range(0, total, PREDICT_BATCH):
        rows = _take(unlabeled, range(start, min(start + PREDICT_BATCH, total)))
        for probabilities in final.predict_proba(rows):
            best = int(np.argmax(probabilities))
            guesses.append(Guess(classes[best], round(float(probabilities[best]), 6),
                                 is_hard(probabilities, confidence_threshold,
                                         margin_threshold)))
    return Learned(accuracy, baseline, len(train), len(test), guesses)
