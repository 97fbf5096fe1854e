"""Auto labeling's models and rules (domain, pure): accuracy clearly above the majority
baseline on synthetic text and synthetic coloured images, the held-out split, hard
examples, and each precondition refused with what is missing."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from services.prelabel.domain import autolabel as rules
from services.prelabel.domain.autolabel import Plan, Refused, Target, TrainOn
from services.prelabel.domain.learning import (
    IMAGE,
    TEXT,
    UnreadableImage,
    holdout_split,
    image_features,
    is_hard,
    learn,
)

TOPICS = [{"name": "label", "kind": "single_choice", "options": ["sport", "food", "tech"]}]
WORDS = {"sport": "goal match team score coach league ball player win season".split(),
         "food": "recipe taste dinner spicy bake sauce chef fresh kitchen flavour".split(),
         "tech": "laptop code chip battery screen software update cloud phone data".split()}
FILLER = "the a it was this and with very really today about our new just".split()


def synthetic_texts(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Short noisy texts: a third of the words are the class's, the rest filler, and one
    in ten words comes from another class."""
    rng = random.Random(seed)
    labels = [rng.choice(sorted(WORDS)) for _ in range(n)]
    texts = []
    for label in labels:
        words = []
        for _ in range(12):
            roll = rng.random()
            pool = (WORDS[label] if roll < 0.3
                    else WORDS[rng.choice(sorted(WORDS))] if roll < 0.4 else FILLER)
            words.append(rng.choice(pool))
        texts.append(" ".join(words))
    return texts, labels


COLOURS = {"red": (190, 40, 40), "green": (40, 160, 60), "blue": (40, 60, 190)}


def coloured_image(colour: str, rng: random.Random, fmt: str = "PNG",
                   mode: str = "RGB") -> bytes:
    """A noisy image of one dominant colour with a random rectangle of another."""
    noise = np.random.default_rng(rng.randrange(1 << 30))
    side = rng.randrange(40, 90)
    pixels = np.clip(np.array(COLOURS[colour]) + noise.normal(0, 45, (side, side, 3)), 0, 255)
    other = COLOURS[rng.choice(sorted(COLOURS))]
    x, y = rng.randrange(side // 2), rng.randrange(side // 2)
    pixels[y:y + side // 4, x:x + side // 4] = other
    image = Image.fromarray(pixels.astype(np.uint8)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def test_text_model_clearly_beats_the_majority_baseline() -> None:
    texts, labels = synthetic_texts(600, seed=7)
    learned = learn(TEXT, texts[:60], labels[:60], texts[60:], seed=1)
    accuracy = float(np.mean([g.label == t for g, t in zip(learned.guesses, labels[60:],
                                                           strict=True)]))
    majority = max(labels[60:].count(c) for c in WORDS) / len(labels[60:])
    assert majority < 0.4 and accuracy > 0.8, (accuracy, majority)
    assert learned.held_out_items + learned.train_items == 60
    assert 10 <= learned.held_out_items <= 13
    assert learned.accuracy > learned.baseline_accuracy + 0.3
    assert all(0 < g.confidence <= 1 for g in learned.guesses)


def test_image_model_learns_colours_from_pixels() -> None:
    rng = random.Random(3)
    labels = [rng.choice(sorted(COLOURS)) for _ in range(120)]
    rows = np.vstack([image_features(coloured_image(c, rng, fmt=rng.choice(["PNG", "JPEG"])))
                      for c in labels])
    learned = learn(IMAGE, rows[:30], labels[:30], rows[30:], seed=1)
    accuracy = float(np.mean([g.label == t for g, t in zip(learned.guesses, labels[30:],
                                                           strict=True)]))
    assert accuracy > 0.85, accuracy


def test_image_features_read_any_mode_and_refuse_what_is_not_an_image() -> None:
    rng = random.Random(1)
    rgba = image_features(coloured_image("red", rng, mode="RGBA"))
    grey = image_features(coloured_image("red", rng, mode="L"))
    assert rgba.shape == grey.shape == (119,) and np.isfinite(rgba).all()
    with pytest.raises(UnreadableImage, match="not a readable image"):
        image_features(b"not an image")


def test_holdout_is_stratified_and_rare_labels_are_only_trained_on() -> None:
    labels = ["a"] * 10 + ["b"] * 5 + ["c"] * 2
    train, test = holdout_split(labels, 0.2, seed=4)
    assert sorted(train + test) == list(range(17))
    assert [labels[i] for i in test].count("a") == 2
    assert [labels[i] for i in test].count("b") == 1
    assert "c" not in [labels[i] for i in test]
    assert holdout_split(labels, 0.2, seed=4) == (train, test)  # deterministic


def test_hard_examples_have_low_confidence_or_a_small_margin() -> None:
    assert not is_hard([0.9, 0.05, 0.05], 0.6, 0.15)
    assert is_hard([0.5, 0.3, 0.2], 0.6, 0.15)      # low confidence
    assert is_hard([0.55, 0.45], 0.5, 0.15)         # small margin
    assert not is_hard([0.55, 0.45], 0.5, 0.05)     # the threshold is configurable


def test_the_target_is_a_single_choice_topic_over_text_or_images() -> None:
    text = rules.target_of(TOPICS, [{"kind": "text", "field": "body"}])
    assert (text.topic, text.field, text.kind, text.algorithm) == (
        "label", "body", TEXT, "text-tfidf-logreg")
    image = rules.target_of(TOPICS, [{"kind": "image", "field": "source"}])
    assert image.kind == IMAGE and rules.model_version(image, 3) == "image-pixels-logreg/v3"
    with pytest.raises(Refused, match="needs a classification job.*topics are: span"):
        rules.target_of([{"name": "e", "kind": "span"}], [])
    with pytest.raises(Refused, match="text or image content; this job shows: audio"):
        rules.target_of(TOPICS, [{"kind": "audio", "field": "source"}])


TARGET = Target("label", ("sport", "food", "tech"), "source", TEXT)


def items(**answers: list[str | None]) -> list[dict[str, object]]:
    found = []
    for kind, labels in answers.items():
        for n, label in enumerate(labels):
            found.append({"item_id": f"{kind}{n}",
                          kind: None if label is None else {"label": label}})
    return found


def test_each_precondition_is_refused_with_what_is_missing() -> None:
    few = rules.plan(items(accepted=["sport"] * 5 + ["food"] * 4, submitted=[None]), TARGET,
                     TrainOn.ACCEPTED)
    with pytest.raises(Refused, match=r"at least 2 labels each used on at least 5 labeled "
                                      r"items; labeled items per label: food: 4, sport: 5"):
        rules.check_preconditions(few)
    with pytest.raises(Refused, match="per label: none"):
        rules.check_preconditions(Plan([], ["x"], {}))
    done = rules.plan(items(accepted=["sport"] * 5 + ["food"] * 5), TARGET, TrainOn.ACCEPTED)
    with pytest.raises(Refused, match="at least one unlabeled item; every item of the job"):
        rules.check_preconditions(done)
    ready = rules.plan(items(accepted=["sport"] * 5 + ["food"] * 5, submitted=[None, None]),
                       TARGET, TrainOn.ACCEPTED)
    rules.check_preconditions(ready)
    with pytest.raises(Refused, match="run r7 of this job is still in progress"):
        rules.check_preconditions(ready, running="r7")


def test_training_on_submitted_answers_counts_them_as_labeled() -> None:
    found = items(accepted=["sport"] * 5, submitted=["food"] * 5 + ["bogus"])
    accepted = rules.plan(found, TARGET, TrainOn.ACCEPTED)
    assert accepted.counts == {"sport": 5} and len(accepted.unlabeled) == 6
    submitted = rules.plan(found, TARGET, TrainOn.SUBMITTED)
    assert submitted.counts == {"sport": 5, "food": 5} and submitted.unlabeled == []
    removed = rules.plan([{"item_id": "x", "removed": True},
                          {"item_id": "y", "invalid": True}], TARGET, TrainOn.ACCEPTED)
    assert removed.unlabeled == []


def test_thresholds_are_checked() -> None:
    rules.check_thresholds(0.6, 0.1)
    with pytest.raises(ValueError, match="confidence_threshold: between 0 and 1, got 1.5"):
        rules.check_thresholds(1.5, 0.1)
    with pytest.raises(ValueError, match="margin_threshold"):
        rules.check_thresholds(0.5, -1)
